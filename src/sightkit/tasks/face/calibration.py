"""Distance thresholds from genuine / impostor distances: ROC, EER, TAR at a FAR, a recommendation.

Conventions: a pair is accepted as "same person" when its distance is ``<= threshold``.
FAR (false accept rate) is the share of impostor pairs accepted, TAR (true accept rate)
the share of genuine pairs accepted; the EER is where FAR equals 1 - TAR. The recommended
threshold is the largest one whose FAR on the calibration pairs stays at or under
``target_far`` (default 1e-3); with fewer than ``1 / target_far`` impostor pairs that FAR
cannot be measured, so the EER threshold is recommended instead and the report says so.

Example:
    >>> import numpy as np
    >>> cal = calibrate(np.array([0.3, 0.35, 0.4]), np.array([0.7, 0.8, 0.9, 1.0]), target_far=0.01)
    >>> cal["eer"], cal["threshold_rule"]
    (0.0, 'eer')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# dlib's published decision threshold for its descriptor (LFW): used until a gallery is calibrated.
DEFAULT_THRESHOLD = 0.6
DEFAULT_TARGET_FAR = 1e-3
REPORTED_FARS = (1e-2, 1e-3)
# Impostor pairs kept at most; beyond a million the ROC does not change visibly.
_MAX_IMPOSTORS = 1_000_000


def pair_distances(vectors: np.ndarray, labels: Sequence[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor distances over all pairs of ``vectors`` (impostors sampled past a million).

    Example:
        >>> genuine, impostor = pair_distances(np.eye(3, 4), ["a", "a", "b"])
        >>> genuine.round(3).tolist(), impostor.size
        ([1.414], 2)
    """
    labels_arr = np.asarray(labels)
    sq = np.einsum("ij,ij->i", vectors, vectors)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * vectors @ vectors.T, 0.0)
    upper_i, upper_j = np.triu_indices(len(vectors), k=1)
    same = labels_arr[upper_i] == labels_arr[upper_j]
    distances = np.sqrt(d2[upper_i, upper_j])
    impostor = distances[~same]
    if impostor.size > _MAX_IMPOSTORS:
        impostor = np.random.default_rng(seed).choice(impostor, _MAX_IMPOSTORS, replace=False)
    return distances[same], impostor


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, far, tar)`` at every distinct distance, thresholds ascending."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    far = np.searchsorted(np.sort(impostor), thresholds, side="right") / max(1, impostor.size)
    tar = np.searchsorted(np.sort(genuine), thresholds, side="right") / max(1, genuine.size)
    return thresholds, far, tar


def calibrate(genuine: np.ndarray, impostor: np.ndarray, target_far: float = DEFAULT_TARGET_FAR) -> dict:
    """EER, TAR at FAR 1e-2 / 1e-3, AUC and a recommended threshold (see the module notes)."""
    if genuine.size == 0 or impostor.size == 0:
        from sightkit.errors import DataError

        raise DataError("calibration needs at least one person with two images and two different people")
    thresholds, far, tar = roc(genuine, impostor)
    frr = 1.0 - tar
    eer_at = int(np.argmin(np.abs(far - frr)))
    result = {
        "genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size),
        "eer": float((far[eer_at] + frr[eer_at]) / 2), "eer_threshold": float(thresholds[eer_at]),
        "auc": float(np.trapezoid(np.concatenate([[0.0], tar, [1.0]]), np.concatenate([[0.0], far, [1.0]]))),
        "genuine_mean": float(genuine.mean()), "impostor_mean": float(impostor.mean()),
    }
    for rate in REPORTED_FARS:
        ok = far <= rate
        result[f"tar_at_far_{rate:g}"] = float(tar[ok].max()) if ok.any() else 0.0
        result[f"threshold_at_far_{rate:g}"] = float(thresholds[ok].max()) if ok.any() else float(thresholds[0])
    if impostor.size >= 1.0 / target_far:
        ok = far <= target_far
        result["threshold"] = float(thresholds[ok].max()) if ok.any() else float(thresholds[0])
        result["threshold_rule"] = f"far<={target_far:g}"
    else:
        result["threshold"], result["threshold_rule"] = result["eer_threshold"], "eer"
    return result
