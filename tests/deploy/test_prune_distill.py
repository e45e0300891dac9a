"""Pruning and distillation write normal bundles that Classifier.load reads and predicts with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sightkit.core.bundle import read_meta
from sightkit.deploy.distill import distillation_loss, distill_bundle
from sightkit.deploy.prune import prune_bundle
from sightkit.errors import ConfigError
from sightkit.tasks.classify.api import Classifier


def _params(clf: Classifier) -> int:
    return sum(p.numel() for p in clf.predictor.model.parameters())


def test_prune_gives_a_smaller_loadable_bundle(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    result = prune_bundle(tiny_bundle, colour_data, tmp_path / "pruned", ratio=0.5, epochs=1, progress=False)
    summary = result.summary
    assert summary["params_after"] < 0.4 * summary["params_before"]
    assert summary["macs_after"] < 0.4 * summary["macs_before"]
    assert {"accuracy_before", "accuracy_after", "split"} <= set(summary)
    meta = read_meta(result.bundle_path)
    assert meta["architecture"]["channels"] and meta["pruning"]["ratio"] == 0.5
    pruned = Classifier.load(result.bundle_path)
    assert _params(pruned) == summary["params_after"] < _params(Classifier.load(tiny_bundle))
    preds = pruned.predict(sorted((colour_data / "val").rglob("*.png"))[:3])
    assert all(p.label in pruned.classes for p in preds)


def test_prune_ratio_must_be_a_share(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--ratio 1.5"):
        prune_bundle(tiny_bundle, colour_data, tmp_path / "p", ratio=1.5)


def test_distill_one_epoch(tiny_bundle: Path, colour_data: Path, tmp_path: Path) -> None:
    result = distill_bundle(tiny_bundle, "skcnn_tiny", colour_data, tmp_path / "student", epochs=1,
                            progress=False)
    summary = result.summary
    assert summary["teacher_accuracy"] == 1.0 and 0.0 <= summary["student_accuracy"] <= 1.0
    meta = read_meta(result.bundle_path)
    assert meta["architecture"]["name"] == "skcnn_tiny" and meta["distillation"]["temperature"] == 4.0
    student = Classifier.load(result.bundle_path)
    assert student.predict(sorted((colour_data / "val").rglob("*.png"))[:2])[0].label in student.classes


def test_distillation_loss_terms() -> None:
    student, teacher = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([[3.0, 0.0, 0.0]])
    labels = torch.tensor([0])
    hard = torch.nn.functional.cross_entropy(student, labels)
    assert torch.isclose(distillation_loss(student, teacher, labels, 2.0, 0.0), hard)
    assert float(distillation_loss(teacher, teacher, labels, 2.0, 1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(student, teacher, labels, 2.0, 1.0)) > 0
