"""Intermittent-demand methods for series that sell a few units now and then.

Both run one exponential-smoothing pass over time, vectorised across all series (one numpy step
per period, not per series), and forecast a flat rate:

* :class:`CrostonForecaster` (Croston 1972) smooths the non-zero demand sizes ``z`` and the
  intervals between them ``p``, updating only in periods with a sale; the forecast is ``z / p``,
  times ``1 - alpha / 2`` for the Syntetos-Boylan approximation (``variant="sba"``, the default),
  which removes Croston's upward bias.
* :class:`TSBForecaster` (Teunter, Syntetos and Babai 2011) smooths the sizes ``z`` at sales and
  the probability of a sale ``q`` every period; the forecast is ``q * z``. Because ``q`` decays in
  periods without sales, TSB follows items that stop selling, where Croston's forecast stays put.

Both start at the series' first sale (size = that sale, interval = periods up to it).
"""
from __future__ import annotations

import numpy as np

from recommender.models.forecast.base import PointForecaster

CROSTON_VARIANTS = ("sba", "classic")


class CrostonForecaster(PointForecaster):
    """Croston's method, by default with the Syntetos-Boylan bias correction (SBA)."""

    def __init__(self, alpha: float = 0.1, variant: str = "sba"):
        self.alpha = alpha
        self.variant = variant

    def _fit_state(self, values: np.ndarray, freq: str) -> np.ndarray:
        if self.variant not in CROSTON_VARIANTS:
            raise ValueError(f"variant must be one of {CROSTON_VARIANTS}, got {self.variant!r}")
        n = values.shape[0]
        size = np.full(n, np.nan)
        interval = np.full(n, np.nan)
        since = np.zeros(n)  # periods since the last sale (or since the start)
        for column in values.T:
            since += 1
            sale = column > 0
            started = ~np.isnan(size)
            update = sale & started
            size[update] += self.alpha * (column[update] - size[update])
            interval[update] += self.alpha * (since[update] - interval[update])
            first = sale & ~started
            size[first] = column[first]
            interval[first] = since[first]
            since[sale] = 0
        rate = np.nan_to_num(size / interval)
        if self.variant == "sba":
            rate *= 1 - self.alpha / 2
        return rate[:, None]


class TSBForecaster(PointForecaster):
    """Teunter-Syntetos-Babai: smoothed sale probability times smoothed size."""

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha = alpha
        self.beta = beta

    def _fit_state(self, values: np.ndarray, freq: str) -> np.ndarray:
        n = values.shape[0]
        size = np.full(n, np.nan)
        probability = np.full(n, np.nan)
        since = np.zeros(n)
        for column in values.T:
            since += 1
            sale = column > 0
            started = ~np.isnan(size)
            probability[started] += self.beta * (sale[started] - probability[started])
            update = sale & started
            size[update] += self.alpha * (column[update] - size[update])
            first = sale & ~started
            size[first] = column[first]
            probability[first] = 1.0 / since[first]
        return np.nan_to_num(size * probability)[:, None]
