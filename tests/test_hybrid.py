"""The hybrid blend: linear form equals the dense blend, weights tuned on validation, fused top-k."""
from __future__ import annotations

import numpy as np
import pytest

from recommender import engine as engine_module
from recommender.engine import NARROW_FILTER_SHARE, RecommendationEngine
from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset
from recommender.models import ALSRecommender, ContentRecommender, EASERecommender, PopularityRecommender
from recommender.models.hybrid import (
    CandidatePool,
    HybridRecommender,
    LinearScores,
    candidate_pool,
    history_buckets,
    scaled_scores,
    tune_blend_weights,
)
from recommender.ranking import exclude, top_k
from recommender.splits import relevance_matrix, validation_split


@pytest.fixture(scope="module")
def market(small_market):
    return build_training_data(load_dataset(*small_market))


def components():
    return [("als", ALSRecommender(factors=16, iterations=5)), ("content", ContentRecommender()),
            ("popularity", PopularityRecommender())]


def test_linear_blend_equals_the_weighted_sum_of_scaled_scores(market):
    weights = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.8, 0.1, 0.1]])
    hybrid = HybridRecommender(components(), weights=weights).fit(market)
    assert hybrid.is_linear
    batch = market.batch(np.arange(200))
    buckets = history_buckets(batch, hybrid.bucket_edges)
    expected = sum(weights[buckets, c][:, None] * scaled_scores(model, batch)
                   for c, (_, model) in enumerate(hybrid.components))
    np.testing.assert_allclose(hybrid.score(batch), expected, rtol=1e-4, atol=1e-4)


def test_a_non_linear_component_uses_the_dense_blend(market):
    components = [("ease", EASERecommender(l2=50.0)), ("popularity", PopularityRecommender())]
    hybrid = HybridRecommender(components).fit(market)
    assert not hybrid.is_linear
    batch = market.batch(np.arange(20))
    assert hybrid.score(batch).shape == (20, market.n_items)


def item_item_blend(market) -> HybridRecommender:
    weights = np.array([[0.2, 0.5, 0.3], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1]])
    return HybridRecommender([("ease", EASERecommender(l2=50.0)), ("content", ContentRecommender()),
                              ("popularity", PopularityRecommender())], weights=weights).fit(market)


def test_an_item_item_blend_is_the_weighted_sum_of_scaled_scores_at_any_items(market):
    """Each component's scores over their standard deviation across the catalog, weighted: over the
    whole catalog and at a few items alone (the spreads then come from the item covariance and the
    sparse product, never from the full scores)."""
    hybrid = item_item_blend(market)
    assert not hybrid.is_linear
    batch = market.batch(np.arange(120))
    buckets = history_buckets(batch, hybrid.bucket_edges)
    expected = np.zeros((len(batch), market.n_items))
    for column, (_, model) in enumerate(hybrid.components):
        scores = model.score(batch).astype(np.float64)
        spread = scores.std(axis=1, keepdims=True)
        expected += hybrid.weights[buckets, column][:, None] * np.divide(scores, spread, out=np.zeros_like(scores),
                                                                         where=spread > 0)
    np.testing.assert_allclose(hybrid.score(batch), expected, rtol=1e-4, atol=1e-4)
    items = np.array([9, 2, 40, 11, 0])
    np.testing.assert_allclose(hybrid.score_items(batch, items), expected[:, items], rtol=1e-4, atol=1e-4)


def test_narrow_filters_of_an_item_item_blend_score_only_their_items(market, monkeypatch):
    hybrid = item_item_blend(market)
    engine = RecommendationEngine.build(hybrid, market, niche=0.5)
    users = np.arange(60)
    mask = np.zeros(engine.n_items, dtype=bool)
    mask[::10] = True  # a tenth of the catalog: a category, a region
    assert mask.mean() <= NARROW_FILTER_SHARE
    allowed = engine.available & mask
    full = exclude(hybrid.score(engine.batch(users)), market.purchased[users], allowed)
    niche = engine.reranker.niche_items_ > 0
    expected = [np.hstack(parts) for parts in zip(top_k(full, 15), top_k(np.where(niche, full, -np.inf), 5))]
    monkeypatch.setattr(hybrid, "score", lambda batch: pytest.fail("the whole catalog was scored"))
    codes, scores = engine.candidates(users, 15, mask=mask, niche_depth=5)
    np.testing.assert_allclose(scores, expected[1], rtol=1e-4, atol=1e-4)
    assert (codes == expected[0]).mean() > 0.98  # equal but for ties broken differently
    assert allowed[codes[codes >= 0]].all()


def test_batch_scoring_in_chunks_on_threads_gives_the_lists_of_one_call(market, monkeypatch):
    """recommend_many cuts the buyers into chunks (for a densely scored blend, small ones: at most
    DENSE_CHUNK_CELLS buyers x items each) scored on two threads; the lists are those of one call."""
    engine = RecommendationEngine.build(item_item_blend(market), market, niche=0.5)
    monkeypatch.setattr(engine_module, "DENSE_CHUNK_CELLS", 1)  # chunks of MIN_DENSE_CHUNK buyers
    users = np.arange(market.n_users)
    assert len(users) > 4 * engine_module.MIN_DENSE_CHUNK
    chunked, chunked_scores = engine.recommend_many(users, 10, threads=2)
    whole, whole_scores = engine.recommend(users, 10)
    np.testing.assert_allclose(chunked_scores, whole_scores, rtol=1e-5, atol=1e-6)
    assert (chunked == whole).mean() > 0.98  # equal but for ties broken differently


def test_fused_top_k_matches_the_dense_path(market):
    hybrid = HybridRecommender(components()).fit(market)
    engine = RecommendationEngine.build(hybrid, market)
    users = np.arange(100)
    fused, fused_scores = engine.recommend(users, 10, niche=0.0, distinct_products=False)
    dense = exclude(hybrid.score(engine.batch(users)), market.purchased[users], engine.available)
    expected, expected_scores = top_k(dense, 10)
    np.testing.assert_allclose(fused_scores, expected_scores, rtol=1e-4, atol=1e-4)
    assert (fused == expected).mean() > 0.98  # equal but for ties broken differently


def test_blend_tuning_finds_the_informative_component(market, small_market):
    fit_part, validation = validation_split(load_dataset(*small_market), 60)
    data = build_training_data(fit_part)
    hybrid = HybridRecommender(components()).fit(data)
    buyers = np.unique(data.users.encode(validation.purchases.user_id.astype(str)))
    buyers = buyers[buyers >= 0]
    relevant = relevance_matrix(validation, data.users, data.n_items, data.purchased)[buyers]
    batch = data.batch(buyers)
    seen = data.purchased[buyers]
    scores = [exclude(scaled_scores(model, batch), seen) for _, model in hybrid.components]
    rng = np.random.default_rng(0)
    noise = exclude(rng.standard_normal(scores[0].shape).astype(np.float32), seen)
    weights, quality = tune_blend_weights(candidate_pool([noise] + scores, 100), relevant,
                                          history_buckets(batch, (1, 3, 10)), 4, trials=30, min_buyers=10)
    assert weights.shape == (4, 4)
    assert weights[:, 0].max() < 0.35, "pure noise should get little weight"
    single = tune_blend_weights(candidate_pool([noise], 100), relevant, history_buckets(batch, (1, 3, 10)), 4,
                                trials=0)[1]["all"]
    assert quality["all"] > single
    assert quality["components"][0] == single  # each component alone is reported: the noise did worst
    assert min(quality["components"]) == single < max(quality["components"]) <= quality["all"]


def test_pools_of_batches_concatenate_to_the_pool_of_all(market):
    hybrid = HybridRecommender(components()).fit(market)
    batch = market.batch(np.arange(60))
    scores = [exclude(scaled_scores(model, batch), market.purchased[np.arange(60)]) for _, model in hybrid.components]
    whole = candidate_pool(scores, 20)
    parts = CandidatePool.concat([candidate_pool([s[:25] for s in scores], 20),
                                  candidate_pool([s[25:] for s in scores], 20)])
    valid = ~whole.invalid
    assert (parts.candidates[:, :whole.candidates.shape[1]][valid] == whole.candidates[valid]).all()
    for a, b in zip(parts.scores, whole.scores):
        np.testing.assert_array_equal(a[:, :b.shape[1]][valid], b[valid])


def test_linear_components_pool_as_their_dense_scaled_scores_do(market):
    """A linear component's pool comes from a fused product and top-k, never the dense matrix:
    the same candidates (its own top items, exclusions kept) and the same scaled scores."""
    hybrid = HybridRecommender(components()).fit(market)
    users = np.arange(80)
    batch, seen = market.batch(users), market.purchased[users]
    available = np.ones(market.n_items, dtype=bool)
    available[::7] = False
    for (name, model), factored in zip(hybrid.components, hybrid.component_scores(batch, seen, available)):
        dense = exclude(scaled_scores(model, batch), seen, available)
        assert isinstance(factored, LinearScores), name
        fused, full = candidate_pool([factored], 30), candidate_pool([dense], 30)
        assert not fused.invalid.any() and not full.invalid.any()
        if name == "popularity":  # tier popularity ties many items: which of them make the top 30 is arbitrary
            np.testing.assert_allclose(np.sort(fused.scores[0], axis=1), np.sort(full.scores[0], axis=1), rtol=1e-4)
        else:
            np.testing.assert_array_equal(fused.candidates, full.candidates)
            np.testing.assert_allclose(fused.scores[0], full.scores[0], rtol=1e-4, atol=1e-4)
        for row, codes in enumerate(fused.candidates):
            assert available[codes].all() and not np.isin(codes, seen[row].indices).any()
    with_ease = HybridRecommender([("ease", EASERecommender()), ("popularity", PopularityRecommender())]).fit(market)
    ease_scores, popularity_scores = with_ease.component_scores(batch, seen)
    assert isinstance(ease_scores, np.ndarray)  # not linear: the dense matrix
    assert isinstance(popularity_scores, LinearScores)  # linear components of a non-linear blend too


def test_recommend_per_knob_equals_recommend_at_each_knob(market):
    engine = RecommendationEngine.build(HybridRecommender(components()).fit(market), market)
    users = np.arange(150)
    lists = engine.recommend_per_knob(users, 10, [0.0, 0.5, 1.0], batch=64)
    for knob, recommended in lists.items():
        np.testing.assert_array_equal(recommended, engine.recommend(users, 10, niche=knob)[0])
