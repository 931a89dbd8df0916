"""Repeat timing (`recommender.models.repeat`), its pair history and the buy-again evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.features.repeat import pair_history
from recommender.loaders import load_dataset
from recommender.models.repeat import FEATURES, RepeatTiming
from training.buy_again import evaluate_buy_again
from training.cli import main

REFERENCE = pd.Timestamp("2026-06-30")


def purchases(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Purchase lines (buyer, item, days before the reference) with categorical ids."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "age"])
    return pd.DataFrame({"user_id": frame.user_id.astype("category"),
                         "item_id": pd.Categorical(frame.item_id, categories=["tea", "rice", "honey"]),
                         "timestamp": REFERENCE - pd.to_timedelta(frame.age, unit="D")})


def test_pair_history_counts_purchase_days_ages_and_decay():
    lines = purchases([("ann", "tea", 0), ("ann", "tea", 0.2), ("ann", "tea", 14), ("ann", "tea", 28),
                       ("bob", "rice", 10)])
    history = pair_history(lines, (2, 3), half_life_days=14.0, reference_time=REFERENCE)
    assert history.pattern.nnz == 2 and list(history.buyers) == [0, 1] and list(history.items) == [0, 1]
    np.testing.assert_array_equal(history.days, [3, 1])  # two lines on the same day count once
    np.testing.assert_array_equal(history.first_age, [28, 10])
    np.testing.assert_array_equal(history.last_age, [0, 10])
    np.testing.assert_allclose(history.decayed, [1 + 0.5 + 0.25, 0.5 ** (10 / 14)])
    np.testing.assert_allclose(history.mean_interval, [14, np.nan])


def weekly_and_monthly_buyers(n: int = 60, reference=REFERENCE) -> pd.DataFrame:
    """Buyers who buy tea every week and rice every month, each at their own phase."""
    rng = np.random.default_rng(0)
    rows = []
    for buyer in range(n):
        for item, interval in (("tea", 7), ("rice", 30)):
            phase = rng.uniform(0, interval)
            rows += [(f"b{buyer}", item, phase + interval * step) for step in range(int(150 / interval))]
    return purchases(rows)


def test_expected_interval_is_the_buyers_own_pace_and_a_one_time_buyer_gets_the_items():
    lines = weekly_and_monthly_buyers()
    once = purchases([("new", "tea", 3)])
    lines = pd.concat([lines, once]).astype({"user_id": "category"})
    lines["item_id"] = pd.Categorical(lines.item_id, categories=["tea", "rice", "honey"])
    shape = (len(lines.user_id.cat.categories), 3)
    history = pair_history(lines, shape, 90.0, REFERENCE)
    intervals = RepeatTiming().expected_interval(history, np.zeros(3, dtype=np.int64))
    tea, rice = history.items == 0, history.items == 1
    newcomer = history.buyers == list(lines.user_id.cat.categories).index("new")
    assert np.median(intervals[tea & ~newcomer]) == pytest.approx(7, rel=0.1)
    assert np.median(intervals[rice]) == pytest.approx(30, rel=0.1)
    assert intervals[tea & newcomer][0] == pytest.approx(7, rel=0.1)  # the item's pace, shrunk from its buyers


def test_a_due_item_is_more_likely_bought_again_than_one_just_bought():
    lines = weekly_and_monthly_buyers(200)
    cutoff = REFERENCE - pd.Timedelta(days=14)
    before, after = lines[lines.timestamp <= cutoff], lines[lines.timestamp > cutoff]
    shape = (len(lines.user_id.cat.categories), 3)
    history = pair_history(before, shape, 90.0, cutoff)
    later = set(zip(after.user_id.cat.codes, after.item_id.cat.codes))
    bought_again = np.array([(b, i) in later for b, i in zip(history.buyers, history.items)])
    groups = np.zeros(3, dtype=np.int64)
    model = RepeatTiming(horizon_days=14).fit(history, groups, bought_again)
    assert model.coef_.shape == (len(FEATURES),)
    probability = model.probability(history, groups)
    assert ((probability > 0) & (probability < 1)).all()
    # rice (monthly) is bought again within 14 days about half the time, depending on how due it is
    rice = history.items == 1
    due = rice & (history.last_age >= 20)
    fresh = rice & (history.last_age <= 5)
    assert probability[due].mean() > 2 * probability[fresh].mean()
    assert bought_again[due].mean() > bought_again[fresh].mean()  # what the data says, too
    # tea (weekly) is nearly always bought again within 14 days
    assert probability[history.items == 0].mean() > 0.8


def test_fitting_needs_both_outcomes():
    lines = weekly_and_monthly_buyers(5)
    history = pair_history(lines, (5, 3), 90.0, REFERENCE)
    with pytest.raises(ValueError, match="bought again and pairs not bought again"):
        RepeatTiming().fit(history, np.zeros(3, dtype=np.int64), np.ones(history.pattern.nnz, dtype=bool))


def test_buy_again_evaluation_ranks_every_method_on_the_same_buyers(small_market):
    evaluation = evaluate_buy_again(load_dataset(*small_market), test_days=28, k=10)
    assert list(evaluation.rows.index) == ["personal top frequency", "personal recency",
                                           "decayed personal frequency", "repeat timing"]
    assert evaluation.buyers > 0
    values = evaluation.rows.to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert "test buyers bought again" in evaluation.table()


def test_evaluate_buy_again_command_prints_the_table(small_market, capsys):
    purchases, catalog = small_market
    assert main(["evaluate-buy-again", "--purchases", str(purchases), "--catalog", str(catalog), "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert "repeat timing" in out and "test recall@5" in out and "decayed half-life" in out
