"""Tests of ``sightkit data suggest`` on scikit-learn digits: picks, skipping labelled images, manifest, report, errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sightkit.core.bundle import save_bundle
from sightkit.data.active import list_pool, suggest, work_units, write_manifest
from sightkit.data.samples import export_digits
from sightkit.errors import BundleError, ConfigError, DataError
from sightkit.tasks.classify.api import Classifier

COPIES = 3  # labelled images copied into the pool under other names: suggest must skip them


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict:
    """A skcnn_tiny trained 3 epochs on 150 labelled digits, their manifest, and a flat pool of 360 + copies."""
    root = tmp_path_factory.mktemp("active")
    data = export_digits(root / "digits")
    labelled = [p for digit in range(10) for p in sorted((data / "train" / str(digit)).glob("*.png"))[:15]]
    manifest = root / "labelled.csv"
    manifest.write_text("".join(f"{p},{p.parent.name}\n" for p in labelled))
    pool = root / "pool"
    pool.mkdir()
    for p in sorted((data / "test").rglob("*.png")):
        shutil.copy(p, pool / f"{p.parent.name}_{p.name}")
    for p in labelled[:COPIES]:
        shutil.copy(p, pool / f"copy_{p.name}")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clf = Classifier.train(manifest, "skcnn_tiny", out=root / "run", epochs=3, batch_size=16, hflip=False,
                               progress=False, status=lambda m: None)
    finally:
        torch.set_num_threads(previous)
    return {"clf": clf, "manifest": manifest, "pool": pool, "labelled": labelled}


def test_hybrid_suggests_n_distinct_unlabelled_images(digits):
    calls: list[int] = []
    result = suggest(digits["clf"], digits["pool"], 20, labeled=digits["manifest"], progress=calls.append,
                     status=lambda m: None)
    paths = [Path(s["path"]) for s in result["suggestions"]]
    assert len(paths) == len(set(paths)) == 20
    assert all(p.parent == digits["pool"] and not p.name.startswith("copy_") for p in paths)
    assert result["pool"] == 360 + COPIES and result["already_labelled"] == COPIES
    assert result["labelled_given"] == 150 and result["strategy"] == "hybrid"
    assert [s["rank"] for s in result["suggestions"]] == list(range(1, 21))
    assert all(0.0 <= s["score"] <= 1.0 and s["reason"].startswith("uncertain") for s in result["suggestions"])
    assert "from the nearest labelled or suggested image" in result["suggestions"][1]["reason"]
    assert sum(calls) == work_units("hybrid", 360 + COPIES, 150)  # the progress bar ends full


def test_badge_suggests_n_distinct_unlabelled_images(digits):
    calls: list[int] = []
    result = suggest(digits["clf"], digits["pool"], 15, strategy="badge", labeled=digits["manifest"],
                     progress=calls.append, status=lambda m: None)
    paths = [Path(s["path"]) for s in result["suggestions"]]
    assert len(set(paths)) == 15 and not any(p.name.startswith("copy_") for p in paths)
    assert result["suggestions"][0]["reason"].endswith("first of the batch")
    assert "gradient" in result["suggestions"][1]["reason"] and "from the nearest suggested" in \
        result["suggestions"][1]["reason"]
    assert sum(calls) == work_units("badge", 360 + COPIES, 150)


def test_margin_picks_the_images_the_classifier_is_least_sure_of(digits):
    result = suggest(digits["clf"], digits["pool"], 10, strategy="margin", status=lambda m: None)
    pool = list_pool(digits["pool"])
    probs = digits["clf"].predict_proba(pool)
    top2 = np.sort(probs, axis=1)[:, -2:]
    expected = {pool[i] for i in np.argsort(top2[:, 1] - top2[:, 0])[:10]}
    assert {Path(s["path"]) for s in result["suggestions"]} == expected
    scores = [s["score"] for s in result["suggestions"]]
    assert scores == sorted(scores, reverse=True)


def test_random_is_seeded_and_reads_no_image(digits, monkeypatch):
    monkeypatch.setattr(digits["clf"].predictor, "iter_logits", None)  # would fail if called
    a = suggest(digits["clf"], digits["pool"], 15, strategy="random", seed=1)["suggestions"]
    b = suggest(digits["clf"], digits["pool"], 15, strategy="random", seed=1)["suggestions"]
    assert [s["path"] for s in a] == [s["path"] for s in b] and len({s["path"] for s in a}) == 15


def test_manifest_lists_path_score_reason_and_is_written_atomically(digits, tmp_path, monkeypatch):
    result = suggest(digits["clf"], digits["pool"], 5, strategy="entropy", status=lambda m: None)
    target = write_manifest(result, tmp_path / "lists" / "to_label.csv")
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["path", "score", "reason"] and len(rows) == 6
    assert [(target.parent / r[0]).resolve() for r in rows[1:]] == [Path(s["path"]).resolve()
                                                                    for s in result["suggestions"]]
    before = target.read_bytes()

    def broken_replace(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_manifest({**result, "suggestions": result["suggestions"][:1]}, target)
    assert target.read_bytes() == before and sorted(p.name for p in target.parent.iterdir()) == ["to_label.csv"]


def test_cli_writes_manifest_report_and_json(digits, tmp_path, cli):
    code, out, err = cli("data", "suggest", digits["clf"].path, digits["pool"], "-n", "6", "--labeled",
                         digits["manifest"], "--out", tmp_path / "next.csv", "--report", tmp_path / "report", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["suggestions"]) == 6 and result["already_labelled"] == COPIES
    assert len((tmp_path / "next.csv").read_text().splitlines()) == 7
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Suggested" in page and "data:image/png;base64," in page


@pytest.mark.parametrize("args, message", [
    (("-n", "0"), "error: -n 0: ask for at least 1 image"),
    (("-n", "1000"), "error: -n 1000: only 360 unlabelled images"),
    (("--strategy", "coreset"), "error: --strategy coreset: choose one of"),
    (("--out", "x.txt"), "error: --out x.txt: use a .csv file name"),
])
def test_cli_bad_options_are_one_error_line_exit_2(digits, cli, args, message):
    code, out, err = cli("data", "suggest", digits["clf"].path, digits["pool"], "--labeled", digits["manifest"], *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith(message)


def test_bad_pools_and_bundles_are_clear_errors(digits, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no image files found"):
        suggest(digits["clf"], empty, 5)
    with pytest.raises(DataError, match="only subfolders.*--labeled"):
        suggest(digits["clf"], digits["manifest"].parent / "digits" / "train", 5)
    with pytest.raises(ConfigError, match="-n 0"):
        suggest(digits["clf"], digits["pool"], 0)
    face = save_bundle(tmp_path / "face", {"w": torch.zeros(1)}, {"task": "face"})
    with pytest.raises(BundleError, match="not a 'classify' bundle"):
        suggest(face, digits["pool"], 5)
