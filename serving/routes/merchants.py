"""The merchant view of the demand forecasts: ``GET /v1/merchants/{merchant_id}/forecast``
(what it serves: :mod:`serving.forecasts`).

Statuses, in the order they are checked:

* 503: no forecasts published, or no merchant token file configured.
* 401 (with ``WWW-Authenticate: Bearer``): no bearer token, or a token of no merchant.
* 422: unknown query parameters, ``horizon`` outside 1..26 (weeks) or 182 (days), ``by`` not
  item | item,city_tier | merchant, a merchant id over 128 characters (so an unauthenticated
  request learns nothing about the parameters either).
* 403: a valid token of another merchant; checked before the merchant id is looked up, so it
  says nothing about whether that merchant exists.
* 422: ``horizon`` above the published horizon.
* 404: the merchant's own token, but no forecast: the merchant has no sales in the data (the
  message says so, with its catalog item count) or is not in the published catalog.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recommender.forecasting.published import PublishedForecasts
from serving.parameters import Parameters
from serving.responses import documented_errors, invalid, json_response
from serving.schemas import ForecastQuery, MerchantForecastResponse, MerchantPath, MerchantSalesResponse
from serving.settings import env_name
from serving.state import State

BEARER = {"WWW-Authenticate": "Bearer"}

router = APIRouter(tags=["forecast"])
FORECAST_PARAMETERS = Parameters(ForecastQuery, path=MerchantPath)
_bearer = HTTPBearer(auto_error=False, description="The merchant's own token, from `recommender merchant-token`.")


async def get_forecasts(state: State) -> PublishedForecasts:
    """The published forecasts, or 503."""
    forecasts = state.forecasts
    if forecasts is None:
        raise HTTPException(503, detail="forecasts not published: run `recommender forecast-publish` and start the "
                                        f"server with --forecasts DIR (or {env_name('forecasts_dir')})")
    return forecasts


async def authenticated_merchant(state: State, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The merchant whose bearer token the request carries: 503 without a token file, 401 without
    a token or with a token of no merchant."""
    tokens = state.merchant_tokens
    if tokens is None:
        raise HTTPException(503, detail="merchant tokens not configured: start the server with --merchant-tokens "
                                        f"FILE (or {env_name('merchant_tokens')})")
    if credentials is None:
        raise HTTPException(401, detail="missing merchant token: send 'Authorization: Bearer <token>'",
                            headers=BEARER)
    merchant = tokens.merchant_of(credentials.credentials)
    if merchant is None:
        raise HTTPException(401, detail="invalid merchant token", headers={"WWW-Authenticate":
                                                                           'Bearer error="invalid_token"'})
    return merchant


Forecasts = Annotated[PublishedForecasts, Depends(get_forecasts)]
Merchant = Annotated[str, Depends(authenticated_merchant)]

ERRORS = documented_errors(401, 403, 404, 422, 503, descriptions={
    401: "No bearer token, or a token of no merchant.", 403: "The token is another merchant's.",
    404: "The merchant has no sales to forecast from (or is not in the published catalog).",
    503: "Forecasts not published or merchant tokens not configured."})


@router.get("/v1/merchants/{merchant_id}/forecast", response_model=MerchantForecastResponse,
            response_model_exclude_none=True, openapi_extra=FORECAST_PARAMETERS.openapi, responses=ERRORS,
            summary="A merchant's demand forecast (the merchant's own token required)",
            description="Units city buyers are expected to order per period, with a P10-P90 band, per item, item "
                        "and city tier, or the merchant's total, for the first `horizon` periods of the forecasts "
                        "published by `recommender forecast-publish` (default: all of them). Readable only with "
                        "the merchant's own token (`Authorization: Bearer <token>`): 401 without a valid token, "
                        "403 with another merchant's (whether or not the merchant asked about exists), 404 when "
                        "the merchant has no sales to forecast from, 503 when no forecasts are published.")
async def merchant_forecast(request: Request, forecasts: Forecasts, merchant: Merchant) -> Response:
    path, query = FORECAST_PARAMETERS.parse(request)
    merchant_id = path.merchant_id
    if merchant != merchant_id:
        raise HTTPException(403, detail="a merchant can only read its own forecast")
    horizon = forecasts.horizon if query.horizon is None else query.horizon
    if horizon > forecasts.horizon:
        raise invalid("query", "horizon", f"horizon {horizon} is above the published horizon: at most "
                                          f"{forecasts.horizon} periods ({forecasts.freq})")
    rows = forecasts.rows(merchant_id, query.by, horizon)
    if rows is None:
        raise not_forecast(forecasts, merchant_id)
    answer = {"merchant_id": merchant_id, "freq": forecasts.freq, "horizon": horizon, "by": query.by,
              "generated_at": forecasts.manifest["created_at"], "data_sha256": forecasts.manifest["data"]["sha256"],
              "titles": forecasts.item_titles(merchant_id), "rows": rows,
              "current_period": forecasts.current(merchant_id, query.by)}
    return json_response({name: value for name, value in answer.items() if value is not None})


def not_forecast(forecasts: PublishedForecasts, merchant_id: str) -> HTTPException:
    """The 404 of a merchant the published forecasts do not cover, saying why."""
    history = forecasts.history(merchant_id)
    if history is None:
        return HTTPException(404, detail=f"merchant {merchant_id!r} is not in the catalog the forecasts were "
                                         f"published from ({forecasts.manifest['created_at']})")
    return HTTPException(404, detail=f"merchant {merchant_id!r} has no sales history to forecast from: its "
                                     f"{history['catalog_items']} catalog item(s) sold nothing in the data "
                                     f"(returns and cancellations excluded)")


SALES_PARAMETERS = Parameters(path=MerchantPath)


@router.get("/v1/merchants/{merchant_id}/sales", response_model=MerchantSalesResponse,
            openapi_extra=SALES_PARAMETERS.openapi, responses=ERRORS,
            summary="A merchant's units sold per item and period before its forecast (the merchant's own token)",
            description="What the forecast was made from: units sold per item in each of the last 52 periods "
                        "before the published forecast (periods without sales as 0). Same token rules and "
                        "errors as the forecast; 404 too for forecasts published before sales were (publish "
                        "again).")
async def merchant_sales(request: Request, forecasts: Forecasts, merchant: Merchant) -> Response:
    path, _ = SALES_PARAMETERS.parse(request)
    if merchant != path.merchant_id:
        raise HTTPException(403, detail="a merchant can only read its own sales")
    rows = forecasts.sales(path.merchant_id)
    if rows is None:
        if "sales" not in forecasts.manifest:
            raise HTTPException(404, detail="these forecasts were published without sales: publish them again "
                                            "(`recommender forecast-publish`)")
        raise not_forecast(forecasts, path.merchant_id)
    return json_response({"merchant_id": path.merchant_id, "freq": forecasts.freq, "rows": rows})
