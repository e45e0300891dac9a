"""Tests of the selection strategies: uncertainty scores, k-center greedy, hybrid (pure numpy, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.data.selection import k_center_greedy, select, uncertainty
from sightkit.errors import ConfigError


def test_margin_and_entropy_rank_a_tie_highest_and_a_sure_row_lowest():
    probs = np.array([[0.98, 0.01, 0.01], [0.34, 0.33, 0.33], [0.5, 0.45, 0.05], [0.7, 0.2, 0.1]])
    margin = uncertainty(probs, "margin")
    entropy = uncertainty(probs, "entropy")
    assert margin.tolist() == pytest.approx([0.03, 0.99, 0.95, 0.5])
    assert np.argmax(entropy) == 1 and np.argmin(entropy) == 0
    assert ((0 <= entropy) & (entropy <= 1)).all()


def test_margin_strategy_picks_the_rows_with_the_smallest_margin():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=200)
    chosen = select("margin", 10, probs)
    top2 = np.sort(probs, axis=1)[:, -2:]
    expected = np.argsort(top2[:, 1] - top2[:, 0])[:10]
    assert chosen.indices == expected.tolist()
    assert chosen.scores == sorted(chosen.scores, reverse=True)


def test_k_center_spreads_its_picks_over_four_clusters():
    rng = np.random.default_rng(1)
    corners = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    points = np.concatenate([c + rng.normal(0, 0.3, size=(25, 2)) for c in corners])
    picked, distances = k_center_greedy(points, 4, first=0)
    assert sorted(i // 25 for i in picked) == [0, 1, 2, 3]  # one point of every cluster
    assert all(d > 5 for d in distances[1:])


def test_k_center_starts_from_the_labelled_centres():
    points = np.array([[0.1, 0.0], [5.0, 5.0], [0.0, 0.2], [5.1, 5.0]])
    picked, distances = k_center_greedy(points, 1, centers=np.array([[0.0, 0.0]]))
    assert picked in ([1], [3]) and distances[0] > 7  # the covered corner is never the first pick


def test_hybrid_is_uncertain_and_diverse():
    # 40 uncertain points in two tight clusters, 60 confident ones far away: margin alone takes
    # the 4 most uncertain (all in cluster A); hybrid takes uncertain points from both clusters.
    rng = np.random.default_rng(2)
    embeddings = np.concatenate([rng.normal(0, 0.01, (20, 2)), rng.normal(0, 0.01, (20, 2)) + [1, 0],
                                 rng.normal(0, 0.01, (60, 2)) + [0, 5]])
    p_top = np.concatenate([np.full(20, 0.50), np.full(20, 0.52), np.full(60, 0.99)]) - np.linspace(0, 1e-3, 100)
    probs = np.stack([p_top, 1 - p_top], axis=1)
    margin = select("margin", 4, probs)
    hybrid = select("hybrid", 4, probs, embeddings, candidate_factor=10)
    assert all(i < 20 for i in margin.indices)
    assert {i // 20 for i in hybrid.indices} == {0, 1}  # both uncertain clusters, none of the confident
    assert len(set(hybrid.indices)) == 4


def test_random_is_seeded_and_distinct():
    a = select("random", 30, size=100, seed=3).indices
    assert a == select("random", 30, size=100, seed=3).indices
    assert len(set(a)) == 30 and a != select("random", 30, size=100, seed=4).indices


@pytest.mark.parametrize("strategy, n", [("coreset", 2), ("margin", 0), ("margin", 5)])
def test_bad_strategy_or_n_is_a_config_error(strategy, n):
    with pytest.raises(ConfigError):
        select(strategy, n, np.full((4, 2), 0.5))


def test_badge_first_picks_the_longest_gradient_then_spreads_out():
    from sightkit.data.selection import kmeans_pp_gradients, select

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 8))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    probs = rng.dirichlet(np.ones(4), size=200)
    picked, distances = kmeans_pp_gradients(probs, features, 30, seed=1)
    residual = -probs
    residual[np.arange(200), probs.argmax(1)] += 1
    lengths = np.linalg.norm(residual, axis=1) * np.linalg.norm(features, axis=1)
    assert picked[0] == int(np.argmax(lengths)) and distances[0] == float("inf")
    assert len(set(picked)) == 30 and all(d > 0 for d in distances[1:])
    assert kmeans_pp_gradients(probs, features, 30, seed=1)[0] == picked  # seeded
    # the (N, C x D) gradient embeddings give the same distances
    gradients = (residual[:, :, None] * features[:, None, :]).reshape(200, -1)
    assert distances[1] == pytest.approx(np.linalg.norm(gradients[picked[1]] - gradients[picked[0]]))
    chosen = select("badge", 30, probs, features, seed=1)
    assert chosen.indices == picked and chosen.distances[0] is None


def test_badge_skips_confident_images_when_others_are_unsure():
    from sightkit.data.selection import select

    probs = np.array([[1.0, 0.0]] * 50 + [[0.5, 0.5]] * 5)
    features = np.random.default_rng(0).normal(size=(55, 4))
    chosen = select("badge", 5, probs, features, seed=0)
    # confident images all have the zero gradient embedding: once one is picked, the others are at distance 0
    assert chosen.indices[0] >= 50 and sum(i < 50 for i in chosen.indices) <= 1


def test_badge_needs_embeddings():
    from sightkit.data.selection import select

    with pytest.raises(ConfigError, match="badge needs one embedding per image"):
        select("badge", 2, np.full((4, 2), 0.5))
