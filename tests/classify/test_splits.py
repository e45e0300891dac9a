"""The recorded splits of a bundle: exact files from dataset.json, rediscovery for older bundles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from sightkit.core.bundle import read_extra, save_bundle
from sightkit.data.discover import discover
from sightkit.errors import ConfigError
from sightkit.tasks.classify.splits import (RECORD_FILE, fingerprint, load_record, record_dataset, recorded_split,
                                            training_fingerprints)

FRACTIONS = dict(val_fraction=0.25, test_fraction=0.25, seed=3)


def _bundle(tmp_path: Path, data: Path, name: str = "model", with_record: bool = True) -> Path:
    splits = discover(data, **FRACTIONS)
    meta = {"task": "classify", "classes": splits.classes,
            "training": {"data": str(data.resolve()), "config": dict(FRACTIONS)}}
    extras = {RECORD_FILE: record_dataset(splits)} if with_record else {}
    return save_bundle(tmp_path / name, {"w": torch.zeros(1)}, meta, extras=extras)


@pytest.mark.parametrize("name", ["model", "model.sightkit"])
def test_recorded_splits_are_the_training_splits(tmp_path: Path, make_dataset, name: str):
    data = make_dataset(per_class=8)
    bundle = _bundle(tmp_path, data, name)
    splits = discover(data, **FRACTIONS)
    for split in ("train", "val", "test"):
        expected = [(s.path.resolve(), splits.classes[s.label]) for s in getattr(splits, split)]
        assert recorded_split(bundle, split) == expected
    assert len(recorded_split(bundle, "test")) == 4 and len(recorded_split(bundle, "all")) == 16


def test_record_survives_a_new_file_in_the_dataset(tmp_path: Path, make_dataset):
    """New images change a rediscovered split; the recorded files do not move between splits."""
    data = make_dataset(per_class=8)
    bundle = _bundle(tmp_path, data)
    before = recorded_split(bundle, "test")
    for i in range(5):
        shutil.copy(data / "dark" / "dark_000.png", data / "dark" / f"new_{i}.png")
    assert recorded_split(bundle, "test") == before


def test_record_is_compact_and_relative(tmp_path: Path, make_dataset):
    data = make_dataset(per_class=4)
    record = json.loads(read_extra(_bundle(tmp_path, data), RECORD_FILE))
    assert record["root"] == str(data.resolve())
    rel, label, fp = record["files"]["train"][0]
    assert not Path(rel).is_absolute() and label in ("bright", "dark")
    assert fp == fingerprint(data / rel) and len(fp) == 16


def test_bundle_without_record_rediscovers_from_meta(tmp_path: Path, make_dataset):
    data = make_dataset(per_class=8)
    with_record = _bundle(tmp_path, data, "a")
    without = _bundle(tmp_path, data, "b", with_record=False)
    assert read_extra(without, RECORD_FILE) is None
    for split in ("train", "val", "test"):
        assert recorded_split(without, split) == recorded_split(with_record, split)
    assert training_fingerprints(load_record(without)) == training_fingerprints(load_record(with_record))


def test_meta_dict_is_accepted(tmp_path: Path, make_dataset):
    data = make_dataset(per_class=8)
    meta = {"training": {"data": str(data), "config": dict(FRACTIONS)}}
    assert len(recorded_split(meta, "val")) == 4


def test_missing_data_or_no_test_split(tmp_path: Path, make_dataset):
    data = make_dataset(per_class=8)
    bundle = _bundle(tmp_path, data)
    assert recorded_split({"task": "classify"}, "val") is None
    assert recorded_split({"training": {"data": str(data), "config": {"test_fraction": 0.0}}}, "test") == []
    shutil.rmtree(data)
    assert recorded_split(bundle, "val") is None


def test_unknown_split_name(tmp_path: Path, make_dataset):
    with pytest.raises(ConfigError, match="--split 'holdout': choose one of train, val, test, all"):
        recorded_split(_bundle(tmp_path, make_dataset()), "holdout")


def test_copies_have_the_same_fingerprint(tmp_path: Path, make_dataset):
    data = make_dataset(per_class=2)
    copy = tmp_path / "copy.png"
    shutil.copy(data / "dark" / "dark_000.png", copy)
    assert fingerprint(copy) == fingerprint(data / "dark" / "dark_000.png")
    assert fingerprint(copy) != fingerprint(data / "dark" / "dark_001.png")
