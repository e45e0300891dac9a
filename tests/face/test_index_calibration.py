"""Person search (exact and HNSW) and threshold calibration."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.errors import ConfigError
from sightkit.tasks.face import index as index_module
from sightkit.tasks.face.calibration import calibrate, pair_distances
from sightkit.tasks.face.index import PersonIndex


def test_nearest_and_mean_matching():
    vectors = np.array([[0, 0], [2, 0], [0.9, 0]], np.float32)
    names = ["a", "a", "b"]
    assert PersonIndex(vectors, names).search(np.array([0.1, 0], np.float32))[0][0] == "a"
    assert PersonIndex(vectors, names, "mean").search(np.array([0.1, 0], np.float32))[0][0] == "b"
    with pytest.raises(ConfigError, match="--match"):
        PersonIndex(vectors, names, "median")


def test_hnsw_agrees_with_exact_and_is_cached(monkeypatch):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 128)).astype(np.float32)
    names = [f"p{i % 1000}" for i in range(3000)]
    queries = vectors[:50] + rng.normal(scale=0.05, size=(50, 128)).astype(np.float32)
    exact = PersonIndex(vectors, names)
    saved = {}
    monkeypatch.setattr(index_module, "EXACT_LIMIT", 1000)
    approx = PersonIndex(vectors, names, load_index=lambda: saved.get("x"), save_index=lambda b: saved.update(x=b))
    assert approx._ann is not None and "x" in saved
    reloaded = PersonIndex(vectors, names, load_index=lambda: saved["x"])
    for q in queries:
        assert approx.search(q, 3)[0] == pytest.approx(exact.search(q, 3)[0], abs=1e-4)
        assert reloaded.search(q, 1)[0][0] == exact.search(q, 1)[0][0]


def test_calibration_figures():
    genuine = np.linspace(0.2, 0.5, 100)
    impostor = np.linspace(0.45, 1.0, 2000)
    result = calibrate(genuine, impostor, target_far=1e-3)
    assert result["threshold_rule"] == "far<=0.001"
    assert result["threshold"] < 0.4506  # at most 2 of 2000 impostors accepted
    assert 0 < result["eer"] < 0.1 and result["tar_at_far_0.01"] > 0.8
    assert calibrate(genuine, impostor[:100], target_far=1e-3)["threshold_rule"] == "eer"


def test_pair_distances_counts():
    vectors = np.random.default_rng(0).normal(size=(6, 4))
    genuine, impostor = pair_distances(vectors, list("aabbcc"))
    assert genuine.size == 3 and impostor.size == 12
