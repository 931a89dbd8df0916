"""The levels around the fitted one: item x city tier forecasts split from the item forecasts, and
the item forecasts reconciled with the totals a merchant or operator reads.

The item x city tier level is not fitted on its own (a second full fit, over three times as many
and much sparser series, took nine tenths of ``forecast-publish``'s time). Each item's forecast is
split top-down by the item's **tier shares**: the share of its units each city tier bought over
the last ``window`` periods before the origin (the whole history when the item sold nothing then;
equal shares when it never sold before the origin), so an item's tiers always sum to the item.
The window is chosen per panel among :data:`SHARE_WINDOWS` on the validation windows of the item
fit (each window split by the shares at its own origin, scored against what each tier sold then),
and the tiers' bands are calibrated on those same split validation forecasts, per horizon step
(:func:`~recommender.forecasting.selection.banded`).

**Reconciliation** (:func:`reconcile_fit`): the whole market, each region, each category and each
merchant (:data:`AGGREGATES`; a group holding the same items as a higher one, such as UCI's one
merchant, is the higher one) are fitted on their own summed series, as items are
(:func:`~recommender.forecasting.selection.forecast_panel`), and Nixtla's ``hierarchicalforecast``
makes the items and these totals coherent (:data:`RECONCILERS`: bottom-up, MinTrace with OLS,
structural, variance and shrunk-covariance weights; the items' reconciled P50s are floored at 0
and every total is their sum). The method is chosen per data set on the validation windows, each
window reconciled with the errors of the other as MinTrace's residuals: among the methods whose
items err no more than bottom-up's (the items' own forecasts), the one with the lowest mean WAPE
over the aggregate levels (:func:`choose_reconciler`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from hierarchicalforecast.methods import BottomUp, MinTrace

from recommender.forecasting.metrics import wape
from recommender.forecasting.panel import DemandPanel, ForecastInputError
from recommender.forecasting.selection import SELECTED, PanelForecast, banded, forecast_panel

log = logging.getLogger(__name__)

SHARE_WINDOWS = (13, 26, 52, None)  # periods of history the tier shares are measured over (None: all of it)
AGGREGATES = ("total", "region", "category", "merchant_id")  # the levels above items, highest first
ITEM = "item"
RECONCILERS = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")  # hierarchicalforecast's methods


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


@dataclass
class Hierarchy:
    """The totals above a panel's items: each aggregate row's ``level`` and ``label``, and
    ``summing`` (aggregates x items, 1 where the item belongs to the total)."""

    levels: np.ndarray
    labels: np.ndarray
    summing: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        """hierarchicalforecast's summing matrix ``S``: the aggregates' rows, then one row per item."""
        return np.vstack([self.summing, np.eye(self.summing.shape[1])])

    @property
    def row_levels(self) -> np.ndarray:
        """The level of every row of :attr:`matrix`."""
        return np.concatenate([self.levels, np.full(self.summing.shape[1], ITEM, dtype=object)])

    def panel(self, items: DemandPanel) -> DemandPanel:
        """The aggregates' own series: the items' units summed per total."""
        names = [f"{level}:{label}" for level, label in zip(self.levels, self.labels, strict=True)]
        series = pd.DataFrame({"item_id": names, "merchant_id": names, "category": self.levels, "region": "",
                               "price": np.nan, "item_code": np.arange(len(names))})
        return replace(items, values=self.summing @ items.values, series=series,
                       current=None if items.current is None else self.summing @ items.current)


def hierarchy_of(items: DemandPanel) -> Hierarchy:
    """The :data:`AGGREGATES` over ``items`` (a group with the same items as one above it left out)."""
    rows, levels, labels, seen = [], [], [], set()
    for level in AGGREGATES:
        keys = np.zeros(items.n_series, object) if level == "total" else items.series[level].astype(str).to_numpy()
        for label in np.unique(keys):
            members = keys == label
            if members.tobytes() not in seen:
                seen.add(members.tobytes())
                rows.append(members)
                levels.append(level)
                labels.append("" if level == "total" else label)
    return Hierarchy(np.asarray(levels, dtype=object), np.asarray(labels, dtype=object),
                     np.asarray(rows, dtype=np.float64))


def reconcile(method: str, summing: np.ndarray, base: np.ndarray, actual: np.ndarray,
              fitted: np.ndarray) -> np.ndarray:
    """Coherent forecasts of every row of ``summing`` (``S``) from the ``base`` forecasts of each
    row (``rows x horizon``) by ``method`` of :data:`RECONCILERS`; ``actual`` and ``fitted`` (rows x
    periods: what was sold and forecast on validation windows) give MinTrace its residuals. The
    items' reconciled forecasts are floored at 0 and every total is their sum."""
    reconciler = BottomUp() if method == "bottom_up" else MinTrace(method)
    mean = reconciler.fit_predict(S=summing, y_hat=base, y_insample=actual, y_hat_insample=fitted)["mean"]
    return summing @ np.maximum(mean[-summing.shape[1]:], 0.0)


def _stacked(aggregates: PanelForecast, items: PanelForecast, part: str, window: int) -> np.ndarray:
    """Rows of every level (aggregates, then items) of the selected validation forecast (``part``
    "validation") or of what was sold then ("actual"), validation window ``window``."""
    if part == "actual":
        return np.vstack([aggregates.validation_actual[:, window], items.validation_actual[:, window]])
    return np.vstack([aggregates.validation[SELECTED][:, window], items.validation[SELECTED][:, window]])


def validation_windows(aggregates: PanelForecast, items: PanelForecast) -> tuple[np.ndarray, np.ndarray]:
    """What every row (aggregates, then items) sold and was forecast on all the validation windows,
    side by side (``rows x windows * horizon``): MinTrace's residuals for the final reconciliation."""
    windows = range(items.validation_actual.shape[1])
    return (np.hstack([_stacked(aggregates, items, "actual", k) for k in windows]),
            np.hstack([_stacked(aggregates, items, "validation", k) for k in windows]))


def level_wapes(levels: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """WAPE of ``forecast`` against ``actual`` (rows x periods) per level of the rows."""
    return {level: wape(actual[levels == level], forecast[levels == level]) for level in dict.fromkeys(levels)}


def choose_reconciler(hierarchy: Hierarchy, aggregates: PanelForecast, items: PanelForecast
                      ) -> tuple[str, pd.DataFrame]:
    """The method of :data:`RECONCILERS` chosen on the validation windows (see the module docstring)
    and every method's validation WAPE per level (methods x levels)."""
    summing, levels = hierarchy.matrix, hierarchy.row_levels
    windows = items.validation_actual.shape[1]
    table = {}
    for method in RECONCILERS:
        actual, forecast = [], []
        for k in range(windows):
            others = [j for j in range(windows) if j != k] or [k]
            forecast.append(reconcile(method, summing, _stacked(aggregates, items, "validation", k),
                                      np.hstack([_stacked(aggregates, items, "actual", j) for j in others]),
                                      np.hstack([_stacked(aggregates, items, "validation", j) for j in others])))
            actual.append(_stacked(aggregates, items, "actual", k))
        table[method] = level_wapes(levels, np.hstack(actual), np.hstack(forecast))
    scores = pd.DataFrame(table).T
    above = [level for level in scores.columns if level != ITEM]
    allowed = scores[scores[ITEM] <= scores.loc["bottom_up", ITEM] + 1e-12]
    return str(allowed[above].mean(axis=1).idxmin()), scores


@dataclass
class Reconciled:
    """Coherent P50s of every level: ``point`` (rows of :attr:`Hierarchy.matrix` x horizon), the
    ``method`` chosen and the validation WAPE per method and level (``validation``)."""

    hierarchy: Hierarchy
    method: str
    point: np.ndarray
    validation: pd.DataFrame


def reconcile_fit(items: PanelForecast, show_progress: bool = False) -> tuple[Reconciled, PanelForecast]:
    """Fit the aggregates of ``items``' panel on their own series and reconcile them with the items
    (the method chosen on the validation windows); returns the coherent forecasts and the
    aggregates' own fit."""
    hierarchy = hierarchy_of(items.panel)
    aggregates = forecast_panel(hierarchy.panel(items.panel), show_progress=show_progress)
    method, validation = choose_reconciler(hierarchy, aggregates, items)
    point = reconcile(method, hierarchy.matrix, np.vstack([aggregates.point[SELECTED], items.point[SELECTED]]),
                      *validation_windows(aggregates, items))
    log.info("reconciliation of %d totals and %d items: %s (validation WAPE per level: %s)", len(hierarchy.levels),
             items.panel.n_series, method, validation.loc[method].round(3).to_dict())
    return Reconciled(hierarchy, method, point, validation), aggregates
