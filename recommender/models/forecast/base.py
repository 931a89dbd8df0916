"""The interface every demand forecaster shares (scikit-learn style).

Parameters go to ``__init__``; ``fit(panel)`` learns from every series of a
:class:`~recommender.features.demand.DemandPanel` at once and sets attributes with a trailing
underscore; ``predict(horizon)`` returns the quantiles :data:`QUANTILES` of the next ``horizon``
periods of every series as one array ``series x horizon x 3`` (P10, P50, P90), never negative and
never crossing. The middle column (P50 in tables) is the point forecast, the expected demand:
for intermittent items it lies above the median, but expected demands of items add up to the
expected total of their merchant. Local methods (:class:`PointForecaster`) produce a point forecast only; their
"quantiles" are that point until :class:`~recommender.models.forecast.calibrated.CalibratedForecaster`
widens them with the errors it measures on validation windows.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator

from recommender.features.demand import DemandPanel

QUANTILES = (0.1, 0.5, 0.9)


class Forecaster(BaseEstimator, ABC):
    """Base class: fit on a panel of series, predict P10/P50/P90 for a horizon."""

    @abstractmethod
    def fit(self, panel: DemandPanel) -> "Forecaster":
        """Learn from every series of the panel; returns self."""

    @abstractmethod
    def predict(self, horizon: int) -> np.ndarray:
        """Quantiles of the next ``horizon`` periods: float64, ``series x horizon x len(QUANTILES)``."""


class PointForecaster(Forecaster):
    """A local method: one point forecast per series and period, from that series' history alone."""

    def fit(self, panel: DemandPanel) -> "PointForecaster":
        self.state_ = self._fit_state(panel.values, panel.freq)
        return self

    def predict(self, horizon: int) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        point = np.maximum(self._point(self.state_, horizon), 0.0)
        return np.repeat(point[:, :, None], len(QUANTILES), axis=2)

    @abstractmethod
    def _fit_state(self, values: np.ndarray, freq: str) -> np.ndarray:
        """What the method keeps of the history (an array with one row per series)."""

    def _point(self, state: np.ndarray, horizon: int) -> np.ndarray:
        """Point forecasts ``series x horizon`` from the kept state; by default a flat rate (one column)."""
        return np.repeat(state, horizon, axis=1)
