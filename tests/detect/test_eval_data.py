"""Evaluation keeps the detector's training images out: held-out images of its own data, copies refused or flagged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sightkit.core.bundle import read_extra
from sightkit.errors import DataError
from sightkit.tasks.detect.api import Detector
from sightkit.tasks.detect.shapes import write_shapes


def test_the_bundle_records_its_training_and_validation_images(trained: Path, shapes: Path) -> None:
    record = json.loads(read_extra(trained, "dataset.json"))
    assert Path(record["root"]) == shapes.resolve()
    assert len(record["files"]["train"]) == 8 and len(record["files"]["val"]) == 2
    assert all(len(fp) == 16 for _, _, fp in record["files"]["train"])


def test_its_own_training_data_scores_only_the_held_out_images(trained: Path, shapes: Path) -> None:
    report = Detector.load(trained).evaluate(shapes)
    assert report["n_images"] == 2
    assert report["data_notes"] == ["DATA is the training data of this model: scoring its 2 recorded validation "
                                    "images only"]


def test_a_copy_of_the_training_images_is_refused_unless_allowed(trained: Path, shapes: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(shapes, tmp_path / "copy"))
    detector = Detector.load(trained)
    with pytest.raises(DataError, match=r"8 of its 10 images are training images of this model"):
        detector.evaluate(copy)
    report = detector.evaluate(copy, allow_train_images=True)
    assert report["n_images"] == 10 and "8 of the 10 images are training images" in report["data_notes"][0]


def test_new_images_are_scored_without_a_note(trained: Path, tmp_path: Path) -> None:
    other = write_shapes(tmp_path / "other", count=4, size=64, fmt="voc", seed=7)
    report = Detector.load(trained).evaluate(other)
    assert report["n_images"] == 4 and report["data_notes"] == []


def test_a_bundle_without_the_record_rebuilds_the_split_from_its_metadata(trained: Path, shapes: Path,
                                                                          tmp_path: Path) -> None:
    old = Path(shutil.copytree(trained, tmp_path / "old-bundle"))
    (old / "dataset.json").unlink()
    copy = Path(shutil.copytree(shapes, tmp_path / "copy"))
    with pytest.raises(DataError, match="8 of its 10 images are training images"):
        Detector.load(old).evaluate(copy)
    assert Detector.load(old).evaluate(shapes)["n_images"] == 2


def test_cli_refuses_training_images_in_one_line_and_flags_them_when_allowed(cli, trained: Path, shapes: Path,
                                                                            tmp_path: Path) -> None:
    copy = Path(shutil.copytree(shapes, tmp_path / "copy"))
    code, out, err = cli("detect", "evaluate", trained, copy, "--out", tmp_path / "e1")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: DATA") and "--allow-train-images" in err and not (tmp_path / "e1").exists()
    code, out, err = cli("detect", "evaluate", trained, copy, "--allow-train-images", "--out", tmp_path / "e2",
                         "--json")
    assert code == 0, err
    assert "note: 8 of the 10 images are training images" in err
    assert "8 of the 10 images are training images" in (tmp_path / "e2" / "report.html").read_text()
