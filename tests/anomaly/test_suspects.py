"""Robust outliers and leave-one-out neighbour distances."""

from __future__ import annotations

import numpy as np
import torch

from sightkit.tasks.anomaly.suspects import knn_distances, outliers


def test_outliers_flags_only_the_far_values_highest_first() -> None:
    values = np.concatenate([np.random.default_rng(0).normal(1.0, 0.05, 100), [5.0, 3.0]])
    assert outliers(values).tolist() == [100, 101]
    assert outliers(np.full(10, 2.0)).tolist() == []


def test_knn_distances_leave_each_point_out() -> None:
    points = torch.tensor([[0.0], [1.0], [2.0], [3.0], [20.0]])
    distances = knn_distances(points, k=2)
    assert np.allclose(distances[:4], [1.5, 1.0, 1.0, 1.5]) and distances[4] == 17.5
