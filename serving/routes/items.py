"""Items: ``GET /v1/items/{item_id}/similar``, ``GET /v1/popular``, and ``PUT /v1/items/{item_id}``
(admin key), which writes an item to the event store: its availability applies on every worker
within a second (:class:`serving.live.LiveItems`), and an item the model does not know is added to
it, ranked by its content (:meth:`serving.served.ModelSwapper.add_items`)."""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from recommender.explain import popular_id
from recommender.features.encoders import UNKNOWN_CODE
from recommender.ranking import top_k
from recommender.store import Item, from_us
from serving.parameters import NO_PARAMETERS, Parameters
from serving.precomputed import valid_prefix
from serving.responses import documented_errors, json_response
from serving.routes.admin import ADMIN_KEY_ENV, ADMIN_KEY_HEADER, require_admin_key
from serving.schemas import (
    CatalogFacets,
    ItemIn,
    ItemPath,
    ItemWritten,
    PopularQuery,
    PopularResponse,
    SimilarItemsQuery,
    SimilarItemsResponse,
)
from serving.state import State, state_of

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
    model, live = state_of(request.app).current()
    path, query = SIMILAR_PARAMETERS.parse(request)
    item_id = path.item_id
    engine = model.engine
    code = engine.items.code_of(item_id)
    if code == UNKNOWN_CODE:
        raise HTTPException(404, detail=f"unknown item id {item_id!r}: not in the catalog of model "
                                        f"{model.model_version}")
    codes, scores, _ = valid_prefix(*(row[0] for row in engine.similar_items(
        np.array([code], dtype=np.int64), query.k, available=live.available,
        distinct_products=query.distinct_products)))
    reason = model.explainer.similar(code, cold=engine.item_sales[code] == 0)
    return json_response({"item_id": item_id, "model_version": model.model_version,
                          "items": model.items_json.items(codes, scores, reason)})


@router.get("/v1/popular", response_model=PopularResponse, openapi_extra=POPULAR_PARAMETERS.openapi,
            responses=documented_errors(422, 503),
            summary="Recently popular items per city tier",
            description="Recent (time-decayed) popularity among buyers of a city tier, shrunk towards global "
                        "popularity; global popularity when no tier is given. Available items only.")
async def popular(request: Request) -> Response:
    model, live = state_of(request.app).current()
    _, query = POPULAR_PARAMETERS.parse(request)
    mask = model.filter_mask(query.category, None, None)
    allowed = live.available if mask is None else live.available & mask
    row = np.where(allowed, model.popularity[query.city_tier or 0], -np.inf)
    codes, scores, _ = valid_prefix(*(row[0] for row in top_k(row[None, :], query.k)))
    reasons = np.full(len(codes), popular_id(query.city_tier))
    return json_response({"city_tier": query.city_tier, "category": query.category,
                          "model_version": model.model_version,
                          "items": model.items_json.items(codes, scores, reasons)})


@router.get("/v1/catalog/facets", response_model=CatalogFacets, openapi_extra=NO_PARAMETERS.openapi,
            responses=documented_errors(422, 503),
            summary="The served catalog's categories and regions (the values the list filters take)")
async def catalog_facets(request: Request) -> Response:
    model = state_of(request.app).current().model
    NO_PARAMETERS.parse(request)
    return json_response({"categories": sorted(model.category_masks), "regions": sorted(model.region_masks)})


ITEM_PARAMETERS = Parameters(path=ItemPath)
admin_router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_key)])


@admin_router.put("/v1/items/{item_id}", response_model=ItemWritten, openapi_extra=ITEM_PARAMETERS.openapi,
                  responses=documented_errors(400, 401, 403, 413, 422, 429, 503, descriptions={
                      401: f"Missing or wrong {ADMIN_KEY_HEADER}.",
                      403: f"Admin API disabled ({ADMIN_KEY_ENV} is not set).", 503: "No event store."}),
            summary="Add or change an item (admin key required)",
            description="Stores the item's catalog fields in the event store. `\"available\": false` hides an item "
                        "from every route, on every worker, within a second; `true` shows it again. An item the "
                        "model does not know is added to it on every worker within a few seconds (`in_model` "
                        "turns true): nobody has bought it, so it is ranked by its content (text, category, "
                        "region, merchant, tags, price) like the catalog's never-bought items, in recommendations, "
                        "/v1/rank and similar items; the next training (`recommender train --from-store`) learns "
                        "from its purchases.")
def put_item(request: Request, state: State, body: ItemIn) -> Response:
    # a plain def: the store's write runs in the threadpool
    path, _ = ITEM_PARAMETERS.parse(request)
    stored = state.event_store().items.put(Item(path.item_id, body.title, body.description, body.category, body.region,
                                               body.merchant_id, body.price, ";".join(body.tags) or None,
                                               body.available))
    served = state.served
    in_model = served is not None and served.model.engine.items.code_of(path.item_id) >= 0
    return json_response({"item_id": path.item_id, "available": stored.available, "in_model": in_model,
                          "updated_at": from_us(stored.updated_us).isoformat()})
