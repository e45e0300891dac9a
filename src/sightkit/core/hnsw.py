"""A faiss HNSW graph over float32 vectors, loaded from or saved to a store's index cache.

The face gallery (Euclidean distance) and the search catalogue (inner product) answer
large queries with one of these; each keeps its own exact search for small sizes.

Example:
    >>> import numpy as np
    >>> index = hnsw_index(np.eye(4, 8, dtype=np.float32), m=8, ef_search=16)  # doctest: +SKIP
    >>> index.search(np.eye(1, 8, 2, dtype=np.float32), 1)[1].tolist()        # doctest: +SKIP
    [[2]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sightkit.core.threads import compute_threads
from sightkit.errors import ConfigError


def hnsw_index(vectors: np.ndarray, m: int, ef_search: int, *, inner_product: bool = False,
               ef_construction: int | None = None, load_index: Callable[[], bytes | None] | None = None,
               save_index: Callable[[bytes], None] | None = None, needed_for: str = "an HNSW index") -> Any:
    """A ``faiss.IndexHNSWFlat`` of ``vectors`` (rows, float32, C order): the cached one, or built and saved.

    ``load_index`` returns a serialised index of exactly these vectors, or None; a newly
    built one goes to ``save_index``. The metric is L2 (squared distances) unless
    ``inner_product``; ``m`` is the graph degree, ``ef_construction`` the build breadth
    (faiss's default when None) and ``ef_search`` the search breadth. Without faiss
    installed, raises :class:`~sightkit.errors.ConfigError` saying ``needed_for`` needs it.

    Example:
        >>> hnsw_index(vectors, m=32, ef_search=128, needed_for="galleries over 5,000 embeddings")  # doctest: +SKIP
        <faiss.swigfaiss.IndexHNSWFlat; ...>
    """
    try:
        import faiss
    except ImportError:
        raise ConfigError(f"{needed_for} need faiss: pip install faiss-cpu") from None
    faiss.omp_set_num_threads(compute_threads())  # its own OpenMP runtime: sightkit's thread count
    cached = load_index() if load_index else None
    if cached is not None:
        index = faiss.deserialize_index(np.frombuffer(cached, dtype=np.uint8))
    else:
        metric = faiss.METRIC_INNER_PRODUCT if inner_product else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(vectors.shape[1], m, metric)
        if ef_construction is not None:
            index.hnsw.efConstruction = ef_construction
        index.add(vectors)
        if save_index:
            save_index(faiss.serialize_index(index).tobytes())
    index.hnsw.efSearch = ef_search
    return index
