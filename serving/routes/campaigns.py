"""Campaigns (admin key): ``POST /v1/admin/campaigns``, ``GET /v1/admin/campaigns``,
``GET /v1/admin/campaigns/{campaign_id}`` and ``DELETE`` of one, which stops it.

A campaign is stored in the event store, so every worker places it (:mod:`serving.campaigns`,
within a quarter of a second) and counts its impressions there, and a restart loses nothing. Its
items are checked against the served model's catalog when it is posted: unknown or unavailable
ids, a selection that matches no available item, an end before the start, a budget that is not a
positive number or an id already in use are a 422 naming the field.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from recommender.campaigns import Campaign, Selection, campaign_report
from recommender.store import CampaignRecord, EventStore, to_us
from serving.parameters import NO_PARAMETERS, Parameters
from serving.responses import documented_errors, invalid, json_response
from serving.routes.admin import ADMIN_KEY_ENV, ADMIN_KEY_HEADER, require_admin_key
from serving.schemas import CampaignIn, CampaignOut, CampaignSelect, CampaignsResponse, Identifier
from serving.served import Served
from serving.state import State

router = APIRouter(tags=["campaigns"], dependencies=[Depends(require_admin_key)])
ADMIN_ERRORS = {401: f"Missing or wrong {ADMIN_KEY_HEADER}.", 403: f"Admin API disabled ({ADMIN_KEY_ENV} is not set).",
                503: "No event store, or no model loaded."}


class CampaignPath(BaseModel):
    """The path parameter of ``/v1/admin/campaigns/{campaign_id}``."""

    campaign_id: Identifier = Field(description="The campaign's id.")


CAMPAIGN_PARAMETERS = Parameters(path=CampaignPath)


def checked_campaign(body: CampaignIn, served: Served) -> Campaign:
    """The posted campaign, checked against the served model's catalog and its items' availability
    now (422 naming the field)."""
    if body.end <= body.start:
        raise invalid("body", "end", "end must be after start")
    select = body.select
    has_select = select is not None and any(getattr(select, name) for name in CampaignSelect.model_fields)
    if (body.items is None) == (not has_select):
        raise invalid("body", "items", "give either items (ids) or select (tags, regions, merchants, categories)")
    campaign = Campaign(campaign_id=body.campaign_id, name=body.name, start=body.start, end=body.end,
                        impressions=body.impressions, per_buyer_cap=body.per_buyer_cap,
                        max_in_top10=body.max_in_top10, items=tuple(dict.fromkeys(body.items or ())),
                        select=Selection(**{name: tuple(getattr(select, name)) for name in CampaignSelect.model_fields})
                        if has_select else None, gate_share=body.gate_share)
    engine, available = served.model.engine, served.live.available
    try:
        member = campaign.item_mask(engine.catalog)
    except ValueError as exc:
        raise invalid("body", "items", str(exc)) from exc
    if campaign.items:
        unavailable = [item for item in campaign.items if not available[engine.items.code_of(item)]]
        if unavailable:
            raise invalid("body", "items", f"unavailable item id(s) {', '.join(map(repr, unavailable[:10]))}")
    elif not (member & available).any():
        raise invalid("body", "select", "the selection matches no available item of the catalog")
    return campaign


def report(record: CampaignRecord, served: Served, store: EventStore) -> dict[str, Any]:
    """A campaign's report (:func:`recommender.campaigns.campaign_report`) against the served model
    and this worker's pacing of it."""
    engine = served.model.engine
    return campaign_report(record, store.campaigns.delivery(record.campaign_id), engine.catalog, engine.items,
                           served.live.campaigns.running.get(record.campaign_id), datetime.now(UTC))


def _record(store: EventStore, campaign_id: str) -> CampaignRecord:
    found = store.campaigns.get(campaign_id)
    if found is None:
        raise HTTPException(404, detail=f"unknown campaign {campaign_id!r}")
    return found


@router.post("/v1/admin/campaigns", status_code=201, response_model=CampaignOut, openapi_extra=NO_PARAMETERS.openapi,
             responses=documented_errors(400, 401, 403, 413, 422, 429, 503, descriptions=ADMIN_ERRORS),
             summary="Start a campaign (admin key required)",
             description="Promises the campaign's items `impressions` between `start` and `end`: every worker "
                         "places them in buyers' lists, paced over the expected traffic and only for buyers "
                         "they fit, marked `\"campaign\": id`. 422 for unknown or unavailable items, a "
                         "selection matching no available item, an end before the start, a non-positive "
                         "budget or an id in use.")
def create_campaign(request: Request, state: State, body: CampaignIn) -> Response:
    # a plain def: the store's write runs in the threadpool
    NO_PARAMETERS.parse(request)
    store, served = state.event_store(), state.current()
    campaign = checked_campaign(body, served)
    try:
        record = store.campaigns.add(campaign.to_dict(), to_us(campaign.start), to_us(campaign.end))
    except ValueError as exc:
        raise invalid("body", "campaign_id", str(exc)) from exc
    return json_response(report(record, served, store), status_code=201)


@router.get("/v1/admin/campaigns", response_model=CampaignsResponse, openapi_extra=NO_PARAMETERS.openapi,
            responses=documented_errors(401, 403, 422, 429, 503, descriptions=ADMIN_ERRORS),
            summary="Every campaign and its delivery (admin key required)")
def list_campaigns(request: Request, state: State) -> Response:
    NO_PARAMETERS.parse(request)
    store, served = state.event_store(), state.current()
    return json_response({"campaigns": [report(record, served, store) for record in store.campaigns.all()]})


@router.get("/v1/admin/campaigns/{campaign_id}", response_model=CampaignOut, openapi_extra=CAMPAIGN_PARAMETERS.openapi,
            responses=documented_errors(401, 403, 404, 422, 429, 503, descriptions={
                **ADMIN_ERRORS, 404: "No campaign has this id."}),
            summary="A campaign's delivery: planned, delivered, pacing error, multiplier, reach (admin key required)")
def get_campaign(request: Request, state: State) -> Response:
    path, _ = CAMPAIGN_PARAMETERS.parse(request)
    store, served = state.event_store(), state.current()
    return json_response(report(_record(store, path.campaign_id), served, store))


@router.delete("/v1/admin/campaigns/{campaign_id}", response_model=CampaignOut,
               openapi_extra=CAMPAIGN_PARAMETERS.openapi,
               responses=documented_errors(401, 403, 404, 422, 429, 503, descriptions={
                   **ADMIN_ERRORS, 404: "No campaign has this id."}),
               summary="Stop a campaign now, on every worker (admin key required)")
def stop_campaign(request: Request, state: State) -> Response:
    path, _ = CAMPAIGN_PARAMETERS.parse(request)
    store, served = state.event_store(), state.current()
    store.campaigns.stop(path.campaign_id)
    return json_response(report(_record(store, path.campaign_id), served, store))
