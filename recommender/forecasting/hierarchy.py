"""Levels below the fitted one: item x city tier forecasts split from the item forecasts.

The item x city tier level is not fitted on its own (a second full fit, over three times as many
and much sparser series, took nine tenths of ``forecast-publish``'s time). Each item's forecast is
split top-down by the item's **tier shares**: the share of its units each city tier bought over
the last ``window`` periods before the origin (the whole history when the item sold nothing then;
equal shares when it never sold before the origin), so an item's tiers always sum to the item.
The window is chosen per panel among :data:`SHARE_WINDOWS` on the validation windows of the item
fit (each window split by the shares at its own origin, scored against what each tier sold then),
and the tiers' bands are calibrated on those same split validation forecasts, per horizon step
(:func:`~recommender.forecasting.selection.banded`).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recommender.forecasting.panel import DemandPanel, ForecastInputError
from recommender.forecasting.selection import SELECTED, PanelForecast, banded

log = logging.getLogger(__name__)

SHARE_WINDOWS = (13, 26, 52, None)  # periods of history the tier shares are measured over (None: all of it)


def item_rows(items: DemandPanel, tiers: DemandPanel) -> np.ndarray:
    """For each item x tier series, the row of its item in ``items`` (an error when one is missing)."""
    rows = pd.Index(items.series.item_code).get_indexer(tiers.series.item_code)
    if (rows < 0).any() or items.n_periods != tiers.n_periods:
        raise ForecastInputError("the item x tier panel is not a split of the item panel: built from other data")
    return rows


def tier_shares(items: DemandPanel, tiers: DemandPanel, rows: np.ndarray, cut: int,
                window: int | None) -> np.ndarray:
    """Each item x tier series' share of its item's units over the ``window`` periods before period
    ``cut`` (see the module docstring for an item without sales then); an item's shares sum to 1."""
    def shares(start: int) -> tuple[np.ndarray, np.ndarray]:
        own = tiers.values[:, start:cut].sum(axis=1)
        whole = items.values[rows, start:cut].sum(axis=1)
        return own / np.where(whole > 0, whole, 1.0), whole > 0

    recent, sold = shares(0 if window is None else max(0, cut - window))
    overall, ever = shares(0)
    siblings = np.bincount(rows, minlength=items.n_series)[rows]
    return np.where(sold, recent, np.where(ever, overall, 1.0 / siblings))


def _split(items: PanelForecast, tiers: DemandPanel, rows: np.ndarray, window: int | None
           ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Tier shares at the end of the history and at each validation origin, and every method's
    validation forecasts split by the latter (``series x windows x horizon``)."""
    now = tier_shares(items.panel, tiers, rows, tiers.n_periods, window)
    then = np.stack([tier_shares(items.panel, tiers, rows, origin, window) for origin in items.validation_origins],
                    axis=1)[:, :, None]
    validation = {name: forecast[rows] * then for name, forecast in items.validation.items()}
    return now, then, validation


def choose_share_window(items: PanelForecast, tiers: DemandPanel, rows: np.ndarray) -> int | None:
    """The window of :data:`SHARE_WINDOWS` whose split of the selected item forecast errs least
    (absolute units) on the validation windows."""
    actual = np.stack([tiers.values[:, origin:origin + items.horizon] for origin in items.validation_origins], axis=1)
    errors = [np.abs(actual - _split(items, tiers, rows, window)[2][SELECTED]).sum() for window in SHARE_WINDOWS]
    return SHARE_WINDOWS[int(np.argmin(errors))]


def split_by_tier(items: PanelForecast, tiers: DemandPanel) -> PanelForecast:
    """The item x city tier forecast of ``tiers`` (a panel of the same data as ``items.panel``):
    every method's item forecast times the tier shares, banded on the split validation forecasts;
    each series keeps its item's method. See the module docstring."""
    rows = item_rows(items.panel, tiers)
    window = choose_share_window(items, tiers, rows)
    now, then, validation = _split(items, tiers, rows, window)
    actual = np.stack([tiers.values[:, origin:origin + items.horizon] for origin in items.validation_origins], axis=1)
    point = {name: forecast[rows] * now[:, None] for name, forecast in items.point.items()}
    cross_fitted = items.cross_fitted[rows] * then
    quantiles = {name: banded(tiers, items.validation_origins, point[name],
                              cross_fitted if name == SELECTED else validation[name], actual) for name in point}
    log.info("item x city tier: %d series split from %d items by their tier shares over %s", tiers.n_series,
             items.panel.n_series, "the whole history" if window is None else f"the last {window} periods")
    return PanelForecast(tiers, items.horizon, point, quantiles, validation, actual, items.validation_origins,
                         items.model[rows], cross_fitted)
