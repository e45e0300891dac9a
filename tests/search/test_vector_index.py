"""``VectorIndex``: exact top-k by inner product, and the HNSW back end agreeing with it."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.errors import ConfigError
from sightkit.tasks.search.index import VectorIndex, top_k


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_exact_search_matches_a_full_sort() -> None:
    vectors, queries = _unit(500, 16, 0), _unit(5, 16, 1)
    scores, rows = VectorIndex(vectors, "exact").search(queries, 7)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, expected, axis=1), rtol=1e-5)


def test_k_larger_than_the_catalogue_returns_everything_sorted() -> None:
    scores, rows = top_k(np.array([[0.2], [0.9], [0.5]]), 3)
    assert rows.tolist() == [[1, 2, 0]] and scores.tolist() == [[0.9, 0.5, 0.2]]
    assert VectorIndex(_unit(3, 4, 0), "exact").search(_unit(1, 4, 1), 10)[1].shape == (1, 3)


def test_hnsw_finds_nearly_the_exact_neighbours_and_caches_itself() -> None:
    pytest.importorskip("faiss")
    vectors = _unit(3000, 32, 0)
    queries = vectors[:50] + 0.01 * _unit(50, 32, 2)
    saved: list[bytes] = []
    hnsw = VectorIndex(vectors, "hnsw", save_index=saved.append)
    assert hnsw.method == "hnsw" and saved
    exact_rows = VectorIndex(vectors, "exact").search(queries, 10)[1]
    rows = hnsw.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), exact_rows.tolist())])
    assert recall > 0.9
    reloaded = VectorIndex(vectors, "hnsw", load_index=lambda: saved[0])
    np.testing.assert_array_equal(reloaded.search(queries, 10)[1], rows)


def test_bad_method_and_wrong_width_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="one of auto, exact, hnsw"):
        VectorIndex(_unit(3, 4, 0), "ivf")
    with pytest.raises(ConfigError, match="query vectors have 5 values, the catalogue's 4"):
        VectorIndex(_unit(3, 4, 0)).search(_unit(1, 5, 0), 1)
