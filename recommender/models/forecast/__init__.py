"""Demand forecasters, one module per method, all with the :class:`~recommender.models.forecast.base.Forecaster`
interface: ``fit(panel)``, ``predict(horizon)`` -> P10/P50/P90 per series and period."""
from recommender.models.forecast.base import QUANTILES, Forecaster
from recommender.models.forecast.calibrated import CalibratedForecaster
from recommender.models.forecast.global_quantile import GlobalQuantileForecaster
from recommender.models.forecast.intermittent import CrostonForecaster, TSBForecaster
from recommender.models.forecast.moving_average import MovingAverageForecaster
from recommender.models.forecast.seasonal_naive import SeasonalNaiveForecaster

__all__ = ["QUANTILES", "Forecaster", "CalibratedForecaster", "GlobalQuantileForecaster", "CrostonForecaster",
           "TSBForecaster", "MovingAverageForecaster", "SeasonalNaiveForecaster"]
