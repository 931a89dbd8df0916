"""Niche-aware re-ranking: relevance order at 0, more niche goods as the knob rises, per buyer."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.metrics import long_tail_share
from recommender.ranking import exclude, top_k
from recommender.rerank import COVERAGE_SLOTS, NicheReranker, item_groups, niche_propensity, niche_rerank

N_ITEMS = 100
POPULARITY = 1000.0 / np.arange(1, N_ITEMS + 1)  # item 0 most popular; head = items 0..19


def plain_catalog(n: int = N_ITEMS) -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"I{i}" for i in range(n)],
                         "merchant_id": pd.Categorical(["unknown"] * n), "tags": [""] * n})


def popular_candidates(n_users: int = 60, n_candidates: int = 40, seed: int = 0):
    """Candidate lists where the model favours popular items (head items score higher)."""
    rng = np.random.default_rng(seed)
    candidates = np.stack([rng.choice(N_ITEMS, n_candidates, replace=False) for _ in range(n_users)])
    scores = -np.log1p(candidates) + rng.normal(0, 0.3, candidates.shape)
    return candidates, scores


def fitted(niche: float, **kwargs) -> NicheReranker:
    return NicheReranker(niche=niche, **kwargs).fit(POPULARITY, plain_catalog())


def test_niche_zero_is_exactly_the_relevance_order():
    candidates, scores = popular_candidates()
    rng = np.random.default_rng(1)
    shuffle = np.argsort(rng.random(candidates.shape), axis=1)  # candidates need not come sorted
    cand = np.take_along_axis(candidates, shuffle, axis=1)
    sc = np.take_along_axis(scores, shuffle, axis=1)
    codes, out_scores = fitted(0.0).rerank(cand, sc, np.full(len(cand), 0.9), k=10)
    order = np.argsort(-sc, axis=1, kind="stable")[:, :10]
    assert (codes == np.take_along_axis(cand, order, axis=1)).all()
    assert (out_scores == np.take_along_axis(sc, order, axis=1)).all()
    # on a model's top candidates, niche=0 gives top_k's answer
    matrix = np.random.default_rng(2).random((5, N_ITEMS)).astype(np.float32)
    expected, _ = top_k(matrix, 10)
    got, _ = fitted(0.0).rerank(*top_k(matrix, 30), k=10)
    assert (got == expected).all()


def test_ties_keep_the_given_order_at_niche_zero():
    codes, _ = niche_rerank([[7, 3, 5, 1]], [[1.0, 1.0, 1.0, 1.0]], [0.5], np.ones(10, bool), 0.0, 4)
    assert codes.tolist() == [[7, 3, 5, 1]]


def test_long_tail_share_rises_with_niche():
    candidates, scores = popular_candidates()
    propensity = np.full(len(candidates), 0.7)
    shares = []
    for niche in np.linspace(0, 1, 11):
        codes, _ = fitted(float(niche)).rerank(candidates, scores, propensity, k=10)
        shares.append(long_tail_share(codes, POPULARITY))
    assert all(later >= earlier for earlier, later in zip(shares, shares[1:])), shares
    assert shares[-1] > shares[0] + 0.2, shares


def test_full_niche_fills_lists_with_niche_goods_only_for_buyers_who_buy_them():
    # 10 head and 10 tail candidates, head all more relevant
    candidates = np.array([list(range(10)) + list(range(50, 60))] * 2)
    scores = np.tile(-np.arange(20, dtype=float), (2, 1))
    codes, _ = fitted(1.0).rerank(candidates, scores, [0.3, 0.0], k=10)
    assert codes[0].tolist() == list(range(50, 60))  # all tail, in relevance order
    assert codes[1].tolist() == list(range(10))  # a buyer who never buys niche goods: relevance order


def test_zero_propensity_buyer_is_affected_less():
    candidates, scores = popular_candidates(n_users=1)
    both = np.repeat(candidates, 2, axis=0)
    both_scores = np.repeat(scores, 2, axis=0)
    relevance_order, _ = fitted(0.0).rerank(both, both_scores, [0.0, 0.9], k=10)
    codes, _ = fitted(0.5).rerank(both, both_scores, [0.0, 0.9], k=10)
    changed = (codes != relevance_order).sum(axis=1)
    tail_gain = [long_tail_share(codes[i:i + 1], POPULARITY) - long_tail_share(relevance_order[i:i + 1], POPULARITY)
                 for i in range(2)]
    assert changed[0] < changed[1]
    assert tail_gain[0] < tail_gain[1]
    assert tail_gain[0] <= 0.0 < tail_gain[1]


def test_output_is_unique_and_only_candidates():
    rng = np.random.default_rng(3)
    candidates = rng.integers(-1, N_ITEMS, size=(200, 30))  # repeats and padding
    scores = rng.normal(size=candidates.shape)
    scores[rng.random(candidates.shape) < 0.1] = -np.inf
    for niche in (0.0, 0.4, 1.0):
        codes, out = fitted(niche).rerank(candidates, scores, rng.random(200), k=15)
        assert codes.shape == (200, 15) and out.shape == (200, 15)
        for row, cand, sc, row_scores in zip(codes, candidates, scores, out):
            shown = row[row >= 0]
            usable = set(cand[(cand >= 0) & np.isfinite(sc)])
            assert len(set(shown)) == len(shown)
            assert set(shown) <= usable
            assert len(shown) == min(15, len(usable))
            assert (row[len(shown):] == -1).all() and np.isneginf(row_scores[len(shown):]).all()


def test_padding_when_fewer_candidates_than_k():
    codes, scores = niche_rerank([[4, 2]], [[0.5, 0.9]], [0.5], np.zeros(5, bool), 0.5, 4)
    assert codes.tolist() == [[2, 4, -1, -1]]
    # the re-ranked scores: (1 - niche) * the min-max relevance, as neither item is niche
    assert scores[0, :2].tolist() == [0.5, 0.0] and np.isneginf(scores[0, 2:]).all()


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_niche_values_raise(bad):
    with pytest.raises(ValueError, match=r"niche must be a number in \[0, 1\]"):
        NicheReranker(niche=bad)
    with pytest.raises(ValueError, match=r"niche must be a number in \[0, 1\]"):
        niche_rerank([[0, 1]], [[1.0, 0.5]], [0.5], np.ones(2, bool), bad, 2)


def test_other_bad_inputs_raise():
    reranker = fitted(0.5)
    with pytest.raises(ValueError, match="same shape"):
        reranker.rerank([[0, 1]], [[1.0]], None, k=2)
    with pytest.raises(ValueError, match="propensity"):
        reranker.rerank([[0, 1]], [[1.0, 0.5]], [1.5], k=2)
    with pytest.raises(ValueError, match="k must be"):
        reranker.rerank([[0, 1]], [[1.0, 0.5]], None, k=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        NicheReranker(niche=0.5).rerank([[0, 1]], [[1.0, 0.5]], None, k=2)
    with pytest.raises(ValueError, match="candidates"):
        NicheReranker(candidates=0)


def test_item_groups_flags_priority_regions_and_small_merchants():
    catalog = pd.DataFrame({
        "item_id": ["a", "b", "c", "d", "e"],
        "merchant_id": pd.Categorical(["big", "big", "mid", "tiny", "unknown"]),
        "tags": ["handmade", "priority_region", "gift;priority_region;seasonal", "", ""],
    })
    popularity = np.array([100, 50, 20, 1, 0], dtype=float)  # head (top 20% = 1 item) = a
    groups = item_groups(popularity, catalog)
    assert groups.tail.tolist() == [False, True, True, True, True]
    assert groups.priority_region.tolist() == [False, True, True, False, False]
    # merchant sales: big 150, mid 20, tiny 1 (unknown not a merchant); median 20 -> tiny is small
    assert groups.small_merchant.tolist() == [False, False, False, True, False]
    assert groups.niche.tolist() == [0.0, 1.0, 1.0, 1.0, 0.5]  # half for the tail, half for promotion
    # a popular item from a priority region is still promoted, and half niche
    groups = item_groups(popularity, catalog, tail_share=0.4)
    assert groups.tail.tolist() == [False, False, True, True, True]
    assert groups.niche.tolist() == [0.0, 0.5, 1.0, 1.0, 0.5]


def test_propensity_from_history_and_population_fallback():
    history = sp.csr_matrix(np.array([[2, 0, 2, 0],   # half niche
                                      [0, 0, 0, 0],   # no history
                                      [1, 1, 0, 0]], dtype=float))  # no niche
    niche = np.array([False, False, True, True])
    p = niche_propensity(history, niche)
    assert p[0] == pytest.approx(0.5) and np.isnan(p[1]) and p[2] == 0.0
    shrunk = niche_propensity(history, niche, prior_strength=2.0)
    assert shrunk[1] == pytest.approx(2 / 6) and shrunk[2] == pytest.approx(2 / 6 * 2 / 4)

    catalog = plain_catalog(4)
    reranker = NicheReranker(niche=0.5, tail_share=0.5).fit(np.array([10, 9, 1, 0.0]), catalog, history)
    assert reranker.niche_items_.tolist() == [0.0, 0.0, 0.5, 0.5]  # long tail, not promoted: half niche
    assert reranker.population_propensity_ == pytest.approx(0.125)
    assert reranker.propensity_of([0, 1, 2, -1, 99]).tolist() == pytest.approx([0.25, 0.125, 0.0, 0.125, 0.125])
    # unknown (nan) propensities in rerank get the population mean too
    a, _ = reranker.rerank([[0, 2]], [[1.0, 0.9]], [np.nan], k=2)
    b, _ = reranker.rerank([[0, 2]], [[1.0, 0.9]], [reranker.population_propensity_], k=2)
    assert (a == b).all()


def test_reranking_keeps_exclusions_made_before_it():
    rng = np.random.default_rng(4)
    scores = rng.random((3, N_ITEMS))
    seen = sp.csr_matrix((np.ones(3), ([0, 1, 2], [int(scores[0].argmax()), 5, 6])), shape=(3, N_ITEMS))
    mask = np.ones(N_ITEMS, dtype=bool)
    mask[:10] = False
    candidates, candidate_scores = top_k(exclude(scores, seen, mask), 30)
    codes, _ = fitted(0.6).rerank(candidates, candidate_scores, [0.2, 0.5, np.nan], k=10)
    assert (codes >= 10).all()
    for row, items in zip(codes, seen.tolil().rows):
        assert not set(row) & set(items)


def test_a_large_batch_gets_full_lists_without_repeats():
    rng = np.random.default_rng(5)
    candidates = np.stack([rng.permutation(N_ITEMS) for _ in range(5000)])
    scores = rng.random(candidates.shape)
    codes, _ = fitted(0.5).rerank(candidates, scores, rng.random(5000), k=20)
    assert codes.shape == (5000, 20) and (codes >= 0).all()
    assert (np.sort(codes, axis=1)[:, 1:] != np.sort(codes, axis=1)[:, :-1]).all()


def greedy_by_definition(candidates, scores, propensity, membership, niche, k):
    """The re-ranker's definition, one row and one position at a time: the unpicked distinct usable
    candidate maximising (1 - niche) * relevance + niche * p * m * max(0, 1 - niche picked / COVERAGE_SLOTS),
    ties to the higher score, then to the earlier slot; with each pick's objective."""
    lists, objectives = [], []
    for row, raw, p in zip(candidates, scores, propensity):
        picked, picked_scores = greedy_row(row, raw, p, membership, niche, k)
        lists.append(picked + [-1] * (k - len(picked)))
        objectives.append(picked_scores + [-np.inf] * (k - len(picked)))
    return np.array(lists), np.array(objectives)


def greedy_row(row, raw, p, membership, niche, k):
    """One row of :func:`greedy_by_definition`: the items picked and their objectives."""
    usable = [i for i in range(len(row)) if row[i] >= 0 and np.isfinite(raw[i])]
    usable.sort(key=lambda i: (-raw[i], i))
    first = {}
    for i in usable:
        first.setdefault(row[i], i)
    usable = [i for i in usable if first[row[i]] == i]
    low, high = min(raw[usable], default=0.0), max(raw[usable], default=0.0)

    def relevance(i):
        return (raw[i] - low) / (high - low) if high > low else 1.0

    def objective(i):
        return (1 - niche) * relevance(i) + niche * p * membership[row[i]] * max(0.0, 1 - niche_sum / COVERAGE_SLOTS)

    picked, niche_sum, picked_scores = [], 0.0, []
    for _ in range(min(k, len(usable))):
        best = max(usable, key=lambda i: (objective(i), -usable.index(i)))
        picked_scores.append(objective(best))
        usable.remove(best)
        picked.append(row[best])
        niche_sum += membership[row[best]]
    return picked, picked_scores


@pytest.mark.parametrize("seed", range(3))
def test_batches_pick_what_the_greedy_definition_picks(seed):
    rng = np.random.default_rng(seed)
    candidates = rng.integers(-1, N_ITEMS, (40, 30))  # repeats and -1 padding
    scores = rng.normal(size=candidates.shape)
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    membership = rng.choice([0.0, 0.5, 1.0, 0.25], N_ITEMS)
    propensity = rng.random(len(candidates))
    for niche in (0.3, 0.8):
        codes, picked_scores = niche_rerank(candidates, scores, propensity, membership, niche, 12)
        expected_codes, expected_scores = greedy_by_definition(candidates, scores, propensity, membership, niche, 12)
        np.testing.assert_array_equal(codes, expected_codes)
        np.testing.assert_allclose(picked_scores, expected_scores, rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_small_batches_pick_exactly_what_the_vectorised_loop_picks(seed, monkeypatch):
    """Rows of up to SMALL_BATCH are re-ranked per row in plain Python: the same lists, ties,
    repeats, unusable slots and padding included."""
    from recommender import rerank

    rng = np.random.default_rng(seed)
    n_users, n_candidates = rerank.SMALL_BATCH, 60
    candidates = rng.integers(-1, N_ITEMS, (n_users, n_candidates))  # repeats and -1 padding
    scores = np.round(rng.normal(size=candidates.shape), 1)  # many ties
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    membership = rng.choice([0.0, 0.5, 1.0, 0.25], N_ITEMS)
    propensity = rng.random(n_users)
    propensity[0] = 0.0
    for niche in (0.2, 0.6, 1.0):
        for k in (1, 20, 80):
            small = niche_rerank(candidates, scores, propensity, membership, niche, k)
            monkeypatch.setattr(rerank, "SMALL_BATCH", 0)
            vectorised = niche_rerank(candidates, scores, propensity, membership, niche, k)
            monkeypatch.undo()
            np.testing.assert_array_equal(small[0], vectorised[0])
            np.testing.assert_array_equal(small[1], vectorised[1])
            assert (small[0][:, :min(k, 20)] >= 0).any()


@pytest.mark.parametrize("rows", [3, 300])  # the per-row path and the vectorised one
def test_reranked_scores_never_rise_down_a_list_and_lists_are_prefix_consistent(rows):
    """What a reader of a re-ranked answer relies on: each item's score is the one the list is
    ordered by (in [0, 1], never rising), and asking for fewer items gives the same first ones."""
    rng = np.random.default_rng(7)
    candidates = rng.integers(-1, N_ITEMS, (rows, 80))
    scores = rng.normal(size=candidates.shape)
    membership = rng.choice([0.0, 0.5, 1.0], N_ITEMS)
    propensity = rng.random(rows)
    for niche in (0.3, 0.7, 1.0):
        codes, picked_scores = niche_rerank(candidates, scores, propensity, membership, niche, 30)
        shown = np.isfinite(picked_scores)
        assert shown[:, 0].all() and ((picked_scores[shown] >= 0) & (picked_scores[shown] <= 1)).all()
        assert (np.diff(np.where(shown, picked_scores, -1.0), axis=1) <= 0).all()
        for k in (5, 12):
            shorter, shorter_scores = niche_rerank(candidates, scores, propensity, membership, niche, k)
            np.testing.assert_array_equal(shorter, codes[:, :k])
            np.testing.assert_array_equal(shorter_scores, picked_scores[:, :k])


def test_a_buyer_who_bought_only_niche_goods_has_a_propensity_of_one_never_above():
    # the propensity's two sums (niche purchases, all purchases) add in different orders: without
    # clipping, a quarter of these all-niche buyers got 1 + 4e-16, which the re-ranker refused
    rng = np.random.default_rng(0)
    history = sp.random(2_000, 300, density=0.05, random_state=1, format="csr")
    history.data = rng.random(history.nnz) * 10
    propensity = niche_propensity(history, np.ones(300, dtype=bool))
    bought = history.getnnz(axis=1) > 0
    assert (propensity[bought] <= 1.0).all() and np.allclose(propensity[bought], 1.0)
    assert np.isnan(propensity[~bought]).all()
