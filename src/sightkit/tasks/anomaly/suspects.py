"""Training images that look unlike the rest: anomalies mixed into a folder meant to be normal.

Each training image gets an outlier value (its distance to its nearest other training images,
or its own reconstruction error); values far above the median, by a robust z-score of their
logarithm (median and MAD, Iglewicz & Hoaglin's 3.5 cut-off), are reported. Distances and errors
are right-skewed; on their logarithm the cut-off flags far fewer ordinary images (digits with the
built-in backbone at 32 px: none of 140 clean images of any class, where the raw values flag up to
8). With 6 zeros mixed into 80 ones, the 5 zeros that land in the fitted part are flagged and no
one is (the test). Subtle anomalies, or many alike, are not found this way.

Example:
    >>> values = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 9.0])
    >>> outliers(values).tolist()
    [6]
"""

from __future__ import annotations

import numpy as np
import torch

# Iglewicz & Hoaglin (1993): modified z-scores over 3.5 are potential outliers.
ROBUST_Z = 3.5
# The MAD of a normal distribution is 0.6745 of its standard deviation.
_MAD_TO_SIGMA = 0.6745


def outliers(values: np.ndarray, cutoff: float = ROBUST_Z) -> np.ndarray:
    """Indices of positive ``values`` whose log's modified z-score is over ``cutoff``, highest first.

    Example:
        >>> outliers(np.ones(5)).tolist()
        []
    """
    values = np.log(np.maximum(values, 1e-12))
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    if mad <= 0:
        return np.array([], dtype=int)
    z = _MAD_TO_SIGMA * (values - median) / mad
    flagged = np.flatnonzero(z > cutoff)
    return flagged[np.argsort(-values[flagged])]


def knn_distances(embeddings: torch.Tensor, k: int | None = None) -> np.ndarray:
    """Mean distance of each row to its ``k`` nearest other rows (leave-one-out).

    The default ``k`` is a fifth of the rows (at least 5): a handful of similar anomalies are then
    still far from most of their neighbours, where with a small ``k`` they would vouch for each other.

    Example:
        >>> knn_distances(torch.tensor([[0.0], [1.0], [2.0], [10.0]]), k=1).tolist()
        [1.0, 1.0, 1.0, 8.0]
    """
    distances = torch.cdist(embeddings.float(), embeddings.float())
    distances.fill_diagonal_(float("inf"))
    k = k if k is not None else max(5, embeddings.shape[0] // 5)
    k = max(1, min(k, embeddings.shape[0] - 1))
    return distances.topk(k, dim=1, largest=False).values.mean(dim=1).numpy()
