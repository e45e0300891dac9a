"""Tests of classification_metrics on a hand-checkable example."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sightkit.errors import DataError
from sightkit.tasks.classify.metrics import classification_metrics

# 3 classes, 6 samples. True labels and the argmax of the logits below:
#   labels 0 0 1 1 2 2
#   preds  0 1 1 1 2 0
_LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
_PREDS = torch.tensor([0, 1, 1, 1, 2, 0])
_NAMES = ["cat", "dog", "bird"]


def _logits(preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    return 3.0 * torch.nn.functional.one_hot(preds, num_classes).float()


def test_hand_checked_example():
    m = classification_metrics(_logits(_PREDS, 3), _LABELS, _NAMES)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    expected = {
        "cat": {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2},
        "dog": {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2},
        "bird": {"precision": 1.0, "recall": 1 / 2, "f1": 2 / 3, "support": 2},
    }
    for name, scores in expected.items():
        assert m["per_class"][name] == pytest.approx(scores)
    assert m["macro_precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert m["macro_recall"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 0.8 + 2 / 3) / 3)
    assert "top5_accuracy" not in m


def test_keys_types_and_json():
    m = classification_metrics(_logits(_PREDS, 3).numpy(), _LABELS.numpy(), _NAMES)
    assert set(m) == {
        "n", "accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
        "nll", "ece", "ece_uncalibrated", "temperature", "confusion_matrix", "per_class",
    }
    json.dumps(m, allow_nan=False)
    assert all(type(m[k]) is float for k in ("accuracy", "macro_f1", "nll", "ece", "temperature"))
    assert type(m["per_class"]["cat"]["support"]) is int


def test_top5_only_with_at_least_five_classes():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    logits = torch.zeros(6, 6)
    logits[:, :5] = torch.arange(5, 0, -1).float()  # top-5 is always classes 0..4
    m = classification_metrics(logits, labels, [f"c{i}" for i in range(6)])
    assert m["top5_accuracy"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(1 / 6)


def test_temperature_changes_calibration_only():
    logits = _logits(_PREDS, 3)
    plain = classification_metrics(logits, _LABELS, _NAMES)
    scaled = classification_metrics(logits, _LABELS, _NAMES, temperature=2.0)
    assert scaled["accuracy"] == plain["accuracy"]
    assert scaled["ece_uncalibrated"] == pytest.approx(plain["ece"])
    assert scaled["ece"] != pytest.approx(plain["ece"])
    expected_nll = torch.nn.functional.cross_entropy(logits.double() / 2.0, _LABELS).item()
    assert scaled["nll"] == pytest.approx(expected_nll)
    assert scaled["temperature"] == 2.0


def test_absent_class_gives_zeros_not_nan():
    m = classification_metrics(_logits(_PREDS, 4), _LABELS, [*_NAMES, "fish"])
    assert m["per_class"]["fish"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"][3] == [0, 0, 0, 0]
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())
    json.dumps(m, allow_nan=False)


def test_wrong_number_of_class_names_raises():
    with pytest.raises(DataError, match="class names"):
        classification_metrics(np.zeros((2, 3)), np.array([0, 1]), ["a", "b"])
