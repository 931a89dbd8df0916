"""Views of one forecast: the tables every command, report and the API read, sliced from one fit.

:func:`forecast` fits the whole catalog's item panel once
(:func:`~recommender.forecasting.selection.forecast_panel`; item x city tier series are split from
that fit) and returns a :class:`Forecast`; a merchant's view or a shorter horizon is a slice of
that fit, never a fit of its own, and a merchant's total is the reconciled hierarchy's
(:func:`~recommender.forecasting.hierarchy.reconcile_fit`, the same in every view), so
``recommender forecast`` of the catalog, of one merchant, the published forecasts the API serves
and the merchant report agree on every item and week.

Series rows say why, for a merchant reading them
(:data:`~recommender.forecasting.spec.EXPLAINED`): ``model``, the method selected for the series;
``recent_level``, units per period over the last :data:`~recommender.forecasting.panel.RECENT`
periods (13 weeks); ``previous_level``, the same over the 13 weeks before; ``recent_trend``, how
the first compares with the second (+0.25 = a quarter more; empty when nothing sold then; a
total's trend is that of its summed units, its rows' summed levels); ``rising``, whether that trend is at least
:data:`RISING` (for item x city tier rows: the tiers where the item's demand is rising).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.forecasting.calibration import validation_origins
from recommender.forecasting.hierarchy import Reconciled, reconcile_fit, split_by_tier
from recommender.forecasting.panel import RECENT, DemandPanel, ForecastInputError, demand_panel, group_sums
from recommender.forecasting.selection import SELECTED, VALIDATION_WINDOWS, PanelForecast, aggregate, forecast_panel
from recommender.forecasting.spec import QUANTILE_COLUMNS, RISING, check_request
from recommender.loaders import Dataset

log = logging.getLogger(__name__)



class UnknownMerchantError(ForecastInputError):
    """The merchant id is not in the catalog."""


class MerchantWithoutSalesError(ForecastInputError):
    """The merchant is in the catalog but sold nothing in the data."""


def recent_trend(history: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units per period over the last :data:`RECENT` periods of each row of ``history``, over the
    :data:`RECENT` periods before, and the change from the second to the first (NaN where nothing
    sold then)."""
    window = RECENT[freq]
    level = history[:, -window:].mean(axis=1)
    before = history[:, -2 * window:-window].mean(axis=1) if history.shape[1] > window else np.zeros(len(history))
    with np.errstate(divide="ignore", invalid="ignore"):
        return level, before, np.where(before > 0, level / before - 1.0, np.nan)


@dataclass
class Forecast:
    """A forecast request's view: ``horizon`` periods of the fitted ``result``, for every series
    or one merchant's (``merchant_id``)."""

    by: str
    result: PanelForecast
    horizon: int
    merchant_id: str | None = None
    reconciled: Reconciled | None = None  # the coherent totals merchant rows take (hierarchy.reconcile_fit)

    @property
    def panel(self) -> DemandPanel:
        return self.result.panel

    @property
    def lead(self) -> int:
        return self.panel.lead

    @property
    def starts(self) -> pd.DatetimeIndex:
        return self.result.starts[self.lead:self.lead + self.horizon]

    def _rows(self, merchants: np.ndarray) -> np.ndarray:
        return np.ones(len(merchants), bool) if self.merchant_id is None else merchants == self.merchant_id

    def _frame(self, keys: pd.DataFrame, quantiles: np.ndarray) -> pd.DataFrame:
        """``keys`` repeated per period, with the period starts and the quantiles of the first
        ``horizon`` whole periods."""
        h = self.horizon
        table = keys.iloc[np.repeat(np.arange(len(keys)), h)].reset_index(drop=True)
        table["period_start"] = np.tile(self.starts.date, len(keys))
        for k, column in enumerate(QUANTILE_COLUMNS):
            table[column] = quantiles[:, self.lead:self.lead + h, k].reshape(-1)
        return table

    def _current(self, keys: pd.DataFrame, quantiles: np.ndarray, sold: np.ndarray) -> pd.DataFrame:
        """The current period of ``keys``: ``sold`` so far plus the forecast of its remaining days
        (the first step's quantiles times the share of a period's units those days sell)."""
        table = keys.reset_index(drop=True)
        table["period_start"] = self.result.starts[0].date()
        table["sold_so_far"] = sold
        for k, column in enumerate(QUANTILE_COLUMNS):
            table[column] = sold + quantiles[:, 0, k] * self.panel.remaining_share
        return table

    def _explained(self, table: pd.DataFrame, model, history: np.ndarray) -> pd.DataFrame:
        """``table`` with :data:`~recommender.forecasting.spec.EXPLAINED`: ``model``, and the recent
        level and trend of each of its series' ``history`` (one row per series, in the table's order)."""
        level, before, trend = recent_trend(history, self.panel.freq)
        repeat = len(table) // len(history) if len(history) else 0
        table["model"] = model
        table["recent_level"] = np.repeat(level, repeat)
        table["previous_level"] = np.repeat(before, repeat)
        table["recent_trend"] = np.repeat(trend, repeat)
        table["rising"] = table.recent_trend.ge(RISING)
        return table

    def _series_parts(self, name: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray | None, object]:
        """Keys, quantiles, history, current sales and model of the series in this view."""
        panel = self.panel
        rows = self._rows(panel.series.merchant_id.to_numpy())
        keys = [c for c in ("item_id", "city_tier", "merchant_id", "category") if c in panel.series]
        model = self.result.model[rows] if name == SELECTED else name
        current = None if panel.current is None else panel.current[rows]
        return panel.series.loc[rows, keys], self.result.quantiles[name][rows], panel.values[rows], current, model

    def _totals_parts(self, key: str, name: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray | None,
                                                          str]:
        """Keys, quantiles, history, current sales and model of the totals per ``key`` in this view."""
        groups = self.panel.series[key].to_numpy()
        reconciled = self.reconciled if key == "merchant_id" and name == SELECTED else None
        labels, quantiles, history = (aggregate(self.result, groups, name) if reconciled is None
                                      else reconciled.totals(groups))
        mine = self._rows(labels) if key == "merchant_id" else np.ones(len(labels), bool)
        current = None
        if self.panel.current is not None:
            current = group_sums(self.panel.current, np.unique(groups, return_inverse=True)[1], len(labels))[mine]
        model = (f"total of the {name} forecasts" if reconciled is None
                 else f"reconciled mean forecasts ({reconciled.method})")
        return pd.DataFrame({key: labels[mine]}), quantiles[mine], history[mine], current, model

    def series_table(self, name: str = SELECTED) -> pd.DataFrame:
        """One row per series and whole period: the series' columns, period_start, p10, p50, p90 and
        :data:`~recommender.forecasting.spec.EXPLAINED` (for method ``name``'s forecast, the selected
        one by default)."""
        keys, quantiles, history, _, model = self._series_parts(name)
        model = np.repeat(model, self.horizon) if name == SELECTED else model
        return self._explained(self._frame(keys, quantiles), model, history)

    def totals_table(self, key: str = "merchant_id", name: str = SELECTED) -> pd.DataFrame:
        """Totals per ``key`` (``merchant_id``, ``category``, ``item_id``) and whole period
        (:func:`~recommender.forecasting.selection.aggregate`), with their recent level and trend."""
        keys, quantiles, history, _, model = self._totals_parts(key, name)
        return self._explained(self._frame(keys, quantiles), model, history)

    def table(self) -> pd.DataFrame:
        """The table the request asked for: series rows, or merchant totals for ``by="merchant"``."""
        return self.totals_table("merchant_id") if self.by == "merchant" else self.series_table()

    def current_table(self) -> pd.DataFrame | None:
        """The current period (the one the data stops inside; None when it ends with a whole period)
        for the rows of :meth:`table`: their keys, ``period_start``, ``sold_so_far`` and P10/P50/P90
        of the whole period (sales so far plus the forecast of its remaining days), with the
        explanations."""
        if self.panel.current is None:
            return None
        parts = self._totals_parts("merchant_id", SELECTED) if self.by == "merchant" else self._series_parts(SELECTED)
        keys, quantiles, history, current, model = parts
        return self._explained(self._current(keys, quantiles, current), model, history)


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """A forecast table as published: units and levels to 0.01, trends to 0.001."""
    return table.round({"p10": 2, "p50": 2, "p90": 2, "sold_so_far": 2, "recent_level": 2, "previous_level": 2,
                        "recent_trend": 3})


def _check_merchant(dataset: Dataset, panel: DemandPanel, merchant_id: str) -> None:
    if not dataset.catalog.merchant_id.astype(object).eq(merchant_id).any():
        raise UnknownMerchantError(f"unknown merchant {merchant_id!r}: no catalog item has this merchant_id")
    if not panel.series.merchant_id.eq(merchant_id).any():
        raise MerchantWithoutSalesError(f"merchant {merchant_id!r} has no sales in the data (returns and "
                                        f"cancellations excluded): nothing to forecast from")


def view(result: PanelForecast, by: str, horizon: int, merchant_id: str | None = None,
         reconciled: Reconciled | None = None) -> Forecast:
    """The ``horizon``-period view of a fitted forecast (an error when the history could not
    calibrate that many periods); merchant totals from ``reconciled`` when given."""
    if horizon > result.horizon - result.panel.lead:
        unit = "weeks" if result.panel.freq == "W" else "days"
        raise ForecastInputError(f"horizon {horizon} is longer than this history can calibrate: at most "
                                 f"{result.horizon - result.panel.lead} {unit} from {result.panel.n_periods} {unit} "
                                 f"of history")
    return Forecast(by, result, horizon, merchant_id, reconciled)


def tiers_of(items: Forecast, dataset: Dataset) -> Forecast:
    """The item x city tier view of an item forecast of ``dataset``: its split by tier shares, no new fit."""
    tiers = split_by_tier(items.result, demand_panel(dataset, items.panel.freq, "item,city_tier"))
    return view(tiers, "item,city_tier", items.horizon, items.merchant_id)


def forecast(dataset: Dataset, horizon: int = 12, freq: str = "W", by: str = "item", merchant_id: str | None = None,
             n_jobs: int | None = None, spark=None, show_progress: bool = False) -> Forecast:
    """Forecast the next ``horizon`` periods of every series (or of one merchant's series): the item
    panel is fitted, item x city tier series are split from it
    (:func:`~recommender.forecasting.hierarchy.split_by_tier`); with a SparkSession ``spark``, the
    simple methods run on Spark (the same numbers, see :mod:`~recommender.forecasting.methods`)."""
    check_request(horizon, freq, by)
    panel = demand_panel(dataset, freq, "item")
    if merchant_id is not None:
        _check_merchant(dataset, panel, merchant_id)
    validation_origins(panel.n_periods, horizon, VALIDATION_WINDOWS, freq, panel.lead)  # a clear error before fitting
    log.info("forecasting %d items (freq %s) over %d periods of history", panel.n_series, freq, panel.n_periods)
    tiered = by == "item,city_tier"
    result = forecast_panel(panel, n_jobs, spark, show_progress)
    reconciled = reconcile_fit(result) if by == "merchant" else None
    fitted = view(result, "item" if tiered else by, horizon, merchant_id, reconciled)
    return tiers_of(fitted, dataset) if tiered else fitted
