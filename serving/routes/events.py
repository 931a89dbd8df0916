"""Buyer events from storefronts: ``POST /v1/events`` stores a batch in the event store
(:mod:`recommender.store`), durably before it answers.

Storefronts authenticate with ``X-API-Key``: one of the keys in ``RECOMMENDER_INGEST_KEYS``
(comma-separated, read once at start: a restart rotates them; compared by SHA-256, and never
logged). The admin key is not an ingest key. While no key is configured the route answers 403
("ingestion disabled"); a missing or wrong key is a 401.

A batch is all or nothing: a 422 names every bad event by its index and field and nothing of the
batch is stored. Batches that requests send at the same time are committed together
(:class:`recommender.store.GroupCommit`): one commit, each request answered once it is durable.
Events whose ``event_id`` is stored already are skipped and listed in the answer, so a storefront
retries a batch whose answer it did not get without counting anything twice.
A store that cannot take the batch (a database down, SQLite locked past its wait) is a 503 with
``Retry-After``: the batch was not stored.

Events of items the server's catalog lacks (neither the served model's items nor added through
``PUT /v1/items``) are never passed over in silence: the answer lists their ids in
``unknown_item_ids`` and the events are stored (the default), or, on a server started with
``--unknown-items refuse`` (``RECOMMENDER_UNKNOWN_ITEMS``), the whole batch is a 422 naming each
such event's ``item_id`` and nothing of it is stored.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from sqlalchemy.exc import DBAPIError

from recommender.features.encoders import UNKNOWN_CODE
from recommender.merchant_tokens import token_hash
from recommender.store import Event, EventStore, to_us
from serving.parameters import NO_PARAMETERS
from serving.responses import documented_errors, json_response
from serving.schemas import MAX_EVENTS, EventsRequest, EventsResponse
from serving.settings import env_name
from serving.state import ServingState, State

INGEST_KEYS_ENV = env_name("ingest_keys")
RETRY_SECONDS = 1

_storefront_key = APIKeyHeader(name="X-API-Key", scheme_name="StorefrontKey", auto_error=False,
                               description=f"A storefront's ingest key (one of the server's {INGEST_KEYS_ENV}).")


async def require_ingest_key(state: State, key: Annotated[str | None, Depends(_storefront_key)]) -> None:
    """403 while ``RECOMMENDER_INGEST_KEYS`` is unset or empty; 401 when ``X-API-Key`` is missing
    or none of them."""
    hashes = state.ingest_key_hashes
    if not hashes:
        raise HTTPException(403, detail=f"event ingestion disabled: set {INGEST_KEYS_ENV} on the server")
    if not key:
        raise HTTPException(401, detail="missing ingest key: send a storefront key in the X-API-Key header",
                            headers={"WWW-Authenticate": "X-API-Key"})
    if token_hash(key) not in hashes:
        raise HTTPException(401, detail="invalid ingest key in the X-API-Key header",
                            headers={"WWW-Authenticate": "X-API-Key"})


router = APIRouter(tags=["events"], dependencies=[Depends(require_ingest_key)])


@router.post("/v1/events", response_model=EventsResponse, openapi_extra=NO_PARAMETERS.openapi,
             responses=documented_errors(400, 401, 403, 413, 422, 503, descriptions={
                 401: "Missing or wrong `X-API-Key` (an ingest key).",
                 403: f"Ingestion disabled ({INGEST_KEYS_ENV} is not set).",
                 422: "A bad event: `errors` names each by `[\"body\", \"events\", index, field]`; nothing of the "
                      "batch was stored. On a server started with `--unknown-items refuse`, also an event of an "
                      "item the catalog lacks (type `unknown_item`, field `item_id`).",
                 503: "No event store, or the store could not take the batch now (retry after `Retry-After`)."}),
             summary="Store a batch of buyer events (a storefront key required)",
             description=f"1..{MAX_EVENTS} events (purchases, views, carts, returns), stored in one transaction "
                         "before the answer: all of them or, if any is bad, none. An event whose `event_id` is "
                         "stored already is skipped and listed in `duplicate_event_ids`, so a batch can be sent "
                         "again safely. Items the catalog lacks are listed in `unknown_item_ids` (their events "
                         "stored), or refused with a 422 by a server started with `--unknown-items refuse`.")
def post_events(request: Request, state: State, body: EventsRequest) -> Response:
    # a plain def: the store's write (and its fsync) runs in the threadpool, never on the event loop
    NO_PARAMETERS.parse(request)
    store = state.event_store()  # 503 without a store
    received = datetime.now(UTC)
    batch = [Event(e.event_id, e.user_id, e.item_id, e.type, to_us(e.timestamp or received), e.quantity, e.city_tier)
             for e in body.events]
    try:
        unknown = _unknown_items(state, store, [e.item_id for e in body.events])
        added = state.event_batches().add(batch)  # committed with the batches other requests send now
    except DBAPIError as exc:
        raise HTTPException(503, detail=f"the event store could not take the batch ({type(exc.orig).__name__}); "
                                        "nothing was stored: retry", headers={"Retry-After": str(RETRY_SECONDS)}
                            ) from exc
    return json_response({"stored": added.stored, "duplicate_event_ids": list(added.duplicate_ids),
                          "unknown_item_ids": unknown})


def _unknown_items(state: ServingState, store: EventStore, item_ids: list[str]) -> list[str]:
    """The distinct ids of ``item_ids`` (in order) that neither the served model nor the store's items
    (``PUT /v1/items``) know; on a server that refuses them, a 422 naming each event of one."""
    served = state.served  # without a model, only the store's items are known
    distinct = list(dict.fromkeys(item_ids))
    codes = served.model.engine.items.encode(distinct).tolist() if served is not None else None
    missing = [item for i, item in enumerate(distinct) if codes is None or codes[i] == UNKNOWN_CODE]
    if missing:
        added = store.items.known(missing)
        missing = [item for item in missing if item not in added]
    if not missing:
        return missing
    policy, unknown = state.settings.unknown_items, set(missing)
    positions = [index for index, item in enumerate(item_ids) if item in unknown]
    state.metrics.unknown_item_events.labels(policy).inc(len(positions))
    if policy == "refuse":
        raise RequestValidationError([
            {"loc": ("body", "events", index, "item_id"), "type": "unknown_item",
             "msg": f"item {item_ids[index]!r} is not in the catalog (the served model's items and those added "
                    "through PUT /v1/items); this server refuses events of unknown items"} for index in positions])
    return missing
