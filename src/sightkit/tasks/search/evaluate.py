"""Retrieval quality of ranked search results: hit rate, precision and recall at k, and mAP.

Conventions (``relevant[q, i]`` is True when the i-th result of query q is relevant; each row
is a ranking, best first; ``relevant_counts[q]`` is how many relevant items query q has in the
whole catalogue):

- ``hit_rate@k``: share of queries with at least one relevant item in their top k (what many
  image-retrieval papers call recall@k);
- ``precision@k``: relevant items in the top k divided by k, averaged over queries;
- ``recall@k``: relevant items in the top k divided by the query's relevant count, averaged;
- ``map``: mean over queries of average precision (precision at the rank of each relevant
  item, summed, divided by the relevant count); rankings shorter than the catalogue count
  the missing relevant items as not found.

Example:
    >>> m = retrieval_metrics(np.array([[1, 0, 1], [0, 1, 0]], bool), [2, 1], ks=(1,))
    >>> m["hit_rate@1"], m["precision@1"], m["recall@1"], m["map"]
    (0.5, 0.5, 0.25, 0.6667)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sightkit.errors import ConfigError


def retrieval_metrics(relevant: np.ndarray, relevant_counts: int | Sequence[int] | np.ndarray,
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Hit rate, precision and recall at each k, and mAP, of boolean rankings ``relevant`` ``(Q, N)``; 4 decimals."""
    relevant = np.asarray(relevant, dtype=bool)
    counts = np.broadcast_to(np.asarray(relevant_counts, dtype=np.float64), (len(relevant),))
    if relevant.ndim != 2 or not len(relevant):
        raise ConfigError("relevant must be a (queries, ranking) array with at least one query")
    if (counts <= 0).any():
        raise ConfigError("every query needs at least one relevant item in the catalogue")
    out: dict[str, float] = {}
    for k in ks:
        top = relevant[:, :k]
        out[f"hit_rate@{k}"] = round(float(top.any(axis=1).mean()), 4)
        out[f"precision@{k}"] = round(float((top.sum(axis=1) / k).mean()), 4)
        out[f"recall@{k}"] = round(float((top.sum(axis=1) / counts).mean()), 4)
    precision_at_rank = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
    out["map"] = round(float(((precision_at_rank * relevant).sum(axis=1) / counts).mean()), 4)
    return out
