"""The serving fast paths (precomputed buyer vectors and default lists) give exactly the engine's answers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recommender.artifacts import load_model_directory
from recommender.engine import NARROW_FILTER_SHARE
from recommender.features.encoders import UNKNOWN_CODE
from recommender.ranking import RowIndices, top_k_of_product
from serving import create_app
from serving.precomputed import DefaultLists, valid_prefix
from serving.served import ServedModel
from serving.settings import ServingSettings
from serving.state import state_of


@pytest.fixture(scope="module")
def engine(small_model):
    return load_model_directory(small_model)[0]


@pytest.fixture(scope="module")
def linear_engine(second_model):
    """An engine whose hybrid is linear (ALS, content, popularity): buyer vectors and a fused product."""
    engine = load_model_directory(second_model)[0]
    assert engine.model.is_linear
    return engine


@pytest.fixture(scope="module")
def explainer(small_model):
    return ServedModel.load(small_model).explainer


@pytest.fixture(scope="module")
def lists(engine, explainer):
    return DefaultLists.compute(engine, explainer)


@pytest.mark.parametrize("k", [1, 7, 20, "depth"])
def test_default_lists_are_prefixes_of_the_engine_lists(engine, lists, k):
    k = lists.depth if k == "depth" else k
    users = np.arange(len(engine.users))
    expected_codes, expected_scores = engine.recommend(users, k)
    for user in users:
        codes, scores, _ = lists.top(int(user), k)
        expected = valid_prefix(expected_codes[user], expected_scores[user])
        np.testing.assert_array_equal(codes, expected.codes)
        np.testing.assert_allclose(scores, expected.scores, rtol=1e-6)


def test_precomputed_reasons_are_the_explainers(engine, lists, explainer):
    for user in range(len(engine.users)):
        codes, _, reason_ids = lists.top(user, lists.depth)
        bought = engine.purchased[user].indices
        np.testing.assert_array_equal(reason_ids, explainer.reason_ids(codes, bought, int(engine.user_tiers[user])))


@pytest.mark.parametrize("tier", [None, 1, 3, 5])
def test_cold_start_lists_are_prefixes_of_the_engine_lists(engine, lists, tier):
    tiers = None if tier is None else np.array([tier], dtype=np.int8)
    for k in (1, 20, lists.depth):
        expected_codes, expected_scores = engine.recommend(np.array([UNKNOWN_CODE]), k, tiers=tiers)
        codes, scores, reason_ids = lists.top(UNKNOWN_CODE, k, tier)
        expected = valid_prefix(expected_codes[0], expected_scores[0])
        np.testing.assert_array_equal(codes, expected.codes)
        np.testing.assert_allclose(scores, expected.scores, rtol=1e-6)
        assert reason_ids is None  # unknown buyers' reasons are their tier's popularity


def test_default_lists_stop_at_their_depth_and_their_memory_bound(engine, explainer):
    lists = DefaultLists.compute(engine, explainer, depth=10)
    assert lists.top(0, 11) is None and lists.top(UNKNOWN_CODE, 11) is None
    assert lists.top(0, 5, tier=2) is None  # a known buyer in another tier is computed
    assert DefaultLists.compute(engine, explainer, max_bytes=1) is None


def test_precomputed_buyer_vectors_equal_the_models(linear_engine):
    engine = linear_engine
    users = np.arange(min(50, len(engine.users)))
    computed = engine.user_vectors(users)
    assert engine.precompute_for_serving()
    np.testing.assert_allclose(engine.user_vectors(users), computed, rtol=1e-5, atol=1e-6)
    tiers = np.full(len(users), 1, dtype=np.int8)  # an overridden tier is computed, not looked up
    np.testing.assert_allclose(engine.user_vectors(users, tiers),
                               engine.model.user_vectors(engine.batch(users, tiers)), rtol=1e-5, atol=1e-6)


def test_narrow_filters_scored_over_their_items_alone_answer_as_the_full_product(linear_engine):
    engine = linear_engine
    users = np.arange(min(30, len(engine.users)))
    mask = np.zeros(engine.n_items, dtype=bool)
    mask[::10] = True  # a tenth of the catalog: engine.candidates scores only these (top_k_of_subset)
    assert mask.mean() <= NARROW_FILTER_SHARE
    codes, scores = engine.candidates(users, 40, mask=mask)
    expected_codes, expected_scores = top_k_of_product(engine.user_vectors(users), engine.item_matrix, 40,
                                                       RowIndices(engine.purchased, users), engine.available & mask)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-6)
    # with a niche part: the filter's best niche items follow, scored over the filter's niche items
    with_niche, _ = engine.candidates(users, 40, mask=mask, niche_depth=5)
    niche = engine.reranker.niche_items_ > 0
    niche_codes, _ = top_k_of_product(engine.user_vectors(users), engine.item_matrix, 5,
                                      RowIndices(engine.purchased, users), engine.available & mask & niche)
    np.testing.assert_array_equal(with_niche, np.hstack([expected_codes, niche_codes]))


@pytest.mark.parametrize("model", ["small_model", "second_model"])
def test_api_answers_the_same_with_and_without_the_fast_paths(model, request):
    app = create_app(ServingSettings(model_dir=request.getfixturevalue(model)))
    with TestClient(app) as client:
        served = state_of(app).served
        model = served.model
        assert model.default_lists is not None
        users = [str(u) for u in model.engine.users.ids[:30]] + ["never-seen-1", "never-seen-2"]
        queries = ["k=5", "k=20", "k=20&niche=0", "k=20&exclude_purchased=false", "k=20&city_tier=1",
                   "k=7&city_tier=3"]
        fast = {(u, q): client.get(f"/v1/users/{u}/recommendations?{q}").json() for u in users for q in queries}
        state_of(app).served = served._replace(model=dataclasses.replace(model, default_lists=None))
        model.engine.__dict__.pop("_user_vectors", None)
        for (user, query), answer in fast.items():
            slow = client.get(f"/v1/users/{user}/recommendations?{query}").json()
            scores = [[item.pop("score") for item in body["items"]] for body in (answer, slow)]
            assert slow == answer, (user, query)  # same items, order, reasons and metadata
            np.testing.assert_allclose(*scores, rtol=1e-5)  # products in batches or alone differ in the last bits


def test_niche_candidates_from_the_split_catalog_equal_two_full_products(linear_engine):
    """With a niche part and no filter, the engine multiplies the non-niche and the niche items
    apart (one product in all): the same candidates as the full product and the niche-masked one."""
    engine = linear_engine
    users = np.append(np.arange(min(40, len(engine.users))), UNKNOWN_CODE)
    codes, scores = engine.candidates(users, 30, niche_depth=12)
    vectors = engine.user_vectors(users)
    seen = RowIndices(engine.purchased, users)
    niche = engine.reranker.niche_items_ > 0
    assert 0 < niche.sum() < engine.n_items
    want_codes, want_scores = top_k_of_product(vectors, engine.item_matrix, 30, seen, engine.available)
    niche_codes, niche_scores = top_k_of_product(vectors, engine.item_matrix, 12, seen, engine.available & niche)
    np.testing.assert_allclose(scores, np.hstack([want_scores, niche_scores]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(codes, np.hstack([want_codes, niche_codes]))


def test_niche_candidates_under_a_wide_filter_equal_two_filtered_products(linear_engine):
    engine = linear_engine
    users = np.arange(min(25, len(engine.users)))
    mask = np.ones(engine.n_items, dtype=bool)
    mask[::3] = False  # a wide filter (two thirds of the catalog), as max_price gives
    codes, scores = engine.candidates(users, 20, mask=mask, niche_depth=8)
    vectors, seen = engine.user_vectors(users), RowIndices(engine.purchased, users)
    allowed = engine.available & mask
    niche = engine.reranker.niche_items_ > 0
    want = [top_k_of_product(vectors, engine.item_matrix, 20, seen, allowed),
            top_k_of_product(vectors, engine.item_matrix, 8, seen, allowed & niche)]
    np.testing.assert_array_equal(codes, np.hstack([want[0][0], want[1][0]]))
    np.testing.assert_allclose(scores, np.hstack([want[0][1], want[1][1]]), rtol=1e-5, atol=1e-6)
