"""Moving average: the mean of the last ``window`` periods, flat over the horizon."""
from __future__ import annotations

import numpy as np

from recommender.features.demand import RECENT, recent_mean
from recommender.models.forecast.base import PointForecaster


class MovingAverageForecaster(PointForecaster):
    """Flat forecast at the mean of the last ``window`` periods (``None``: 13 weeks or 28 days)."""

    def __init__(self, window: int | None = None):
        self.window = window

    def _fit_state(self, values: np.ndarray, freq: str) -> np.ndarray:
        return recent_mean(values, self.window or RECENT[freq])[:, None]
