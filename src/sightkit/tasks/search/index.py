"""Nearest catalogue vectors by cosine similarity: exact for small catalogues, HNSW (faiss) for large.

Vectors are L2-normalised, so cosine similarity is the dot product. Up to ``EXACT_LIMIT``
rows the search is one exact matrix product; above it, a faiss HNSW graph (inner-product
metric) answers; ``benchmarks/search.py`` measures both at 100,000 rows.

Example:
    >>> import numpy as np
    >>> index = VectorIndex(np.eye(3, 8, dtype=np.float32))
    >>> scores, rows = index.search(np.eye(1, 8, 1, dtype=np.float32), k=2)
    >>> rows[0].tolist(), scores[0].round(3).tolist()
    ([1, 0], [1.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sightkit.core.hnsw import hnsw_index
from sightkit.errors import ConfigError

EXACT_LIMIT = 20_000
METHODS = ("auto", "exact", "hnsw")
# HNSW graph degree, build breadth and search breadth: recall@10 against exact search is
# measured by benchmarks/search.py (hnsw_recall@10).
_HNSW_M = 32
_HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


class VectorIndex:
    """Top-k rows of a float32 matrix by inner product with each query; ``method`` "auto", "exact" or "hnsw".

    ``ef_search`` is the HNSW search breadth: higher finds more of the exact neighbours, slower.
    """

    def __init__(self, vectors: np.ndarray, method: str = "auto",
                 load_index: Callable[[], bytes | None] | None = None,
                 save_index: Callable[[bytes], None] | None = None, ef_search: int = HNSW_EF_SEARCH) -> None:
        if method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        use_hnsw = method == "hnsw" or (method == "auto" and len(self.vectors) > EXACT_LIMIT)
        self.method = "hnsw" if use_hnsw and len(self.vectors) else "exact"
        self._ann = None
        if self.method == "hnsw":
            self._ann = hnsw_index(self.vectors, _HNSW_M, ef_search, inner_product=True,
                                   ef_construction=_HNSW_EF_CONSTRUCTION, load_index=load_index,
                                   save_index=save_index, needed_for=f"catalogues over {EXACT_LIMIT:,} images")

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)``, each ``(Q, min(k, N))``, best first, for ``queries`` ``(Q, D)``."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.vectors.shape[1]:
            raise ConfigError(f"query vectors have {queries.shape[1]} values, the catalogue's {self.vectors.shape[1]}")
        k = min(k, len(self.vectors))
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if self._ann is not None:
            scores, rows = self._ann.search(queries, k)
            return scores, rows
        return top_k(self.vectors @ queries.T, k)


def top_k(similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``similarity`` ``(N, Q)``: the ``k`` largest values and their rows, as ``(Q, k)``.

    Example:
        >>> top_k(np.array([[0.1], [0.9], [0.5]]), 2)[1].tolist()
        [[1, 2]]
    """
    columns = similarity.T
    rows = np.argpartition(-columns, k - 1, axis=1)[:, :k] if k < columns.shape[1] else \
        np.tile(np.arange(columns.shape[1]), (len(columns), 1))
    scores = np.take_along_axis(columns, rows, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
