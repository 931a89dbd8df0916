"""The sell-through projection of a harvest lot (`recommender.lots`)."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from recommender.lots import project_sell_through, rest_of_current_period

UTC = UTC


def weekly(item_tiers: dict[tuple[str, int], tuple[float, float, float]], weeks: int = 6) -> pd.DataFrame:
    """The same P10/P50/P90 every week from Monday 2026-11-02, per (item, tier)."""
    starts = pd.date_range("2026-11-02", periods=weeks, freq="7D", tz="UTC")
    return pd.DataFrame([{"item_id": item, "city_tier": tier, "period_start": start, "p10": p10, "p50": p50,
                          "p90": p90} for (item, tier), (p10, p50, p90) in item_tiers.items() for start in starts])


def test_whole_and_cut_periods_add_up_and_sold_units_count_against_the_lot():
    forecast = weekly({("POM", 1): (5, 10, 20), ("POM", 2): (2, 4, 8)})
    now = datetime(2026, 11, 2, tzinfo=UTC)
    # from Monday 2 Nov to Thursday 19 Nov noon: two whole weeks and 3.5 days of the third
    projection = project_sell_through(forecast, 7.0, units=100, sold=30, available_from=now,
                                      sell_by=datetime(2026, 11, 19, 12, tzinfo=UTC), now=now)
    weeks = 2.5
    assert projection.expected == pytest.approx({"p10": 7 * weeks, "p50": 14 * weeks, "p90": 28 * weeks})
    assert projection.by_tier == pytest.approx({1: 10 * weeks, 2: 4 * weeks})
    assert projection.remaining == 70
    assert projection.shortfall == pytest.approx({"p10": 70 - 70, "p50": 70 - 35, "p90": 70 - 17.5})
    assert projection.at_risk
    assert [point["p50"] for point in projection.curve] == pytest.approx([30, 44, 58, 65])
    assert projection.curve[-1]["date"] == "2026-11-19T12:00:00+00:00"


def test_only_the_tiers_the_lot_ships_to_and_the_days_after_it_is_available_count():
    forecast = weekly({("TEA", 1): (1, 2, 3), ("TEA", 3): (10, 20, 30)})
    now = datetime(2026, 11, 2, tzinfo=UTC)
    projection = project_sell_through(forecast, 7.0, units=10, sold=0, available_from=datetime(
        2026, 11, 16, tzinfo=UTC), sell_by=datetime(2026, 11, 30, tzinfo=UTC), now=now, reach={1: 1.0})
    assert projection.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert projection.expected["p50"] == pytest.approx(4.0) and projection.by_tier == {1: pytest.approx(4.0)}
    assert projection.shortfall["p50"] == pytest.approx(6.0)


def test_a_sell_by_beyond_the_forecast_says_how_far_it_reaches():
    forecast = weekly({("RICE", 2): (1, 1, 1)}, weeks=2)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    projection = project_sell_through(forecast, 7.0, units=5, sold=0, available_from=now,
                                      sell_by=datetime(2027, 1, 1, tzinfo=UTC), now=now)
    assert projection.covered_until == datetime(2026, 11, 16, tzinfo=UTC)
    assert projection.expected["p50"] == pytest.approx(2.0) and projection.at_risk


def test_an_item_without_a_forecast_is_projected_to_sell_nothing():
    now = datetime(2026, 11, 2, tzinfo=UTC)
    empty = pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in (
        ("item_id", object), ("city_tier", "int64"), ("period_start", "datetime64[ns, UTC]"), ("p10", float),
        ("p50", float), ("p90", float))})
    projection = project_sell_through(empty, 7.0, units=8, sold=0, available_from=now,
                                      sell_by=datetime(2026, 11, 20, tzinfo=UTC), now=now)
    assert projection.expected == {"p10": 0.0, "p50": 0.0, "p90": 0.0} and projection.shortfall["p50"] == 8
    assert projection.covered_until == now and len(projection.curve) == 1


def test_the_days_left_in_the_week_the_data_stops_inside_count_with_what_is_left_of_its_forecast():
    # the data stops on Saturday 31 Oct: 6 of the 7 days of the week of Monday 26 Oct are sales so far
    current = {"period_start": "2026-10-26", "days_observed": 6, "days": 7, "rows": [
        {"item_id": "POM", "city_tier": 1, "sold_so_far": 12.0, "p10": 13.0, "p50": 15.0, "p90": 20.0},
        {"item_id": "POM", "city_tier": 2, "sold_so_far": 9.0, "p10": 8.0, "p50": 10.0, "p90": 12.0}]}
    rest = rest_of_current_period(current, 7.0)
    forecast = pd.concat([rest, weekly({("POM", 1): (5, 10, 20)}, weeks=2)], ignore_index=True)
    sunday = datetime(2026, 11, 1, tzinfo=UTC)
    projection = project_sell_through(forecast, 7.0, units=100, sold=0, available_from=sunday,
                                      sell_by=datetime(2026, 11, 9, tzinfo=UTC), now=sunday)
    # Sunday carries what is left of the week's forecast (tier 2 sold more than its P10 already: none
    # left there), then the whole week of 2 Nov
    assert projection.expected == pytest.approx({"p10": 1 + 0 + 5, "p50": 3 + 1 + 10, "p90": 8 + 3 + 20})
    assert [point["date"] for point in projection.curve] == ["2026-11-01T00:00:00+00:00",
                                                             "2026-11-02T00:00:00+00:00",
                                                             "2026-11-09T00:00:00+00:00"]
    later = datetime(2026, 11, 2, tzinfo=UTC)  # a lot starting after that week counts none of it
    assert project_sell_through(forecast, 7.0, units=100, sold=0, available_from=later,
                                sell_by=datetime(2026, 11, 9, tzinfo=UTC), now=later).expected["p50"] == 10
    assert rest_of_current_period(None, 7.0) is None
