"""Harvest lots (what they are and how purchases count against them: :mod:`recommender.store.lots`;
what a merchant reads of one: :func:`recommender.lots.lot_report`).

* ``POST /v1/merchants/{merchant_id}/lots`` (the merchant's own token) declares a lot: 201, or 200
  when the same definition was declared before; 409 for another definition under the same id; 422
  naming the field for unknown items, another merchant's items, ``sell_by`` not after
  ``available_from`` or non-positive units.
* ``GET /v1/merchants/{merchant_id}/lots`` lists the merchant's lots with units sold, remaining,
  the sell-through projection and the audience; ``DELETE .../lots/{lot_id}`` withdraws one.
* ``GET /v1/admin/lots`` (admin key) lists every merchant's lots, ``at_risk=true`` only those whose
  projected P50 sales fall short of their remaining units.
* ``POST /v1/merchants/{merchant_id}/lots/{lot_id}/clearance`` starts the lot's clearance campaign
  from its projected shortfall (:func:`recommender.campaigns.clearance_campaign`): 201; 409 for a
  lot withdrawn, sold out, projected to sell out without one, or with one already; 503 without
  published forecasts (nothing to size it with).

The projection reads the forecasts the server publishes (``--forecasts``); without them a lot has
no projection and says why.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from recommender.campaigns import clearance_campaign, conversion_rate
from recommender.lots import (
    clearance_audience,
    lot_audiences,
    lot_demand,
    lot_projection,
    lot_reach,
    lot_report,
    rest_of_current_period,
)
from recommender.store import EventStore, Lot, LotConflict, LotRecord, to_us
from serving.parameters import Parameters
from serving.responses import documented_errors, invalid, json_response
from serving.routes.admin import require_admin_key
from serving.routes.campaigns import report
from serving.routes.merchants import ERRORS as MERCHANT_ERRORS
from serving.routes.merchants import Merchant
from serving.schemas import (
    ClearanceIn,
    ClearanceOut,
    LotIn,
    LotOut,
    LotPath,
    LotsResponse,
    MerchantPath,
)
from serving.served import Served
from serving.state import State

PERIOD_DAYS = {"W": 7.0, "D": 1.0}  # the published forecasts' period lengths

router = APIRouter(tags=["lots"])
admin_router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_key)])
LOTS_PARAMETERS = Parameters(path=MerchantPath)
LOT_PARAMETERS = Parameters(path=LotPath)
ERRORS = {**MERCHANT_ERRORS, **documented_errors(404, 409, 503, descriptions={
    404: "No such lot of the merchant.", 409: "The lot id was declared before with another definition.",
    503: "No event store, no model loaded, or merchant tokens not configured."})}


class AdminLotsQuery(BaseModel):
    """The query parameters of ``GET /v1/admin/lots``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_risk: bool = Field(False, description="Only lots whose projected P50 sales fall short of their remaining "
                                             "units (lots without a projection are left out).")


ADMIN_PARAMETERS = Parameters(AdminLotsQuery)


def forecast_rows(state: State, merchant_id: str) -> tuple[pd.DataFrame | None, float]:
    """The published forecast of the merchant's items per city tier as a long table (None without
    published forecasts), the days left in the period the data stops inside first
    (:func:`~recommender.lots.rest_of_current_period`), and the length of its periods in days."""
    forecasts = state.forecasts
    if forecasts is None:
        return None, 0.0
    period_days = PERIOD_DAYS[forecasts.freq]
    rows = forecasts.rows(merchant_id, "item,city_tier", forecasts.horizon) or []
    columns = ["item_id", "city_tier", "period_start", "p10", "p50", "p90"]
    table = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    rest = rest_of_current_period(forecasts.current(merchant_id, "item,city_tier"), period_days)
    table = table if rest is None else pd.concat([rest, table], ignore_index=True)
    return table.astype({"city_tier": "int64", "p10": float, "p50": float, "p90": float}), period_days


def reports(state: State, served: Served, records: list[LotRecord]) -> list[dict[str, Any]]:
    """Each lot's :func:`~recommender.lots.lot_report` against the served model and the forecasts."""
    now = datetime.now(UTC)
    forecasts = {merchant: forecast_rows(state, merchant) for merchant in {record.merchant_id for record in records}}
    return [lot_report(record, served.model.engine, *forecasts[record.merchant_id], now) for record in records]


def checked_lot(body: LotIn, merchant_id: str, served: Served) -> Lot:
    """The posted lot, its items checked against the served model's catalog (422 naming the field)."""
    engine = served.model.engine
    codes = engine.items.encode(body.items)
    unknown = [item for item, code in zip(body.items, codes) if code < 0]
    if unknown:
        raise invalid("body", "items", f"unknown item id(s) {', '.join(map(repr, unknown[:10]))}: not in the "
                                       f"catalog of model {served.model.model_version}")
    owners = engine.catalog.merchant_id.iloc[codes].astype(str) if "merchant_id" in engine.catalog else None
    others = [item for item, owner in zip(body.items, [] if owners is None else owners) if owner != merchant_id]
    if owners is None or others:
        raise invalid("body", "items", f"item(s) {', '.join(map(repr, (others or body.items)[:10]))} are not "
                                       f"merchant {merchant_id!r}'s")
    if body.sell_by <= body.available_from:
        raise invalid("body", "sell_by", "sell_by must be after available_from")
    try:
        return Lot(merchant_id=merchant_id, lot_id=body.lot_id, items=tuple(body.items), units=body.units,
                   available_from_us=to_us(body.available_from), sell_by_us=to_us(body.sell_by),
                   tiers=tuple(body.tiers), regions=tuple(body.regions))
    except ValueError as exc:  # "field: problem"
        field, _, problem = str(exc).partition(": ")
        raise invalid("body", field.removesuffix("_us"), problem or str(exc)) from exc


def stored_lot(store: EventStore, merchant: str, lot_id: str) -> LotRecord:
    """The merchant's lot ``lot_id``, or 404."""
    record = store.lots.get(merchant, lot_id)
    if record is None:
        raise HTTPException(404, detail=f"merchant {merchant!r} has no lot {lot_id!r}")
    return record


def own(merchant: str, merchant_id: str) -> None:
    """403 unless the token's merchant is the path's."""
    if merchant != merchant_id:
        raise HTTPException(403, detail="a merchant can only read and declare its own lots")


@router.post("/v1/merchants/{merchant_id}/lots", response_model=LotOut, status_code=201,
             openapi_extra=LOTS_PARAMETERS.openapi, responses={**ERRORS, **documented_errors(400, 413)},
             summary="Declare a harvest lot (the merchant's own token)",
             description="Units of the merchant's items on offer from `available_from` until `sell_by` (when they "
                         "spoil or the season ends), optionally only to some city tiers and regions. Purchases of the "
                         "lot's items within its window count against it, once per event id, on every worker. "
                         "Answers the lot with its projection: 201, or 200 for the same definition again; 409 for "
                         "another definition under the same id.")
def declare_lot(request: Request, state: State, merchant: Merchant, body: LotIn) -> Response:
    path, _ = LOTS_PARAMETERS.parse(request)
    own(merchant, path.merchant_id)
    served, store = state.current(), state.event_store()
    lot = checked_lot(body, merchant, served)
    existed = store.lots.get(merchant, lot.lot_id) is not None
    try:
        record = store.lots.declare(lot)
    except LotConflict as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    return json_response(reports(state, served, [record])[0], status_code=200 if existed else 201)


@router.get("/v1/merchants/{merchant_id}/lots", response_model=LotsResponse,
            openapi_extra=LOTS_PARAMETERS.openapi, responses=ERRORS,
            summary="A merchant's harvest lots with sales, projection and audience (its own token)",
            description="Every lot the merchant declared, withdrawn ones too, with units sold and remaining, the "
                        "sell-through projection (expected sales by the sell-by date from the published forecast, "
                        "P10/P50/P90, per city tier, the shortfall and the cumulative curve) and the audience that "
                        "could take it per city tier.")
def list_lots(request: Request, state: State, merchant: Merchant) -> Response:
    path, _ = LOTS_PARAMETERS.parse(request)
    own(merchant, path.merchant_id)
    served, store = state.current(), state.event_store()
    return json_response({"lots": reports(state, served, store.lots.of_merchant(merchant))})


@router.delete("/v1/merchants/{merchant_id}/lots/{lot_id}", response_model=LotOut,
               openapi_extra=LOT_PARAMETERS.openapi, responses=ERRORS,
               summary="Withdraw a harvest lot (the merchant's own token)",
               description="The lot stops counting purchases; it stays listed, with `withdrawn_at` (withdrawing it "
                           "again changes nothing). 404 for a lot the merchant did not declare.")
def withdraw_lot(request: Request, state: State, merchant: Merchant) -> Response:
    path, _ = LOT_PARAMETERS.parse(request)
    own(merchant, path.merchant_id)
    served, store = state.current(), state.event_store()
    stored_lot(store, merchant, path.lot_id)  # 404 for a lot the merchant did not declare
    store.lots.withdraw(merchant, path.lot_id)
    return json_response(reports(state, served, [stored_lot(store, merchant, path.lot_id)])[0])


@admin_router.get("/v1/admin/lots", response_model=LotsResponse, openapi_extra=ADMIN_PARAMETERS.openapi,
                  responses=documented_errors(401, 403, 422, 429, 503),
                  summary="Every merchant's harvest lots (admin key required)",
                  description="The lots of every merchant still on offer, each with its projection; `at_risk=true` "
                              "keeps those whose projected P50 sales fall short of their remaining units.")
def admin_lots(request: Request, state: State) -> Response:
    _, query = ADMIN_PARAMETERS.parse(request)
    served, store = state.current(), state.event_store()
    on_offer = [record for record in store.lots.all() if record.withdrawn_us is None]
    found = reports(state, served, on_offer)
    if query.at_risk:
        found = [lot for lot in found if lot["projection"] is not None and lot["projection"]["at_risk"]]
    return json_response({"lots": found})


@router.post("/v1/merchants/{merchant_id}/lots/{lot_id}/clearance", response_model=ClearanceOut, status_code=201,
             openapi_extra=LOT_PARAMETERS.openapi, responses={**ERRORS, **documented_errors(400, 413)},
             summary="Start a lot's clearance campaign from its projected shortfall (the merchant's own token)",
             description="A campaign whose goal is the lot's projected shortfall (P50) in units sold by its sell-by "
                         "date: it places the lot's items for the lot's audience only, within the relevance gate, "
                         "paces on the lot's sales against a plan that sells its remaining units evenly to the "
                         "sell-by date, and stops when the lot is sold out or withdrawn. Its impression budget is "
                         "the shortfall over the measured conversion of past campaigns (with a prior). 409 for a "
                         "lot withdrawn, sold out, projected to sell out without a campaign, or with one already.")
def start_clearance(request: Request, state: State, merchant: Merchant, body: ClearanceIn | None = None
                    ) -> Response:
    path, _ = LOT_PARAMETERS.parse(request)
    own(merchant, path.merchant_id)
    served, store = state.current(), state.event_store()
    record = stored_lot(store, merchant, path.lot_id)
    if record.withdrawn_us is not None or record.remaining <= 0:
        raise HTTPException(409, detail=f"lot {path.lot_id!r} is {'withdrawn' if record.remaining > 0 else 'sold out'}")
    forecast, period_days = forecast_rows(state, merchant)
    if forecast is None:
        raise HTTPException(503, detail="no forecasts published: a clearance is sized on the lot's projection")
    now = datetime.now(UTC)
    engine = served.model.engine
    audiences = lot_audiences(engine, record)  # computed once: the projection and the audience read them
    projection = lot_projection(record, forecast, period_days, now,
                                lot_reach(engine, record, lot_demand(engine, record, audiences)))
    shortfall = projection.shortfall["p50"]
    if shortfall <= 0:
        raise HTTPException(409, detail=f"lot {path.lot_id!r} is projected to sell out by its sell-by date without a "
                                        f"campaign (P50 {projection.expected['p50']:.1f} of {record.remaining} units)")
    impressions, purchases = store.campaigns.conversions()
    conversion = conversion_rate(impressions, purchases)
    body = body or ClearanceIn()
    campaign = clearance_campaign(merchant, record.lot_id, record.items, record.remaining, shortfall,
                                  projection.sell_by, projection.start, conversion, body.audience)
    try:
        stored = store.campaigns.add(campaign.to_dict(), to_us(campaign.start), to_us(campaign.end))
    except ValueError as exc:
        raise HTTPException(409, detail=f"lot {path.lot_id!r} has a clearance campaign already "
                                        f"({campaign.campaign_id})") from exc
    audience = clearance_audience(engine, record, body.audience, audiences)
    return json_response({"campaign": report(stored, served, store), "goal_units": shortfall,
                          "conversion": conversion, "measured_impressions": impressions,
                          "measured_purchases": purchases, "audience_buyers": int(audience.sum())},
                         status_code=201)

