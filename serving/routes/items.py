"""Lists about items rather than a buyer: ``GET /v1/items/{item_id}/similar`` and ``GET /v1/popular``."""
from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Response

from recommender.explain import popular_id
from recommender.features.encoders import UNKNOWN_CODE
from recommender.ranking import top_k
from serving.precomputed import valid_prefix
from serving.query import QueryModel
from serving.responses import documented_errors, json_response
from serving.schemas import (
    MAX_ID_LENGTH,
    PopularQuery,
    PopularResponse,
    SimilarItemsQuery,
    SimilarItemsResponse,
)
from serving.served import Served

router = APIRouter(tags=["recommend"])
SIMILAR_QUERY, POPULAR_QUERY = QueryModel(SimilarItemsQuery), QueryModel(PopularQuery)

ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, examples=["DZ-000001"],
                             description=f"Item id (1..{MAX_ID_LENGTH} characters).")]


@router.get("/v1/items/{item_id}/similar", response_model=SimilarItemsResponse, openapi_extra=SIMILAR_QUERY.openapi,
            responses=documented_errors(404, 422, 503, descriptions={
                404: "The item id is not in the served model's catalog."}),
            summary="Available items similar to an item",
            description="Items with purchases use the model's collaborative neighbours; items nobody has bought yet "
                        "use the content model (text and attributes). 404 for an unknown item id.")
async def similar(served: Served, item_id: ItemId,
                  query: Annotated[SimilarItemsQuery, Depends(SIMILAR_QUERY)]) -> Response:
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


@router.get("/v1/popular", response_model=PopularResponse, openapi_extra=POPULAR_QUERY.openapi,
            responses=documented_errors(422, 503),
            summary="Recently popular items per city tier",
            description="Recent (time-decayed) popularity among buyers of a city tier, shrunk towards global "
                        "popularity; global popularity when no tier is given. Available items only.")
async def popular(served: Served, query: Annotated[PopularQuery, Depends(POPULAR_QUERY)]) -> Response:
    mask = served.filter_mask(query.category, None, None)
    allowed = served.engine.available if mask is None else served.engine.available & mask
    row = np.where(allowed, served.popularity[query.city_tier or 0], -np.inf)
    codes, scores, _ = valid_prefix(*(row[0] for row in top_k(row[None, :], query.k)))
    reasons = np.full(len(codes), popular_id(query.city_tier))
    return json_response({"city_tier": query.city_tier, "category": query.category,
                          "model_version": served.model_version,
                          "items": served.items_json.items(codes, scores, reasons)})
