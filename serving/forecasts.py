"""What the merchant forecast route serves: the published forecasts and the merchant tokens.

Forecasts are never fitted per request: ``recommender forecast-publish`` writes them once
(:mod:`recommender.forecasting.published`) and the server loads that directory at start
(setting ``forecasts_dir``, :mod:`serving.settings`); a request slices the
merchant's rows (:mod:`serving.routes.merchants`). Publishing again to the same directory is picked
up within a second, with no restart (:mod:`serving.watcher`). Merchants authenticate with
``Authorization: Bearer <token>``, tokens issued by ``recommender merchant-token`` into a file of
SHA-256 hashes (setting ``merchant_tokens``; re-read when it changes).
"""
from __future__ import annotations

import os

from recommender.forecasting.published import PublishedForecasts
from recommender.merchant_tokens import MerchantTokens


def load_forecast_state(forecasts_dir: str | os.PathLike[str] | None,
                        merchant_tokens: str | os.PathLike[str] | None) -> tuple[PublishedForecasts | None,
                                                                            MerchantTokens | None]:
    """The published forecasts and the merchant tokens to serve, each ``None`` when not given; a bad
    directory or token file fails now (``ForecastDirectoryError``, ``TokenFileError``, ``FileNotFoundError``)."""
    forecasts = PublishedForecasts.load(forecasts_dir) if forecasts_dir else None
    tokens = MerchantTokens.load(merchant_tokens) if merchant_tokens else None
    return forecasts, tokens
