"""Features of a demand series at a forecast origin, for the global quantile model.

A row is ``(series i, origin o, horizon h)``: the model sees the history ``values[i, :o]`` and
predicts period ``o + h - 1``. :func:`lag_features` computes, for many rows at once (cumulative
sums, no loop per row):

* ``scale``: the series' recent level (:func:`~recommender.forecasting.panel.series_scale` at ``o``);
  demand features and the target are divided by it so that one model serves series of any size,
  and ``log_scale`` tells the model the size;
* ``mean_<w>``: mean demand over the last ``w`` periods (1 = the last period), scaled;
* ``q<p>_<w>``: the quartiles (``p`` = 25, 50, 75) of the last ``w`` periods' demand, scaled
  (coreforecast's rolling quantiles): what a typical recent period sold, robust to one bulk order;
* ``nonzero_share``: share of the recent periods with a sale; ``since_sale``: periods since the last
  sale; ``age``: periods since the first sale (both capped at two seasons);
* ``sale_size``: mean units of the periods with a sale over the last ``2 x`` :data:`RECENT`
  periods (the series' typical order), scaled; 1 when none sold;
* ``season_<m>``: demand in the last observed period with the target's position in a season of
  ``m`` periods (same week last year; same weekday last week), scaled, NaN when the history is
  too short;
* ``year_window``: mean demand in the periods around the target's date a year earlier
  (:data:`YEAR_REACH` either side, only what lies before the origin), ``year_level``: mean demand
  over the :data:`RECENT` periods before the origin's date a year earlier (both scaled), and
  ``year_ratio`` = ``year_window / year_level``: how demand moved last year from the time of the
  origin to the time of the target (the series' own seasonal swing, smoothed; NaN without a year
  of history);
* ``market_trend``: all series' total over the last :data:`RECENT` periods against the
  :data:`~recommender.forecasting.panel.SEASONS` before (momentum of the whole market), and
  ``market_momentum``: its last month (4 weeks; 28 days) against its last :data:`RECENT` periods
  (a retailer-wide ramp shows here weeks before it shows in each slow-selling item);
* ``horizon`` and the calendar of the target period
  (:func:`~recommender.forecasting.calendar_features.calendar_features`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from coreforecast.grouped_array import GroupedArray
from coreforecast.lag_transforms import RollingQuantile

from recommender.forecasting.calendar_features import PERIOD_DAYS, calendar_features
from recommender.forecasting.panel import RECENT, SEASONS

WINDOWS = {"W": (1, 4, 13, 26, 52), "D": (1, 7, 28, 91, 364)}
MONTH = {"W": 4, "D": 28}
QUANTILE_WINDOWS = {"W": (4, 8, 13), "D": (7, 28, 91)}
QUARTILES = (25, 50, 75)
SEASONAL_LAGS = {"W": (52,), "D": (7, 364)}
YEAR = {"W": 52, "D": 364}
YEAR_REACH = {"W": 2, "D": 14}


def _window_mean(cumulative: np.ndarray, rows: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    lengths = np.minimum(window, origins)
    return (cumulative[rows, origins] - cumulative[rows, origins - lengths]) / np.maximum(lengths, 1)


def rolling_quantiles(values: np.ndarray, percent: int, window: int) -> np.ndarray:
    """``out[i, o]``: the ``percent``-th percentile of series ``i``'s last ``window`` periods before
    period ``o`` (``series x periods + 1``; NaN at ``o = 0``)."""
    n, n_periods = values.shape
    grouped = GroupedArray(np.ascontiguousarray(values, dtype=np.float64).reshape(-1),
                           np.arange(n + 1, dtype=np.int32) * n_periods)
    rolled = RollingQuantile(lag=0, p=percent / 100, window_size=window, min_samples=1).transform(grouped)
    return np.concatenate([np.full((n, 1), np.nan), rolled.reshape(n, n_periods)], axis=1)


def _last_year(cumulative: np.ndarray, rows: np.ndarray, origins: np.ndarray, horizons: np.ndarray,
               scale: np.ndarray, freq: str) -> dict[str, np.ndarray]:
    """``year_window``, ``year_level`` and ``year_ratio`` of each row (see the module docstring)."""
    year, reach, recent = YEAR[freq], YEAR_REACH[freq], RECENT[freq]
    centre = origins + horizons - 1 - year * np.ceil(horizons / year).astype(np.int64)
    low = np.clip(centre - reach, 0, None)
    high = np.minimum(centre + reach + 1, origins)
    window = np.full(len(rows), np.nan)
    ok = (centre >= 0) & (high > low)
    window[ok] = (cumulative[rows[ok], high[ok]] - cumulative[rows[ok], low[ok]]) / (high[ok] - low[ok])
    then = origins - year
    level = np.full(len(rows), np.nan)
    ok = then >= recent
    level[ok] = (cumulative[rows[ok], then[ok]] - cumulative[rows[ok], then[ok] - recent]) / recent
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(level > 0, window / level, np.nan)
    return {"year_window": window / scale, "year_level": level / scale, "year_ratio": ratio}


def lag_features(values: np.ndarray, starts: pd.DatetimeIndex, freq: str, rows: np.ndarray, origins: np.ndarray,
                 horizons: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Features of rows ``(rows[k], origins[k], horizons[k])`` and each row's scale.

    ``starts`` are the start dates of the panel's periods; targets past its end take their
    calendar from continued periods. Returns ``(features, scale)``, features float32.
    """
    n_periods = values.shape[1]
    cumulative = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    recent = RECENT[freq]
    scale = np.maximum(_window_mean(cumulative, rows, origins, 2 * recent), 1.0 / recent)
    features = {"horizon": horizons, "log_scale": np.log(scale)}
    for window in WINDOWS[freq]:
        features[f"mean_{window}"] = _window_mean(cumulative, rows, origins, window) / scale
    for window in QUANTILE_WINDOWS[freq]:
        for percent in QUARTILES:
            features[f"q{percent}_{window}"] = rolling_quantiles(values, percent, window)[rows, origins] / scale
    sold = values > 0
    sold_cumulative = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(sold, axis=1)], axis=1)
    features["nonzero_share"] = _window_mean(sold_cumulative, rows, origins, recent)
    periods = np.arange(n_periods)
    last_sale = np.maximum.accumulate(np.where(sold, periods, -1), axis=1)
    first_sale = np.where(sold.any(axis=1), sold.argmax(axis=1), n_periods)
    cap = 2 * SEASONS[freq]
    features["since_sale"] = np.minimum(origins - 1 - last_sale[rows, origins - 1], cap)
    features["age"] = np.clip(origins - first_sale[rows], 0, cap)
    sales = _window_mean(sold_cumulative, rows, origins, 2 * recent)
    units = _window_mean(cumulative, rows, origins, 2 * recent)
    features["sale_size"] = np.where(sales > 0, units / np.where(sales > 0, sales, 1) / scale, 1.0)
    targets = origins + horizons - 1
    for lag in SEASONAL_LAGS[freq]:
        source = targets - lag * np.ceil(horizons / lag).astype(np.int64)
        ok = source >= 0
        seasonal = np.full(len(rows), np.nan)
        seasonal[ok] = values[rows[ok], source[ok]] / scale[ok]
        features[f"season_{lag}"] = seasonal
    features.update(_last_year(cumulative, rows, origins, horizons, scale, freq))
    total = cumulative.sum(axis=0)
    ahead = np.minimum(recent, origins)
    before = np.clip(origins - ahead, 0, None)
    span = np.minimum(SEASONS[freq], before)
    past = (total[before] - total[before - span]) / np.maximum(span, 1)
    market_now = (total[origins] - total[origins - ahead]) / np.maximum(ahead, 1)
    features["market_trend"] = np.where(past > 0, market_now / np.where(past > 0, past, 1), 1.0)
    month = np.minimum(MONTH[freq], origins)
    market_month = (total[origins] - total[origins - month]) / np.maximum(month, 1)
    features["market_momentum"] = np.where(market_now > 0, market_month / np.where(market_now > 0, market_now, 1), 1.0)
    step = pd.Timedelta(days=PERIOD_DAYS[freq])
    last = max(int(targets.max()) + 1, n_periods)
    all_starts = pd.DatetimeIndex(list(starts) + [starts[-1] + step * (k + 1) for k in range(last - n_periods)])
    calendar = calendar_features(all_starts, freq)
    frame = pd.DataFrame({name: np.asarray(column, dtype=np.float32) for name, column in features.items()})
    for name in calendar.columns:
        frame[name] = calendar[name].to_numpy()[targets]
    return frame, scale
