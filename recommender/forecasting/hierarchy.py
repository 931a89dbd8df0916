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

**Reconciliation** (:func:`reconcile_fit`) of **mean** forecasts: the whole market, each region,
each category and each merchant (:data:`AGGREGATES`; a group holding the same items as a higher
one, such as UCI's one merchant, is the higher one) and every item get a mean forecast: each row
takes the method of :data:`MEANS` (statsforecast's simple methods, fitted to the aggregates' own
summed series at the item fit's validation origins) with the least squared error on the
validation windows (:class:`Means`). Means are additive where medians are not: a sum of item
medians is low when items sell nothing in most weeks. Nixtla's ``hierarchicalforecast`` makes
them coherent (:data:`RECONCILERS`: bottom-up, MinTrace with OLS, structural, variance and
shrunk-covariance weights; items floored at 0, every total their sum). The method is chosen per
data set on the validation windows, each window's means chosen and MinTrace's residuals taken on
the other window: the lowest mean WAPE over the aggregate levels (:func:`choose_reconciler`). The
totals' P10/P90 come from the chosen method's reconciled validation errors
(:func:`~recommender.forecasting.selection.banded`). Merchant totals are published from it; the
items keep their selected P50s (medians: what absolute error, hence WAPE, rewards), which do not
sum to the totals.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
from hierarchicalforecast.methods import BottomUp, MinTrace

from recommender.forecasting.methods import SIMPLE, simple_forecasts
from recommender.forecasting.metrics import wape
from recommender.forecasting.panel import DemandPanel, ForecastInputError
from recommender.forecasting.selection import SELECTED, PanelForecast, Totals, banded

log = logging.getLogger(__name__)

SHARE_WINDOWS = (13, 26, 52, None)  # periods of history the tier shares are measured over (None: all of it)
AGGREGATES = ("total", "region", "category", "merchant_id")  # the levels above items, highest first
ITEM = "item"
RECONCILERS = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")  # hierarchicalforecast's methods
MEANS = SIMPLE  # the candidates that forecast a mean (the global model forecasts the median)


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


@dataclass
class Means:
    """The mean forecasts of every row of a hierarchy (aggregates, then items): each of
    :data:`MEANS`' ``point`` forecasts (rows x horizon), its ``validation`` forecasts and what was
    sold then (``actual``; rows x windows x horizon)."""

    point: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    actual: np.ndarray

    def forecast(self, forecasts: dict[str, np.ndarray], windows: list[int]) -> np.ndarray:
        """Each row's forecast in ``forecasts`` by the method of least squared error on ``windows``
        (the error a mean minimises)."""
        names = list(self.validation)
        errors = np.stack([((self.actual[:, windows] - self.validation[name][:, windows]) ** 2).sum(axis=(1, 2))
                           for name in names], axis=1)
        return np.stack([forecasts[name] for name in names], axis=1)[np.arange(len(errors)), errors.argmin(axis=1)]

    @cached_property
    def cross_fitted(self) -> np.ndarray:
        """Each validation window's mean forecast by the methods chosen on the other windows
        (rows x windows x horizon)."""
        windows = self.actual.shape[1]
        return np.stack([self.forecast({name: v[:, k] for name, v in self.validation.items()},
                                       [j for j in range(windows) if j != k] or [k]) for k in range(windows)], axis=1)

    def final(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The base forecast (each row's method chosen on every window) and MinTrace's residuals:
        what was sold and the cross-fitted forecasts on all the windows (rows x windows * horizon)."""
        return (self.forecast(self.point, list(range(self.actual.shape[1]))), _flat(self.actual),
                _flat(self.cross_fitted))


def mean_fits(hierarchy: Hierarchy, items: PanelForecast) -> Means:
    """:data:`MEANS` fitted to the aggregates' own series at the item fit's validation origins and
    at its end, stacked above the items' forecasts by the same methods."""
    panel = hierarchy.panel(items.panel)
    fits = [simple_forecasts(panel.truncated(cut), items.horizon)
            for cut in (*items.validation_origins, panel.n_periods)]
    names = [name for name in MEANS if name in items.validation and all(name in fit for fit in fits)]
    actual = np.stack([panel.values[:, origin:origin + items.horizon] for origin in items.validation_origins], axis=1)
    return Means({name: np.vstack([fits[-1][name], items.point[name]]) for name in names},
                 {name: np.vstack([np.stack([fit[name] for fit in fits[:-1]], axis=1), items.validation[name]])
                  for name in names},
                 np.vstack([actual, items.validation_actual]))


def _flat(windows: np.ndarray) -> np.ndarray:
    """rows x windows x horizon -> rows x (windows * horizon), window after window."""
    return windows.reshape(len(windows), -1)


def reconciled_windows(method: str, summing: np.ndarray, means: Means) -> np.ndarray:
    """Each validation window's cross-fitted mean forecasts reconciled by ``method``, MinTrace's
    residuals taken from the other windows (rows x windows x horizon)."""
    base, windows = means.cross_fitted, means.actual.shape[1]
    parts = []
    for k in range(windows):
        others = [j for j in range(windows) if j != k] or [k]
        parts.append(reconcile(method, summing, base[:, k], _flat(means.actual[:, others]), _flat(base[:, others])))
    return np.stack(parts, axis=1)


def level_wapes(levels: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """WAPE of ``forecast`` against ``actual`` (rows x periods) per level of the rows."""
    return {level: wape(actual[levels == level], forecast[levels == level]) for level in dict.fromkeys(levels)}


def choose_reconciler(hierarchy: Hierarchy, means: Means) -> tuple[str, pd.DataFrame, np.ndarray]:
    """The method of :data:`RECONCILERS` whose reconciled validation forecasts have the lowest mean
    WAPE over the aggregate levels, every method's validation WAPE per level (methods x levels; the
    items' column is their reconciled means') and the chosen method's validation forecasts."""
    summing, levels = hierarchy.matrix, hierarchy.row_levels
    windows = {method: reconciled_windows(method, summing, means) for method in RECONCILERS}
    scores = pd.DataFrame({method: level_wapes(levels, _flat(means.actual), _flat(forecast))
                           for method, forecast in windows.items()}).T
    above = [level for level in scores.columns if level != ITEM]
    method = str(scores[above].mean(axis=1).idxmin())
    return method, scores, windows[method]


@dataclass
class Reconciled:
    """Coherent mean forecasts of every level: ``point`` (rows of :attr:`Hierarchy.matrix` x
    horizon), the aggregates' P10/P50/P90 (``quantiles``, aggregates x horizon x 3) and units sold
    per period (``history``), the ``method`` chosen, the validation WAPE per method and level
    (``validation``) and the mean fits it reconciled (``means``)."""

    hierarchy: Hierarchy
    method: str
    point: np.ndarray
    quantiles: np.ndarray
    history: np.ndarray
    validation: pd.DataFrame
    means: Means

    def totals(self, groups: np.ndarray) -> Totals:
        """The reconciled totals over ``groups`` (one label per item, each group a total of the hierarchy)."""
        labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
        rows = {members.tobytes(): k for k, members in enumerate(self.hierarchy.summing > 0)}
        keys = [(inverse == g).tobytes() for g in range(len(labels))]
        if any(key not in rows for key in keys):
            raise ForecastInputError("these groups are not totals of the reconciled hierarchy")
        found = [rows[key] for key in keys]
        return Totals(labels, self.quantiles[found], self.history[found])


def reconcile_fit(items: PanelForecast) -> Reconciled:
    """The items' and :data:`AGGREGATES`' mean forecasts (:func:`mean_fits`) made coherent by the
    method chosen on the validation windows, the aggregates banded on the reconciled validation
    errors; see the module docstring."""
    hierarchy = hierarchy_of(items.panel)
    means = mean_fits(hierarchy, items)
    method, validation, windows = choose_reconciler(hierarchy, means)
    point = reconcile(method, hierarchy.matrix, *means.final())
    n = len(hierarchy.levels)
    panel = hierarchy.panel(items.panel)
    quantiles = banded(panel, items.validation_origins, point[:n], windows[:n], means.actual[:n])
    log.info("reconciliation of the mean forecasts of %d totals and %d items: %s (validation WAPE per level: %s)",
             n, items.panel.n_series, method, validation.loc[method].round(3).to_dict())
    return Reconciled(hierarchy, method, point, quantiles, panel.values, validation, means)
