"""Audiences (`recommender.models.audience`): who will buy an item, in a repeat and a first-time part."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.artifacts import load_model_directory
from recommender.engine import RecommendationEngine
from recommender.explain import FIRST_TIME_TEXTS, audience_reasons
from recommender.features.repeat import AudienceSignals
from recommender.models.audience import FirstTimeAudience, standardised
from training.audience import evaluate_audiences


@pytest.fixture(scope="module")
def engine(small_model):
    return load_model_directory(small_model, RecommendationEngine)[0]


def most_bought_item(engine) -> int:
    return int(np.argmax(engine.item_sales))


def test_the_parts_split_the_buyers_into_past_buyers_and_everyone_else(engine):
    item = most_bought_item(engine)
    audience = engine.audience(item)
    past = np.flatnonzero(engine.purchased[:, item].toarray().ravel())
    repeat_buyers, repeat = audience.part("repeat")
    first_buyers, first_time = audience.part("first_time")
    np.testing.assert_array_equal(np.sort(repeat_buyers), past)
    assert len(first_buyers) == len(engine.users) - len(past) and not np.isin(first_buyers, past).any()
    assert ((repeat > 0) & (repeat < 1)).all() and ((first_time > 0) & (first_time < 1)).all()
    tiers = engine.user_tiers.astype(np.int64)
    by_tier = audience.expected("first_time", tiers, 6)
    assert by_tier.sum() == pytest.approx(first_time.sum())
    top, top_probability = audience.top("first_time", 10)
    assert len(top) == 10 and (np.diff(top_probability) <= 0).all()
    assert top_probability[-1] >= np.partition(first_time, -10)[-10]


def test_serving_computes_the_first_time_models_probabilities_in_one_product(engine):
    item = most_bought_item(engine)
    columns = engine.audience_columns(np.array([item]))[0]
    model = engine.audiences.first_time
    expected = model.probability(model.features(columns.astype(np.float64), engine.audiences.signals, item))
    audience = engine.audience(item, columns)
    buyers, probability = audience.part("first_time")
    np.testing.assert_allclose(probability, expected[buyers], rtol=1e-4)
    np.testing.assert_allclose(engine.audiences.first_time_features(audience, buyers[:50]),
                               model.features(columns.astype(np.float64), engine.audiences.signals, item)[buyers[:50]],
                               rtol=1e-4, atol=1e-5)


def test_a_filter_keeps_only_its_buyers(engine):
    audience = engine.audience(most_bought_item(engine))
    tier_two = engine.user_tiers == 2
    for kind in ("repeat", "first_time"):
        buyers, _ = audience.top(kind, 50, keep=tier_two)
        assert len(buyers) and tier_two[buyers].all()


def test_an_item_listed_after_training_gets_a_first_time_audience_from_its_content(engine):
    like = engine.catalog.iloc[most_bought_item(engine)]
    row = pd.DataFrame([{**like.to_dict(), "item_id": "NEW-TEA-1", "available": True}])
    wider = engine.with_items(row)
    audience = wider.audience(wider.n_items - 1)
    assert len(audience.part("repeat")[0]) == 0
    buyers, probability = audience.top("first_time", 20)
    assert len(buyers) == 20 and np.ptp(audience.part("first_time")[1]) > 0
    content = [position for position, (_, model) in enumerate(wider.audience_components) if model.role == "content"]
    columns = wider.audience_columns(np.array([wider.n_items - 1]))[0]
    assert np.ptp(columns[:, content[0]]) > 0  # the content model tells buyers apart for it


def test_reasons_say_each_buyers_pace_or_their_strongest_signal(engine):
    audience = engine.audience(most_bought_item(engine))
    repeat_buyers, _ = audience.top("repeat", 5)
    assert all(text.startswith("buys it about every") for text in audience_reasons(engine, audience, "repeat",
                                                                                    repeat_buyers))
    first_buyers, _ = audience.top("first_time", 30)
    assert set(audience_reasons(engine, audience, "first_time", first_buyers)) <= set(FIRST_TIME_TEXTS.values())


def test_first_time_model_stays_calibrated_when_negatives_are_sampled():
    rng = np.random.default_rng(0)
    n = 200_000
    score = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(-4.0 + 1.5 * score)))
    bought = rng.random(n) < truth
    negatives = np.flatnonzero(~bought)
    sampled = rng.choice(negatives, len(negatives) // 20, replace=False)
    rows = np.concatenate([np.flatnonzero(bought), sampled])
    weights = np.where(bought[rows], 1.0, len(negatives) / len(sampled))
    features = np.column_stack([score, np.zeros((n, 3))])
    model = FirstTimeAudience().fit(features[rows], bought[rows], weights, ["als"])
    predicted = model.probability(features)
    assert predicted.sum() == pytest.approx(bought.sum(), rel=0.05)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.99


def test_features_standardise_each_component_over_all_buyers():
    columns = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [9.0, 5.0]])
    signals = AudienceSignals(np.arange(4.0), np.zeros(4), np.array([0.0, np.log1p(3)]), np.ones(2), 28.0)
    features = FirstTimeAudience.features(columns, signals, 1)
    np.testing.assert_allclose(features[:, 0], standardised(columns[:, :1])[:, 0])
    assert (features[:, 1] == 0).all()  # a constant column says nothing
    assert features[:, 0].argmax() == 3 and (features[:, -1] == np.log1p(3)).all()


@pytest.mark.slow  # trains a model (search included) on all but the last 28 days
def test_first_time_audiences_find_next_months_buyers_better_than_their_baselines(small_market):
    from recommender.loaders import load_dataset

    evaluation = evaluate_audiences(load_dataset(*small_market), test_days=28, k=50, show_progress=False)
    recall = evaluation.rows["recall@50"]
    assert evaluation.items["first_time"] > 10 and evaluation.items["repeat"] > 10
    assert recall["first_time", "first-time audience"] > recall["first_time", "most active buyers"]
    assert recall["repeat", "repeat timing"] > 0.5
    assert 0.5 < evaluation.expected["first_time"] / evaluation.actual["first_time"] < 2.0


def test_audience_command_writes_both_parts_of_each_known_item(small_model, engine, tmp_path):
    from recommender.cli import main

    items = tmp_path / "items.csv"
    known = engine.items.ids[most_bought_item(engine)]
    items.write_text(f"item_id\n{known}\nNOT-AN-ITEM\n")
    out = tmp_path / "audience.csv"
    assert main(["audience", "--model", str(small_model), "--items", str(items), "--k", "15", "--out", str(out)]) == 0
    table = pd.read_csv(out, dtype={"item_id": str, "user_id": str})
    assert list(table.columns) == ["item_id", "rank", "user_id", "score", "kind", "reason"]
    assert set(table.item_id) == {known}
    for _, part in table.groupby("kind"):
        assert list(part["rank"]) == list(range(1, len(part) + 1)) and len(part) == 15
        assert part.score.is_monotonic_decreasing
    past = set(np.asarray(engine.users.ids)[engine.purchased[:, most_bought_item(engine)].nonzero()[0]])
    assert set(table[table.kind == "repeat"].user_id) <= past
    assert not set(table[table.kind == "first_time"].user_id) & past


def test_an_engine_without_an_audience_model_says_to_train_again(engine):
    older = engine.__class__.__new__(engine.__class__)
    older.__dict__.update({**engine.__dict__, "audiences": None})
    with pytest.raises(ValueError, match="train it again"):
        older.audience(0)
