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
   ``max_in_top10`` of the campaign's items);
4. the impressions are counted in the store in one transaction, within the budget and the
   buyer's frequency cap (:meth:`recommender.store.EventStore.reserve_impressions`): only what
   is granted is marked (``"campaign": id``) and, for lifted items, shown.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from recommender.campaigns import Campaign, PacingController, TrafficCurve, lifted_position, passes_gate
from recommender.engine import Histories, RecommendationEngine
from recommender.explain import Explainer
from recommender.store import CampaignRecord, EventStore, from_us
from serving.precomputed import Listed

log = logging.getLogger(__name__)

TOP = 10  # the slot policy counts campaign items in the first TOP positions
TRAFFIC_EVENTS = 100_000  # newest events whose arrival times give the traffic curve
AHEAD_SLACK = 0.01  # how far (share of the budget) delivery may run ahead of the plan


@dataclass
class RunningCampaign:
    """A campaign this worker places: its item codes, plan and pacing state."""

    campaign: Campaign
    codes: np.ndarray  # the model's codes of the campaign's items
    member: np.ndarray  # bool per item code
    curve: TrafficCurve
    controller: PacingController = field(default_factory=PacingController)
    delivered: int = 0
    updated: datetime | None = None
    capped: set = field(default_factory=set)  # buyers the store refused for the cap (no more asking)

    def planned(self, now: datetime) -> float:
        """Impressions the plan has delivered by ``now``."""
        campaign = self.campaign
        return campaign.impressions * self.curve.share(campaign.start, campaign.end, now)

    def follow(self, delivered: int, now: datetime) -> None:
        """Take the impressions delivered by every worker and update the multiplier."""
        self.delivered = delivered
        seconds = 0.0 if self.updated is None else (now - self.updated).total_seconds()
        self.controller.update((self.planned(now) - delivered) / self.campaign.impressions, seconds)
        self.updated = now

    def open(self, now: datetime) -> bool:
        """Whether to place the campaign now: in its window, with budget left, and not ahead of its
        plan by more than AHEAD_SLACK of the budget (counting this worker's grants since the last
        follow), so delivery never runs ahead of the traffic curve."""
        campaign = self.campaign
        return (campaign.start <= now < campaign.end and self.delivered < min(
            campaign.impressions, self.planned(now) + AHEAD_SLACK * campaign.impressions))


class LiveCampaigns:
    """The running campaigns of one served model, and their placement in its lists."""

    def __init__(self, engine: RecommendationEngine, explainer: Explainer):
        self.engine, self.explainer = engine, explainer
        catalog = engine.catalog
        self.item_category = _codes(catalog, "category")
        self.item_region = _codes(catalog, "region")
        self.running: dict[str, RunningCampaign] = {}
        self.not_placed: set[str] = set()  # ended before this model served, or items it does not know
        self.curve: TrafficCurve | None = None

    def follow(self, store: EventStore, now: datetime | None = None) -> None:
        """Pick up campaigns created or stopped, the impressions every worker delivered, and update
        each campaign's multiplier."""
        now = now or datetime.now(timezone.utc)
        records = {record.campaign_id: record for record in store.campaigns()
                   if record.stopped_us is None}
        for campaign_id in set(self.running) - set(records):
            del self.running[campaign_id]
        for campaign_id, record in records.items():
            if campaign_id in self.not_placed:
                continue
            running = self.running.get(campaign_id) or self._start(record, store, now)
            if running is not None:
                running.follow(record.delivered, now)

    def _start(self, record: CampaignRecord, store: EventStore, now: datetime) -> RunningCampaign | None:
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
            received = [event.received_us for event in store.events_after(max(0, store.last_seq() - TRAFFIC_EVENTS),
                                                                              limit=TRAFFIC_EVENTS)]
            self.curve = TrafficCurve.from_times(pd.Series([from_us(us) for us in received], dtype="datetime64[us, UTC]"))
        running = RunningCampaign(campaign, np.flatnonzero(member), member, self.curve)
        self.running[campaign.campaign_id] = running
        log.info("campaign %s placed: %d items, %d impressions from %s to %s", campaign.campaign_id,
                 len(running.codes), campaign.impressions, campaign.start, campaign.end)
        return running

    def active(self, now: datetime | None = None) -> list[RunningCampaign]:
        """The campaigns open now (in their window, with budget left)."""
        now = now or datetime.now(timezone.utc)
        return [running for running in self.running.values() if running.open(now)]

    async def place(self, store: EventStore, user_id: str, user_code: int, tier: int | None, bought: np.ndarray,
                    listed: Listed, histories: Histories | None = None) -> tuple[Listed, dict[int, str]]:
        """``listed`` (a buyer's list, best first) with the open campaigns' items placed, and the
        campaign id of every item shown for a campaign, by position."""
        active = self.active()
        if not active or len(listed.codes) == 0:
            return listed, {}
        scores = self.engine.score_items(user_code, None, tier, histories)  # the whole catalog, for the gate
        reasons = (listed.reason_ids if listed.reason_ids is not None
                   else self.explainer.reason_ids(listed.codes, bought, tier))
        entries = [[code, score, reason, None] for code, score, reason in zip(
            listed.codes.tolist(), listed.scores.tolist(), reasons.tolist())]  # code, score, reason id, campaign
        for running in active:
            if user_id not in running.capped:
                await self._place_campaign(running, store, user_id, tier, bought, scores, entries)
        entries = entries[:len(listed.codes)]
        codes, shown, reason_ids, campaigns = zip(*entries)
        return (Listed(np.array(codes, dtype=np.int64), np.array(shown, dtype=np.float32),
                       np.array(reason_ids, dtype=np.int32)),
                {position: campaign for position, campaign in enumerate(campaigns) if campaign is not None})

    async def _place_campaign(self, running: RunningCampaign, store: EventStore, user_id: str, tier: int | None,
                              bought: np.ndarray, scores: np.ndarray, entries: list[list]) -> None:
        """Mark the campaign's gated items among the first TOP ``entries`` and lift one more in, as
        far as the store grants impressions (changes ``entries``)."""
        campaign = running.campaign
        listed = np.array([entry[0] for entry in entries], dtype=np.int64)
        gated = self.gated(running.codes, campaign.gate_share, scores, bought)
        organic = [position for position, entry in enumerate(entries[:TOP])
                   if entry[3] is None and entry[0] in gated][:campaign.max_in_top10]
        lifted = None if len(organic) >= campaign.max_in_top10 else self._lifted(
            running, scores, gated[~np.isin(gated, listed)], listed)
        codes = [entries[position][0] for position in organic] + ([] if lifted is None else [lifted[1]])
        if not codes:
            return
        items = [str(self.engine.items.ids[code]) for code in codes]
        granted = await asyncio.to_thread(store.reserve_impressions, campaign.campaign_id, user_id, items,
                                          campaign.per_buyer_cap)
        running.delivered += granted  # this worker's view until the next follow reads every worker's
        if granted < len(codes):
            running.capped.add(user_id)  # the budget or the buyer's cap ran out
        for position in organic[:granted]:
            entries[position][3] = campaign.campaign_id
        if lifted is not None and granted == len(codes):
            position, code = lifted
            reason = int(self.explainer.reason_ids(np.array([code]), bought, tier)[0])
            entries.insert(position, [code, float(scores[code]), reason, campaign.campaign_id])

    def gated(self, codes: np.ndarray, gate_share: float, scores: np.ndarray, bought: np.ndarray) -> np.ndarray:
        """Of the campaign items ``codes``, those a buyer with catalog ``scores`` who bought
        ``bought`` may be shown: available, not bought, and through the relevance gate."""
        candidates = codes[self.engine.available[codes]]
        candidates = candidates[~np.isin(candidates, bought)]
        if len(candidates) == 0:
            return candidates
        profile = _shared(self.item_category, candidates, bought) | _shared(self.item_region, candidates, bought)
        return candidates[passes_gate(scores, candidates, gate_share, profile)]

    def _lifted(self, running: RunningCampaign, scores: np.ndarray, candidates: np.ndarray, listed: np.ndarray
                ) -> tuple[int, int] | None:
        """The position and code of the campaign item to lift into the first TOP of the list
        ``listed``: the best of ``candidates``, if lifted by the multiplier it ranks within them."""
        if len(candidates) == 0:
            return None
        best = int(candidates[np.argmax(scores[candidates])])
        head = np.sort(scores[listed[:TOP]])[::-1]
        position = lifted_position(head, float(scores[best]), running.controller.multiplier)
        return (position, best) if position < len(head) else None


def _shared(values: np.ndarray, candidates: np.ndarray, bought: np.ndarray) -> np.ndarray:
    """Whether each candidate's value (a category or region code; -1: unknown) is one of the bought items'."""
    known = values[bought]
    return (values[candidates] >= 0) & np.isin(values[candidates], known[known >= 0])


def _codes(catalog: pd.DataFrame, column: str) -> np.ndarray:
    """A catalog column's value codes per item (-1 where missing or unknown, never matching)."""
    if column not in catalog:
        return np.full(len(catalog), -1, dtype=np.int64)
    codes, uniques = pd.factorize(catalog[column].astype(object), use_na_sentinel=True)
    unknown = np.isin(np.asarray(uniques, dtype=object), ["", "unknown"])
    return np.where((codes >= 0) & ~unknown[np.maximum(codes, 0)], codes, -1).astype(np.int64)
