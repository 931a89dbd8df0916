"""The model registry: one contract run over every registered family, and what the search reads of it.

Every family of :data:`recommender.models.FAMILIES` must fit the same training data, score and
rank through the engine, score some items as the full scores do, find similar items, rank an
item added after fitting, survive save/load and scikit-learn's ``clone``, and give the model
search a cost and moves that its estimator accepts.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from recommender.engine import RecommendationEngine
from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset
from recommender.models import FAMILIES, family, make_model
from recommender.models.base import ROLES, Recommender
from recommender.models.family import PARTS, Move
from training.search import SEARCHED

NAMES = sorted(FAMILIES)
SMALL = {"factors": 8, "iterations": 3}  # factor models: fast enough for a contract run


@pytest.fixture(scope="module")
def data(small_market):
    return build_training_data(load_dataset(*small_market), content_dimensions=8)


def small(name: str) -> dict:
    """The family's first starting point, shrunk where it has factors."""
    params = dict(FAMILIES[name].starts[0].params) if FAMILIES[name].starts else {}
    estimator_params = FAMILIES[name].estimator.parameter_names()
    return {**params, **{key: value for key, value in SMALL.items() if key in estimator_params}}


@pytest.fixture(scope="module")
def fitted(data) -> dict[str, Recommender]:
    return {name: make_model(name, small(name), seed=0).fit(data) for name in NAMES}


def without_last_item(data):
    n = data.n_items - 1
    return dataclasses.replace(data, items=type(data.items)(data.items.ids[:n]), catalog=data.catalog.iloc[:n],
                               user_items=sp.csr_matrix(data.user_items[:, :n]),
                               confidence=sp.csr_matrix(data.confidence[:, :n]),
                               item_content=data.item_content[:n], item_embedding=data.item_embedding[:n])


@pytest.mark.parametrize("name", NAMES)
def test_a_family_declares_what_training_reads(name):
    declared = FAMILIES[name]
    assert declared.name == name and issubclass(declared.estimator, Recommender)
    assert declared.parts and set(declared.parts) <= set(PARTS) and declared.role in ROLES
    parameters = declared.estimator.parameter_names()
    for start in declared.starts:
        assert set(start.params) <= set(parameters)
        make_model(name, start.params)  # the estimator takes its starting points
    for move in declared.moves:
        assert move.parameter in parameters
        for moved in move.applied(dict(declared.starts[0].params), declared.default(move.parameter)):
            make_model(name, moved)
    if declared.cold_item_parameter is not None:
        assert isinstance(declared.default(declared.cold_item_parameter), bool)
    if declared.exponents:
        assert "beta" in parameters
    cost = declared.fit_cost(small(name), 10_000, 2_000, 200_000)
    assert cost.seconds > 0 and cost.bytes > 0
    assert declared.fit_cost(small(name), 100_000, 20_000, 2_000_000).seconds > cost.seconds
    if declared.spark is not None:
        assert issubclass(declared.spark_estimator(), declared.estimator)  # imported without starting Spark


def test_the_search_and_the_blend_read_the_registry():
    assert SEARCHED == tuple(name for name in FAMILIES if FAMILIES[name].plays("searched"))
    assert [name for name in FAMILIES if FAMILIES[name].plays("floor")] == ["popularity"]
    assert {FAMILIES[name].role for name in FAMILIES if FAMILIES[name].plays("blended")} == {"content", "popularity"}
    with pytest.raises(ValueError, match="unknown model 'svd'; known: als"):
        family("svd")
    with pytest.raises(ValueError, match="kind must be 'scale' or 'set'"):
        Move("l2", (2.0,), kind="double")


def test_a_move_scales_integers_and_floats_and_sets_values():
    assert Move("factors", (2.0, 0.5)).applied({"factors": 64}, 32) == [{"factors": 128}, {"factors": 32}]
    assert Move("l2", (0.4,)).applied({}, 250.0) == [{"l2": 100.0}]
    assert Move("similarity", ("bm25", "cosine"), kind="set").applied({"similarity": "cosine"}, "cosine") == \
        [{"similarity": "bm25"}]


@pytest.mark.parametrize("name", NAMES)
def test_every_family_fits_scores_and_ranks_through_the_engine(fitted, data, name):
    model = fitted[name]
    buyers = np.arange(min(40, data.n_users))
    batch = data.batch(buyers)
    scores = model.score(batch)
    assert scores.shape == (len(buyers), data.n_items) and scores.dtype == np.float32
    items = np.array([0, 3, data.n_items - 1])
    np.testing.assert_allclose(model.score_items(batch, items), scores[:, items], rtol=1e-5, atol=1e-6)
    at_items, spread = model.scores_and_spread(batch, items)
    np.testing.assert_allclose(at_items, scores[:, items], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(spread, scores.std(axis=1, dtype=np.float64), rtol=1e-4, atol=1e-6)
    lists, _ = RecommendationEngine.build(model, data).recommend(buyers, 10)
    assert lists.shape == (len(buyers), 10)
    bought = data.purchased[buyers]
    for row, listed in enumerate(lists):
        assert not set(listed[listed >= 0]) & set(bought[row].indices)
    similar, similarity = model.similar_items(np.array([0, 1]), 5)
    assert similar.shape == similarity.shape == (2, 5)
    assert not (similar[:, :1] == np.array([[0], [1]])).any()  # never the item itself


@pytest.mark.parametrize("name", NAMES)
def test_every_family_ranks_an_item_added_after_fitting(data, name):
    smaller = without_last_item(data)
    added = make_model(name, small(name), seed=0).fit(smaller).with_items(data.catalog, data.item_embedding)
    scores = added.score(data.batch(np.arange(20)))
    assert scores.shape == (20, data.n_items) and np.isfinite(scores[:, -1]).all()


@pytest.mark.parametrize("name", NAMES)
def test_every_family_survives_save_load_and_clone(fitted, data, name, tmp_path):
    model = fitted[name]
    batch = data.batch(np.arange(20))
    loaded = type(model).load(model.save(tmp_path / f"{name}.joblib"))
    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    refit = copy.fit(data)
    np.testing.assert_allclose(refit.score(batch), model.score(batch), rtol=1e-4, atol=1e-6)  # seeded: the same fit


def test_ease_is_sized_to_what_the_plan_has_left():
    from recommender.models.ease import PLAN_SHARE, EASERecommender, fit_to_plan

    shapes = [(50_000, 20_000, 1_000_000), (40_000, 20_000, 700_000)]  # the validation windows' fit parts

    def fit_seconds(n: int) -> float:
        return sum(EASERecommender.fit_cost({"max_items": n}, *shape).seconds for shape in shapes)

    solved = fit_to_plan({"l2": 250.0}, shapes, 20_000, 10.0)["max_items"]
    assert fit_seconds(solved) <= PLAN_SHARE * 10.0 < fit_seconds(solved + 1)
    assert fit_to_plan({"l2": 250.0}, shapes[:1], 20_000, 10.0)["max_items"] > solved  # one window: more items
    assert fit_to_plan({"l2": 250.0}, shapes, 2_000, 10.0) == {"l2": 250.0}  # every bought item fits
    assert fit_to_plan({"l2": 250.0}, shapes, 20_000, 1e-3) is None  # not even the 1,000 most bought
