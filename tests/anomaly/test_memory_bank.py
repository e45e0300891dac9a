"""Greedy k-center coreset and nearest-neighbour distances against brute force."""

from __future__ import annotations

import torch

from sightkit.tasks.anomaly import memory_bank
from sightkit.tasks.anomaly.memory_bank import greedy_coreset, nearest_distance


def test_coreset_covers_every_cluster_and_is_seeded() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    points = (centres.repeat_interleave(50, 0) + 0.1 * torch.randn(200, 2, generator=generator))
    chosen = greedy_coreset(points, 4, seed=3)
    assert sorted((chosen // 50).tolist()) == [0, 1, 2, 3]  # one point from each cluster
    assert torch.equal(chosen, greedy_coreset(points, 4, seed=3))
    assert greedy_coreset(points, 500).tolist() == list(range(200))


def test_coreset_in_projection_and_pool_still_covers(monkeypatch) -> None:
    monkeypatch.setattr(memory_bank, "MAX_POOL", 100)
    monkeypatch.setattr(memory_bank, "PROJECTION_DIM", 8)
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(400, 32, generator=generator)
    points[::2] += 50.0  # two far-apart clusters
    chosen = greedy_coreset(points, 10, seed=0)
    assert len(set(chosen.tolist())) == 10 and {int(i) % 2 for i in chosen} == {0, 1}


def test_nearest_distance_matches_brute_force_in_chunks() -> None:
    generator = torch.Generator().manual_seed(2)
    queries, bank = torch.randn(37, 5, generator=generator), torch.randn(11, 5, generator=generator)
    expected = torch.cdist(queries, bank).min(dim=1).values
    assert torch.allclose(nearest_distance(queries, bank, chunk=4), expected, atol=1e-5)
