"""The candidate forecasting methods: statsforecast's classical and intermittent models, and a global model.

:func:`point_forecasts` fits every candidate on a panel's history and returns each one's point
forecast (``series x horizon``, units, never negative):

* **The simple methods** (:data:`SIMPLE`), from statsforecast in one ``StatsForecast.forecast``
  call: naive, seasonal naive, moving averages of 4, 8 and 12 periods, AutoETS, CrostonOptimized,
  Croston-SBA, TSB, ADIDA and IMAPA. They are the baselines every backtest prints, and candidates
  of the per-series selection. Seasonal naive needs a whole season of history: with less (the UCI
  data has 44 weeks before its pre-Christmas origin) it is left out and its backtest row says so.
* **The global model** (:data:`GLOBAL`, :class:`~recommender.forecasting.global_model.GlobalMedianModel`):
  LightGBM trained across all series on their recent quantiles, levels, the market's momentum and
  the calendar, for the median demand.

Every point forecast is a median, or a mean the selection judges by absolute error: the unit the
forecast table calls P50. Bands come later (:mod:`recommender.forecasting.calibration`).
"""
from __future__ import annotations

import logging

import numpy as np
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    CrostonOptimized,
    CrostonSBA,
    Naive,
    SeasonalNaive,
    WindowAverage,
)

from recommender.forecasting.global_model import GlobalMedianModel
from recommender.forecasting.panel import DemandPanel, ForecastInputError

log = logging.getLogger(__name__)

SIMPLE = ("naive", "seasonal_naive", "ma4", "ma8", "ma12", "auto_ets", "croston_optimized", "croston_sba", "tsb",
          "adida", "imapa")
GLOBAL = "global_gbm"
METHODS = SIMPLE + (GLOBAL,)
STATSFORECAST_FREQ = {"W": "W-MON", "D": "D"}
PARALLEL_FROM = 1000  # series: statsforecast fits them in one process per core from here on


def simple_models(season: int, n_periods: int) -> list:
    """statsforecast's models for a history of ``n_periods`` (aliases: the names of :data:`SIMPLE`).
    Seasonal naive only with a whole season of history; AutoETS seasonal only with two."""
    models = [Naive(alias="naive")]
    if n_periods >= season:
        models.append(SeasonalNaive(season, alias="seasonal_naive"))
    models += [WindowAverage(4, alias="ma4"), WindowAverage(8, alias="ma8"), WindowAverage(12, alias="ma12"),
               AutoETS(season_length=season if n_periods >= 2 * season else 1, alias="auto_ets"),
               CrostonOptimized(alias="croston_optimized"), CrostonSBA(alias="croston_sba"),
               TSB(alpha_d=0.1, alpha_p=0.1, alias="tsb"), ADIDA(alias="adida"), IMAPA(alias="imapa")]
    return models


def simple_forecasts(panel: DemandPanel, horizon: int, n_jobs: int | None = None,
                     spark=None) -> dict[str, np.ndarray]:
    """Each simple method's forecast of every series (``series x horizon``), in one statsforecast
    call: in ``n_jobs`` processes (default: every core from :data:`PARALLEL_FROM` series on, one
    below, where starting processes costs more than it saves), or on Spark when given a
    SparkSession ``spark`` (statsforecast's fugue backend fits the series in groups on the executors)."""
    models = simple_models(panel.season, panel.n_periods)
    if n_jobs is None:
        n_jobs = -1 if panel.n_series >= PARALLEL_FROM else 1
    frame = panel.long_frame() if spark is None else spark.createDataFrame(panel.long_frame())
    table = StatsForecast(models=models, freq=STATSFORECAST_FREQ[panel.freq], n_jobs=n_jobs).forecast(df=frame,
                                                                                                     h=horizon)
    table = (table if spark is None else table.toPandas()).sort_values(["unique_id", "ds"], kind="stable")
    return {model.alias: np.maximum(np.nan_to_num(table[model.alias].to_numpy(np.float64)), 0.0)
            .reshape(panel.n_series, horizon) for model in models}


def point_forecasts(panel: DemandPanel, horizon: int, n_jobs: int | None = None,
                    spark=None) -> dict[str, np.ndarray]:
    """Every candidate's point forecast (``series x horizon``) from the panel's whole history
    (without the global model when the history is too short to train it: logged). With a
    SparkSession ``spark`` the simple methods run on Spark; the global model trains on this
    machine either way (on a sample of at most ``max_rows`` rows)."""
    forecasts = simple_forecasts(panel, horizon, n_jobs, spark)
    try:
        forecasts[GLOBAL] = GlobalMedianModel(horizon=horizon).fit(panel).predict(horizon)
    except ForecastInputError as exc:
        log.info("global model left out of the fit on %d periods: %s", panel.n_periods, exc)
    return forecasts
