"""Ranking metrics on small hand-computed examples."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.metrics import (
    average_popularity,
    catalog_coverage,
    evaluate_rankings,
    exposure,
    exposure_gini,
    gini,
    head_items,
    item_popularity,
    long_tail_share,
    map_at_k,
    ndcg_at_k,
    recall_at_k,
)

# 3 buyers, 8 items. Buyer 0 bought items 0 and 2 later; buyer 1 nothing; buyer 2 item 7 and 5.
RECOMMENDED = np.array([[0, 1, 2],
                        [3, -1, -1],
                        [4, 5, 6]])
RELEVANT = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 0, 0, 0],
                                   [0, 0, 0, 0, 0, 0, 0, 0],
                                   [0, 0, 0, 0, 0, 1, 0, 1]], dtype=np.float32))
L2, L3, L4 = math.log2(2), math.log2(3), math.log2(4)


def test_recall_exact():
    # buyer 0: 2 of 2 found; buyer 2: 1 of 2; buyer 1 has nothing relevant and is left out
    assert recall_at_k(RECOMMENDED, RELEVANT) == pytest.approx((1.0 + 0.5) / 2)
    assert recall_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx((0.5 + 0.0) / 2)
    per_user = recall_at_k(RECOMMENDED, RELEVANT, average=False)
    assert per_user[0] == 1.0 and math.isnan(per_user[1]) and per_user[2] == 0.5


def test_ndcg_exact():
    user0 = (1 / L2 + 1 / L4) / (1 / L2 + 1 / L3)
    user2 = (1 / L3) / (1 / L2 + 1 / L3)
    assert ndcg_at_k(RECOMMENDED, RELEVANT) == pytest.approx((user0 + user2) / 2)
    # ideal DCG over min(k, |relevant|): at k=1 buyer 0's single slot is a hit -> 1
    assert ndcg_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx((1.0 + 0.0) / 2)


def test_map_exact():
    user0 = (1 / 1 + 2 / 3) / 2
    user2 = (1 / 2) / 2
    assert map_at_k(RECOMMENDED, RELEVANT) == pytest.approx((user0 + user2) / 2)
    # normalised by min(k, |relevant|) = 1 at k=1
    assert map_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx(0.5)


def test_perfect_and_dense_input_and_repeats():
    relevant = np.array([[0, 1, 1, 0]])
    assert ndcg_at_k([[2, 1]], relevant) == pytest.approx(1.0)
    assert map_at_k([[1, 2]], relevant) == pytest.approx(1.0)
    # the same item twice counts once
    assert recall_at_k([[1, 1]], relevant) == pytest.approx(0.5)
    assert ndcg_at_k([[1, 1]], relevant) == pytest.approx(1 / (1 + 1 / L3))


def test_no_relevant_buyers_is_nan():
    empty = sp.csr_matrix((2, 5))
    assert math.isnan(recall_at_k([[0, 1], [2, 3]], empty))
    assert math.isnan(ndcg_at_k([[0, 1], [2, 3]], empty))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="rows"):
        recall_at_k(RECOMMENDED[:2], RELEVANT)
    with pytest.raises(ValueError, match="item code 9"):
        recall_at_k([[9, 0], [0, 1], [0, 1]], RELEVANT)
    with pytest.raises(ValueError, match="integer"):
        recall_at_k(np.zeros((3, 2)), RELEVANT)


def test_coverage():
    assert catalog_coverage(RECOMMENDED, 8) == pytest.approx(7 / 8)
    assert catalog_coverage([[0, 0], [0, -1]], 4) == pytest.approx(1 / 4)
    available = np.array([True, True, False, False, True, True, True, True])
    # of the 6 available items, 0, 1, 4, 5, 6 are shown
    assert catalog_coverage(RECOMMENDED, items=available) == pytest.approx(5 / 6)


def test_head_items_and_long_tail_share():
    popularity = np.array([50, 40, 10, 5, 5, 1, 0, 0, 0, 0], dtype=float)  # 10 items: head = top 2
    head = head_items(popularity)
    assert head.tolist() == [True, True] + [False] * 8
    # slots: 0, 1 head; 2, 3, 9 tail; padding ignored
    assert long_tail_share([[0, 1, 2], [3, 9, -1]], popularity) == pytest.approx(3 / 5)
    # an item nobody bought is never head, even if the head would need it
    assert head_items(np.array([3, 0, 0, 0, 0], dtype=float), head_share=0.4).tolist() == [True] + [False] * 4


def test_average_popularity():
    popularity = np.array([10, 6, 2, 0], dtype=float)
    assert average_popularity([[0, 1], [2, -1]], popularity) == pytest.approx(6.0)
    assert average_popularity([[0, 1], [2, -1]], popularity, normalize=True) == pytest.approx(0.6)


def test_gini_equal_and_concentrated():
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 7]) == pytest.approx(1 - 1 / 4)


def test_exposure_gini_counts_unexposed_groups():
    regions = pd.Categorical(["a", "a", "b", "c", "d"], categories=["a", "b", "c", "d", "e"])  # "e" has no items
    # equal exposure over a..d but e gets nothing: not zero
    rec = np.array([[0, 2], [3, 4]])
    assert exposure(rec, regions).tolist() == [1, 1, 1, 1, 0]
    assert exposure_gini(rec, regions) == pytest.approx(gini([1, 1, 1, 1, 0]))
    # equal exposure over every group -> 0
    assert exposure_gini([[0, 1], [2, 3]], np.array([0, 1, 2, 3])) == pytest.approx(0.0)
    # everything to one of n groups -> 1 - 1/n
    assert exposure_gini([[0, 0], [0, -1]], np.array([0, 1, 2, 3])) == pytest.approx(1 - 1 / 4)
    # string labels are factorised
    assert exposure_gini([[0, 1]], np.array(["x", "y"])) == pytest.approx(0.0)
    assert math.isnan(exposure_gini([[-1, -1]], np.array([0, 1])))


def test_item_popularity():
    purchases = pd.DataFrame({
        "user_id": pd.Categorical(["u1", "u1", "u2", "u2"]),
        "item_id": pd.Categorical(["a", "a", "a", "c"], categories=["a", "b", "c"]),
        "quantity": np.array([1, 3, 1, 2], dtype=np.float32),
    })
    assert item_popularity(purchases).tolist() == [3, 0, 1]
    assert item_popularity(purchases, by="quantity").tolist() == [5, 0, 2]
    assert item_popularity(purchases, by="buyers").tolist() == [2, 0, 1]


def test_evaluate_rankings_all_at_once():
    popularity = np.array([9, 8, 1, 1, 1, 1, 1, 1], dtype=float)  # head = item 0 only: floor(0.2 * 8) = 1
    groups = {"region": np.array([0, 0, 1, 1, 2, 2, 3, 3])}
    result = evaluate_rankings(RECOMMENDED, RELEVANT, popularity, groups)
    assert set(result) == {"recall@3", "ndcg@3", "map@3", "users", "coverage", "long_tail_share",
                           "avg_popularity", "avg_popularity_norm", "gini_region", "least_fifth_region",
                           "long_tail_recall@3"}
    assert all(isinstance(value, float) for value in result.values())
    assert result["recall@3"] == pytest.approx(recall_at_k(RECOMMENDED, RELEVANT))
    assert result["ndcg@3"] == pytest.approx(ndcg_at_k(RECOMMENDED, RELEVANT))
    assert result["map@3"] == pytest.approx(map_at_k(RECOMMENDED, RELEVANT))
    assert result["users"] == 2.0
    assert result["coverage"] == pytest.approx(7 / 8)
    assert result["long_tail_share"] == pytest.approx(6 / 7)
    assert result["gini_region"] == pytest.approx(gini([2, 2, 2, 1]))
    assert result["least_fifth_region"] == pytest.approx(1 / 7)  # 4 regions: the least shown one, 1 slot of 7
    # relevant outside the head (item 0): buyer 0 item 2 (found), buyer 2 items 5 (found) and 7 (not)
    assert result["long_tail_recall@3"] == pytest.approx((1 + 0.5) / 2)
    assert evaluate_rankings(RECOMMENDED, RELEVANT, popularity, k=1)["recall@1"] == pytest.approx(0.25)


def test_vectorised_batch_matches_per_user_loop():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 300, 60, 10
    relevant = sp.random(n_users, n_items, density=0.05, format="csr", random_state=1)
    recommended = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    recommended[rng.random((n_users, k)) < 0.1] = -1
    expected = []
    dense = relevant.toarray() > 0
    for u in range(n_users):
        rel = set(np.flatnonzero(dense[u]))
        if rel:
            found = [item in rel for item in recommended[u]]
            expected.append(sum(found) / len(rel))
    assert recall_at_k(recommended, relevant) == pytest.approx(np.mean(expected))
