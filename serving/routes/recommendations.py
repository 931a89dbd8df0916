"""Recommendations for a buyer: ``GET /v1/users/{user_id}/recommendations``, ``POST /v1/rank`` and
``GET /v1/users/{user_id}/buy-again``.

Known buyers' requests with default parameters are answered from their precomputed lists
(:mod:`serving.precomputed`); the others are scored in batches with the requests that arrive with
them (:mod:`serving.batching`). Handlers are ``async def``: their work is short CPU work (a row
lookup, one product with the item vectors, a partial sort: well under a millisecond), which a
threadpool would only slow down; the server scales with processes.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from recommender.engine import Histories
from recommender.explain import popular_id, repeat_reason
from recommender.models.repeat import day_end_us
from recommender.store import to_us
from serving.live import LiveBuyer, LiveOverlay
from serving.parameters import NO_PARAMETERS, Parameters
from serving.precomputed import Listed, valid_prefix
from serving.responses import documented_errors, json_response
from serving.schemas import (
    MAX_CANDIDATES,
    BuyAgainQuery,
    BuyAgainResponse,
    BuyerPath,
    RankRequest,
    RankResponse,
    RecommendationsQuery,
    RecommendationsResponse,
)
from serving.served import ServedModel
from serving.state import ServingState, state_of

UNSCORED = -1e30  # /v1/rank's score of a candidate the model cannot score

router = APIRouter(tags=["recommend"])
RECOMMENDATIONS_PARAMETERS = Parameters(RecommendationsQuery, path=BuyerPath)
BUY_AGAIN_PARAMETERS = Parameters(BuyAgainQuery, path=BuyerPath)


@router.get("/v1/users/{user_id}/recommendations", response_model=RecommendationsResponse,
            openapi_extra=RECOMMENDATIONS_PARAMETERS.openapi, responses=documented_errors(422, 503),
            summary="Top-k items for a buyer",
            description="Known buyers get a personalised list; buyers unknown to the model get the city-tier-aware "
                        "cold-start ranking (`personalized: false`). Unavailable items are never returned; "
                        "`max_price` leaves out items without a price; an unknown `category` or `region` is a 422 "
                        "listing the known values.")
async def recommendations(request: Request) -> Response:
    state = state_of(request.app)
    model, live = state.current()
    path, query = RECOMMENDATIONS_PARAMETERS.parse(request)
    user_id = path.user_id
    engine = model.engine
    mask = model.filter_mask(query.category, query.region, query.max_price)
    k, tier = query.k, query.city_tier
    niche = engine.knob(query.niche)
    distinct = engine.distinct(query.distinct_products)
    cap = engine.max_per_group if query.max_per_group is None else query.max_per_group
    rules = {"distinct_products": distinct, "max_per_group": cap, "date": query.date}
    defaults = (mask is None and query.exclude_purchased and niche == engine.default_niche
                and distinct == engine.distinct() and cap == engine.max_per_group and query.date is None)
    buyer = live.buyers.get(user_id)
    if buyer is not None:  # purchases since training: the buyer's history as the event store has it
        own = live_list(model, live, buyer, k, tier, niche, mask, query.exclude_purchased, defaults, rules)
        tier = tier or buyer.tier
        own, campaigns = await _with_campaigns(state, live, user_id, buyer.code, tier, buyer.bought, own,
                                               buyer.histories(engine.n_items))
        return _answer(model, user_id, True, niche, tier, own, campaigns)
    code = engine.users.code_of(user_id)
    listed = model.default_lists.top(code, k, tier) if defaults and model.default_lists is not None else None
    if listed is not None and not live.items.shows(listed.codes):
        listed = None  # an item of the precomputed list was made unavailable since: compute the list
    if listed is None:
        key = (k, query.exclude_purchased, niche, query.category, query.region, query.max_price, distinct, cap,
               query.date)
        listed = valid_prefix(*await state.batcher.recommend(
            engine, key, code, tier, available=live.available, k=k, niche=niche, mask=mask,
            include_purchased=not query.exclude_purchased, **rules))
    codes, scores, reason_ids = listed
    if tier is None:
        tier = int(engine.user_tiers[code]) if code >= 0 else 0
    if code < 0:
        return _answer(model, user_id, False, niche, tier, Listed(codes, scores, np.full(len(codes), popular_id(tier))))
    bought = engine.bought(code)
    if reason_ids is None:
        reason_ids = model.explainer.reason_ids(codes, bought, tier)
    listed, campaigns = await _with_campaigns(state, live, user_id, code, tier, bought,
                                              Listed(codes, scores, reason_ids))
    return _answer(model, user_id, True, niche, tier, listed, campaigns)


async def _with_campaigns(state: ServingState, live: LiveOverlay, user_id: str, code: int, tier: int,
                          bought: np.ndarray, listed: Listed, histories: Histories | None = None,
                          ranked: bool = False) -> tuple[Listed, dict[int, str]]:
    """A personalised list (or, ``ranked``, a storefront's candidates in the model's order) with the
    open campaigns' items placed (:mod:`serving.campaigns`), and the campaign of each item shown
    for one, by position; as it is without a running campaign."""
    store = state.store
    if store is None or not live.campaigns.running:
        return listed, {}
    return await live.campaigns.place(store, user_id, code, tier or None, bought, listed, histories, ranked)


def live_list(model: ServedModel, live: LiveOverlay, buyer: LiveBuyer, k: int, tier: int | None, niche: float,
              mask: np.ndarray | None, exclude_purchased: bool, defaults: bool, rules: dict[str, Any]) -> Listed:
    """A buyer's list from the history the event store has (:mod:`serving.live`): the recomputed
    default list when the request asks for it (in the week it was ranked for), else scored now (one
    buyer: no batching) with the list ``rules`` (``distinct_products``, ``max_per_group``, the
    season's ``date``) the request asks for."""
    if (defaults and tier is None and k <= live.buyers.depth and buyer.listed_for_now()
            and live.items.shows(buyer.listed.codes[:k])):
        codes, scores, reason_ids = buyer.listed
        return Listed(codes[:k], scores[:k], None if reason_ids is None else reason_ids[:k])
    engine = model.engine
    codes, scores = engine.recommend(np.array([buyer.code]), k, niche=niche, mask=mask, tiers=buyer.tiers(tier),
                                     include_purchased=not exclude_purchased,
                                     histories=buyer.histories(engine.n_items), available=live.available,
                                     **rules)
    listed = valid_prefix(codes[0], scores[0])
    return Listed(*listed[:2], model.explainer.reason_ids(listed.codes, buyer.bought, tier or buyer.tier or None))


def _answer(model: ServedModel, user_id: str, personalized: bool, niche: float, tier: int, listed: Listed,
            campaigns: dict[int, str] | None = None) -> Response:
    codes, scores, reason_ids = listed
    assert reason_ids is not None  # every list answered is explained first (live, precomputed or now)
    return json_response({"user_id": user_id, "personalized": personalized, "model_version": model.model_version,
                          "niche": niche, "city_tier": tier or None,
                          "items": model.items_json.items(codes, scores, reason_ids, campaigns)})


@router.post("/v1/rank", response_model=RankResponse, openapi_extra=NO_PARAMETERS.openapi,
             responses=documented_errors(400, 413, 422, 503),
             summary="Order candidate items for a buyer",
             description=f"Re-orders 1..{MAX_CANDIDATES} item ids by the model's relevance for the buyer (no niche "
                         "re-ranking; items already bought are ranked too). Unknown ids are listed in "
                         "`unknown_item_ids` and unavailable ones in `unavailable_item_ids`; neither is ranked. "
                         "Duplicate ids are ranked once. A running campaign may mark candidates of its own in the "
                         "first 10 (`campaign`) and lift one from below into them, as in recommendation lists.")
async def rank(request: Request, body: RankRequest) -> Response:
    state = state_of(request.app)
    model, live = state.current()
    NO_PARAMETERS.parse(request)
    engine = model.engine
    ids = list(dict.fromkeys(body.item_ids))
    codes = np.asarray(engine.items.encode(ids), dtype=np.int64)
    unknown = [item for item, c in zip(ids, codes.tolist()) if c < 0]
    known = codes[codes >= 0]
    available = live.available[known]
    unavailable = [str(model.item_ids[c]) for c in known[~available].tolist()]
    known = known[available]
    buyer = live.buyers.get(body.user_id)  # purchases since training: scored from the store's history
    user, tier, histories = engine.users.code_of(body.user_id), body.city_tier, None
    if buyer is not None:
        user, tier, histories = buyer.code, tier or buyer.tier or None, buyer.histories(engine.n_items)
    items: list[dict[str, Any]] = []
    if len(known):
        scores = engine.score_items(user, known, tier, histories)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        order = np.argsort(-scores, kind="stable")
        listed = Listed(known[order], scores[order].astype(np.float32))
        campaigns: dict[int, str] = {}
        if buyer is not None or user >= 0:  # campaigns go to buyers with a history only (the gate)
            listed, campaigns = await _with_campaigns(state, live, body.user_id, user, tier or 0,
                                                      buyer.bought if buyer is not None else engine.bought(user),
                                                      listed, histories, ranked=True)
        # float32's shortest decimal, as the list routes write scores; JSON has no -inf
        shown = np.where(np.isfinite(listed.scores), listed.scores, UNSCORED).astype(np.float32).astype(str).astype(
            np.float64)
        items = [{"item_id": str(model.item_ids[c]), "score": s, "campaign": campaigns.get(position)}
                 for position, (c, s) in enumerate(zip(listed.codes.tolist(), shown.tolist()))]
    return json_response({"user_id": body.user_id, "personalized": user >= 0 or buyer is not None,
                          "model_version": model.model_version,
                          "items": items, "unknown_item_ids": unknown, "unavailable_item_ids": unavailable})


@router.get("/v1/users/{user_id}/buy-again", response_model=BuyAgainResponse,
            openapi_extra=BUY_AGAIN_PARAMETERS.openapi, responses=documented_errors(422, 503),
            summary="Items a buyer is likely to buy again soon",
            description="The buyer's earlier items ranked by the probability of buying each again soon (repeat "
                        "timing: the buyer's own pace with the item, shrunk to the item's and its category's), "
                        "with a reason such as \"you buy this about every 5 weeks; last bought 6 weeks ago\". "
                        "Scored as of now (or the end of `date`), with the purchases the event store received "
                        "since training (a purchase just made says \"last bought today\"; a returned one no "
                        "longer counts). Unavailable items are left out; a buyer without a history gets an empty "
                        "list.")
async def buy_again(request: Request) -> Response:
    state = state_of(request.app)
    model, live = state.current()
    path, query = BUY_AGAIN_PARAMETERS.parse(request)
    engine = model.engine
    if engine.repeat is None:  # trained before buy-again, or its validation window could not teach it
        codes, scores, reasons = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), []
    else:
        at_us = to_us(datetime.now(UTC)) if query.date is None else day_end_us(query.date)
        buyer = live.buyers.get(path.user_id)
        code = buyer.code if buyer is not None else engine.users.code_of(path.user_id)
        since = (None, None) if buyer is None else (buyer.purchases, buyer.purchased_us)
        found = engine.repeat.buyer(code, at_us, *since).top(query.k, live.available)
        codes, scores = found.items, found.probability
        reasons = [repeat_reason(days, ago) for days, ago in zip(found.interval.tolist(), found.last_age.tolist())]
    return json_response({"user_id": path.user_id, "model_version": model.model_version,
                          "items": model.items_json.items(codes, scores, reasons)})
