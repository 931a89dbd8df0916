"""Demand forecasts for merchants: how much each item will sell, in which city tier, which weeks, how sure.

The pipeline, one module per step:

1. :mod:`~recommender.forecasting.panel`: purchases -> units per series (item, or item x city
   tier) and whole week (or day), zero-filled.
2. :mod:`~recommender.forecasting.methods`: the candidates, statsforecast's simple methods (naive,
   seasonal naive, moving averages, AutoETS, Croston, TSB, ADIDA, IMAPA) and a global LightGBM
   model of the median (:mod:`~recommender.forecasting.global_model`, on the features of
   :mod:`~recommender.forecasting.features` and :mod:`~recommender.forecasting.calendar_features`).
3. :mod:`~recommender.forecasting.selection`: one fit of a whole panel: every candidate on
   validation windows and on the whole history, one method per series, bands calibrated by
   :mod:`~recommender.forecasting.calibration` (conformal, per horizon step), totals.
4. :mod:`~recommender.forecasting.views`: the tables of that one fit (per series, per merchant,
   one merchant, a shorter horizon) with the reasons a merchant reads (method, recent level and
   trend, rising tiers); :func:`~recommender.forecasting.views.forecast` is the entry point.
5. :mod:`~recommender.forecasting.backtest`: rolling-origin backtests against every baseline;
   :mod:`~recommender.forecasting.metrics`: WAPE, MASE, bias, coverage.
6. :mod:`~recommender.forecasting.publish`: the forecast directory ``forecast-publish`` writes;
   :mod:`~recommender.forecasting.published`: its format, and its reading by the API.

:mod:`~recommender.forecasting.spec` holds what both sides share (levels, longest horizons, the
tables' columns). The fitting modules need the ``[forecast]`` extra (statsforecast, LightGBM); the
reading side and ``spec`` do not, so the server needs no forecasting library. This package imports
none of its modules: import the one you use (``from recommender.forecasting.views import forecast``).

Given a SparkSession (``--backend spark``), the simple methods run on Spark through statsforecast's
fugue backend and everything else stays the same: the same numbers, within float32 rounding.

Errors are :class:`~recommender.forecasting.panel.ForecastInputError` (a ``ValueError``) with a
message that says what to change.
"""
