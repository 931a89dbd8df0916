"""The merchant view of the demand forecasts: ``GET /v1/merchants/{merchant_id}/forecast``.

Forecasts are never fitted per request: ``recommender forecast-publish`` writes them once
(:mod:`recommender.forecasting.published`) and the server loads that directory at start
(``create_app(..., forecasts_dir=)``, ``RECOMMENDER_FORECASTS_DIR``); a request slices the
merchant's rows. Publishing again to the same directory is picked up within a few seconds, with
no restart (:func:`follow_republished`). Merchants authenticate with ``Authorization: Bearer <token>``, tokens issued by
``recommender merchant-token`` into a file of SHA-256 hashes (``merchant_tokens=``,
``RECOMMENDER_MERCHANT_TOKENS``; re-read when it changes).

Statuses, in the order they are checked:

* 422: unknown query parameters (checked by :class:`serving.routing.StrictQueryRoute`, before anything
  else).
* 503: no forecasts published, or no merchant token file configured.
* 401 (with ``WWW-Authenticate: Bearer``): no bearer token, or a token of no merchant.
* 403: a valid token of another merchant; checked before the merchant id is looked up, so it
  says nothing about whether that merchant exists.
* 422: ``horizon`` outside 1..the published horizon, ``by`` not item | item,city_tier | merchant.
* 404: the merchant's own token, but no forecast: the merchant has no sales in the data (the
  message says so, with its catalog item count) or is not in the published catalog.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recommender.forecasting.published import PublishedForecasts
from recommender.forecasting.selection import MAX_HORIZON
from recommender.merchant_tokens import MerchantTokens
from serving.lean_routes import json_response
from serving.routing import StrictQueryRoute
from serving.schemas import MAX_ID_LENGTH, ErrorResponse, MerchantForecastResponse

log = logging.getLogger(__name__)

FORECASTS_DIR_ENV = "RECOMMENDER_FORECASTS_DIR"
REPUBLISH_POLL_SECONDS = 2.0
MERCHANT_TOKENS_ENV = "RECOMMENDER_MERCHANT_TOKENS"
BEARER = {"WWW-Authenticate": "Bearer"}

router = APIRouter(route_class=StrictQueryRoute)
_bearer = HTTPBearer(auto_error=False, description="The merchant's own token, from `recommender merchant-token`.")


def load_forecast_state(forecasts_dir: str | os.PathLike | None,
                        merchant_tokens: str | os.PathLike | None) -> tuple[PublishedForecasts | None,
                                                                            MerchantTokens | None]:
    """The published forecasts and the merchant tokens to serve, each ``None`` when not given; a bad
    directory or token file fails now (``ForecastDirectoryError``, ``TokenFileError``, ``FileNotFoundError``)."""
    forecasts = PublishedForecasts.load(forecasts_dir) if forecasts_dir else None
    tokens = MerchantTokens.load(merchant_tokens) if merchant_tokens else None
    return forecasts, tokens


async def follow_republished(state) -> None:
    """Poll forever (every :data:`REPUBLISH_POLL_SECONDS`): when ``recommender forecast-publish``
    republishes the directory ``state.forecasts`` came from, load it in a thread and serve it
    (:meth:`PublishedForecasts.refreshed`). Every worker process follows on its own."""
    while True:
        await asyncio.sleep(REPUBLISH_POLL_SECONDS)
        try:
            state.forecasts = await asyncio.to_thread(state.forecasts.refreshed)
        except Exception:  # an unexpected error must not stop the worker from serving the forecasts it has
            log.exception("checking %s for republished forecasts failed", state.forecasts.path)


async def get_forecasts(request: Request) -> PublishedForecasts:
    """The published forecasts, or 503."""
    forecasts = getattr(request.app.state, "forecasts", None)
    if forecasts is None:
        raise HTTPException(503, detail="forecasts not published: run `recommender forecast-publish` and start the "
                                        f"server with --forecasts DIR (or {FORECASTS_DIR_ENV})")
    return forecasts


async def authenticated_merchant(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The merchant whose bearer token the request carries: 503 without a token file, 401 without
    a token or with a token of no merchant."""
    tokens = getattr(request.app.state, "merchant_tokens", None)
    if tokens is None:
        raise HTTPException(503, detail="merchant tokens not configured: start the server with --merchant-tokens "
                                        f"FILE (or {MERCHANT_TOKENS_ENV})")
    if credentials is None:
        raise HTTPException(401, detail="missing merchant token: send 'Authorization: Bearer <token>'",
                            headers=BEARER)
    tokens = request.app.state.merchant_tokens = tokens.refreshed()
    merchant = tokens.merchant_of(credentials.credentials)
    if merchant is None:
        raise HTTPException(401, detail="invalid merchant token", headers={"WWW-Authenticate":
                                                                           'Bearer error="invalid_token"'})
    return merchant


Forecasts = Annotated[PublishedForecasts, Depends(get_forecasts)]
Merchant = Annotated[str, Depends(authenticated_merchant)]
MerchantId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="Merchant id (catalog "
                                                                                      "merchant_id).")]

ERRORS = {401: {"model": ErrorResponse, "description": "No bearer token, or a token of no merchant."},
          403: {"model": ErrorResponse, "description": "The token is another merchant's."},
          404: {"model": ErrorResponse, "description": "The merchant has no sales to forecast from (or is not in "
                                                       "the published catalog)."},
          503: {"model": ErrorResponse, "description": "Forecasts not published or merchant tokens not configured."}}


@router.get("/v1/merchants/{merchant_id}/forecast", response_model=MerchantForecastResponse,
            response_model_exclude_none=True, tags=["forecast"], responses=ERRORS,
            summary="A merchant's demand forecast (the merchant's own token required)",
            description="Units city buyers are expected to order per period, with a P10-P90 band, per item, item "
                        "and city tier, or the merchant's total, for the first `horizon` periods of the forecasts "
                        "published by `recommender forecast-publish` (default: all of them). Readable only with "
                        "the merchant's own token (`Authorization: Bearer <token>`): 401 without a valid token, "
                        "403 with another merchant's (whether or not the merchant asked about exists), 404 when "
                        "the merchant has no sales to forecast from, 503 when no forecasts are published.")
async def merchant_forecast(
        forecasts: Forecasts, merchant: Merchant, merchant_id: MerchantId,
        horizon: Annotated[int | None, Query(ge=1, le=max(MAX_HORIZON.values()),
                                             description="Periods ahead, 1..the published horizon (26 weeks by "
                                                         "default); default: all published periods.")] = None,
        by: Annotated[Literal["item", "item,city_tier", "merchant"], Query(
            description="Series level: item, item,city_tier, or merchant (the bottom-up total).")] = "item",
) -> Response:
    if merchant != merchant_id:
        raise HTTPException(403, detail="a merchant can only read its own forecast")
    if horizon is None:
        horizon = forecasts.horizon
    if horizon > forecasts.horizon:
        raise HTTPException(422, detail=f"horizon {horizon} is above the published horizon: at most "
                                        f"{forecasts.horizon} periods ({forecasts.freq})")
    rows = forecasts.rows(merchant_id, by, horizon)
    if rows is None:
        history = forecasts.history(merchant_id)
        if history is None:
            raise HTTPException(404, detail=f"merchant {merchant_id!r} is not in the catalog the forecasts were "
                                            f"published from ({forecasts.manifest['created_at']})")
        raise HTTPException(404, detail=f"merchant {merchant_id!r} has no sales history to forecast from: its "
                                        f"{history['catalog_items']} catalog item(s) sold nothing in the data "
                                        f"(returns and cancellations excluded)")
    answer = {"merchant_id": merchant_id, "freq": forecasts.freq, "horizon": horizon, "by": by,
              "generated_at": forecasts.manifest["created_at"], "data_sha256": forecasts.manifest["data"]["sha256"],
              "rows": rows}
    return json_response({name: value for name, value in answer.items() if value is not None})
