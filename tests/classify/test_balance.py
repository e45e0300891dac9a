"""Tests of ``--balance``: class-balanced loss weights for imbalanced training data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sightkit.data.dataset import ImageDataset
from sightkit.data.discover import discover
from sightkit.data.transforms import build_eval_transform
from sightkit.tasks.classify.api import Classifier
from sightkit.tasks.classify.config import make_config
from sightkit.tasks.classify.train import class_weights


def _train_set(root: Path) -> tuple[ImageDataset, object]:
    splits = discover(root, val_fraction=0.0)
    return ImageDataset(splits.train, "L", 12, build_eval_transform([0.5], [0.25])), splits


def test_weights_are_inverse_class_frequency_with_mean_one_per_image(tmp_path, dataset_writer):
    dataset_writer(tmp_path / "d", per_class=12, classes=("dark",))
    dataset_writer(tmp_path / "d", per_class=4, classes=("bright",), seed=1)
    train_ds, splits = _train_set(tmp_path / "d")
    notes: list[str] = []
    weights = class_weights(train_ds, splits, make_config(balance=True), notes.append)
    torch.testing.assert_close(weights, torch.tensor([16 / (2 * 4), 16 / (2 * 12)]))  # bright, dark
    assert float((weights[train_ds.labels]).mean()) == pytest.approx(1.0)
    assert notes == ["class-balanced loss weights: bright 2.00, dark 0.67"]
    assert class_weights(train_ds, splits, make_config(), notes.append) is None and len(notes) == 1


def test_training_with_balance_records_it_and_learns(tmp_path, dataset_writer):
    dataset_writer(tmp_path / "d", per_class=16, classes=("dark",))
    dataset_writer(tmp_path / "d", per_class=5, classes=("bright",), seed=1)
    notes: list[str] = []
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clf = Classifier.train(tmp_path / "d", "skcnn_tiny", out=tmp_path / "run", epochs=3, batch_size=4,
                               balance=True, progress=False, status=notes.append)
    finally:
        torch.set_num_threads(previous)
    assert clf.meta["training"]["config"]["balance"] is True
    assert "best_val_balanced_acc" in clf.meta["training"]  # the best epoch is chosen by mean recall
    assert any(n.startswith("class-balanced loss weights: bright") for n in notes)
    assert clf.report["balanced_accuracy"] >= 0.5 and "per_class" in clf.report
