"""Campaigns as a served model runs them: paced, gated placement of campaign items in buyers' lists.

Every worker follows the event store's campaigns (:meth:`LiveCampaigns.follow`, from the watcher
every quarter of a second): it resolves each running campaign's items to the model's item codes,
reads the impressions delivered by every worker, and updates the campaign's pacing multiplier
against the plan (:mod:`recommender.campaigns`). A recommendation list then gets its campaign
items (:meth:`LiveCampaigns.place`):

1. the buyer's scores of the whole catalog, once per request with a running campaign;
2. per campaign open now (in its window, budget left, not ahead of its plan), the items that pass
   the relevance gate for this buyer (within the buyer's top
   ``gate_share`` of the catalog, or of a category or region the buyer has bought), available and
   not bought; gated campaign items already in the list are the campaign's too;
3. the best gated item is lifted by the multiplier times the list's score spread and enters the
   list where its lifted score ranks, if that is within the list (and the top 10 holds fewer than
   ``max_in_top10`` of the campaign's items); it shows the score of the item whose place it
   takes, so that the answer's scores still never rise down the list;
4. the impressions are counted in the store in one transaction, within the budget and the
   buyer's frequency cap (:meth:`recommender.store.Campaigns.reserve_impressions`): only what
   is granted is marked (``"campaign": id``) and, for lifted items, shown.

A lot's clearance campaign is placed for its audience only (computed when a worker starts placing
it), paced on the lot's sales, and stopped by the first worker that sees the lot sold out or
withdrawn; the store grants it nothing from the moment the lot has no units left.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from recommender.campaigns import TOP, Campaign, PacedCampaign, Placer, TrafficCurve
from recommender.engine import Histories, RecommendationEngine
from recommender.explain import Explainer
from recommender.lots import clearance_audience
from recommender.store import CampaignRecord, EventStore
from serving.precomputed import Listed

log = logging.getLogger(__name__)

TRAFFIC_EVENTS = 100_000  # newest events whose arrival times give the traffic curve


class LiveCampaigns:
    """The running campaigns of one served model, and their placement in its lists among the
    ``available`` items (the live overlay's, :attr:`serving.live.LiveItems.available`)."""

    def __init__(self, engine: RecommendationEngine, explainer: Explainer, available: np.ndarray):
        self.engine, self.explainer = engine, explainer
        self.placer = Placer(engine.catalog, available)
        self.running: dict[str, PacedCampaign] = {}
        self.not_placed: set[str] = set()  # ended before this model served, or items it does not know
        self.curve: TrafficCurve | None = None

    def follow(self, store: EventStore, now: datetime | None = None) -> None:
        """Pick up campaigns created or stopped, the impressions every worker delivered, and update
        each campaign's multiplier."""
        now = now or datetime.now(UTC)
        records = {record.campaign_id: record for record in store.campaigns.all()
                   if record.stopped_us is None}
        for campaign_id in set(self.running) - set(records):
            del self.running[campaign_id]
        for campaign_id, record in records.items():
            if campaign_id in self.not_placed:
                continue
            running = self.running.get(campaign_id) or self._start(record, store, now)
            if running is None:
                continue
            clearance = running.campaign.clearance
            if clearance is None:
                running.follow(record.delivered, now)
                continue
            lot = store.lots.get(*clearance.lot)
            if lot is None or lot.withdrawn_us is not None or lot.remaining <= 0:  # its goal is met, or gone
                store.campaigns.stop(campaign_id)
                del self.running[campaign_id]
                log.info("clearance %s stopped: lot %s %s", campaign_id, clearance.lot_id,
                         "sold out" if lot is not None and lot.remaining <= 0 else "withdrawn")
                continue
            running.follow(record.delivered, now, sold=lot.units_sold - (lot.units - clearance.remaining))

    def _start(self, record: CampaignRecord, store: EventStore, now: datetime) -> PacedCampaign | None:
        campaign = Campaign.from_dict(record.definition)
        try:
            member = campaign.item_mask(self.engine.catalog)
        except ValueError as exc:  # items this model does not know: placed by a model that does
            log.warning("campaign %s not placed by this model: %s", campaign.campaign_id, exc)
            member = None
        if member is None or campaign.end <= now:
            self.not_placed.add(campaign.campaign_id)
            return None
        if self.curve is None:
            newest = store.events.after(max(0, store.events.last_seq() - TRAFFIC_EVENTS), limit=TRAFFIC_EVENTS)
            received = [event.received_us for event in newest]
            self.curve = TrafficCurve.from_times(pd.Series(pd.to_datetime(received, unit="us", utc=True)))
        audience = None
        if campaign.clearance is not None:
            lot = store.lots.get(*campaign.clearance.lot)
            if lot is None:
                self.not_placed.add(campaign.campaign_id)
                return None
            audience = clearance_audience(self.engine, lot, campaign.clearance.audience)
        running = PacedCampaign(campaign, np.flatnonzero(member), self.curve, audience=audience)
        self.running[campaign.campaign_id] = running
        log.info("campaign %s placed: %d items, %d impressions from %s to %s", campaign.campaign_id,
                 len(running.codes), campaign.impressions, campaign.start, campaign.end)
        return running

    def active(self, now: datetime | None = None) -> list[PacedCampaign]:
        """The campaigns open now (in their window, with budget left)."""
        now = now or datetime.now(UTC)
        return [running for running in self.running.values() if running.open(now)]

    async def place(self, store: EventStore, user_id: str, user_code: int, tier: int | None, bought: np.ndarray,
                    listed: Listed, histories: Histories | None = None, ranked: bool = False
                    ) -> tuple[Listed, dict[int, str]]:
        """``listed`` (a buyer's list, best first; reason ids or None) with the open campaigns' items
        placed, and the campaign id of every item shown for a campaign, by position. ``ranked``:
        ``listed`` is a storefront's candidates in the model's order (``/v1/rank``), of which only a
        campaign item ranked below the first TOP may be lifted into them."""
        active = self.active()
        if not active or len(listed.codes) == 0:
            return listed, {}
        scores = self.engine.score_items(user_code, None, tier, histories)  # the whole catalog, for the gate
        reasons = listed.reason_ids if listed.reason_ids is not None else np.zeros(len(listed.codes), dtype=np.int32)
        entries = [[code, score, reason, None] for code, score, reason in zip(
            listed.codes.tolist(), listed.scores.tolist(), reasons.tolist())]  # code, score, reason id, campaign
        for running in active:
            if user_id not in running.capped and running.reaches(user_code):
                await self._place_campaign(running, store, user_id, tier, bought, scores, entries, ranked)
        entries = entries[:len(listed.codes)]
        codes, shown, reason_ids, campaigns = zip(*entries)
        return (Listed(np.array(codes, dtype=np.int64), np.array(shown, dtype=np.float32),
                       None if listed.reason_ids is None else np.array(reason_ids, dtype=np.int32)),
                {position: campaign for position, campaign in enumerate(campaigns) if campaign is not None})

    async def _place_campaign(self, paced: PacedCampaign, store: EventStore, user_id: str, tier: int | None,
                              bought: np.ndarray, scores: np.ndarray, entries: list[list[Any]], ranked: bool) -> None:
        """Mark the campaign's gated items among the first TOP ``entries`` and lift one more in (for
        ``ranked`` candidates, one of those below the first TOP), as far as the store grants
        impressions (changes ``entries``)."""
        campaign = paced.campaign
        codes = np.array([entry[0] for entry in entries], dtype=np.int64)
        placement = self.placer.place(paced, scores, bought, codes[:TOP] if ranked else codes,
                                      np.array([entry[3] is not None for entry in entries], dtype=bool),
                                      pool=codes[TOP:] if ranked else None)
        shown = [entries[position][0] for position in placement.organic] + (
            [] if placement.lifted is None else [placement.lifted[1]])
        if not shown:
            return
        items = [str(item) for item in self.engine.items.decode(shown)]
        granted = await asyncio.to_thread(store.campaigns.reserve_impressions, campaign.campaign_id, user_id, items,
                                          campaign.per_buyer_cap,
                                          None if campaign.clearance is None else campaign.clearance.lot)
        paced.delivered += granted  # this worker's view until the next follow reads every worker's
        if granted < len(shown):
            paced.capped.add(user_id)  # the budget or the buyer's cap ran out
        for position in placement.organic[:granted]:
            entries[position][3] = campaign.campaign_id
        if placement.lifted is not None and granted == len(shown):
            position, code = placement.lifted
            if ranked:  # the candidate moves up
                entries.pop(next(index for index, entry in enumerate(entries) if entry[0] == code))
            reason = int(self.explainer.reason_ids(np.array([code]), bought, tier)[0])
            # it shows the score of the place it takes, so that scores still never rise down the list
            entries.insert(position, [code, entries[position][1], reason, campaign.campaign_id])
