"""Item x city tier forecasts split from the item fit: they sum to the items, the share window is
the validation winner, the bands come from the split's own validation errors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recommender.forecasting.hierarchy import (
    RECONCILERS,
    SHARE_WINDOWS,
    choose_reconciler,
    choose_share_window,
    hierarchy_of,
    reconcile,
    split_by_tier,
    tier_shares,
)
from recommender.forecasting.panel import DemandPanel, ForecastInputError
from recommender.forecasting.selection import SELECTED, PanelForecast, forecast_panel

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


def fit_of(panel: DemandPanel, noise: float, seed: int) -> PanelForecast:
    """A fit whose validation and final forecasts are what was sold times lognormal noise (0: exact)."""
    rng = np.random.default_rng(seed)
    origins = [60 - 2 * HORIZON, 60 - 3 * HORIZON]
    actual = np.stack([panel.values[:, o:o + HORIZON] for o in origins], axis=1)
    validation = actual * rng.lognormal(0, noise, size=actual.shape) if noise else actual.copy()
    point = panel.values[:, -HORIZON:] * (rng.lognormal(0, noise, size=(panel.n_series, HORIZON)) if noise else 1)
    return PanelForecast(panel, HORIZON, {SELECTED: point}, {}, {SELECTED: validation}, actual, origins,
                         np.full(panel.n_series, "ma4", dtype=object), validation)


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


def test_the_reconciliation_is_the_validation_winner_among_those_keeping_the_items():
    items = market()
    hierarchy = hierarchy_of(items)
    aggregates = fit_of(hierarchy.panel(items), 0.0, 1)  # totals forecast exactly, items with noise
    fit = fit_of(items, 0.4, 2)
    chosen, table = choose_reconciler(hierarchy, aggregates, fit)
    assert list(table.index) == list(RECONCILERS)
    summed = hierarchy.summing @ np.hstack([fit.validation[SELECTED][:, k] for k in range(2)])
    truth = hierarchy.summing @ np.hstack([fit.validation_actual[:, k] for k in range(2)])
    assert table.loc["bottom_up", "total"] == pytest.approx(np.abs(truth[0] - summed[0]).sum() / truth[0].sum())
    allowed = table[table["item"] <= table.loc["bottom_up", "item"] + 1e-12]
    above = [level for level in table.columns if level != "item"]
    assert chosen == allowed[above].mean(axis=1).idxmin()
    assert chosen != "bottom_up" and table.loc[chosen, "total"] < table.loc["bottom_up", "total"]
