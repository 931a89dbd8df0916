"""Forecasting methods, selection and calibration on generated series with known shapes, and the metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.forecasting import metrics as fm
from recommender.forecasting.calendar_features import calendar_features
from recommender.forecasting.features import lag_features, rolling_quantiles
from recommender.forecasting.global_model import GlobalMedianModel
from recommender.forecasting.methods import GLOBAL, SIMPLE, simple_forecasts
from recommender.forecasting.panel import DemandPanel
from recommender.forecasting.selection import (
    SELECTED,
    SWITCH_MARGINS,
    _select,
    _switch_margin,
    aggregate,
    fit_horizon,
    forecast_panel,
)


def panel(values: np.ndarray, start: str = "2023-01-02") -> DemandPanel:
    n, t = values.shape
    series = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "merchant_id": "m", "category": "c",
                           "price": 10.0, "item_code": np.arange(n)})
    return DemandPanel(values.astype(float), pd.date_range(start, periods=t, freq="7D"), "W", series)


def seasonal_values(n: int, periods: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    level = rng.uniform(5, 20, size=(n, 1))
    return rng.poisson(level * (1 + 0.8 * np.sin(2 * np.pi * t / 52)))


def test_simple_methods_are_statsforecasts_named_and_seasonal_naive_needs_a_season():
    values = seasonal_values(40, 60 + 12)
    forecasts = simple_forecasts(panel(values[:, :60]), 12)
    assert set(forecasts) == set(SIMPLE)
    assert np.array_equal(forecasts["seasonal_naive"], values[:, 60 - 52:60 - 40])
    assert np.allclose(forecasts["ma4"], values[:, 56:60].mean(axis=1, keepdims=True))
    assert np.array_equal(forecasts["naive"], np.repeat(values[:, 59:60], 12, axis=1))
    assert fm.wape(values[:, 60:], forecasts["seasonal_naive"]) < 0.8 * fm.wape(values[:, 60:], forecasts["ma12"])
    short = simple_forecasts(panel(values[:, :40]), 4)
    assert "seasonal_naive" not in short and all(f.shape == (40, 4) and (f >= 0).all() for f in short.values())


@pytest.mark.slow
def test_global_model_learns_seasonality_across_series():
    values = seasonal_values(30, 120 + 8, seed=3)
    history = panel(values[:, :120])
    model = GlobalMedianModel(horizon=8, max_rows=8000).fit(history)
    forecast = model.predict(8)
    assert forecast.shape == (30, 8) and (forecast >= 0).all()
    truth = values[:, 120:]
    assert fm.wape(truth, forecast) < 0.8 * fm.wape(truth, simple_forecasts(history, 8)["ma8"])
    with pytest.raises(ValueError, match="horizon"):
        model.predict(9)
    assert np.array_equal(GlobalMedianModel(horizon=8, max_rows=8000).fit(history).predict(8), forecast)  # seeded


@pytest.mark.slow
def test_global_median_ignores_one_off_bulk_orders_that_move_a_mean():
    rng = np.random.default_rng(3)
    values = rng.poisson(5.0, size=(60, 60)).astype(float)
    values[rng.random(values.shape) < 0.04] = 200.0  # a wholesaler's order now and then: 40 times the usual week
    history = panel(values)
    median = GlobalMedianModel(horizon=6).fit(history).predict(6)
    assert abs(median.mean() - 5.0) < 1.0
    assert simple_forecasts(history, 6)["ma12"].mean() > 8.0  # the mean of the same weeks is pulled up


def test_rolling_quantiles_are_the_quartiles_of_the_last_weeks_before_each_origin():
    values = np.array([[1.0, 9.0, 2.0, 8.0, 3.0, 7.0]])
    median = rolling_quantiles(values, 50, 4)
    assert np.isnan(median[0, 0])
    assert median[0, 6] == pytest.approx(np.median(values[0, 2:6]))
    assert median[0, 2] == pytest.approx(np.median(values[0, :2]))  # fewer weeks than the window: what there is


@pytest.mark.slow
def test_selected_band_is_calibrated_at_every_step_and_widens_where_errors_grow():
    rng = np.random.default_rng(4)
    history, horizon, n = 60, 12, 150
    steady = rng.poisson(rng.uniform(5, 30, size=(n, 1)), size=(n, history + horizon))
    walk = rng.poisson(20 * np.exp(np.cumsum(rng.normal(0, 0.15, size=(n, history + horizon)), axis=1)))
    values = np.vstack([steady, walk]).astype(float)
    result = forecast_panel(panel(values[:, :history]))
    assert result.horizon == fit_horizon(history, "W") == 26
    assert set(result.quantiles) == set(result.point) and {SELECTED, GLOBAL} <= set(result.quantiles)
    assert set(result.model) <= set(result.point) - {SELECTED}
    q, future = result.quantiles[SELECTED][:, :horizon], values[:, history:]
    assert np.all(q[:, :, 0] <= q[:, :, 1]) and np.all(q[:, :, 1] <= q[:, :, 2]) and np.all(q >= 0)
    for steps in (slice(0, 4), slice(8, 12)):
        assert 0.72 <= fm.coverage(future[:, steps], q[:, steps, 0], q[:, steps, 2]) <= 0.90
    width = (q[n:, :, 2] - q[n:, :, 0]).mean(axis=0)
    assert width[-1] > 1.2 * width[0]  # a random walk's errors grow with the step, and so does its band


def test_fit_horizon_is_the_longest_the_history_can_calibrate():
    assert fit_horizon(200, "W") == 26
    assert fit_horizon(44, "W") == 24  # 24 + 12 + 8 weeks of history before the earliest validation window
    assert fit_horizon(400, "D") == 182
    with pytest.raises(ValueError, match="too short"):
        fit_horizon(9, "W")


def test_a_series_leaves_the_overall_best_method_only_when_judged_and_better_by_the_margin():
    errors = np.array([[10.0, 8.0], [10.0, 9.5], [10.0, 5.0], [1.0, 9.0]])  # series x methods
    judged = np.array([True, True, False, True])
    choice, best = _select(errors, judged, margin=0.1)
    assert best == 0 and choice.tolist() == [1, 0, 0, 0]  # 20% better switches, 5% does not, unjudged stays


def test_switch_margin_keeps_per_series_choices_only_where_they_carry_over_between_windows():
    rng = np.random.default_rng(6)
    n, judged = 400, np.ones(400, bool)
    noise = rng.uniform(0.8, 1.2, size=(n, 2, 2))  # series x methods x windows
    # each series has a method that suits it, in both windows: choosing per series pays
    suited = rng.integers(0, 2, size=n)
    errors = 10.0 * noise
    errors[np.arange(n), suited] *= 0.5
    assert _switch_margin(errors, judged) < 0.5
    # method 0 is better on average and per-series differences are noise: stay on method 0
    errors = 10.0 * rng.uniform(0.5, 1.5, size=(n, 2, 2))
    errors[:, 0] *= 0.9
    assert _switch_margin(errors, judged) == max(SWITCH_MARGINS)


def test_calendar_marks_the_festival_weeks():
    starts = pd.DatetimeIndex(["2025-01-27", "2025-06-16", "2025-11-10", "2025-11-03", "2025-11-17"])
    calendar = calendar_features(starts, "W")
    assert calendar.to_cny.tolist()[0] == 0  # Chinese New Year 2025 fell on Wednesday 29 January
    assert calendar.to_618.tolist()[1] == 0
    assert calendar.to_double11.tolist()[2:] == [0, -1, 1]


def test_metrics_on_hand_computed_cases():
    actual = np.array([[1.0, 3.0], [0.0, 4.0]])
    p50 = np.array([[2.0, 2.0], [1.0, 4.0]])
    assert fm.wape(actual, p50) == pytest.approx(3 / 8)
    assert fm.bias(actual, p50) == pytest.approx(1 / 8)
    assert fm.coverage(actual, p50 - 1, p50 + 0.5) == pytest.approx(3 / 4)
    history = np.array([[0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])  # naive scale 2 and 0 (left out)
    assert fm.mase(actual, p50, history, season=52) == pytest.approx(1.0 / 2)


def test_lag_features_measure_last_years_seasonal_swing_and_the_markets_momentum():
    values = np.full((1, 100), 10.0)
    values[0, 50:55] = 30.0  # a five-week peak a year before week 102-106
    values[0, 96:] = 20.0  # and a doubling in the last month
    starts = pd.date_range("2023-01-02", periods=100, freq="7D")
    features, scale = lag_features(values, starts, "W", np.array([0, 0]), np.array([100, 100]), np.array([5, 12]))
    peak, after = features.iloc[0], features.iloc[1]  # targets 104 (a year after the peak's middle) and 111
    assert peak.year_ratio == pytest.approx(3.0) and after.year_ratio == pytest.approx(1.0)
    assert peak.market_momentum == pytest.approx(20.0 / ((9 * 10.0 + 4 * 20.0) / 13))  # last 4 weeks / last 13
    assert peak.q50_4 * scale[0] == pytest.approx(20.0)


@pytest.mark.slow
def test_a_total_of_items_whose_median_is_zero_is_moved_to_what_the_total_sells():
    rng = np.random.default_rng(7)
    values = (rng.random((100, 60)) < 0.3).astype(float)  # a unit in 3 weeks of 10: every median is 0
    result = forecast_panel(panel(values))
    assert np.median(result.point[SELECTED]) < 0.2  # the items' own P50s
    labels, totals, _ = aggregate(result, np.zeros(100, int))
    assert len(labels) == 1 and 24 <= totals[0, :, 1].mean() <= 36  # the merchant sells about 30 a week
    assert (totals[0, :, 0] < totals[0, :, 1]).all() and (totals[0, :, 1] < totals[0, :, 2]).all()
