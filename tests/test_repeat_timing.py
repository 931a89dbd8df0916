"""Repeat timing (`recommender.models.repeat`), its pair history and the buy-again evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.cli import main
from recommender.explain import repeat_reason
from recommender.features.encoders import IdEncoder
from recommender.features.repeat import bought_again, item_groups, pair_history
from recommender.loaders import load_dataset
from recommender.models.repeat import FEATURES, RepeatScores, RepeatTiming
from training.buy_again import evaluate_buy_again

REFERENCE = pd.Timestamp("2026-06-30")


def purchases(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Purchase lines (buyer, item, days before the reference) with categorical ids."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "age"])
    return pd.DataFrame({"user_id": frame.user_id.astype("category"),
                         "item_id": pd.Categorical(frame.item_id, categories=["tea", "rice", "honey"]),
                         "timestamp": REFERENCE - pd.to_timedelta(frame.age, unit="D")})


def users_of(lines: pd.DataFrame) -> IdEncoder:
    return IdEncoder(lines.user_id.cat.categories)


def test_pair_history_counts_purchase_days_ages_and_decay():
    lines = purchases([("ann", "tea", 0), ("ann", "tea", 0.2), ("ann", "tea", 14), ("ann", "tea", 28),
                       ("bob", "rice", 10)])
    history = pair_history(lines, users_of(lines), 3, half_life_days=14.0, reference_time=REFERENCE)
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
    history = pair_history(lines, users_of(lines), 3, 90.0, REFERENCE)
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
    history = pair_history(before, users_of(lines), 3, 90.0, cutoff)
    later = set(zip(after.user_id.cat.codes, after.item_id.cat.codes))
    again = np.array([(b, i) in later for b, i in zip(history.buyers, history.items)])
    later_matrix = sp.csr_matrix((np.ones(len(after)), (after.user_id.cat.codes, after.item_id.cat.codes)),
                                 shape=history.pattern.shape)
    np.testing.assert_array_equal(bought_again(history, later_matrix), again)
    groups = np.zeros(3, dtype=np.int64)
    model = RepeatTiming(horizon_days=14).fit(history, groups, again)
    assert model.coef_.shape == (len(FEATURES),)
    probability = model.probability(history, groups)
    assert ((probability > 0) & (probability < 1)).all()
    # rice (monthly) is bought again within 14 days about half the time, depending on how due it is
    rice = history.items == 1
    due = rice & (history.last_age >= 20)
    fresh = rice & (history.last_age <= 5)
    assert probability[due].mean() > 2 * probability[fresh].mean()
    assert again[due].mean() > again[fresh].mean()  # what the data says, too
    # tea (weekly) is nearly always bought again within 14 days
    assert probability[history.items == 0].mean() > 0.8
    # the scores a buy-again list ranks by: the same probabilities, each buyer's likeliest first
    scores = model.scores(history, groups)
    lists, best = scores.top(np.arange(3), k=3, allowed=np.array([True, True, False]))
    assert lists.shape == (3, 3) and (lists[:, 2] == -1).all()  # two earlier items each; honey not allowed
    for buyer in range(3):
        mine = history.buyers == buyer
        order = np.argsort(-probability[mine], kind="stable")
        np.testing.assert_array_equal(lists[buyer, :2], history.items[mine][order])
        np.testing.assert_allclose(best[buyer, :2], probability[mine][order], rtol=1e-6)
        interval, since = scores.timing(buyer, np.array([1]))
        assert interval[0] == pytest.approx(30, rel=0.15)
        assert since[0] == history.last_age[mine & (history.items == 1)][0]
    assert scores.widened(5).probability.shape == (200, 5)


def test_item_groups_are_categories_and_zero_without_one():
    catalog = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["tea", None, "tea"]})
    groups = item_groups(catalog)
    assert groups[0] == groups[2] != groups[1] == 0
    assert (item_groups(catalog.drop(columns="category")) == 0).all()


def test_fitting_needs_both_outcomes():
    lines = weekly_and_monthly_buyers(5)
    history = pair_history(lines, users_of(lines), 3, 90.0, REFERENCE)
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


@pytest.mark.parametrize("interval, since, text", [
    (35.2, 41.0, "you buy this about every 5 weeks; last bought 6 weeks ago"),
    (1.0, 0.2, "you buy this about every 1 day; last bought today"),
    (1.0, 1.0, "you buy this about every 1 day; last bought 1 day ago"),
    (91.0, 13.0, "you buy this about every 3 months; last bought 13 days ago"),
])
def test_repeat_reasons_say_the_pace_in_the_unit_a_person_would(interval, since, text):
    assert repeat_reason(interval, since) == text


def test_buy_again_command_lists_each_buyers_earlier_items_likeliest_first(small_model, small_market, tmp_path):
    import json

    from recommender.artifacts import MANIFEST

    data = load_dataset(*small_market)
    buyers = list(data.purchases.user_id.cat.categories[:40])
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": buyers + ["NEW-BUYER"]}).to_csv(users, index=False)
    out = tmp_path / "again.csv"
    assert main(["buy-again", "--model", str(small_model), "--users", str(users), "--k", "5", "--out", str(out)]) == 0
    rows = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(rows.columns) == ["user_id", "rank", "item_id", "score", "reason"]
    assert "NEW-BUYER" not in set(rows.user_id) and set(rows.user_id) <= set(buyers) and len(rows) > 0
    bought = data.purchases.groupby("user_id", observed=True).item_id.agg(lambda s: set(s.astype(str)))
    unavailable = set(data.catalog.item_id[~data.catalog.available])
    for user, group in rows.groupby("user_id"):
        assert set(group.item_id) <= bought[user] and not set(group.item_id) & unavailable
        assert group["rank"].tolist() == list(range(1, len(group) + 1)) and len(group) <= 5
        assert group.score.is_monotonic_decreasing and group.score.between(0, 1).all()
        assert len(group) == min(5, len(bought[user] - unavailable))
    assert rows.reason.str.fullmatch(r"you buy this about every \d+ (day|week|month)s?; "
                                     r"last bought (today|\d+ (day|week|month)s? ago)").all()
    repeat = json.loads((small_model / MANIFEST).read_text())["validation"]["repeat_timing"]
    assert repeat["bought_again"] > 0 and set(repeat["weights"]) == set(FEATURES)


@pytest.fixture(scope="module")
def weekly_and_monthly_scores():
    """Repeat timing fitted on two weeks before the reference, and the scores of the whole history."""
    lines = weekly_and_monthly_buyers(200)
    cutoff = REFERENCE - pd.Timedelta(days=14)
    before, after = lines[lines.timestamp <= cutoff], lines[lines.timestamp > cutoff]
    history = pair_history(before, users_of(lines), 3, reference_time=cutoff)
    later = sp.csr_matrix((np.ones(len(after)), (after.user_id.cat.codes, after.item_id.cat.codes)),
                          shape=history.pattern.shape)
    groups = np.zeros(3, dtype=np.int64)
    model = RepeatTiming(horizon_days=14).fit(history, groups, bought_again(history, later))
    whole = pair_history(lines, users_of(lines), 3, reference_time=REFERENCE)
    return whole, model.scores(whole, groups)


DAY_US = 86_400 * 1_000_000
REFERENCE_US = REFERENCE.value // 1_000


def test_a_buyer_scored_at_the_reference_time_without_new_purchases_gets_the_batch_figures(weekly_and_monthly_scores):
    _, scores = weekly_and_monthly_scores
    for buyer in range(200):
        row = slice(scores.probability.indptr[buyer], scores.probability.indptr[buyer + 1])
        for found in (scores.buyer(buyer), scores.buyer(buyer, REFERENCE_US), scores.widened(5).buyer(buyer)):
            np.testing.assert_array_equal(found.items, scores.probability.indices[row])
            np.testing.assert_allclose(found.probability, scores.probability.data[row], rtol=1e-6)
            np.testing.assert_allclose(found.interval, scores.interval[row], rtol=1e-6)
            np.testing.assert_array_equal(found.last_age, scores.last_age[row])
    # a time before the reference counts as the reference time
    np.testing.assert_array_equal(scores.buyer(0, REFERENCE_US - 9 * DAY_US).probability, scores.buyer(0).probability)


def test_an_item_bought_again_just_now_drops_and_an_overdue_one_rises_as_the_date_advances(weekly_and_monthly_scores):
    history, scores = weekly_and_monthly_scores
    rice = history.items == 1
    due = int(history.buyers[rice & (history.last_age >= 20)][0])
    before = scores.buyer(due)
    now = scores.buyer(due, REFERENCE_US + DAY_US // 2, bought=np.array([1]), bought_us=np.array([REFERENCE_US]))
    assert list(now.items) == [0, 1]
    assert now.probability[1] < before.probability[1] / 2 and now.last_age[1] == 0
    assert now.top(2).items[0] == 0  # rice, first before, now after tea
    fresh = int(history.buyers[rice & (history.last_age <= 3)][0])
    rising = [scores.buyer(fresh, REFERENCE_US + days * DAY_US).probability[1] for days in (0, 10, 20)]
    assert rising[0] < rising[1] < rising[2]
    assert scores.buyer(fresh, REFERENCE_US + 20 * DAY_US).last_age[1] == history.last_age[
        rice & (history.buyers == fresh)][0] + 20


def test_a_first_purchase_since_training_joins_the_buyers_items_with_the_items_pace(weekly_and_monthly_scores):
    history, scores = weekly_and_monthly_scores
    now = REFERENCE_US + 3 * DAY_US
    found = scores.buyer(0, now, bought=np.array([2]), bought_us=np.array([now - DAY_US]))
    assert list(found.items) == [0, 1, 2] and found.last_age[2] == 1
    assert 0 < found.probability[2] < 1 and np.isfinite(found.interval[2])
    newcomer = scores.buyer(-1, now, bought=np.array([0, 0]), bought_us=np.array([now - 9 * DAY_US, now]))
    assert list(newcomer.items) == [0] and newcomer.last_age[0] == 0
    assert newcomer.interval[0] == pytest.approx(7, rel=0.2)  # two purchase days 9 days apart, shrunk to tea's week
    assert len(scores.buyer(-1).items) == 0


def test_scores_saved_before_the_clock_give_the_stored_figures(weekly_and_monthly_scores):
    _, scores = weekly_and_monthly_scores
    old = RepeatScores(scores.probability, scores.interval, scores.last_age, scores.reference_time,
                       scores.horizon_days)
    found = old.buyer(3, REFERENCE_US + 30 * DAY_US, bought=np.array([2]), bought_us=np.array([REFERENCE_US]))
    row = slice(scores.probability.indptr[3], scores.probability.indptr[4])
    np.testing.assert_array_equal(found.probability, scores.probability.data[row])
    np.testing.assert_array_equal(found.last_age, scores.last_age[row])


@pytest.mark.parametrize("days", [0, 0.5, 10, 40])
def test_every_buyer_at_a_later_time_gets_what_the_buyer_by_buyer_clock_gives(weekly_and_monthly_scores, days):
    _, scores = weekly_and_monthly_scores
    at_us = REFERENCE_US + int(days * DAY_US)
    later = scores.at(at_us)
    assert later.reference_time == np.datetime64(at_us, "us")
    for buyer in range(200):
        one = scores.buyer(buyer, at_us)
        row = slice(later.probability.indptr[buyer], later.probability.indptr[buyer + 1])
        np.testing.assert_array_equal(later.probability.indices[row], one.items)
        np.testing.assert_allclose(later.probability.data[row], one.probability, rtol=1e-5)
        np.testing.assert_allclose(later.interval[row], one.interval, rtol=1e-5)
        np.testing.assert_allclose(later.last_age[row], one.last_age, rtol=1e-6)
        np.testing.assert_allclose(later.buyer(buyer).probability, one.probability, rtol=1e-5)  # its clock moved on
    assert scores.at(None) is scores and scores.at(REFERENCE_US - DAY_US) is scores


def test_buy_again_command_scores_as_of_the_date_asked(small_model, small_market, tmp_path):
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine

    engine = load_model_directory(small_model, RecommendationEngine)[0]
    data_end = pd.Timestamp(engine.repeat.reference_time).normalize()
    buyers = list(load_dataset(*small_market).purchases.user_id.cat.categories[:40])
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": buyers}).to_csv(users, index=False)
    lists = {}
    for days in (0, 90):
        day = data_end + pd.Timedelta(days=days)
        out = tmp_path / f"again-{days}.csv"
        assert main(["buy-again", "--model", str(small_model), "--users", str(users), "--k", "5", "--out", str(out),
                     "--date", day.date().isoformat()]) == 0
        lists[days] = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
        items, scores = engine.repeat.at((day + pd.Timedelta(days=1)).value // 1_000).top(
            engine.users.encode(buyers), 5, engine.available)
        np.testing.assert_allclose(lists[days].score, scores[items >= 0], rtol=1e-6)  # row by row, buyer by buyer
    assert not np.allclose(lists[0].score, lists[90].score)
    assert lists[90].reason.str.contains("last bought (?:3|4) months ago").any()
    with pytest.raises(SystemExit):
        main(["buy-again", "--model", str(small_model), "--users", str(users), "--out", str(out), "--date", "tomorrow"])
