"""Tests of ECE, reliability bins and temperature scaling on synthetic predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sightkit.errors import DataError
from sightkit.tasks.classify.calibration import (
    TEMPERATURE_MAX,
    TEMPERATURE_MIN,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _calibrated_sample(n: int, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits), so P(correct) = confidence exactly."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, classes))
    cumulative = _softmax(logits).cumsum(axis=1)
    labels = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return logits, np.minimum(labels, classes - 1)


def test_ece_of_calibrated_predictions_is_near_zero():
    logits, labels = _calibrated_sample(20_000)
    assert expected_calibration_error(_softmax(logits), labels) < 0.02


def test_ece_hand_example_uses_half_open_bins():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    # Bins (0.8, 0.9], (0.7, 0.8], (0.6, 0.7]: gaps 0.1, 0.8, 0.3, one sample each.
    assert expected_calibration_error(probs, np.array([0, 1, 1]), n_bins=10) == pytest.approx(0.4)


def test_temperature_scaling_repairs_an_overconfident_model():
    logits, labels = _calibrated_sample(20_000, seed=1)
    overconfident = 4.0 * logits
    fit_half, test_half = slice(0, 10_000), slice(10_000, None)
    ece_before = expected_calibration_error(_softmax(overconfident[test_half]), labels[test_half])
    assert ece_before > 0.1

    temperature = fit_temperature(torch.from_numpy(overconfident[fit_half]).float(), labels[fit_half])
    ece_after = expected_calibration_error(_softmax(overconfident[test_half] / temperature), labels[test_half])
    assert temperature == pytest.approx(4.0, rel=0.15)
    assert ece_after < ece_before / 5


def test_fit_temperature_on_separable_data_is_finite_and_clamped():
    labels = np.arange(200) % 5
    logits = 10.0 * np.eye(5)[labels]
    temperature = fit_temperature(logits, labels)
    assert math.isfinite(temperature)
    assert TEMPERATURE_MIN <= temperature <= TEMPERATURE_MAX


def test_reliability_bins_are_json_plain_and_count_everything():
    logits, labels = _calibrated_sample(1_000, seed=2)
    bins = reliability_bins(_softmax(logits), labels, n_bins=10)
    json.dumps(bins)
    assert set(bins) == {"bin_lower", "bin_upper", "confidence", "accuracy", "count"}
    assert all(len(v) == 10 for v in bins.values())
    assert sum(bins["count"]) == 1_000
    assert all(type(v) is int for v in bins["count"])
    assert bins["bin_lower"][0] == 0.0 and bins["bin_upper"][-1] == 1.0


def test_mismatched_labels_raise_data_error():
    with pytest.raises(DataError, match="labels"):
        expected_calibration_error(np.full((3, 2), 0.5), np.array([0, 1]))
