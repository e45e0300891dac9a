"""Confidence calibration of a classifier: expected calibration error and temperature scaling.

Conventions (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017):

* The *confidence* of a prediction is its largest class probability; it is *correct* when
  that class (ties: the lowest index, as ``argmax``) equals the label.
* Confidences fall into ``n_bins`` equal-width bins over [0, 1]; bin ``b`` holds the
  half-open interval ``(b / n_bins, (b + 1) / n_bins]`` and a confidence of exactly 0 goes
  to the first bin.
* ECE = sum over bins of ``count_b / N * |accuracy_b - mean confidence_b|``.
* Temperature scaling divides the logits by one scalar ``T > 0`` fitted by minimising the
  negative log-likelihood on held-out data; it changes confidences, never the argmax.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sightkit.errors import ConfigError, DataError

# Range of a fitted temperature. Perfectly separated validation data pushes the
# likelihood optimum to T -> 0; the clamp keeps the result finite and usable.
TEMPERATURE_MIN = 0.05
TEMPERATURE_MAX = 100.0


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of class probabilities, in [0, 1] (lower is better).

    ``probs`` has shape (N, C) with rows summing to 1; ``labels`` holds N class indices.
    Equal-width confidence bins over the max probability, ECE weighted by bin counts;
    see the module docstring for the exact bin convention.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
        >>> round(expected_calibration_error(probs, np.array([0, 1, 1]), n_bins=10), 4)
        0.4
    """
    _, _, counts, confidence, accuracy = _bin_statistics(probs, labels, n_bins)
    weights = counts / counts.sum()
    return float(np.sum(weights * np.abs(accuracy - confidence)))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict:
    """Per-bin mean confidence, accuracy and count, for a reliability diagram.

    Returns a JSON-serialisable dict of equal-length lists: ``bin_lower``, ``bin_upper``,
    ``confidence``, ``accuracy`` (plain floats) and ``count`` (plain ints). An empty bin
    has ``count`` 0 and ``confidence`` = ``accuracy`` = 0.0.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.3, 0.7]])
        >>> reliability_bins(probs, np.array([0, 0]), n_bins=2)["accuracy"]
        [0.0, 0.5]
    """
    lower, upper, counts, confidence, accuracy = _bin_statistics(probs, labels, n_bins)
    return {
        "bin_lower": [float(v) for v in lower],
        "bin_upper": [float(v) for v in upper],
        "confidence": [float(v) for v in confidence],
        "accuracy": [float(v) for v in accuracy],
        "count": [int(v) for v in counts],
    }


def fit_temperature(
    logits: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    max_iter: int = 100,
) -> float:
    """Fit the temperature ``T`` that minimises the NLL of ``softmax(logits / T)``.

    Optimises ``log T`` (so ``T`` stays positive) with L-BFGS in float64, on held-out
    logits of shape (N, C) and N integer labels. The result is clamped to
    [``TEMPERATURE_MIN``, ``TEMPERATURE_MAX``] = [0.05, 100]: on validation data that the
    model already separates perfectly the NLL keeps falling as ``T -> 0``, and the fit
    stops at the lower bound (or wherever the gradient vanishes) instead of diverging.

    Example:
        >>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> t = fit_temperature(logits, torch.tensor([0, 1, 1]))
        >>> t > 1.0
        True
    """
    if max_iter < 1:
        raise ConfigError(f"max_iter must be at least 1, got {max_iter}.")
    z = torch.as_tensor(logits).detach().to(device="cpu", dtype=torch.float64)
    y = torch.as_tensor(labels).detach().to(device="cpu", dtype=torch.long)
    _check_scores(z.numpy(), y.numpy(), "logits")
    if not torch.isfinite(z).all():
        raise DataError("logits contain NaN or infinite values; cannot fit a temperature.")

    log_lo, log_hi = math.log(TEMPERATURE_MIN), math.log(TEMPERATURE_MAX)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        # Clamping inside the objective flattens it outside the allowed range, so the
        # line search cannot run off towards T = 0 or T = inf.
        temperature = log_t.clamp(log_lo, log_hi).exp()
        loss = F.cross_entropy(z / temperature, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    fitted = math.exp(float(log_t.detach().clamp(log_lo, log_hi)))
    return min(max(fitted, TEMPERATURE_MIN), TEMPERATURE_MAX)


def _bin_statistics(
    probs: np.ndarray, labels: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return bin lower/upper edges, counts, mean confidence and accuracy per bin."""
    if n_bins < 1:
        raise ConfigError(f"n_bins must be at least 1, got {n_bins}.")
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64, copy=False)
    _check_scores(p, y, "probs")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)

    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" puts a value equal to an edge in the bin below it: bins are (lo, hi].
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(index, weights=correct, minlength=n_bins)
    safe = np.maximum(counts, 1)
    return edges[:-1], edges[1:], counts, conf_sum / safe, correct_sum / safe


def _check_scores(scores: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Raise :class:`DataError` unless ``scores`` is (N, C) with N > 0 and labels fit it."""
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise DataError(f"{name} must have shape (N, C) with N, C > 0; got {tuple(scores.shape)}.")
    if labels.shape != (scores.shape[0],):
        raise DataError(
            f"labels must have shape ({scores.shape[0]},) to match {name}; got {tuple(labels.shape)}."
        )
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise DataError(
            f"labels must lie in [0, {scores.shape[1] - 1}]; got values from "
            f"{int(labels.min())} to {int(labels.max())}."
        )
