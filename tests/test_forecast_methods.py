"""Forecasting methods on generated series with known seasonality and intermittency, and the metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender import forecast_metrics as fm
from recommender.features.calendar import calendar_features
from recommender.features.demand import DemandPanel
from recommender.features.demand_lags import lag_features
from recommender.forecasting import SWITCH_MARGINS, _switch_margin, forecast_panel
from recommender.models.forecast import (
    CalibratedForecaster,
    CrostonForecaster,
    GlobalQuantileForecaster,
    MovingAverageForecaster,
    SeasonalNaiveForecaster,
    TSBForecaster,
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


def test_seasonal_naive_repeats_last_season_and_beats_the_mean_on_seasonal_series():
    values = seasonal_values(40, 156 + 12)
    history, future = panel(values[:, :156]), values[:, 156:]
    naive = SeasonalNaiveForecaster().fit(history).predict(12)[:, :, 1]
    assert np.array_equal(naive, values[:, 156 - 52:156 - 40])
    average = MovingAverageForecaster().fit(history).predict(12)[:, :, 1]
    assert fm.wape(future, naive) < 0.7 * fm.wape(future, average)


def test_seasonal_naive_falls_back_to_the_last_value_on_a_short_history():
    values = seasonal_values(5, 30)
    forecast = SeasonalNaiveForecaster().fit(panel(values)).predict(8)
    assert np.array_equal(forecast[:, :, 1], np.repeat(values[:, -1:], 8, axis=1))


def test_intermittent_methods_forecast_the_average_rate():
    rng = np.random.default_rng(1)
    values = (rng.random((300, 400)) < 0.25) * 4.0  # a sale of 4 units one week in four: 1 unit a week
    fitted = panel(values)
    sba = CrostonForecaster(alpha=0.1).fit(fitted).predict(1)[:, 0, 1]
    tsb = TSBForecaster(alpha=0.1, beta=0.1).fit(fitted).predict(1)[:, 0, 1]
    assert abs(sba.mean() - 1.0) < 0.1
    assert abs(tsb.mean() - 1.0) < 0.1
    classic = CrostonForecaster(alpha=0.1, variant="classic").fit(fitted).predict(1)[:, 0, 1]
    assert classic.mean() > sba.mean()  # SBA removes Croston's upward bias


def test_tsb_follows_an_item_that_stopped_selling_and_croston_does_not():
    values = np.zeros((1, 120))
    values[0, :60:3] = 3.0  # sold every third week, then nothing for 60 weeks
    fitted = panel(values)
    croston = CrostonForecaster().fit(fitted).predict(1)[0, 0, 1]
    tsb = TSBForecaster().fit(fitted).predict(1)[0, 0, 1]
    assert croston > 0.5 and tsb < 0.05


def test_calibrated_band_covers_about_80_percent_of_new_periods():
    rng = np.random.default_rng(2)
    values = rng.poisson(rng.uniform(2, 30, size=(400, 1)), size=(400, 72)).astype(float)
    model = CalibratedForecaster(MovingAverageForecaster(), horizon=12).fit(panel(values[:, :60]))
    q = model.predict(12)
    assert np.all(q[:, :, 0] <= q[:, :, 1]) and np.all(q[:, :, 1] <= q[:, :, 2])
    assert 0.72 <= fm.coverage(values[:, 60:], q[:, :, 0], q[:, :, 2]) <= 0.88
    assert model.validation_p50_.shape == (400, 2, 12)


def test_global_model_learns_seasonality_across_series():
    values = seasonal_values(30, 120 + 8, seed=3)
    model = GlobalQuantileForecaster(horizon=8, max_rows=8000, max_iter=40).fit(panel(values[:, :120]))
    q = model.predict(8)
    assert q.shape == (30, 8, 3)
    assert np.all(np.diff(q, axis=2) >= 0) and np.all(q >= 0)
    truth = values[:, 120:]
    assert fm.wape(truth, q[:, :, 1]) < fm.wape(truth, MovingAverageForecaster().fit(panel(values[:, :120]))
                                              .predict(8)[:, :, 1])
    with pytest.raises(ValueError, match="horizon"):
        model.predict(9)


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


def test_global_model_caps_one_off_bulk_orders_in_its_expected_demand():
    rng = np.random.default_rng(3)
    values = rng.poisson(5.0, size=(40, 60)).astype(float)
    spikes = rng.random(values.shape) < 0.04  # a wholesaler's order now and then: 40 times the usual week
    values[spikes] = 200.0
    history, future = panel(values), np.full((40, 6), 5.0)
    capped = GlobalQuantileForecaster(horizon=6, max_iter=40).fit(history).predict(6)
    uncapped = GlobalQuantileForecaster(horizon=6, max_iter=40, max_order_multiple=None).fit(history).predict(6)
    assert fm.wape(future, capped[:, :, 1]) < fm.wape(future, uncapped[:, :, 1])
    assert abs(capped[:, :, 1].mean() - 5.0) < 2.5


def test_selected_forecast_band_is_calibrated_at_every_horizon_step():
    rng = np.random.default_rng(4)
    history, horizon, n = 48, 12, 200
    steady = rng.poisson(rng.uniform(5, 30, size=(n, 1)), size=(n, history + horizon))  # the average should win these
    walk = rng.poisson(20 * np.exp(np.cumsum(rng.normal(0, 0.15, size=(n, history + horizon)), axis=1)))  # and naive these
    values = np.vstack([steady, walk]).astype(float)
    methods = {"seasonal_naive": SeasonalNaiveForecaster(), "moving_average": MovingAverageForecaster()}
    result = forecast_panel(panel(values[:, :history]), horizon, methods)
    averaged = result.model == "moving_average"
    assert averaged[:n].mean() > averaged[n:].mean() + 0.3  # the selection tells the two kinds apart
    q, future = result.quantiles["selected"], values[:, history:]
    assert np.all(q[:, :, 0] <= q[:, :, 1]) and np.all(q[:, :, 1] <= q[:, :, 2])
    for steps in (slice(0, 4), slice(8, 12)):
        assert 0.72 <= fm.coverage(future[:, steps], q[:, steps, 0], q[:, steps, 2]) <= 0.88
    width = (q[n:, :, 2] - q[n:, :, 0]).mean(axis=0)
    assert width[-1] > 1.2 * width[0]  # a random walk's errors grow with the step, and so does its band


def test_global_model_does_not_cap_the_regular_orders_of_intermittent_items():
    rng = np.random.default_rng(5)
    values = (rng.random((60, 60)) < 0.25) * 4.0  # 4 units one week in four: 1 unit a week expected
    forecast = GlobalQuantileForecaster(horizon=4, max_iter=40).fit(panel(values)).predict(4)[:, :, 1]
    assert abs(forecast.mean() - 1.0) < 0.15  # a cap at 3x the mean per period would give 0.75


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


def test_lag_features_measure_last_years_seasonal_swing():
    values = np.full((1, 100), 10.0)
    values[0, 50:55] = 30.0  # a five-week peak a year before week 102-106
    starts = pd.date_range("2023-01-02", periods=100, freq="7D")
    features, scale = lag_features(values, starts, "W", np.array([0, 0]), np.array([100, 100]), np.array([5, 12]))
    assert scale[0] == pytest.approx(10.0)
    peak, after = features.iloc[0], features.iloc[1]  # targets 104 (a year after the peak's middle) and 111
    assert peak.year_window == pytest.approx(3.0) and peak.year_level == pytest.approx(1.0)
    assert peak.year_ratio == pytest.approx(3.0) and after.year_ratio == pytest.approx(1.0)
    assert peak.sale_size == pytest.approx(1.0)  # sold every week: the typical order is the weekly mean
