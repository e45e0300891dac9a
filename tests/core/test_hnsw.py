"""``hnsw_index``: the metric and breadths asked for, a cached graph reused, a clear error without faiss."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sightkit.core.hnsw import hnsw_index
from sightkit.errors import ConfigError


def test_settings_metric_and_cache_round_trip() -> None:
    faiss = pytest.importorskip("faiss")
    vectors = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    saved: list[bytes] = []
    l2 = hnsw_index(vectors, 16, 64, ef_construction=50, save_index=saved.append)
    assert l2.metric_type == faiss.METRIC_L2 and l2.hnsw.efSearch == 64 and l2.hnsw.efConstruction == 50
    assert l2.ntotal == 300 and len(saved) == 1
    assert l2.search(vectors[:5], 1)[1].ravel().tolist() == [0, 1, 2, 3, 4]
    reloaded = hnsw_index(np.zeros((0, 8), np.float32), 16, 32, load_index=lambda: saved[0],
                          save_index=saved.append)
    assert reloaded.ntotal == 300 and reloaded.hnsw.efSearch == 32 and len(saved) == 1  # not rebuilt
    ip = hnsw_index(vectors, 16, 64, inner_product=True)
    assert ip.metric_type == faiss.METRIC_INNER_PRODUCT


def test_without_faiss_the_error_says_what_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ConfigError, match="catalogues over 20,000 images need faiss: pip install faiss-cpu"):
        hnsw_index(np.ones((2, 4), np.float32), 8, 16, needed_for="catalogues over 20,000 images")
