"""Accuracy of demand forecasts: WAPE, MASE, bias and interval coverage, vectorised with numpy.

``actual`` and the forecasts are ``series x periods`` arrays (any shape, for all but MASE).

* WAPE = sum |actual - P50| / sum actual: the share of units the point forecast misplaces;
* bias = (sum P50 - sum actual) / sum actual: over- (+) or under-forecast (-) of the total;
* coverage = share of (series, period) with P10 <= actual <= P90 (80% for calibrated bands);
* MASE = per series, mean |actual - P50| over the in-sample mean |y_t - y_{t-m}| of the history
  (``m`` = the season, or 1 when the history is not longer than a season), averaged over series
  whose history is not constant (zero scale).
"""
from __future__ import annotations

import numpy as np


def wape(actual: np.ndarray, p50: np.ndarray) -> float:
    """Weighted absolute percentage error (NaN when nothing was sold)."""
    total = np.sum(actual)
    return float(np.abs(np.asarray(actual) - p50).sum() / total) if total > 0 else float("nan")


def bias(actual: np.ndarray, p50: np.ndarray) -> float:
    """Relative error of the total: (forecast - actual) / actual (NaN when nothing was sold)."""
    total = np.sum(actual)
    return float((np.sum(p50) - total) / total) if total > 0 else float("nan")


def coverage(actual: np.ndarray, p10: np.ndarray, p90: np.ndarray) -> float:
    """Share of actual values inside [P10, P90]."""
    actual = np.asarray(actual)
    return float(np.mean((actual >= p10) & (actual <= p90))) if actual.size else float("nan")


def mase_per_series(actual: np.ndarray, p50: np.ndarray, history: np.ndarray, season: int) -> np.ndarray:
    """MASE of each series (NaN where the history's seasonal differences are all zero)."""
    m = season if history.shape[1] > season else 1
    if history.shape[1] <= m:
        return np.full(len(actual), np.nan)
    scale = np.abs(history[:, m:] - history[:, :-m]).mean(axis=1)
    error = np.abs(actual - p50).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, error / scale, np.nan)


def mase(actual: np.ndarray, p50: np.ndarray, history: np.ndarray, season: int) -> float:
    """Mean MASE over series with a non-constant history."""
    values = mase_per_series(actual, p50, history, season)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def summarise(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], season: int) -> dict[str, float]:
    """Metrics pooled over backtest origins; each part is ``(actual, quantiles, history)`` with
    quantiles ``series x periods x 3`` (P10, P50, P90)."""
    actual = np.concatenate([a.reshape(-1) for a, _, _ in parts])
    quantiles = np.concatenate([q.reshape(-1, 3) for _, q, _ in parts])
    scaled = np.concatenate([mase_per_series(a, q[:, :, 1], h, season) for a, q, h in parts])
    return {
        "wape": wape(actual, quantiles[:, 1]),
        "mase": float(np.nanmean(scaled)) if np.isfinite(scaled).any() else float("nan"),
        "bias": bias(actual, quantiles[:, 1]),
        "coverage_p10_p90": coverage(actual, quantiles[:, 0], quantiles[:, 2]),
        "series": int(np.mean([len(a) for a, _, _ in parts])),
    }
