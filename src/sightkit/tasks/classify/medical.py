"""Diagnostic-test metrics of a classifier and its operating threshold (medical imaging).

Conventions:

* One class is *positive* (the finding), every other class negative (one-vs-rest). The positive
  class is the one named (``--positive-class``), else the one of the bundle's stored decision,
  else the first class whose lower-cased name is a finding word of :data:`POSITIVE_NAMES`
  (``pneumonia``, ``abnormal``, ``positive``, ...), else the second class (index 1: binary labels
  are conventionally 0 = negative, 1 = positive).
* A case's *score* is the calibrated probability of the positive class. With a threshold, a case
  is called positive when ``score >= threshold``; without one, the model's argmax decides (for
  two classes the same as ``score >= 0.5`` apart from exact ties).
* sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), PPV = TP / (TP + FP),
  NPV = TN / (TN + FN); a ratio with an empty denominator is ``None``. AUROC is the
  Mann-Whitney probability that a positive case scores above a negative one, ties counting half.
* 95% confidence intervals: percentile bootstrap over cases (resampled with replacement, not
  stratified), :data:`RESAMPLES` resamples with seed :data:`SEED`; resamples in which a metric is
  undefined (e.g. no positive case drawn) are left out of its interval.
* The threshold for a target sensitivity is the highest score threshold whose sensitivity on the
  tuning (validation) split is at least the target, which gives the best specificity there.

Example:
    >>> probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    >>> m = medical_metrics(probs, np.array([0, 1, 1, 1]), ["normal", "pneumonia"], resamples=200)
    >>> m["positive_class"], m["sensitivity"]["value"], m["specificity"]["value"]
    ('pneumonia', 0.6666666666666666, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sightkit.errors import ConfigError, DataError

# Class names taken to mean "the finding is present", checked in this order.
POSITIVE_NAMES = ("positive", "abnormal", "disease", "diseased", "pneumonia", "malignant", "cancer", "tumor",
                  "tumour", "lesion", "fracture", "covid", "covid-19", "pathology", "sick", "yes")
RESAMPLES = 1000
SEED = 0
_BLOCK = 100  # resamples drawn at once: bounds the memory to _BLOCK x N indices
_RATIOS = {"sensitivity": ("tp", "fn"), "specificity": ("tn", "fp"), "ppv": ("tp", "fp"), "npv": ("tn", "fn")}


def uses_medical_metrics(classes: Sequence[str], task: str | None = None) -> bool:
    """Medical metrics are reported for two classes, or for any number with ``task="medical"``.

    Example:
        >>> uses_medical_metrics(["normal", "pneumonia"]), uses_medical_metrics(["a", "b", "c"], "medical")
        (True, True)
    """
    if task not in (None, "medical"):
        raise ConfigError(f"--task {task!r}: the only task is 'medical'")
    return len(classes) == 2 or (task == "medical" and len(classes) >= 2)


def positive_index(classes: Sequence[str], positive: str | None = None) -> int:
    """Index of the positive class by the rule of the module docstring.

    Example:
        >>> positive_index(["abnormal", "normal"]), positive_index(["cat", "dog"]), positive_index(["a", "b"], "a")
        (0, 1, 0)
    """
    if positive is not None:
        if positive not in classes:
            raise ConfigError(f"--positive-class {positive!r} is not a class of the model "
                              f"(classes: {', '.join(classes)})")
        return list(classes).index(positive)
    lowered = [c.lower() for c in classes]
    for word in POSITIVE_NAMES:
        if word in lowered:
            return lowered.index(word)
    if len(classes) < 2:
        raise DataError("medical metrics need at least two classes")
    return 1


def threshold_for_sensitivity(scores: np.ndarray, is_positive: np.ndarray, target: float) -> float:
    """The highest threshold t with ``mean(scores[is_positive] >= t) >= target``.

    Example:
        >>> threshold_for_sensitivity(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), np.array([1, 1, 1, 0, 0], bool), 0.6)
        0.8
    """
    if not 0.0 < target <= 1.0:
        raise ConfigError(f"--target-sensitivity must be in (0, 1], got {target}")
    positives = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(is_positive, bool)])[::-1]
    if positives.size == 0:
        raise DataError("the tuning split has no positive case; cannot choose a threshold for a sensitivity")
    needed = math.ceil(round(target * positives.size, 9))  # round: 0.95 * 20 is 19.000000000000004
    return float(positives[needed - 1])


def operating_point(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], target_sensitivity: float,
                    positive: str | None = None, split: str = "val") -> dict[str, Any]:
    """The decision stored in a bundle: the threshold for ``target_sensitivity`` on ``split``, and what it gives there.

    ``probs`` are the calibrated probabilities (N, C) of the tuning split, ``labels`` its class indices.

    Example:
        >>> d = operating_point(probs, labels, ["normal", "pneumonia"], 0.95)   # doctest: +SKIP
        >>> d["threshold"], d["sensitivity"], d["specificity"]                  # doctest: +SKIP
        (0.31, 0.952, 0.874)
    """
    pos = positive_index(classes, positive)
    scores, truth = _binary(probs, labels, pos)
    threshold = threshold_for_sensitivity(scores, truth, target_sensitivity)
    counts = _counts(scores >= threshold, truth)
    return {"positive_class": classes[pos], "threshold": threshold, "target_sensitivity": target_sensitivity,
            "chosen_on": split, "n": int(truth.size),
            "sensitivity": _ratio(counts, "sensitivity"), "specificity": _ratio(counts, "specificity")}


def decide(probs: np.ndarray, pos: int, threshold: float | None) -> np.ndarray:
    """Predicted class indices: the positive class where its score reaches ``threshold``, else the best other class.

    Without a threshold, the argmax.

    Example:
        >>> decide(np.array([[0.7, 0.3], [0.9, 0.1]]), 1, 0.25).tolist()
        [1, 0]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if threshold is None:
        return probs.argmax(axis=1)
    others = probs.copy()
    others[:, pos] = -np.inf
    return np.where(probs[:, pos] >= threshold, pos, others.argmax(axis=1))


def medical_metrics(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], positive: str | None = None,
                    threshold: float | None = None, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV and AUROC, each ``{"value", "ci95": [low, high]}``, with the counts and ROC.

    ``probs`` (N, C) are calibrated class probabilities, ``labels`` N class indices. The result
    also holds ``positive_class``, ``threshold`` (None: argmax), ``decision``, ``n_positive``,
    ``n_negative``, ``confusion`` (tp, fp, tn, fn) and ``roc`` (``fpr``/``tpr`` lists).

    Example:
        >>> m = medical_metrics(probs, labels, ["normal", "pneumonia"], threshold=0.3)   # doctest: +SKIP
        >>> m["auroc"]                                                                 # doctest: +SKIP
        {'value': 0.973, 'ci95': [0.958, 0.985]}
    """
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples}")
    pos = positive_index(classes, positive)
    scores, truth = _binary(probs, labels, pos)
    called = decide(probs, pos, threshold) == pos
    counts = _counts(called, truth)
    boot_counts, boot_auroc = _bootstrap(scores, truth, called, resamples, seed)
    result: dict[str, Any] = {
        "positive_class": classes[pos], "threshold": threshold,
        "decision": "argmax" if threshold is None else f"{classes[pos]} when its probability >= {threshold:.4g}",
        "n_positive": int(truth.sum()), "n_negative": int((~truth).sum()),
        "confusion": {key: int(value) for key, value in counts.items()},
    }
    for name in _RATIOS:
        result[name] = {"value": _ratio(counts, name), "ci95": _interval(_ratios(boot_counts, name))}
    result["auroc"] = {"value": _auroc(scores, truth), "ci95": _interval(boot_auroc)}
    result["resamples"], result["seed"] = resamples, seed
    result["roc"] = _roc(scores, truth)
    return result


def _binary(probs: np.ndarray, labels: np.ndarray, pos: int) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0] or probs.shape[0] == 0:
        raise DataError(f"probabilities {probs.shape} and labels {labels.shape} do not match (N, C) and (N,)")
    return probs[:, pos], labels == pos


def _counts(called: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    return {"tp": int((called & truth).sum()), "fp": int((called & ~truth).sum()),
            "tn": int((~called & ~truth).sum()), "fn": int((~called & truth).sum())}


def _ratio(counts: dict[str, int], name: str) -> float | None:
    hit, miss = _RATIOS[name]
    total = counts[hit] + counts[miss]
    return counts[hit] / total if total else None


def _ratios(boot: dict[str, np.ndarray], name: str) -> np.ndarray:
    hit, miss = _RATIOS[name]
    total = boot[hit] + boot[miss]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, boot[hit] / np.maximum(total, 1), np.nan)


def _interval(values: np.ndarray) -> list[float] | None:
    finite = values[np.isfinite(values)]
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))] if finite.size else None


def _auroc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    boot = _weighted_auroc(scores, truth, np.ones((1, scores.size)))
    return float(boot[0]) if np.isfinite(boot[0]) else None


def _bootstrap(scores: np.ndarray, truth: np.ndarray, called: np.ndarray, resamples: int,
               seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Confusion counts and AUROC of each resample, as case multiplicities (vectorised over resamples)."""
    rng = np.random.default_rng(seed)
    n = scores.size
    category = np.select([called & truth, called & ~truth, ~called & ~truth], [0, 1, 2], 3)
    counts, aurocs = [], []
    for start in range(0, resamples, _BLOCK):
        block = min(_BLOCK, resamples - start)
        draws = rng.integers(0, n, size=(block, n))
        rows = np.repeat(np.arange(block), n)
        weights = np.bincount(rows * n + draws.ravel(), minlength=block * n).reshape(block, n)
        counts.append(np.bincount(rows * 4 + category[draws].ravel(), minlength=block * 4).reshape(block, 4))
        aurocs.append(_weighted_auroc(scores, truth, weights))
    table = np.concatenate(counts)
    return {key: table[:, i] for i, key in enumerate(("tp", "fp", "tn", "fn"))}, np.concatenate(aurocs)


def _weighted_auroc(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC per row of case ``weights`` (R, N): sum over positives of the negative weight below, ties half."""
    unique, group = np.unique(scores, return_inverse=True)
    groups = unique.size
    rows = np.repeat(np.arange(weights.shape[0]), truth.size)
    flat = rows * groups + np.tile(group, weights.shape[0])
    size = weights.shape[0] * groups
    neg = np.bincount(flat, (weights * ~truth).ravel(), minlength=size).reshape(-1, groups)
    pos = np.bincount(flat, (weights * truth).ravel(), minlength=size).reshape(-1, groups)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / np.maximum(pairs, 1), np.nan)


def _roc(scores: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    """ROC corners (false positive rate, true positive rate) from the highest threshold down."""
    if truth.all() or not truth.any():
        return {"fpr": [], "tpr": []}
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=True)
    return {"fpr": [round(float(v), 6) for v in fpr], "tpr": [round(float(v), 6) for v in tpr]}
