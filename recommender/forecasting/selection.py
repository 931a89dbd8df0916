"""One forecast of a panel: every candidate fitted, one selected per series, bands calibrated.

:func:`forecast_panel` is the whole fit; every view of a forecast (an item, a merchant, a city
tier, a shorter horizon, the API, a report) slices its result, so the same item, week and origin
always get the same numbers.

1. **Horizon.** A panel is always fitted at :func:`fit_horizon`: the longest horizon served (26
   weeks; 182 days) that its history can calibrate, plus the current period when the data stops
   inside one (its first step). A request for fewer periods takes the first whole ones, so the
   horizon asked for never changes the forecast.
2. **Candidates.** Every method of :mod:`recommender.forecasting.methods` forecasts from the
   history before each of :data:`VALIDATION_WINDOWS` validation windows at the end of the history,
   and from the whole history.
3. **Selection per series**: each series takes the method with the smallest absolute error over
   the validation windows, unless it beats the method best over all series by less than a switch
   margin (noise on a few sales should not decide); series with fewer than
   :data:`MIN_JUDGED_PERIODS` periods with sales before the first validation window take that
   overall best method. The margin is chosen per panel among :data:`SWITCH_MARGINS` by
   cross-fitting: select on one validation window, score on the other (:func:`_switch_margin`);
   where per-series choices do not carry over from one window to the next, the largest margin
   keeps every series on the overall best method.
4. **Bands**: conformal per horizon step (:mod:`recommender.forecasting.calibration`). The selected
   forecast's band is calibrated on the validation errors of the selection itself, each window
   scored with the methods the other window selects (``cross_fitted``): the method a series
   picks is the one that happened to err least there, so its own errors there understate its
   errors to come. Every candidate also gets its own band, for backtests.
5. **Totals** (merchant, category, item over tiers; :func:`aggregate`): the sum of the series'
   P50s, widened by the 10th/90th percentiles of the errors the summed validation forecasts made,
   and moved by their median where that pays on the validation windows (a sum of medians is lower
   than the median of a sum).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recommender.forecasting.calibration import MIN_TRAIN, band_around, scaled_errors, validation_origins
from recommender.forecasting.methods import point_forecasts
from recommender.forecasting.panel import DemandPanel, group_sums
from recommender.forecasting.spec import MAX_HORIZON
from recommender.progress import progress_bar

log = logging.getLogger(__name__)

SELECTED = "selected"
SWITCH_MARGINS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
MIN_JUDGED_PERIODS = 2
VALIDATION_WINDOWS = 2


def fit_horizon(n_periods: int, freq: str, lead: int = 0) -> int:
    """The horizon a panel of ``n_periods`` is fitted at: ``lead`` periods (the current period,
    :attr:`~recommender.forecasting.panel.DemandPanel.lead`) and :data:`MAX_HORIZON` whole periods
    after them, or less when the history cannot hold the validation windows such a horizon needs."""
    longest = MAX_HORIZON[freq] + lead
    while longest > 1 + lead and (n_periods - longest - (VALIDATION_WINDOWS - 1) * math.ceil(longest / 2)
                                  < MIN_TRAIN[freq]):
        longest -= 1
    validation_origins(n_periods, longest - lead, VALIDATION_WINDOWS, freq, lead)  # a clear error when 1 is too long
    return longest


@dataclass
class PanelForecast:
    """Every candidate's forecast of a panel, and the selected one.

    ``point[name]`` is a method's forecast (``series x horizon``); ``quantiles[name]`` its P10,
    P50, P90 (``series x horizon x 3``), for every method and :data:`SELECTED`;
    ``validation[name]`` its forecast on the validation windows (``series x windows x horizon``),
    ``validation_actual`` what was sold then; ``model`` the method chosen per series.
    """

    panel: DemandPanel
    horizon: int
    point: dict[str, np.ndarray]
    quantiles: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    validation_actual: np.ndarray
    validation_origins: list[int]
    model: np.ndarray
    cross_fitted: np.ndarray  # the selected forecast on the validation windows, each window's methods chosen on
    # the other windows (``series x windows x horizon``): what the selected band is calibrated on

    @property
    def starts(self):
        return self.panel.future_starts(self.horizon)


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
    costs = [sum(window_errors[rows, choice, k].sum()
                 for k, choice in enumerate(_cross_fitted(window_errors, judged, margin)))
             for margin in SWITCH_MARGINS]
    return SWITCH_MARGINS[int(np.argmin(costs))]


def _window_errors(history: np.ndarray, freq: str, origins: list[int], validation: np.ndarray,
                   actual: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`scaled_errors` of the validation forecasts ``validation`` against ``actual`` (both
    ``series x windows x horizon``), each window's errors scaled by ``history`` before its origin."""
    return [scaled_errors(history[:, :origin], actual[:, k], validation[:, k], freq)
            for k, origin in enumerate(origins)]


def banded(panel: DemandPanel, origins: list[int], point: np.ndarray, validation: np.ndarray,
           actual: np.ndarray) -> np.ndarray:
    """P10/P50/P90 around the point forecast ``point`` of ``panel``, calibrated on the errors its
    validation forecasts ``validation`` made against ``actual`` (both ``series x windows x horizon``)."""
    return band_around(point, _window_errors(panel.values, panel.freq, origins, validation, actual), panel.values,
                       panel.freq)


def forecast_panel(panel: DemandPanel, n_jobs: int | None = None, spark=None,
                   show_progress: bool = False) -> PanelForecast:
    """Fit every candidate at :func:`fit_horizon`, select one per series and calibrate the bands;
    see the module docstring. ``spark`` (a SparkSession) runs the simple methods on Spark."""
    horizon = fit_horizon(panel.n_periods, panel.freq, panel.lead)
    origins = validation_origins(panel.n_periods, horizon, VALIDATION_WINDOWS, panel.freq)
    fits = [*origins, panel.n_periods]
    *windows, point = [point_forecasts(panel.truncated(cut), horizon, n_jobs, spark)
                       for cut in progress_bar(fits, disable=not show_progress, unit="fit", desc="forecast")]
    names = [name for name in point if all(name in window for window in windows)]
    actual = np.stack([panel.values[:, origin:origin + horizon] for origin in origins], axis=1)
    validation = {name: np.stack([window[name] for window in windows], axis=1) for name in names}
    quantiles = {name: banded(panel, origins, point[name], validation[name], actual) for name in names}
    candidates = np.stack([validation[name] for name in names], axis=1)  # series x methods x windows x horizon
    window_errors = np.abs(actual[:, None] - candidates).sum(axis=3)
    judged = (panel.values[:, :min(origins)] > 0).sum(axis=1) >= MIN_JUDGED_PERIODS
    margin = _switch_margin(window_errors, judged)
    choice, best = _select(window_errors.sum(axis=2), judged, margin)
    rows = np.arange(panel.n_series)
    p50 = np.stack([point[name] for name in names], axis=1)[rows, choice]
    cross_fitted = np.stack([candidates[rows, own, k]
                             for k, own in enumerate(_cross_fitted(window_errors, judged, margin))], axis=1)
    quantiles[SELECTED] = banded(panel, origins, p50, cross_fitted, actual)
    validation[SELECTED] = candidates[rows, choice]
    log.info("selection (switch margin %.1f): %s; default (best over all series) %s", margin,
             ", ".join(f"{name} {np.mean(choice == k):.0%}" for k, name in enumerate(names) if np.any(choice == k)),
             names[best])
    return PanelForecast(panel, horizon, {**{name: point[name] for name in names}, SELECTED: p50}, quantiles,
                         validation, actual, origins, np.asarray(names, dtype=object)[choice], cross_fitted)


class Totals(NamedTuple):
    """Forecast totals per group: the group ``labels``, their P10/P50/P90 ``quantiles`` (``groups x
    horizon x 3``) and the units they sold in every period of the panel (``history``)."""

    labels: np.ndarray
    quantiles: np.ndarray
    history: np.ndarray


def aggregate(result: PanelForecast, groups: np.ndarray, name: str = SELECTED) -> Totals:
    """Totals of method ``name``'s forecast over ``groups`` (one label per series).

    The P50 is the sum of the members' P50s, banded by the quantiles of the errors the summed
    validation forecasts made (:func:`~recommender.forecasting.calibration.band_around`). A sum of
    medians is lower than the median of a sum, so the P50 is also moved by the median of those
    errors, when that pays when cross-fitted (each validation window moved by the other window's
    errors errs less than unmoved).
    """
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    panel, origins = result.panel, result.validation_origins
    history, actual, summed, point = (group_sums(matrix, inverse, len(labels)) for matrix in (
        panel.values, result.validation_actual, result.validation[name], result.point[name]))
    errors = _window_errors(history, panel.freq, origins, summed, actual)
    moved = [band_around(summed[:, k], [e for j, e in enumerate(errors) if j != k], history[:, :origin], panel.freq,
                         recentre=True)[..., 1] for k, origin in enumerate(origins)]
    recentre = sum(np.abs(actual[:, k] - moved[k]).sum() for k in range(len(origins))) < np.abs(actual - summed).sum()
    return Totals(labels, band_around(point, errors, history, panel.freq, recentre=recentre), history)

