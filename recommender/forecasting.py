"""Demand forecasts for merchants: per-series model selection, coherent totals, rolling-origin backtests.

Public API (everything takes a :class:`~recommender.loaders.Dataset` from
:func:`~recommender.loaders.load_dataset`):

* :func:`forecast_table` -> ``pandas.DataFrame``: the forecast of every series (``by="item"`` or
  ``"item,city_tier"``) or every merchant's total (``by="merchant"``), one row per series and
  period with ``p10``, ``p50``, ``p90`` and the ``model`` that made it. Item rows carry
  ``merchant_id`` and ``category``, so one precomputed table serves every merchant by slicing;
  ``merchant_id=`` forecasts one merchant's items only (fitting on them alone: cheap).
* :func:`forecast` -> :class:`Forecast`, the same with everything behind it (the panel, every
  candidate method's forecast, the selection) for reports.
* :func:`backtest` -> :class:`Backtest`: rolling-origin backtest of the selected forecast, each
  method and seasonal naive, with WAPE, MASE, bias and P10-P90 coverage (:mod:`recommender.forecast_metrics`).

How a forecast is made (:func:`forecast_panel`):

1. Every method of :func:`make_methods` (seasonal naive, moving average, Croston-SBA, TSB, the global
   gradient-boosting quantile model) is wrapped in a
   :class:`~recommender.models.forecast.CalibratedForecaster`: it is fitted on the history before
   each of two validation windows at the end of the history, its P10-P90 band is calibrated on
   those windows' errors, then it is refitted on the whole history.
2. Selection per series: each series takes the method with the smallest absolute error over
   the validation windows (all candidates forecast expected demand, so this cannot favour a
   model of medians that forecasts 0 for every item selling now and then), unless it beats the
   method best over all series by less than a switch margin (noise on a few sales should not
   decide); series with fewer than :data:`MIN_JUDGED_PERIODS` periods with sales before the first
   validation window take that overall best method. The margin is chosen per panel among
   :data:`SWITCH_MARGINS` by cross-fitting: select on one validation window, score on the other
   (:func:`_switch_margin`); where per-series choices do not carry over from one window to the
   next, the largest margin keeps every series on the overall best method. The selected
   forecast's P10-P90 band is calibrated again, per horizon step and intermittency bucket, on the
   validation errors of the selection itself, each window scored with the methods the other
   window selects (:func:`_selected_band`): a band borrowed from each method's own calibration
   does not know that the selected mix errs differently.
3. Coherence: totals (item over tiers, merchant, category) are bottom-up, so item P50s add up to
   the merchant's and category's P50 exactly. Quantiles do not add, so a total's P10/P90 is its
   P50 plus offsets calibrated on the same validation windows from the errors of the bottom-up
   totals themselves (:func:`aggregate`).

Errors are :class:`ForecastInputError` (a ``ValueError``): a bad horizon, period or level, a
history too short for the horizon, an unknown merchant, a merchant without sales.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from recommender import forecast_metrics as fm
from recommender.features.demand import (
    LEVELS,
    DemandPanel,
    ForecastInputError,
    check_freq_and_level,
    demand_panel,
)
from recommender.loaders import Dataset
from recommender.models.forecast import (
    CalibratedForecaster,
    CrostonForecaster,
    GlobalQuantileForecaster,
    MovingAverageForecaster,
    SeasonalNaiveForecaster,
    TSBForecaster,
)
from recommender.models.forecast.calibrated import band_around, scaled_errors, validation_origins

log = logging.getLogger(__name__)

MAX_HORIZON = {"W": 26, "D": 182}  # half a year
BY_CHOICES = LEVELS + ("merchant",)
BASELINE = "seasonal_naive"
SELECTED = "selected"
SWITCH_MARGINS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
MIN_JUDGED_PERIODS = 2
VALIDATION_WINDOWS = 2


class UnknownMerchantError(ForecastInputError):
    """The merchant id is not in the catalog."""


class MerchantWithoutSalesError(ForecastInputError):
    """The merchant is in the catalog but sold nothing in the data."""


def make_methods(horizon: int) -> dict:
    """The candidate methods, by name (fresh, unfitted)."""
    return {
        "seasonal_naive": SeasonalNaiveForecaster(),
        "moving_average": MovingAverageForecaster(),
        "croston_sba": CrostonForecaster(),
        "tsb": TSBForecaster(),
        "global_gbm": GlobalQuantileForecaster(horizon=horizon),
    }


def check_request(horizon: int, freq: str, by: str) -> None:
    """Raise :class:`ForecastInputError` for a horizon, period length or level the library does not serve."""
    if by not in BY_CHOICES:
        raise ForecastInputError(f"by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    check_freq_and_level(freq, "item")
    limit = MAX_HORIZON[freq]
    if not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= limit:
        unit = "weeks" if freq == "W" else "days"
        raise ForecastInputError(f"horizon must be 1..{limit} {unit} (26 weeks) for freq {freq}, got {horizon!r}")


@dataclass
class PanelForecast:
    """Every candidate's calibrated forecast of a panel, and the selected one.

    ``quantiles[name]`` is ``series x horizon x 3`` (P10, P50, P90) for each method and for
    :data:`SELECTED`; ``validation_p50[name]`` its P50 on the validation windows (``series x windows
    x horizon``), ``validation_actual`` what was sold then; ``model`` the method chosen per series.
    """

    panel: DemandPanel
    horizon: int
    starts: pd.DatetimeIndex
    quantiles: dict[str, np.ndarray]
    validation_p50: dict[str, np.ndarray]
    validation_actual: np.ndarray
    validation_origins: list[int]
    model: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)


def _select(errors: np.ndarray, judged: np.ndarray, margin: float) -> tuple[np.ndarray, int]:
    """Method index per series (``errors``: series x methods) and the overall best method's index:
    a judged series leaves the overall best for its own best when that errs less by more than
    ``margin`` times the overall best's error."""
    best_overall = int(np.argmin(errors[judged].sum(axis=0))) if judged.any() else int(np.argmin(errors.sum(axis=0)))
    own = np.argmin(errors, axis=1)
    gain = errors[:, best_overall] - errors[np.arange(len(errors)), own]
    switch = judged & (gain > margin * errors[:, best_overall])
    return np.where(switch, own, best_overall), best_overall


def _cross_fitted(window_errors: np.ndarray, judged: np.ndarray, margin: float) -> list[np.ndarray]:
    """For each validation window, the method per series selected on the other windows
    (``window_errors``: series x methods x windows)."""
    windows = window_errors.shape[2]
    return [_select(window_errors[:, :, [j for j in range(windows) if j != k] or [k]].sum(axis=2), judged, margin)[0]
            for k in range(windows)]


def _switch_margin(window_errors: np.ndarray, judged: np.ndarray) -> float:
    """The margin of :data:`SWITCH_MARGINS` whose selection, made on the other validation windows,
    errs least on each window in turn (1 keeps every series on the overall best method)."""
    rows = np.arange(len(window_errors))
    costs = [sum(window_errors[rows, choice, k].sum() for k, choice in enumerate(_cross_fitted(window_errors, judged, m)))
             for m in SWITCH_MARGINS]
    return SWITCH_MARGINS[int(np.argmin(costs))]


def _selected_band(panel: DemandPanel, origins: list[int], choices: list[np.ndarray], validation_p50: np.ndarray,
                   actual: np.ndarray, p50: np.ndarray) -> np.ndarray:
    """P10/P50/P90 of the selected forecast: its P50 ``p50`` widened by offsets calibrated per
    horizon step and bucket on the validation windows.

    Selection and calibration share the windows, and the method a series picks is the one that
    happened to err least there, so its errors on them understate its errors to come (bands too
    narrow). Each window is therefore scored with the methods the other windows select
    (``choices``, from :func:`_cross_fitted`). ``validation_p50`` is ``series x methods x windows x horizon``."""
    rows = np.arange(panel.n_series)
    errors = []
    for k, (origin, choice) in enumerate(zip(origins, choices)):
        predicted = validation_p50[rows, choice, k]
        errors.append(scaled_errors(panel.values[:, :origin], actual[:, k], predicted, predicted, panel.freq))
    return band_around(p50, errors, panel.values, panel.freq)


def forecast_panel(panel: DemandPanel, horizon: int, methods: dict | None = None,
                   show_progress: bool = False) -> PanelForecast:
    """Fit and calibrate every method on the panel, select one per series; see the module docstring."""
    methods = methods if methods is not None else make_methods(horizon)
    origins = validation_origins(panel.n_periods, horizon, VALIDATION_WINDOWS, None, panel.freq)
    quantiles, validation_p50, seconds = {}, {}, {}
    actual = None
    for name, method in tqdm(methods.items(), disable=not show_progress, unit="method", desc="forecast"):
        start = time.perf_counter()
        calibrated = CalibratedForecaster(method, horizon=horizon, windows=VALIDATION_WINDOWS).fit(panel)
        quantiles[name] = calibrated.predict(horizon)
        validation_p50[name] = calibrated.validation_p50_
        actual = calibrated.validation_actual_
        seconds[name] = time.perf_counter() - start
    names = list(methods)
    judged = (panel.values[:, :min(origins)] > 0).sum(axis=1) >= MIN_JUDGED_PERIODS
    candidates = np.stack([validation_p50[name] for name in names], axis=1)  # series x methods x windows x horizon
    window_errors = np.abs(actual[:, None] - candidates).sum(axis=3)
    margin = _switch_margin(window_errors, judged)
    choice, best = _select(window_errors.sum(axis=2), judged, margin)
    rows = np.arange(panel.n_series)
    p50 = np.stack([quantiles[name][:, :, 1] for name in names], axis=1)[rows, choice]
    quantiles[SELECTED] = _selected_band(panel, origins, _cross_fitted(window_errors, judged, margin), candidates,
                                         actual, p50)
    validation_p50[SELECTED] = candidates[rows, choice]
    log.info("selection (switch margin %.1f): %s; default (best over all series) %s", margin,
             ", ".join(f"{name} {np.mean(choice == k):.0%}" for k, name in enumerate(names)), names[best])
    return PanelForecast(panel, horizon, panel.future_starts(horizon), quantiles, validation_p50, actual, origins,
                         np.asarray(names, dtype=object)[choice], seconds)


def aggregate(result: PanelForecast, groups: np.ndarray, name: str = SELECTED) -> tuple[np.ndarray, np.ndarray]:
    """Bottom-up totals of method ``name``'s forecast over ``groups`` (one label per series).

    Returns ``(labels, quantiles)``, quantiles ``groups x horizon x 3``: P50 is the sum of the
    members' P50; P10/P90 are that sum plus offsets calibrated on the validation windows from the
    errors of the summed validation P50s, scaled by each total's recent level.
    """
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    panel = result.panel

    def total(matrix: np.ndarray) -> np.ndarray:
        out = np.zeros((len(labels),) + matrix.shape[1:])
        np.add.at(out, inverse, matrix)
        return out

    history = total(panel.values)
    errors = []
    for k, origin in enumerate(result.validation_origins):
        predicted = total(result.validation_p50[name][:, k])
        errors.append(scaled_errors(history[:, :origin], total(result.validation_actual[:, k]), predicted, predicted,
                                    panel.freq))
    median = total(result.quantiles[name][:, :, 1])
    return labels, band_around(median, errors, history, panel.freq)


@dataclass
class Forecast:
    """A forecast request's result: the per-series forecast behind the table, and the table."""

    by: str
    result: PanelForecast

    def series_table(self, name: str = SELECTED) -> pd.DataFrame:
        """One row per series and period: the series' columns, period_start, p10, p50, p90, model."""
        result = self.result
        n, h = result.panel.n_series, result.horizon
        keys = [c for c in ("item_id", "city_tier", "merchant_id", "category") if c in result.panel.series]
        table = result.panel.series[keys].iloc[np.repeat(np.arange(n), h)].reset_index(drop=True)
        table["period_start"] = np.tile(result.starts.date, n)
        for k, column in enumerate(("p10", "p50", "p90")):
            table[column] = result.quantiles[name][:, :, k].reshape(-1)
        table["model"] = np.repeat(result.model, h) if name == SELECTED else name
        return table

    def totals_table(self, key: str = "merchant_id", name: str = SELECTED) -> pd.DataFrame:
        """Bottom-up totals per ``key`` (``merchant_id``, ``category``, ``item_id``) and period."""
        result = self.result
        labels, quantiles = aggregate(result, result.panel.series[key].to_numpy(), name)
        h = result.horizon
        table = pd.DataFrame({key: np.repeat(labels, h), "period_start": np.tile(result.starts.date, len(labels))})
        for k, column in enumerate(("p10", "p50", "p90")):
            table[column] = quantiles[:, :, k].reshape(-1)
        table["model"] = f"bottom-up ({name})"
        return table

    def table(self) -> pd.DataFrame:
        """The table the request asked for: series rows, or merchant totals for ``by="merchant"``."""
        return self.totals_table("merchant_id") if self.by == "merchant" else self.series_table()


def _panel_for(dataset: Dataset, freq: str, by: str, merchant_id: str | None) -> DemandPanel:
    level = "item" if by == "merchant" else by
    if merchant_id is not None:
        merchants = dataset.catalog.merchant_id.astype("str")
        if not merchants.eq(merchant_id).any():
            raise UnknownMerchantError(f"unknown merchant {merchant_id!r}: no catalog item has this merchant_id")
    panel = demand_panel(dataset, freq, level)
    if merchant_id is not None:
        mine = panel.series.merchant_id.eq(merchant_id).to_numpy()
        if not mine.any():
            raise MerchantWithoutSalesError(f"merchant {merchant_id!r} has no sales in the data "
                                            f"(returns and cancellations excluded): nothing to forecast from")
        panel = panel.subset(mine)
    return panel


def forecast(dataset: Dataset, horizon: int = 12, freq: str = "W", by: str = "item", merchant_id: str | None = None,
             show_progress: bool = False) -> Forecast:
    """Forecast the next ``horizon`` periods of every series (or of one merchant's series)."""
    check_request(horizon, freq, by)
    panel = _panel_for(dataset, freq, by, merchant_id)
    log.info("forecasting %d series (%s, freq %s) over %d periods of history, horizon %d",
             panel.n_series, "item" if by == "merchant" else by, freq, panel.n_periods, horizon)
    return Forecast(by, forecast_panel(panel, horizon, show_progress=show_progress))


def forecast_table(dataset: Dataset, horizon: int = 12, freq: str = "W", by: str = "item",
                   merchant_id: str | None = None) -> pd.DataFrame:
    """The forecast table: per series (``by="item"``/``"item,city_tier"``) or per merchant (``"merchant"``).

    Series rows: ``item_id``, [``city_tier``], ``merchant_id``, ``category``, ``period_start``,
    ``p10``, ``p50``, ``p90``, ``model``; merchant rows: ``merchant_id``, ``period_start``, ``p10``,
    ``p50``, ``p90``, ``model``. With ``merchant_id``, only that merchant's items are forecast.
    """
    return forecast(dataset, horizon, freq, by, merchant_id).table()


@dataclass
class Backtest:
    """Rolling-origin backtest: metrics per method (and level), on every origin pooled."""

    horizon: int
    freq: str
    by: str
    origins: list[pd.Timestamp]
    metrics: pd.DataFrame  # one row per (level, model): wape, mase, bias, coverage, series
    unscored_share: float  # share of test units sold by series first sold after their origin
    seconds: float

    def summary(self) -> str:
        """The metrics as a printable table, with what was scored."""
        table = self.metrics.to_string(index=False, float_format=lambda x: f"{x:.3f}")
        unit = "weeks" if self.freq == "W" else "days"
        starts = ", ".join(str(o.date()) for o in self.origins)
        return (f"rolling-origin backtest: {len(self.origins)} origins ({starts}), horizon {self.horizon} {unit}, "
                f"series by {self.by}; {self.seconds:.1f} s\n{table}\n"
                f"({self.unscored_share:.1%} of test units were sold by series first sold after their origin: "
                f"not scored)")


def backtest(dataset: Dataset, horizon: int = 12, freq: str = "W", by: str = "item", origins: int = 3,
             step: int | None = None, show_progress: bool = False) -> Backtest:
    """Rolling-origin backtest: for each origin, forecast from the history before it exactly as
    :func:`forecast` does (selection and calibration inside that history only) and score the next
    ``horizon`` periods. Origins are ``step`` periods apart (default ``horizon // 3``), the last
    one ``horizon`` periods before the end of the data."""
    check_request(horizon, freq, by)
    if origins < 1:
        raise ForecastInputError(f"origins must be at least 1, got {origins}")
    start_time = time.perf_counter()
    panel = demand_panel(dataset, freq, "item" if by == "merchant" else by)
    step = step or max(1, horizon // 3)
    cuts = [panel.n_periods - horizon - k * step for k in reversed(range(origins))]
    validation_origins(cuts[0], horizon, VALIDATION_WINDOWS, None, freq)  # a clear error before any work
    scores: dict[tuple[str, str], list] = {}  # (level, model) -> [(actual, quantiles, history) per origin]
    unscored = tested = 0.0
    for cut in tqdm(cuts, disable=not show_progress, unit="origin", desc="backtest"):
        history = panel.head(cut)
        sold = panel.values[:, :cut].sum(axis=1) > 0
        actual = panel.values[sold, cut:cut + horizon]
        unscored += panel.values[~sold, cut:cut + horizon].sum()
        tested += panel.values[:, cut:cut + horizon].sum()
        result = forecast_panel(history, horizon)
        for name in list(result.quantiles):
            q = result.quantiles[name]
            scores.setdefault(("series", name), []).append((actual, q, history.values))
            merchants = history.series.merchant_id.to_numpy()
            labels, totals = aggregate(result, merchants, name)
            inverse = np.unique(merchants, return_inverse=True)[1]
            merchant_actual = np.zeros((len(labels), horizon))
            np.add.at(merchant_actual, inverse, actual)
            merchant_history = np.zeros((len(labels), cut))
            np.add.at(merchant_history, inverse, history.values)
            scores.setdefault(("merchant total", name), []).append((merchant_actual, totals, merchant_history))
    metrics = pd.DataFrame([{"level": level, "model": name, **fm.summarise(parts, panel.season)}
                            for (level, name), parts in scores.items()])
    metrics["vs_seasonal_naive"] = metrics.wape / metrics.groupby("level").wape.transform(
        lambda w: w[metrics.loc[w.index, "model"] == BASELINE].iloc[0])
    return Backtest(horizon, freq, by, [panel.starts[c] for c in cuts], metrics,
                    unscored / tested if tested else 0.0, time.perf_counter() - start_time)
