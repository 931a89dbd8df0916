"""Seasonal naive: each period repeats the same period one season earlier (52 weeks; 7 days).

When the history is shorter than a season (the UCI data covers barely one year, so a weekly
backtest never has 52 weeks before its origin), the method falls back to the last observed
period repeated: plain naive.
"""
from __future__ import annotations

import numpy as np

from recommender.features.demand import SEASONS
from recommender.models.forecast.base import PointForecaster


class SeasonalNaiveForecaster(PointForecaster):
    """Repeat the last season; the last value when the history is shorter than a season."""

    def _fit_state(self, values: np.ndarray, freq: str) -> np.ndarray:
        season = SEASONS[freq]
        return values[:, -1:] if values.shape[1] < season else values[:, -season:]

    def _point(self, state: np.ndarray, horizon: int) -> np.ndarray:
        return state[:, np.arange(horizon) % state.shape[1]]
