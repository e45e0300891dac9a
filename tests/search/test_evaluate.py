"""``retrieval_metrics``: hand-computed values and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from sightkit.errors import ConfigError
from sightkit.tasks.search.evaluate import retrieval_metrics


def test_values_worked_out_by_hand() -> None:
    relevant = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    m = retrieval_metrics(relevant, [2, 1, 3], ks=(1, 3))
    assert m["hit_rate@1"] == 0.0 and m["hit_rate@3"] == round(1 / 3, 4)
    assert m["precision@3"] == round((2 / 3) / 3, 4)
    assert m["recall@3"] == round((2 / 2 + 0 + 0) / 3, 4)
    # AP: query 1 (1/2 + 2/3) / 2, query 2 (1/4) / 1, query 3 nothing found: 0
    assert m["map"] == round(((1 / 2 + 2 / 3) / 2 + 1 / 4 + 0) / 3, 4)


def test_a_perfect_ranking_scores_one() -> None:
    m = retrieval_metrics(np.array([[1, 1, 0, 0]], bool), 2, ks=(1, 2))
    assert m == {"hit_rate@1": 1.0, "precision@1": 1.0, "recall@1": 0.5,
                 "hit_rate@2": 1.0, "precision@2": 1.0, "recall@2": 1.0, "map": 1.0}


def test_queries_without_relevant_items_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least one relevant item"):
        retrieval_metrics(np.zeros((2, 3), bool), [1, 0])
