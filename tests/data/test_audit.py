"""Tests of ``sightkit data audit``: every planted problem is found, and nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit_helpers import found, write_planted_dataset
from sightkit.data.audit import FINDINGS, audit_dataset
from sightkit.data.reports import write_audit_report
from sightkit.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, dict[str, set]]:
    root = tmp_path_factory.mktemp("audit") / "data"
    return root, write_planted_dataset(root)


def test_audit_finds_every_planted_problem_and_nothing_else(planted):
    root, expected = planted
    report = audit_dataset(root)
    for name in FINDINGS:
        assert found(report, name) == expected[name], name
    assert report["counts"] == {name: len(expected[name]) for name in FINDINGS}


def test_audit_counts_classes_splits_and_statistics(planted):
    root, _ = planted
    report = audit_dataset(root)
    assert report["layout"] == "split folders"
    assert (report["images"], report["readable"]) == (44, 42)
    assert report["classes"] == {"a": 15, "b": 14, "c": 15}
    assert report["per_split"]["test"] == {"a": 3, "b": 2, "c": 2}
    assert report["imbalance_ratio"] == round(15 / 14, 3)
    assert report["statistics"]["formats"] == {"PNG": 40, "JPEG": 2}
    assert report["statistics"]["width"]["min"] == 6
    leak = next(g for g in report["findings"]["split_leaks"] if g["kind"] == "exact")
    assert leak["splits_involved"] == ["test", "train"]


def test_near_distance_zero_keeps_only_identical_hashes(planted):
    root, _ = planted
    report = audit_dataset(root, near_distance=0)
    assert all(group["distance"] == 0 for group in report["findings"]["near_duplicates"])
    assert len(report["findings"]["near_duplicates"]) < 2


def test_class_folders_without_splits_report_no_leaks_and_report_html(tmp_path):
    rng = np.random.default_rng(1)
    for label, n in (("cat", 6), ("dog", 2)):
        (tmp_path / "d" / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "d" / label / f"{i}.png")
    shutil.copyfile(tmp_path / "d" / "cat" / "0.png", tmp_path / "d" / "dog" / "copy.png")
    report = audit_dataset(tmp_path / "d")
    assert report["layout"] == "class folders" and report["imbalance_ratio"] == 2.0
    assert report["findings"]["split_leaks"] == []
    group = report["findings"]["exact_duplicates"][0]
    assert sorted(group["labels"]) == ["cat", "dog"]  # the same image under two labels shows
    page = write_audit_report(report, tmp_path / "report")
    html = page.read_text()
    assert "Exact duplicates" in html and "data:image/png;base64" in html
    assert json.loads((tmp_path / "report" / "report.json").read_text())["counts"]["exact_duplicates"] == 1


def test_bad_options_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        audit_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        audit_dataset(tmp_path / "empty")
    with pytest.raises(ConfigError, match="--near-distance"):
        audit_dataset(tmp_path / "empty", near_distance=40)


def test_cli_json_on_stdout_and_one_error_line(planted, tmp_path):
    root, expected = planted
    run = subprocess.run([sys.executable, "-m", "sightkit", "--threads", "1", "data", "audit", str(root), "--json",
                          "--out", str(tmp_path / "rep")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["counts"]["split_leaks"] == len(expected["split_leaks"])
    assert Path(report["report_html"]).is_file()
    bad = subprocess.run([sys.executable, "-m", "sightkit", "data", "audit", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("error:") == 1 and bad.stderr.startswith("error: DATA")


def test_near_groups_join_chains_within_the_distance_only():
    from sightkit.data.duplicates import hamming, near_groups

    hashes = {"a": 0, "b": 0b111, "c": 0b111111, "d": (1 << 64) - 1}  # a-b 3 bits, b-c 3 bits, a-c 6, d far
    assert near_groups(hashes, max_distance=3) == [(["a", "b", "c"], 3)]
    assert near_groups(hashes, max_distance=2) == []
    assert int(hamming(np.array([0], np.uint64), np.array([(1 << 64) - 1], np.uint64))[0]) == 64
