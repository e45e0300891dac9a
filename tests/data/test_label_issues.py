"""Tests of ``sightkit data label-issues``: planted label errors are found; clean manifest; bad input."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sightkit.data.discover import discover
from sightkit.data.label_issues import _fold_count, find_label_issues, write_clean_manifest
from sightkit.data.reports import write_label_issues_report
from sightkit.errors import DataError

# Small enough to train three folds in seconds; batch 4 gives the tiny model enough steps; the 12 px images are
# kept at 12 px (the default would enlarge them to 16, where 4 epochs miss one planted error).
FAST = dict(model="skcnn_tiny", folds=3, epochs=4, batch_size=4, hflip=False, seed=0, img_size=12)


@pytest.fixture(scope="module")
def flipped(tmp_path_factory, dataset_writer) -> tuple[Path, set[Path], dict]:
    """15 images of each of 3 patterns, two moved into a wrong class folder, and the result on them."""
    root = dataset_writer(tmp_path_factory.mktemp("issues") / "data", per_class=15, size=12,
                         classes=("dark", "bright", "stripes"))
    moved = {root / "bright" / "dark_000.png", root / "dark" / "stripes_000.png"}
    shutil.move(root / "dark" / "dark_000.png", root / "bright" / "dark_000.png")
    shutil.move(root / "stripes" / "stripes_000.png", root / "dark" / "stripes_000.png")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: more threads only spin
    try:
        return root, moved, find_label_issues(root, status=lambda _: None, **FAST)
    finally:
        torch.set_num_threads(previous)


def test_planted_label_errors_are_found_with_precision_and_recall_one(flipped):
    root, moved, result = flipped
    flagged = {Path(issue["path"]) for issue in result["issues"]}
    assert flagged == moved  # precision 1.0 and recall 1.0 on this seeded case
    suggested = {Path(i["path"]).name: i["suggested"] for i in result["issues"]}
    assert suggested == {"dark_000.png": "dark", "stripes_000.png": "stripes"}
    assert [i["rank"] for i in result["issues"]] == [1, 2]
    assert result["issues"][0]["quality"] <= result["issues"][1]["quality"] < 0.5
    assert result["n"] == 45 and result["folds"] == 3 and result["out_of_sample_accuracy"] >= 0.9
    assert len(result["images"]) == 45 and all(0.0 <= r["quality"] <= 1.0 for r in result["images"])


def test_clean_manifest_lists_the_unflagged_images_and_trains(flipped, tmp_path):
    root, moved, result = flipped
    manifest = write_clean_manifest(result, tmp_path / "lists" / "clean.csv")
    rows = list(csv.reader(manifest.open()))
    assert rows[0] == ["path", "label"] and len(rows) == 1 + 43
    splits = discover(manifest, val_fraction=0.0)
    assert len(splits.train) == 43 and splits.classes == ["bright", "dark", "stripes"]
    assert not {s.path.resolve() for s in splits.train} & {p.resolve() for p in moved}


def test_report_html_shows_the_issues(flipped, tmp_path):
    _, _, result = flipped
    page = write_label_issues_report(result, tmp_path / "report").read_text()
    assert "Label issues" in page and "data:image/png;base64" in page and "stripes_000.png" in page


def test_folds_are_reduced_for_small_classes_and_single_images_refused():
    notes: list[str] = []
    labels = np.array([0] * 10 + [1] * 3)
    assert _fold_count(labels, ["a", "b"], 5, notes.append) == 3
    assert notes == ["note: class 'b' has only 3 images; using 3 folds instead of 5"]
    assert _fold_count(labels, ["a", "b"], 3, notes.append) == 3 and len(notes) == 1
    with pytest.raises(DataError, match="class 'b' has only 1 image"):
        _fold_count(np.array([0, 0, 0, 1]), ["a", "b"], 5, notes.append)
    with pytest.raises(DataError, match="--folds 1"):
        _fold_count(labels, ["a", "b"], 1, notes.append)


@pytest.mark.parametrize("classes, per_class, message", [
    (("dark",), 6, "only one class"),
    (("dark", "bright"), 1, "has only 1 image"),
])
def test_cli_bad_data_is_one_error_line_exit_2(tmp_path, dataset_writer, cli, classes, per_class, message):
    root = dataset_writer(tmp_path / "data", per_class=per_class, classes=classes)
    code, out, err = cli("data", "label-issues", root)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


@pytest.mark.parametrize("args, message", [
    (("--epochs", "0"), "error: --epochs: Input should be greater than or equal to 1"),
    (("--model", "skcnn_tiniest"), "error: --model 'skcnn_tiniest' is not a known model"),
])
def test_cli_bad_options_fail_before_training(tmp_path, dataset_writer, cli, args, message):
    root = dataset_writer(tmp_path / "data", per_class=6, classes=("dark", "bright"))
    code, out, err = cli("data", "label-issues", root, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith(message)
