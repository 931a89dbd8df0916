"""Item x city tier forecasts split from the item fit: they sum to the items, the share window is
the validation winner, the bands come from the split's own validation errors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recommender.forecasting.backtest import backtest
from recommender.forecasting.hierarchy import (
    RECONCILERS,
    SHARE_WINDOWS,
    Means,
    choose_reconciler,
    choose_share_window,
    hierarchy_of,
    reconcile,
    reconcile_fit,
    reconciled_windows,
    split_by_tier,
    tier_shares,
)
from recommender.forecasting.panel import DemandPanel, ForecastInputError, demand_panel
from recommender.forecasting.selection import SELECTED, PanelForecast, forecast_panel
from recommender.forecasting.views import view
from recommender.loaders import load_dataset

HORIZON = 8
PERIODS = 100


def panels(tier_values: np.ndarray) -> tuple[DemandPanel, DemandPanel]:
    """An item panel and its item x tier panel (``tier_values``: items x tiers x periods)."""
    n_items, n_tiers, n_periods = tier_values.shape
    starts = pd.date_range("2023-01-02", periods=n_periods, freq="7D")
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(n_items)], "merchant_id": "m", "category": "c",
                          "price": 10.0, "item_code": np.arange(n_items)})
    tiers = items.loc[np.repeat(np.arange(n_items), n_tiers)].reset_index(drop=True)
    tiers.insert(1, "city_tier", np.tile(np.arange(1, n_tiers + 1), n_items).astype(np.int8))
    return (DemandPanel(tier_values.sum(axis=1).astype(float), starts, "W", items),
            DemandPanel(tier_values.reshape(n_items * n_tiers, n_periods).astype(float), starts, "W", tiers))


def perfect_item_forecast(items: DemandPanel, origins: list[int]) -> PanelForecast:
    """A fit whose item forecasts are what the items sold: any error of the tiers is the split's."""
    validation = np.stack([items.values[:, o:o + HORIZON] for o in origins], axis=1)
    point = np.repeat(items.values[:, -1:], HORIZON, axis=1)
    return PanelForecast(items, HORIZON, {SELECTED: point}, {}, {SELECTED: validation}, validation, origins,
                         np.full(items.n_series, "ma4", dtype=object), validation)


def shifting_mix(seed: int = 0) -> np.ndarray:
    """20 items over two tiers: tier 1 buys 20% of every item until period 70, 80% from then on."""
    rng = np.random.default_rng(seed)
    totals = rng.poisson(40, size=(20, PERIODS))
    share = np.where(np.arange(PERIODS) < 70, 0.2, 0.8)
    first = rng.binomial(totals, share)
    return np.stack([first, totals - first], axis=1)


def test_tier_shares_sum_to_one_per_item_and_fall_back_when_an_item_did_not_sell():
    values = shifting_mix()
    values[0, :, 60:] = 0  # item 0 stops selling at period 60
    values[1, :, :80] = 0  # item 1 starts at period 80
    items, tiers = panels(values)
    rows = np.repeat(np.arange(20), 2)
    shares = tier_shares(items, tiers, rows, 75, 13)
    assert np.allclose(np.bincount(rows, weights=shares), 1.0)
    assert shares[4] == pytest.approx(values[2, 0, 62:75].sum() / values[2, :, 62:75].sum())
    assert shares[0] == pytest.approx(values[0, 0, :75].sum() / values[0, :, :75].sum())  # the whole history
    assert shares[2] == shares[3] == 0.5  # never sold before period 75: equal shares


def test_the_share_window_is_the_validation_winner():
    for values, expected in ((shifting_mix(), 13), (None, None)):
        if values is None:  # a steady, noisy mix: the longest window wins
            rng = np.random.default_rng(1)
            totals = rng.poisson(6, size=(20, PERIODS))
            first = rng.binomial(totals, 0.3)
            values = np.stack([first, totals - first], axis=1)
        items, tiers = panels(values)
        origins = [PERIODS - HORIZON, PERIODS - HORIZON - 4]
        fit = perfect_item_forecast(items, origins)
        rows = np.repeat(np.arange(20), 2)
        errors = []
        for window in SHARE_WINDOWS:  # the split's validation error, computed here from the definition
            error = 0.0
            for origin in origins:
                start = 0 if window is None else origin - window
                share = values[:, :, start:origin].sum(axis=2) / values[:, :, start:origin].sum(axis=(1, 2))[:, None]
                error += np.abs(values[:, :, origin:origin + HORIZON]
                                - share[:, :, None] * values[:, :, origin:origin + HORIZON].sum(axis=1, keepdims=True)
                                ).sum()
            errors.append(error)
        chosen = choose_share_window(fit, tiers, rows)
        assert chosen == SHARE_WINDOWS[int(np.argmin(errors))]
        if expected is not None:
            assert chosen == expected
        else:
            assert chosen in (52, None)


@pytest.mark.slow
def test_tiers_sum_to_their_items_keep_their_method_and_have_their_own_bands():
    items, tiers = panels(shifting_mix())
    fit = forecast_panel(items)
    split = split_by_tier(fit, tiers)
    rows = np.repeat(np.arange(20), 2)
    for name, point in fit.point.items():
        assert np.allclose(np.add.reduceat(split.point[name], np.arange(0, 40, 2)), point)
    assert np.allclose(np.add.reduceat(split.validation[SELECTED], np.arange(0, 40, 2)), fit.validation[SELECTED])
    assert (split.model == fit.model[rows]).all()
    q = split.quantiles[SELECTED]
    assert q.shape == (40, fit.horizon, 3) and (q[..., 0] <= q[..., 1]).all() and (q[..., 1] <= q[..., 2]).all()
    assert np.allclose(q[..., 1], split.point[SELECTED])
    tier_1 = split.point[SELECTED][0::2].sum() / fit.point[SELECTED].sum()
    assert tier_1 == pytest.approx(0.8, abs=0.05)  # the recent mix, not the history's average


def test_a_tier_panel_of_other_data_is_refused():
    items, tiers = panels(shifting_mix())
    fit = perfect_item_forecast(items, [PERIODS - HORIZON, PERIODS - HORIZON - 4])
    other = replace(tiers, series=tiers.series.assign(item_code=tiers.series.item_code + 100))
    with pytest.raises(ForecastInputError, match="not a split of the item panel"):
        split_by_tier(fit, other)


def market(seed: int = 0) -> DemandPanel:
    """12 items of 3 merchants (2 regions, 2 categories) over 60 weeks."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.uniform(2, 30, size=(12, 1)), size=(12, 60)).astype(float)
    series = pd.DataFrame({"item_id": [f"i{k}" for k in range(12)], "merchant_id": [f"m{k // 4}" for k in range(12)],
                           "category": [f"c{k % 2}" for k in range(12)],
                           "region": ["r0" if k < 8 else "r1" for k in range(12)], "price": 10.0,
                           "item_code": np.arange(12)})
    return DemandPanel(values, pd.date_range("2023-01-02", periods=60, freq="7D"), "W", series)


def means_of(hierarchy, items: DemandPanel, noise: dict[str, float], seed: int) -> Means:
    """Mean fits of every row of ``hierarchy`` over ``items`` whose validation and final forecasts
    are what was sold times lognormal noise: ``noise[method]`` for the items, exact for the totals."""
    rng = np.random.default_rng(seed)
    values = hierarchy.summing @ items.values
    n = len(values)
    every = np.vstack([values, items.values])
    origins = [60 - 2 * HORIZON, 60 - 3 * HORIZON]
    actual = np.stack([every[:, o:o + HORIZON] for o in origins], axis=1)
    validation, point = {}, {}
    for name, sigma in noise.items():
        scale = rng.lognormal(0, sigma, size=actual.shape)
        scale[:n] = 1.0
        validation[name] = actual * scale
        point[name] = every[:, -HORIZON:] * np.where(np.arange(len(every))[:, None] < n, 1.0,
                                                      rng.lognormal(0, sigma, size=(len(every), HORIZON)))
    return Means(point, validation, actual)


def test_the_hierarchy_has_every_total_once():
    items = market()
    hierarchy = hierarchy_of(items)
    # merchant m2 holds the same items as region r1: it is that row
    assert list(hierarchy.levels) == ["total", "region", "region", "category", "category", "merchant_id",
                                      "merchant_id"]
    assert list(hierarchy.labels) == ["", "r0", "r1", "c0", "c1", "m0", "m1"]
    assert np.array_equal(hierarchy.panel(items).values[0], items.values.sum(axis=0))
    assert np.array_equal(hierarchy.summing[2], (np.arange(12) >= 8).astype(float))
    assert np.array_equal(hierarchy.summing[-1], ((np.arange(12) >= 4) & (np.arange(12) < 8)).astype(float))
    one_merchant = replace(items, series=items.series.assign(merchant_id="m", region="r", category="c"))
    assert list(hierarchy_of(one_merchant).levels) == ["total"]  # the merchant, region and category are the total


@pytest.mark.parametrize("method", RECONCILERS)
def test_every_reconciliation_makes_the_levels_sum(method):
    items = market()
    hierarchy = hierarchy_of(items)
    rng = np.random.default_rng(2)
    base = np.vstack([hierarchy.summing @ items.values[:, -HORIZON:] * 1.3, items.values[:, -HORIZON:]])
    residual = rng.normal(0, 3, size=(len(base), 2 * HORIZON))
    coherent = reconcile(method, hierarchy.matrix, base, base[:, :1] + residual, np.repeat(base[:, :1], 2 * HORIZON, 1))
    bottom = coherent[len(hierarchy.levels):]
    assert (bottom >= 0).all() and np.allclose(coherent[:len(hierarchy.levels)], hierarchy.summing @ bottom)
    if method == "bottom_up":
        assert np.allclose(bottom, items.values[:, -HORIZON:])
    else:  # the totals' own forecasts (30% above the items' sum) move the items
        assert coherent[0].sum() > bottom.sum() - 1e-9 and not np.allclose(bottom, items.values[:, -HORIZON:])


def test_each_row_takes_the_mean_method_of_least_squared_error_on_the_other_windows():
    items = market()
    hierarchy = hierarchy_of(items)
    means = means_of(hierarchy, items, {"ma4": 0.05, "naive": 0.6}, 1)
    n = len(hierarchy.levels)
    both = [0, 1]
    assert np.allclose(means.forecast(means.point, both)[n:], means.point["ma4"][n:])  # the items' less noisy method
    errors = {name: ((means.actual[:, 1] - v[:, 1]) ** 2).sum(axis=1) for name, v in means.validation.items()}
    chosen_on_1 = np.where(errors["ma4"] <= errors["naive"], 0, 1)
    expected = np.stack([means.validation["ma4"][:, 0], means.validation["naive"][:, 0]], axis=1)
    assert np.allclose(means.cross_fitted[:, 0], expected[np.arange(len(expected)), chosen_on_1])


def test_the_reconciliation_is_the_validation_winner_over_the_totals():
    items = market()
    hierarchy = hierarchy_of(items)
    means = means_of(hierarchy, items, {"ma4": 0.5}, 2)  # totals forecast exactly, items with noise
    chosen, table, windows = choose_reconciler(hierarchy, means)
    assert list(table.index) == list(RECONCILERS)
    summed = hierarchy.summing @ means.cross_fitted[len(hierarchy.levels):].reshape(items.n_series, -1)
    truth = hierarchy.summing @ means.actual[len(hierarchy.levels):].reshape(items.n_series, -1)
    assert table.loc["bottom_up", "total"] == pytest.approx(np.abs(truth[0] - summed[0]).sum() / truth[0].sum())
    above = [level for level in table.columns if level != "item"]
    assert chosen == table[above].mean(axis=1).idxmin()
    assert chosen != "bottom_up" and table.loc[chosen, "total"] < table.loc["bottom_up", "total"]
    assert np.allclose(windows, reconciled_windows(chosen, hierarchy.matrix, means))


def intermittent_market(periods: int) -> DemandPanel:
    """40 items of 2 merchants, each selling 0 to 3 units in about a third of the weeks."""
    rng = np.random.default_rng(5)
    values = rng.poisson(0.4, size=(40, periods)).astype(float)
    series = pd.DataFrame({"item_id": [f"i{k}" for k in range(40)], "merchant_id": [f"m{k % 2}" for k in range(40)],
                           "category": "c", "region": "r", "price": 10.0, "item_code": np.arange(40)})
    return DemandPanel(values, pd.date_range("2023-01-02", periods=periods, freq="7D"), "W", series)


@pytest.mark.slow
def test_mean_reconciliation_lifts_totals_a_sum_of_item_medians_leaves_low():
    whole = intermittent_market(90)
    fit = forecast_panel(whole.head(80))
    reconciled = reconcile_fit(fit)
    hierarchy = reconciled.hierarchy
    n = len(hierarchy.levels)
    future = hierarchy.summing @ whole.values[:, 80:90]
    medians = hierarchy.summing @ fit.point[SELECTED][:, :10]
    assert medians[0].sum() < 0.6 * future[0].sum()  # the planted shortfall: most weeks an item sells nothing
    assert np.abs(reconciled.point[0, :10] - future[0]).sum() < 0.5 * np.abs(medians[0] - future[0]).sum()
    assert np.allclose(reconciled.point[:n], hierarchy.summing @ reconciled.point[n:])  # coherent
    assert (reconciled.point[n:] >= 0).all()
    assert np.array_equal(reconciled.quantiles[..., 1], reconciled.point[:n])
    assert (reconciled.quantiles[..., 0] <= reconciled.quantiles[..., 2]).all()
    totals = reconciled.totals(whole.series.merchant_id.to_numpy())
    assert list(totals.labels) == ["m0", "m1"]
    rows = [list(hierarchy.labels).index(label) for label in ("m0", "m1")]
    assert np.array_equal(totals.quantiles, reconciled.quantiles[rows])
    table = view(fit, "merchant", 8, reconciled=reconciled).table()
    assert np.allclose(table.p50.to_numpy().reshape(2, 8), reconciled.point[rows, :8])
    assert table.model.eq(f"reconciled mean forecasts ({reconciled.method})").all()
    with pytest.raises(ForecastInputError, match="not totals of the reconciled hierarchy"):
        reconciled.totals(np.arange(40) % 3)


@pytest.mark.slow
def test_the_backtest_scores_the_published_totals_and_their_bands(forecast_market):
    dataset = load_dataset(*forecast_market)
    result = backtest(dataset, horizon=4, origins=1)
    table = result.hierarchy
    chosen = f"reconciled ({result.reconcilers[0]})"
    items = demand_panel(dataset, "W", "item")
    cut = items.n_periods - 4
    reconciled = reconcile_fit(forecast_panel(items.head(cut)))  # the same fit the backtest made at its origin
    truth = reconciled.hierarchy.summing[0] @ items.values[items.values[:, :cut].sum(axis=1) > 0, cut:]
    row = table[(table.level == "total") & (table.forecast == chosen)].iloc[0]
    assert row.wape == pytest.approx(np.abs(truth - reconciled.point[0, :4]).sum() / truth.sum())
    band = reconciled.quantiles[0, :4]
    assert row.coverage_p10_p90 == pytest.approx(np.mean((truth >= band[:, 0]) & (truth <= band[:, 2])))
    assert table[table.forecast != chosen].coverage_p10_p90.isna().all()
    assert table[table.forecast == chosen].set_index("level").coverage_p10_p90.drop("item").between(0, 1).all()
