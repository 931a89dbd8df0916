"""P10-P90 bands by split-conformal calibration, per horizon step, on validation windows.

A point forecast (a method's, the selected one, or a bottom-up total) gets its band from the
errors the same forecast made on validation windows carved from the end of the history it was
fitted on (:func:`validation_origins`): the errors ``actual - forecast`` of each window
(:func:`scaled_errors`), divided by each series' scale at that window's origin so that series of
every size pool their errors, are collected per **horizon step** and per **intermittency bucket**
(sparse, patchy, smooth series err differently); the band's offsets are the 10th and 90th
percentiles of each cell (:func:`residual_quantiles`, which pools a cell with too few errors with
its step, or with all steps), times the series' current scale (:func:`band_around`). This is
conformal calibration of the residuals per step: the band covers what the forecast missed by on
windows it never saw, not what a model's likelihood assumes. For totals, whose point forecast is
a sum of item medians and therefore low, the 50th percentile of the errors moves the P50 too
(``recentre``). Only the panel given to the forecast is ever used, so in a backtest the scored
weeks never shape the bands.
"""
from __future__ import annotations

import math

import numpy as np

from recommender.forecasting.panel import ForecastInputError, intermittency_bucket, series_scale

MIN_RESIDUALS = 30  # fewer errors than this in a cell: pool it with its neighbours
MIN_TRAIN = {"W": 8, "D": 28}  # periods of history before the earliest validation origin
LEVELS = (0.1, 0.5, 0.9)  # the band's quantiles: P10, P50, P90


def validation_origins(n_periods: int, horizon: int, windows: int, freq: str, lead: int = 0) -> list[int]:
    """Origins of the validation windows (``horizon + lead`` periods each, half that apart; ``lead``:
    the current period before the ``horizon`` whole ones), latest first; a clear error when the
    history is too short for them."""
    length = horizon + lead
    step = max(1, math.ceil(length / 2))
    origins = [n_periods - length - k * step for k in range(windows)]
    if origins[-1] < MIN_TRAIN[freq]:
        unit = "weeks" if freq == "W" else "days"
        needed = length + (windows - 1) * step + MIN_TRAIN[freq]
        current = f" after the current {unit[:-1]}" if lead else ""
        raise ForecastInputError(
            f"the history has {n_periods} whole {unit}, too short for a {horizon}-{unit[:-1]} horizon{current}: "
            f"calibrating the forecast needs {windows} validation windows and at least {needed} {unit} of history")
    return origins


def residual_quantiles(residuals: np.ndarray, buckets: np.ndarray, n_buckets: int = 3) -> np.ndarray:
    """Quantiles :data:`LEVELS` of the scaled errors ``residuals`` (``rows x horizon``) per bucket
    and horizon step: ``n_buckets x horizon x 3``. A bucket and step with fewer than
    :data:`MIN_RESIDUALS` errors takes the quantile of that step over all buckets, or of all steps
    together when even that is too few; 0 when there are no errors at all."""
    horizon = residuals.shape[1]
    result = np.zeros((n_buckets, horizon, len(LEVELS)))
    overall = np.quantile(residuals, LEVELS) if residuals.size else np.zeros(len(LEVELS))
    for h in range(horizon):
        column = residuals[:, h]
        pooled = np.quantile(column, LEVELS) if len(column) >= MIN_RESIDUALS else overall
        for bucket in range(n_buckets):
            own = column[buckets == bucket]
            result[bucket, h] = np.quantile(own, LEVELS) if len(own) >= MIN_RESIDUALS else pooled
    return result


def scaled_errors(history: np.ndarray, actual: np.ndarray, predicted: np.ndarray,
                  freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Errors ``actual - predicted`` (``series x horizon``) on the window after ``history``
    (``series x periods``), divided by each series' scale at the end of that history; returns
    ``(errors, buckets)`` for the series with a sale in the history (a series not yet on sale says
    nothing about errors)."""
    seen = history.sum(axis=1) > 0
    errors = (actual - predicted) / series_scale(history, freq)[:, None]
    return errors[seen], intermittency_bucket(history, freq)[seen]


def band_around(point: np.ndarray, errors: list[tuple[np.ndarray, np.ndarray]], history: np.ndarray, freq: str,
                recentre: bool = False) -> np.ndarray:
    """P10/P50/P90 (``series x horizon x 3``) around the point forecast ``point``: the offsets of
    the :func:`scaled_errors` ``errors`` of its validation windows, for the bucket and scale of each
    series at the end of ``history``. The P50 is ``point`` itself, or ``point`` moved by the
    errors' median with ``recentre``; never negative, never crossing."""
    offsets = residual_quantiles(np.concatenate([e for e, _ in errors]), np.concatenate([b for _, b in errors]))
    horizon = point.shape[1]
    moved = point[:, :, None] + offsets[intermittency_bucket(history, freq), :horizon] * series_scale(
        history, freq)[:, None, None]
    median = np.maximum(moved[..., 1] if recentre else point, 0.0)
    return np.stack([np.clip(moved[..., 0], 0.0, median), median, np.maximum(moved[..., 2], median)], axis=-1)
