"""Who will buy an item (what computes it: :meth:`recommender.engine.RecommendationEngine.audience`).

* ``GET /v1/items/{item_id}/audience`` (the admin key: the platform's own targeting): the item's
  likeliest buyers in two parts, past buyers due to buy it again and buyers who never bought it,
  each with the expected number of its buyers, optionally only one city tier or region.
* ``GET /v1/merchants/{merchant_id}/items/{item_id}/audience`` (the merchant's own token, its own
  items only): the audience's size and make-up (per city tier and region, repeat share, expected
  units), never a buyer id.

Statuses of the merchant's view, in the order they are checked: 503 and 401 as the forecast's
(:mod:`serving.routes.merchants`), 422 for a bad path, 403 for another merchant's token or item,
404 for an item the served model does not know or a model trained before audiences.
"""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from recommender.engine import RecommendationEngine
from recommender.explain import audience_reasons
from recommender.features.encoders import UNKNOWN_CODE
from recommender.models.audience import KINDS, Audience, AudienceModel
from serving.parameters import Parameters
from serving.responses import documented_errors, json_response
from serving.routes.admin import require_admin_key
from serving.routes.merchants import ERRORS as MERCHANT_ERRORS
from serving.routes.merchants import Merchant
from serving.schemas import AudienceMakeUp, AudienceQuery, AudienceResponse, ItemPath, MerchantItemPath
from serving.served import ServedModel, audience_time
from serving.state import state_of

AUDIENCE_PARAMETERS = Parameters(AudienceQuery, path=ItemPath)
MAKE_UP_PARAMETERS = Parameters(path=MerchantItemPath)

admin_router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_key)])
router = APIRouter(tags=["forecast"])


def item_audience(model: ServedModel, item_id: str, at_us: int) -> tuple[AudienceModel, Audience]:
    """The served model's audience model and its audience of ``item_id`` as of ``at_us``, or 404."""
    engine = model.engine
    code = engine.items.code_of(item_id)
    if code == UNKNOWN_CODE:
        raise HTTPException(404, detail=f"unknown item id {item_id!r}: not in the catalog of model "
                                        f"{model.model_version}")
    if engine.audiences is None or engine.repeat is None:
        raise HTTPException(404, detail=f"model {model.model_version} has no audience model (trained before "
                                        "audiences, or its validation window could not teach one): train it again")
    return engine.audiences, engine.audience(code, at_us=at_us)


def buyers_kept(engine: RecommendationEngine, audiences: AudienceModel, query: AudienceQuery) -> np.ndarray | None:
    """The buyers a query keeps (its tier and region), None for all of them."""
    keep = None if query.tier is None else engine.user_tiers == query.tier
    if query.region is not None:
        names = audiences.place_names
        in_region = audiences.places == (names.index(query.region) if query.region in names else -2)
        keep = in_region if keep is None else keep & in_region
    return keep


@admin_router.get("/v1/items/{item_id}/audience", response_model=AudienceResponse,
                  openapi_extra=AUDIENCE_PARAMETERS.openapi, responses=documented_errors(
                      401, 403, 404, 422, 429, 503, descriptions={
                          404: "The item is not in the served model's catalog, or the model has no audience model."}),
                  summary="The buyers likeliest to buy an item (admin key required)",
                  description="Two ranked parts of up to `k` buyers each: `repeat`, buyers who bought the item "
                              "before and are due to buy it again (repeat timing), and `first_time`, buyers who "
                              "never bought it (the first-time audience model over the collaborative, content and "
                              "popularity scores, and the buyer's activity), each with the expected number of its "
                              "buyers within the model's horizon. `tier` and `region` keep only those buyers. An "
                              "item added through `PUT /v1/items` gets a first-time audience from its content.")
async def audience(request: Request) -> Response:
    model, _ = state_of(request.app).current()
    path, query = AUDIENCE_PARAMETERS.parse(request)
    engine = model.engine
    at_us = audience_time(query.date)
    audiences, found = item_audience(model, path.item_id, at_us)
    keep = buyers_kept(engine, audiences, query)
    answer = {"item_id": path.item_id, "model_version": model.model_version, "horizon_days": found.horizon_days}
    for kind in KINDS:
        buyers, probability = found.top(kind, query.k, keep)
        reasons = audience_reasons(engine, found, kind, buyers, at_us)
        answer[kind] = {"expected_buyers": float(found.part(kind, keep)[1].sum()),
                        "buyers": [{"user_id": user_id, "score": score, "reason": reason} for user_id, score, reason
                                   in zip(engine.users.decode(buyers).tolist(), probability.tolist(), reasons)]}
    return json_response(answer)


@router.get("/v1/merchants/{merchant_id}/items/{item_id}/audience", response_model=AudienceMakeUp,
            openapi_extra=MAKE_UP_PARAMETERS.openapi, responses={**MERCHANT_ERRORS, **documented_errors(
                404, descriptions={404: "The item is not in the served model's catalog, or the model has no "
                                        "audience model."})},
            summary="The size and make-up of the audience of one of a merchant's items (its own token)",
            description="How many buyers are expected to buy the item within the model's horizon, of them how many "
                        "bought it before, the expected units, and the same per city tier and for the regions "
                        "with the most expected buyers. Never a buyer id. Readable only with the merchant's own "
                        "token and for its own items: 403 for another merchant's token or item.")
async def audience_make_up(request: Request, merchant: Merchant) -> Response:
    model, _ = state_of(request.app).current()
    path, _ = MAKE_UP_PARAMETERS.parse(request)
    if merchant != path.merchant_id:
        raise HTTPException(403, detail="a merchant can only read the audiences of its own items")
    engine = model.engine
    code = engine.items.code_of(path.item_id)
    if code != UNKNOWN_CODE and ("merchant_id" not in engine.catalog
                                 or engine.catalog.merchant_id.iloc[code] != merchant):
        raise HTTPException(403, detail=f"item {path.item_id!r} is not one of merchant {merchant!r}'s items")
    audiences, found = item_audience(model, path.item_id, audience_time())
    return json_response({"merchant_id": merchant, "item_id": path.item_id, "model_version": model.model_version,
                          **audiences.make_up(found, engine.user_tiers)})
