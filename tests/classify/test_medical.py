"""Tests of sightkit.tasks.classify.medical: diagnostic metrics, bootstrap intervals, operating threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sightkit.errors import ConfigError
from sightkit.tasks.classify.medical import (decide, medical_metrics, operating_point, positive_index,
                                             threshold_for_sensitivity, uses_medical_metrics)

CLASSES = ["normal", "pneumonia"]


def _cases(tp: int, fn: int, tn: int, fp: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels whose argmax gives exactly this confusion matrix (pneumonia positive)."""
    labels = np.array([1] * (tp + fn) + [0] * (tn + fp))
    called = np.array([1] * tp + [0] * fn + [0] * tn + [1] * fp)
    rng = np.random.default_rng(0)
    score = np.where(called == 1, rng.uniform(0.55, 0.99, called.size), rng.uniform(0.01, 0.45, called.size))
    return np.stack([1 - score, score], axis=1), labels


def test_known_confusion_matrix_gives_the_textbook_ratios() -> None:
    probs, labels = _cases(tp=90, fn=10, tn=160, fp=40)
    m = medical_metrics(probs, labels, CLASSES)
    assert m["confusion"] == {"tp": 90, "fp": 40, "tn": 160, "fn": 10}
    assert m["sensitivity"]["value"] == pytest.approx(0.9)
    assert m["specificity"]["value"] == pytest.approx(0.8)
    assert m["ppv"]["value"] == pytest.approx(90 / 130)
    assert m["npv"]["value"] == pytest.approx(160 / 170)
    assert (m["n_positive"], m["n_negative"], m["decision"]) == (100, 200, "argmax")


def test_auroc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(400) < 0.3).astype(int)
    score = np.round(np.clip(rng.normal(0.4 + 0.25 * labels, 0.2), 0, 1), 1)  # coarse: many ties
    m = medical_metrics(np.stack([1 - score, score], 1), labels, CLASSES, resamples=50)
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(labels, score), abs=1e-12)
    assert m["roc"]["fpr"][0] == 0.0 and m["roc"]["tpr"][-1] == 1.0


def test_bootstrap_intervals_hold_the_estimate_are_seeded_and_narrow_with_more_cases() -> None:
    small = medical_metrics(*_cases(tp=18, fn=2, tn=32, fp=8), CLASSES)
    big = medical_metrics(*_cases(tp=900, fn=100, tn=1600, fp=400), CLASSES)
    for name in ("sensitivity", "specificity", "ppv", "npv", "auroc"):
        low, high = small[name]["ci95"]
        assert low <= small[name]["value"] <= high
        assert big[name]["ci95"][1] - big[name]["ci95"][0] < high - low
    again = medical_metrics(*_cases(tp=18, fn=2, tn=32, fp=8), CLASSES)
    assert again["auroc"]["ci95"] == small["auroc"]["ci95"] and small["resamples"] == 1000


def test_undefined_ratios_are_none_not_nan() -> None:
    probs = np.array([[0.2, 0.8], [0.3, 0.7]])
    m = medical_metrics(probs, np.array([1, 1]), CLASSES, resamples=20)
    assert m["specificity"] == {"value": None, "ci95": None} and m["auroc"]["value"] is None
    assert m["sensitivity"]["value"] == 1.0


def test_threshold_for_target_sensitivity_is_the_highest_that_reaches_it() -> None:
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    truth = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 0], dtype=bool)
    assert threshold_for_sensitivity(scores, truth, 0.8) == 0.6  # 4 of 5 positives at >= 0.6
    assert threshold_for_sensitivity(scores, truth, 0.81) == 0.4
    assert threshold_for_sensitivity(scores, truth, 1.0) == 0.4
    with pytest.raises(ConfigError, match="target-sensitivity"):
        threshold_for_sensitivity(scores, truth, 0.0)


def test_operating_point_reaches_the_target_on_its_split_and_drives_the_decision() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(300) < 0.5).astype(int)
    score = np.clip(rng.normal(0.35 + 0.3 * labels, 0.15), 0, 1)
    probs = np.stack([1 - score, score], 1)
    point = operating_point(probs, labels, CLASSES, 0.95)
    assert point["sensitivity"] >= 0.95 and point["positive_class"] == "pneumonia" and point["chosen_on"] == "val"
    m = medical_metrics(probs, labels, CLASSES, threshold=point["threshold"], resamples=20)
    assert m["sensitivity"]["value"] == pytest.approx(point["sensitivity"])
    assert m["specificity"]["value"] == pytest.approx(point["specificity"])
    assert m["sensitivity"]["value"] > medical_metrics(probs, labels, CLASSES, resamples=20)["sensitivity"]["value"]


def test_positive_class_rule_and_one_vs_rest() -> None:
    assert positive_index(["abnormal", "normal"]) == 0
    assert positive_index(["benign", "malignant"]) == 1
    assert positive_index(["cat", "dog"]) == 1  # the second class
    assert positive_index(["Pneumonia", "normal"]) == 0
    with pytest.raises(ConfigError, match="not a class"):
        positive_index(CLASSES, "covid")
    assert decide(np.array([[0.5, 0.3, 0.2], [0.1, 0.5, 0.4]]), 2, 0.2).tolist() == [2, 2]
    assert decide(np.array([[0.5, 0.4, 0.1]]), 2, 0.2).tolist() == [0]
    assert uses_medical_metrics(CLASSES) and not uses_medical_metrics(["a", "b", "c"])
    with pytest.raises(ConfigError, match="--task"):
        uses_medical_metrics(CLASSES, "detect")
