"""Lists about items rather than a buyer: ``GET /v1/items/{item_id}/similar`` and ``GET /v1/popular``."""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response

from recommender.explain import popular_id
from recommender.features.encoders import UNKNOWN_CODE
from recommender.ranking import top_k
from serving.parameters import Parameters
from serving.precomputed import valid_prefix
from serving.responses import documented_errors, json_response
from serving.schemas import (
    ItemPath,
    PopularQuery,
    PopularResponse,
    SimilarItemsQuery,
    SimilarItemsResponse,
)
from serving.served import served_model

router = APIRouter(tags=["recommend"])
SIMILAR_PARAMETERS = Parameters(SimilarItemsQuery, path=ItemPath)
POPULAR_PARAMETERS = Parameters(PopularQuery)


@router.get("/v1/items/{item_id}/similar", response_model=SimilarItemsResponse,
            openapi_extra=SIMILAR_PARAMETERS.openapi, responses=documented_errors(404, 422, 503, descriptions={
                404: "The item id is not in the served model's catalog."}),
            summary="Available items similar to an item",
            description="Items with purchases use the model's collaborative neighbours; items nobody has bought yet "
                        "use the content model (text and attributes). 404 for an unknown item id.")
async def similar(request: Request) -> Response:
    served = served_model(request)
    path, query = SIMILAR_PARAMETERS.parse(request)
    item_id = path.item_id
    engine = served.engine
    code = engine.items.code_of(item_id)
    if code == UNKNOWN_CODE:
        raise HTTPException(404, detail=f"unknown item id {item_id!r}: not in the catalog of model "
                                        f"{served.model_version}")
    codes, scores, _ = valid_prefix(*(row[0] for row in engine.similar_items(np.array([code], dtype=np.int64),
                                                                             query.k)))
    reason = served.explainer.similar(code, cold=engine.item_sales[code] == 0)
    return json_response({"item_id": item_id, "model_version": served.model_version,
                          "items": served.items_json.items(codes, scores, reason)})


@router.get("/v1/popular", response_model=PopularResponse, openapi_extra=POPULAR_PARAMETERS.openapi,
            responses=documented_errors(422, 503),
            summary="Recently popular items per city tier",
            description="Recent (time-decayed) popularity among buyers of a city tier, shrunk towards global "
                        "popularity; global popularity when no tier is given. Available items only.")
async def popular(request: Request) -> Response:
    served = served_model(request)
    _, query = POPULAR_PARAMETERS.parse(request)
    mask = served.filter_mask(query.category, None, None)
    allowed = served.engine.available if mask is None else served.engine.available & mask
    row = np.where(allowed, served.popularity[query.city_tier or 0], -np.inf)
    codes, scores, _ = valid_prefix(*(row[0] for row in top_k(row[None, :], query.k)))
    reasons = np.full(len(codes), popular_id(query.city_tier))
    return json_response({"city_tier": query.city_tier, "category": query.category,
                          "model_version": served.model_version,
                          "items": served.items_json.items(codes, scores, reasons)})
