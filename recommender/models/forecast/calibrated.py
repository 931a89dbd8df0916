"""Calibrated prediction intervals for any forecaster, from its errors on validation windows.

:class:`CalibratedForecaster` wraps a :class:`~recommender.models.forecast.base.Forecaster`. Its
``fit(panel)`` carves ``windows`` validation windows of ``horizon`` periods from the end of the
panel's history (origins ``T - horizon``, ``T - horizon - step``, ...), fits a copy of the wrapped
forecaster on the history before each origin, and compares its forecasts with what was then sold.
The P10 and P90 offsets are the 10th and 90th percentiles of the errors ``actual - forecast``
divided by the series' scale, per horizon step and per intermittency bucket (sparse, patchy,
smooth series err differently; :func:`residual_quantiles` pools buckets or steps with too few
errors). Then it refits the forecaster on the whole panel; ``predict`` adds the offsets, times each
series' current scale, to the forecaster's own P10 and P90 (split-conformal quantile
calibration). P50 is the forecaster's own. Only the panel given to ``fit`` is ever used, so in a
backtest the test window never shapes the bands.

The validation forecasts stay on the fitted wrapper (``validation_p50_``, ``validation_actual_``):
per-series model selection, the selected forecast's band and the bands of aggregated forecasts
reuse them without fitting anything again (:func:`scaled_errors`, :func:`band_offsets` and
:func:`widen_scaled` are the steps of the calibration they share; :func:`band_around` the band of
a point forecast).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from recommender.features.demand import DemandPanel, ForecastInputError, intermittency_bucket, series_scale
from recommender.models.forecast.base import Forecaster

MIN_RESIDUALS = 30  # fewer errors than this in a cell: pool it with its neighbours
MIN_TRAIN = {"W": 8, "D": 28}  # periods of history before the earliest validation origin
BAND = (0.1, 0.9)


def residual_quantiles(residuals: np.ndarray, buckets: np.ndarray, n_buckets: int = 3,
                       quantiles: tuple[float, ...] = BAND) -> np.ndarray:
    """Quantile ``quantiles[q]`` of the scaled errors ``residuals[..., q]`` per bucket and horizon step.

    ``residuals`` is ``rows x horizon x len(quantiles)`` (NaN = missing), ``buckets`` the bucket of
    each row. Returns ``n_buckets x horizon x len(quantiles)``. A bucket and step with fewer than
    :data:`MIN_RESIDUALS` errors takes the quantile of that step over all buckets, or of all steps
    together when even that is too few; 0 when there are no errors at all.
    """
    horizon, width = residuals.shape[1], residuals.shape[2]
    result = np.zeros((n_buckets, horizon, width))
    for q, level in enumerate(quantiles):
        errors = residuals[:, :, q]
        overall = np.nanquantile(errors, level) if np.isfinite(errors).any() else 0.0
        for h in range(horizon):
            column = errors[:, h]
            pooled = np.nanquantile(column, level) if np.isfinite(column).sum() >= MIN_RESIDUALS else overall
            for bucket in range(n_buckets):
                own = column[buckets == bucket]
                result[bucket, h, q] = (np.nanquantile(own, level) if np.isfinite(own).sum() >= MIN_RESIDUALS
                                        else pooled)
    return result


def validation_origins(n_periods: int, horizon: int, windows: int, step: int | None, freq: str) -> list[int]:
    """Origins of the validation windows, latest first; a clear error when the history is too short."""
    step = step or max(1, math.ceil(horizon / 2))
    origins = [n_periods - horizon - k * step for k in range(windows)]
    needed = horizon + (windows - 1) * step + MIN_TRAIN[freq]
    if origins[-1] < MIN_TRAIN[freq]:
        unit = "weeks" if freq == "W" else "days"
        raise ForecastInputError(
            f"the history has {n_periods} whole {unit}, too short for a {horizon}-{unit[:-1]} horizon: "
            f"calibrating the forecast needs {windows} validation windows and at least {needed} {unit} of history")
    return origins


class CalibratedForecaster(Forecaster):
    """A forecaster whose P10-P90 band is calibrated on validation windows carved from the training history."""

    def __init__(self, forecaster: Forecaster, horizon: int = 12, windows: int = 2, step: int | None = None):
        self.forecaster = forecaster
        self.horizon = horizon
        self.windows = windows
        self.step = step

    def fit(self, panel: DemandPanel) -> "CalibratedForecaster":
        origins = validation_origins(panel.n_periods, self.horizon, self.windows, self.step, panel.freq)
        n, h = panel.n_series, self.horizon
        self.validation_p50_ = np.empty((n, len(origins), h))
        self.validation_actual_ = np.empty((n, len(origins), h))
        errors = []
        for k, origin in enumerate(origins):
            history = replace(panel, values=panel.values[:, :origin], starts=panel.starts[:origin])
            predicted = clone(self.forecaster).fit(history).predict(h)
            actual = panel.values[:, origin:origin + h]
            self.validation_p50_[:, k] = predicted[:, :, 1]
            self.validation_actual_[:, k] = actual
            errors.append(scaled_errors(history.values, actual, predicted[:, :, 0], predicted[:, :, 2], panel.freq))
        self.offsets_ = band_offsets(errors)
        self.forecaster_ = clone(self.forecaster).fit(panel)
        self.scale_ = series_scale(panel.values, panel.freq)
        self.bucket_ = intermittency_bucket(panel.values, panel.freq)
        return self

    def predict(self, horizon: int) -> np.ndarray:
        check_is_fitted(self)
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon must be 1..{self.horizon} (the horizon calibrated in fit), got {horizon}")
        return widen_scaled(self.forecaster_.predict(horizon), self.offsets_, self.bucket_, self.scale_)


def scaled_errors(history: np.ndarray, actual: np.ndarray, low: np.ndarray, high: np.ndarray,
                  freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Errors ``actual - low`` and ``actual - high`` (each ``series x horizon``) on the window after
    ``history`` (``series x periods``), divided by each series' scale at the end of that history;
    returns ``(errors: series x horizon x 2, buckets)`` for the series with a sale in the history
    (a series not yet on sale says nothing about errors)."""
    scale = series_scale(history, freq)[:, None]
    seen = history.sum(axis=1) > 0
    errors = np.stack([(actual - low) / scale, (actual - high) / scale], axis=2)
    return errors[seen], intermittency_bucket(history, freq)[seen]


def band_offsets(errors: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """P10/P90 offsets (:func:`residual_quantiles`) from the :func:`scaled_errors` of several windows."""
    return residual_quantiles(np.concatenate([e for e, _ in errors]), np.concatenate([b for _, b in errors]))


def widen_scaled(quantiles: np.ndarray, offsets: np.ndarray, bucket: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """:func:`widen` ``quantiles`` (``series x horizon x 3``) by the scaled ``offsets``
    (``buckets x steps x 2``) of each series' bucket, times its scale."""
    horizon = quantiles.shape[1]
    return widen(quantiles, offsets[bucket, :horizon] * scale[:, None, None])


def band_around(p50: np.ndarray, errors: list[tuple[np.ndarray, np.ndarray]], history: np.ndarray,
                freq: str) -> np.ndarray:
    """P10/P50/P90 (``series x horizon x 3``): the point forecast ``p50`` widened by the offsets of
    the :func:`scaled_errors` ``errors``, for the bucket and scale of each series at the end of
    ``history`` (``series x periods``)."""
    return widen_scaled(np.stack([p50, p50, p50], axis=2), band_offsets(errors), intermittency_bucket(history, freq),
                        series_scale(history, freq))


def widen(quantiles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """P10 and P90 of ``quantiles`` (``... x 3``) moved by ``offsets`` (``... x 2``), kept around P50 and >= 0."""
    median = quantiles[..., 1]
    low = np.clip(quantiles[..., 0] + offsets[..., 0], 0.0, median)
    high = np.maximum(quantiles[..., 2] + offsets[..., 1], median)
    return np.stack([low, median, high], axis=-1)
