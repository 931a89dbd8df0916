"""Campaigns: a promised exposure for shortlisted goods, delivered evenly, and only where it fits.

A :class:`Campaign` names its items (explicit ids, or a :class:`Selection` of the catalog by tags,
regions, merchants and categories), a time window, an impression budget, a per-buyer frequency
cap and a slot policy (at most ``max_in_top10`` campaign items in a top 10). An impression is one
campaign item, marked as such, in one answered list.

Delivery is paced as ad servers pace budgets:

* the **plan** (:class:`TrafficCurve`) spreads the budget over the window in proportion to the
  traffic expected in each hour of the week (flat without history), so a campaign is not burnt in
  its first hour and catches up in busy hours rather than at night;
* a **multiplier** per campaign (:class:`PacingController`), a proportional-integral controller
  on the planned minus the delivered impressions (as shares of the budget), with anti-windup
  (the integral stops growing while the multiplier is pinned at a bound), sets how far a campaign
  item may be lifted in a buyer's list: 0 lifts nothing, 1 lifts it to the top;
* a **relevance gate** (:func:`passes_gate`) decides where a campaign item may appear at all: it
  already ranks within the buyer's own top ``gate_share`` of the catalog, or the buyer has bought
  goods of its category or region. A buyer no campaign item passes for sees none.

A **clearance campaign** (:class:`Clearance`, started from a harvest lot's projected shortfall)
has a goal in units sold by the lot's sell-by date rather than in impressions: it places the lot's
items for the lot's audience only (within the same gate), its multiplier follows the lot's sales
against a plan that sells the remaining units evenly over the traffic to the sell-by date, its
impression budget is the shortfall over the measured conversion (:func:`conversion_rate`: campaign
impressions followed by purchases, with a prior of :data:`PRIOR_CONVERSION` worth
:data:`PRIOR_IMPRESSIONS` impressions), and it stops when the lot is sold out or withdrawn (the
store grants no impression for a lot without units left).

A campaign's **report** (:func:`campaign_report`): its status (:func:`campaign_status`), planned
against delivered impressions over time (:func:`delivery_curve`), the pacing error and multiplier,
and where the impressions went (buyers reached, per merchant and region), from the store's
delivery counts (:class:`recommender.store.CampaignDelivery`).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.columns import TEXT
from recommender.contract import UNKNOWN_LABEL

if TYPE_CHECKING:
    from recommender.features.encoders import IdEncoder
    from recommender.store import CampaignDelivery, CampaignRecord

HOURS_PER_WEEK = 168
MAX_CAMPAIGN_ITEMS = 10_000
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_CURVE_POINTS = 120  # most minutes a campaign's delivery curve lists


@dataclass(frozen=True)
class Selection:
    """Catalog items chosen by attributes: every listed field must match (any of its values); an
    empty field matches everything. Tags match whole tags, case-insensitively."""

    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self):
        if not (self.tags or self.regions or self.merchants or self.categories):
            raise ValueError("select: name at least one of tags, regions, merchants, categories")

    def mask(self, catalog: pd.DataFrame) -> np.ndarray:
        """Which catalog rows are selected."""
        chosen = np.ones(len(catalog), dtype=bool)
        for column, values in (("region", self.regions), ("merchant_id", self.merchants),
                               ("category", self.categories)):
            if values:
                chosen &= catalog[column].astype(TEXT).isin(values).to_numpy() if column in catalog else False
        if self.tags:
            wanted = {tag.lower() for tag in self.tags}
            tags = catalog["tags"].fillna("").astype(TEXT) if "tags" in catalog else pd.Series([""] * len(catalog))
            chosen &= np.array([bool(wanted & {t.strip().lower() for t in value.split(";")}) for value in tags],
                               dtype=bool)
        return chosen


PRIOR_CONVERSION = 0.02  # purchases per impression assumed before any is measured (e-commerce recommendation slots)
PRIOR_IMPRESSIONS = 1_000  # how many measured impressions the prior weighs as
AUDIENCE_SIZE = 1_000  # a clearance campaign's audience: the likeliest buyers of each part of each lot item


def conversion_rate(impressions: int, purchases: int) -> float:
    """Purchases per campaign impression: the measured ``purchases`` over ``impressions``, shrunk
    towards :data:`PRIOR_CONVERSION` by :data:`PRIOR_IMPRESSIONS` pseudo-impressions (the prior
    until there is enough data)."""
    return (PRIOR_CONVERSION * PRIOR_IMPRESSIONS + purchases) / (PRIOR_IMPRESSIONS + impressions)


@dataclass(frozen=True)
class Clearance:
    """What makes a campaign a lot's clearance: the lot (``merchant_id``, ``lot_id``), its units
    still to sell when the campaign started (``remaining``), the units to sell beyond the organic
    forecast (``goal_units``, the projected shortfall), the ``conversion`` its budget was sized
    with, and the buyers per part and lot item in its audience (``audience``)."""

    merchant_id: str
    lot_id: str
    remaining: int
    goal_units: float
    conversion: float
    audience: int = AUDIENCE_SIZE

    def __post_init__(self):
        if self.remaining < 1:
            raise ValueError("clearance: the lot has no units left")
        if not self.goal_units > 0:
            raise ValueError("clearance: goal_units must be positive")
        if not 0.0 < self.conversion <= 1.0:
            raise ValueError("clearance: conversion must be in (0, 1]")
        if self.audience < 1:
            raise ValueError("clearance: audience must be at least 1")

    @property
    def lot(self) -> tuple[str, str]:
        return self.merchant_id, self.lot_id


def clearance_campaign(merchant_id: str, lot_id: str, items: tuple[str, ...], remaining: int, shortfall: float,
                       sell_by: datetime, now: datetime, conversion: float, audience: int = AUDIENCE_SIZE
                       ) -> Campaign:
    """The clearance campaign of a lot with ``remaining`` units and a projected ``shortfall`` by
    ``sell_by``: its ``items`` from ``now`` to ``sell_by``, ``shortfall / conversion`` impressions
    (at least one), at most one lot item in a top 10 and three impressions per buyer."""
    campaign_id = f"clearance-{merchant_id}-{lot_id}"
    if not CAMPAIGN_ID.match(campaign_id):
        campaign_id = f"clearance-{hashlib.sha256(f'{merchant_id}/{lot_id}'.encode()).hexdigest()[:16]}"
    return Campaign(campaign_id=campaign_id, name=f"clearance of lot {lot_id} ({merchant_id})", start=now,
                    end=sell_by, impressions=max(1, int(np.ceil(shortfall / conversion))), items=tuple(items),
                    clearance=Clearance(merchant_id, lot_id, remaining, float(shortfall), conversion, audience))


@dataclass(frozen=True)
class Campaign:
    """A campaign as an operator defines it (times are aware datetimes, UTC); with ``clearance``,
    a lot's clearance (see the module notes)."""

    campaign_id: str
    name: str
    start: datetime
    end: datetime
    impressions: int
    per_buyer_cap: int = 3
    max_in_top10: int = 1
    items: tuple[str, ...] = ()
    select: Selection | None = None
    gate_share: float = 0.1
    clearance: Clearance | None = None

    def __post_init__(self):
        if not CAMPAIGN_ID.match(self.campaign_id):
            raise ValueError("campaign_id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if bool(self.items) == (self.select is not None):
            raise ValueError("items: give either items (ids) or select (attributes), not both or neither")
        if len(self.items) > MAX_CAMPAIGN_ITEMS:
            raise ValueError(f"items: at most {MAX_CAMPAIGN_ITEMS} ids")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        if self.impressions < 1:
            raise ValueError("impressions: must be a positive number")
        if self.per_buyer_cap < 1:
            raise ValueError("per_buyer_cap: must be at least 1")
        if not 1 <= self.max_in_top10 <= 10:
            raise ValueError("max_in_top10: must be 1..10")
        if not 0.0 < self.gate_share <= 1.0:
            raise ValueError("gate_share: must be in (0, 1]")
        if self.clearance is not None and not self.items:
            raise ValueError("items: a clearance campaign names its lot's items")

    def item_mask(self, catalog: pd.DataFrame, strict: bool = True) -> np.ndarray:
        """The campaign's catalog rows; ``strict`` raises ValueError naming ids the catalog does not
        have (else they are left out)."""
        if self.select is not None:
            return self.select.mask(catalog)
        ids = catalog["item_id"].astype(TEXT)
        unknown = sorted(set(self.items) - set(ids))
        if unknown and strict:
            raise ValueError(f"items: unknown item id(s) {', '.join(map(repr, unknown[:10]))}")
        return ids.isin(self.items).to_numpy()

    def to_dict(self) -> dict:
        """The campaign as the API's JSON (ISO 8601 times)."""
        body = {"campaign_id": self.campaign_id, "name": self.name, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "impressions": self.impressions, "per_buyer_cap": self.per_buyer_cap,
                "max_in_top10": self.max_in_top10, "gate_share": self.gate_share}
        if self.items:
            body["items"] = list(self.items)
        else:
            body["select"] = {name: list(getattr(self.select, name))
                              for name in ("tags", "regions", "merchants", "categories") if getattr(self.select, name)}
        if self.clearance is not None:
            body["clearance"] = asdict(self.clearance)
        return body

    @classmethod
    def from_dict(cls, body: dict) -> Campaign:
        """The campaign of :meth:`to_dict`'s JSON (a campaign file's; raises ValueError naming a bad
        or missing field)."""
        missing = [name for name in ("campaign_id", "name", "start", "end", "impressions") if name not in body]
        if missing:
            raise ValueError(f"{missing[0]}: missing")
        select = body.get("select")
        return cls(campaign_id=body["campaign_id"], name=body["name"], start=_utc(body["start"]),
                   end=_utc(body["end"]), impressions=int(body["impressions"]),
                   per_buyer_cap=int(body.get("per_buyer_cap", 3)), max_in_top10=int(body.get("max_in_top10", 1)),
                   items=tuple(body.get("items") or ()),
                   select=Selection(**{name: tuple(values) for name, values in select.items()}) if select else None,
                   gate_share=float(body.get("gate_share", 0.1)),
                   clearance=Clearance(**body["clearance"]) if body.get("clearance") else None)


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class TrafficCurve:
    """Expected traffic per hour of the week (Monday 00:00 UTC first), any scale; flat by default."""

    hourly: np.ndarray = field(default_factory=lambda: np.ones(HOURS_PER_WEEK))

    def __post_init__(self):
        hourly = np.asarray(self.hourly, dtype=np.float64)
        if hourly.shape != (HOURS_PER_WEEK,) or (hourly < 0).any() or hourly.sum() <= 0:
            raise ValueError(f"a traffic curve is {HOURS_PER_WEEK} non-negative hourly weights, not all 0")

    @classmethod
    def from_times(cls, times: pd.Series, min_events: int = 1_000) -> TrafficCurve:
        """The average hour-of-week profile of past request or purchase ``times`` (UTC); flat with
        fewer than ``min_events`` of them. Every hour keeps a floor of a tenth of the mean, so a
        quiet hour is planned little rather than nothing."""
        times = pd.to_datetime(pd.Series(times), utc=True)
        if len(times) < min_events:
            return cls()
        hours = (times.dt.dayofweek * 24 + times.dt.hour).to_numpy()
        counts = np.bincount(hours, minlength=HOURS_PER_WEEK).astype(np.float64)
        return cls(np.maximum(counts, 0.1 * counts.mean()))

    def _cumulative(self, moment: datetime) -> float:
        """Traffic from the epoch's Monday (1970-01-05) to ``moment``, in hour-weights."""
        hours = (moment - datetime(1970, 1, 5, tzinfo=UTC)) / timedelta(hours=1)
        weeks, within = divmod(hours, HOURS_PER_WEEK)
        whole, part = int(within), within - int(within)
        week = self.hourly.sum()
        return weeks * week + self.hourly[:whole].sum() + part * self.hourly[whole % HOURS_PER_WEEK]

    def share(self, start: datetime, end: datetime, moment: datetime) -> float:
        """The share of the traffic of ``start``..``end`` expected before ``moment`` (0..1)."""
        moment = min(max(moment, start), end)
        total = self._cumulative(end) - self._cumulative(start)
        return float((self._cumulative(moment) - self._cumulative(start)) / total)


@dataclass
class PacingController:
    """A campaign's multiplier in [0, ``ceiling``], from planned and delivered impressions.

    ``update`` takes the error ``(planned - delivered) / budget`` (positive: behind plan) and sets
    ``multiplier = clip(base + kp * error + ki * integral)``, where ``integral`` sums
    ``error * seconds``. Anti-windup: while the multiplier is pinned at a bound, the integral
    does not grow further past it, so the controller recovers at once when the error changes
    sign instead of first unwinding what it piled up."""

    kp: float = 8.0
    ki: float = 0.2
    base: float = 0.3
    ceiling: float = 1.0
    integral: float = 0.0
    multiplier: float = 0.3

    def update(self, error: float, seconds: float) -> float:
        """The multiplier after ``seconds`` with ``error`` (planned minus delivered, as a share of
        the budget)."""
        candidate = self.integral + error * seconds
        raw = self.base + self.kp * error + self.ki * candidate
        saturated_high, saturated_low = raw > self.ceiling, raw < 0.0
        if not ((saturated_high and error > 0) or (saturated_low and error < 0)):
            self.integral = candidate  # integrate only while that does not push further into a bound
        self.multiplier = float(np.clip(self.base + self.kp * error + self.ki * self.integral, 0.0, self.ceiling))
        return self.multiplier


def passes_gate(scores: np.ndarray, candidates: np.ndarray, gate_share: float, profile_match: np.ndarray
                ) -> np.ndarray:
    """Which ``candidates`` (item codes) may be shown to a buyer whose scores of the whole catalog
    are ``scores``: those within the buyer's top ``gate_share`` of the catalog, and those of a
    category or region the buyer has bought (``profile_match``, one flag per candidate)."""
    return (scores[candidates] >= gate_threshold(scores, gate_share)) | np.asarray(profile_match, dtype=bool)


def gate_threshold(scores: np.ndarray, gate_share: float) -> float:
    """The lowest score within a buyer's top ``gate_share`` of the catalog (``scores``: every item's)."""
    n = len(scores)
    keep = max(1, int(np.ceil(gate_share * n)))
    return np.partition(scores, n - keep)[n - keep]


def lifted_position(list_scores: np.ndarray, score: float, multiplier: float) -> int:
    """Where a campaign item of relevance ``score`` enters a list with ``list_scores`` (best first)
    once lifted by ``multiplier`` times the list's score spread (its best minus its last score):
    the index it takes, or ``len(list_scores)`` when even lifted it ranks below the whole list."""
    if len(list_scores) == 0:
        return 0
    spread = float(list_scores[0] - list_scores[-1])
    lifted = score + multiplier * max(spread, 1e-6)
    return int(np.searchsorted(-np.asarray(list_scores, dtype=np.float64), -lifted, side="left"))


AHEAD_SLACK = 0.01  # how far (share of the budget) delivery may run ahead of the plan
TOP = 10  # the slot policy counts campaign items in a list's first TOP positions


@dataclass
class PacedCampaign:
    """A campaign being delivered: its item codes in a model, its plan and its pacing state."""

    campaign: Campaign
    codes: np.ndarray  # the model's codes of the campaign's items
    curve: TrafficCurve
    controller: PacingController = field(default_factory=PacingController)
    delivered: int = 0
    updated: datetime | None = None
    capped: set = field(default_factory=set)  # buyers who reached the cap (or met an exhausted budget)
    audience: np.ndarray | None = None  # a clearance's buyers (a flag per buyer code); None: every buyer

    def planned(self, now: datetime) -> float:
        """Impressions the plan has delivered by ``now``."""
        campaign = self.campaign
        return campaign.impressions * self.curve.share(campaign.start, campaign.end, now)

    def planned_sales(self, now: datetime) -> float:
        """A clearance's lot units the plan has sold by ``now`` since the campaign started: its
        remaining units evenly over the traffic to the sell-by date."""
        campaign = self.campaign
        return campaign.clearance.remaining * self.curve.share(campaign.start, campaign.end, now)

    def follow(self, delivered: int, now: datetime, sold: int | None = None) -> None:
        """Take the impressions delivered so far (by every server worker) and update the multiplier:
        on impressions against their plan, or for a clearance on the lot's units ``sold`` since the
        campaign started against :meth:`planned_sales`."""
        self.delivered = delivered
        seconds = 0.0 if self.updated is None else (now - self.updated).total_seconds()
        clearance = self.campaign.clearance
        if clearance is None:
            error = (self.planned(now) - delivered) / self.campaign.impressions
        else:
            error = (self.planned_sales(now) - (sold or 0)) / clearance.remaining
        self.controller.update(error, seconds)
        self.updated = now

    def open(self, now: datetime) -> bool:
        """Whether to place the campaign now: in its window, with budget left, and (but for a
        clearance, which follows sales) not ahead of its plan by more than AHEAD_SLACK of the
        budget, so delivery never runs ahead of the traffic."""
        campaign = self.campaign
        if not campaign.start <= now < campaign.end or self.delivered >= campaign.impressions:
            return False
        return campaign.clearance is not None or self.delivered < self.planned(now) + AHEAD_SLACK * campaign.impressions

    def reaches(self, user_code: int) -> bool:
        """Whether the campaign may be placed for the buyer ``user_code`` (a clearance: its audience)."""
        return self.audience is None or (0 <= user_code < len(self.audience) and bool(self.audience[user_code]))


@dataclass(frozen=True)
class Placement:
    """A campaign's items in one list: ``organic`` positions (within the first TOP) of gated campaign
    items already there, in list order, and ``lifted``, the (position, item code) of one more
    lifted in, if any."""

    organic: list[int]
    lifted: tuple[int, int] | None


class Placer:
    """Decides where campaign items go in buyers' lists of one catalog (counting is the caller's)."""

    def __init__(self, catalog: pd.DataFrame, available: np.ndarray):
        self.available = available  # the model's availability, shared (items hidden later are honoured)
        self.item_category = catalog_codes(catalog, "category")
        self.item_region = catalog_codes(catalog, "region")

    def gated(self, codes: np.ndarray, gate_share: float, scores: np.ndarray, bought: np.ndarray) -> np.ndarray:
        """Of the campaign items ``codes``, those a buyer with catalog ``scores`` who bought
        ``bought`` may be shown: available, not bought, and through the relevance gate."""
        candidates = codes[self.available[codes]]
        candidates = candidates[~np.isin(candidates, bought)]
        if len(candidates) == 0:
            return candidates
        profile = (_shared(self.item_category, candidates, bought) | _shared(self.item_region, candidates, bought))
        return candidates[passes_gate(scores, candidates, gate_share, profile)]

    def place(self, paced: PacedCampaign, scores: np.ndarray, bought: np.ndarray, listed: np.ndarray,
              taken: np.ndarray, pool: np.ndarray | None = None) -> Placement:
        """The campaign's items in the list ``listed`` (item codes, best first) for a buyer with catalog
        ``scores`` who bought ``bought``; ``taken`` flags positions another campaign marked. The lifted
        item is one of ``pool`` (default: any campaign item not listed)."""
        campaign = paced.campaign
        gated = self.gated(paced.codes, campaign.gate_share, scores, bought)
        head = listed[:TOP]
        organic = [int(p) for p in np.flatnonzero(np.isin(head, gated) & ~taken[:TOP])][:campaign.max_in_top10]
        candidates = gated[~np.isin(gated, listed)] if pool is None else gated[np.isin(gated, pool)]
        if len(organic) >= campaign.max_in_top10 or len(candidates) == 0 or len(head) == 0:
            return Placement(organic, None)
        best = int(candidates[np.argmax(scores[candidates])])
        position = lifted_position(np.sort(scores[head])[::-1], float(scores[best]), paced.controller.multiplier)
        if position >= len(head):
            return Placement(organic, None)
        if organic and organic[-1] == len(listed) - 1:  # the lift pushes it off the list: not shown, not counted
            organic = organic[:-1]
        return Placement(organic, (position, best))


def _shared(values: np.ndarray, candidates: np.ndarray, bought: np.ndarray) -> np.ndarray:
    """Whether each candidate's value (a category or region code; -1: unknown) is one of the bought items'."""
    known = values[bought]
    return (values[candidates] >= 0) & np.isin(values[candidates], known[known >= 0])


def catalog_codes(catalog: pd.DataFrame, column: str) -> np.ndarray:
    """A catalog column's value codes per item (-1 where missing or unknown, never matching)."""
    if column not in catalog:
        return np.full(len(catalog), -1, dtype=np.int64)
    codes, uniques = pd.factorize(catalog[column].astype(object), use_na_sentinel=True)
    unknown = np.isin(np.asarray(uniques, dtype=object), ["", "unknown"])
    return np.where((codes >= 0) & ~unknown[np.maximum(codes, 0)], codes, -1).astype(np.int64)


def campaign_status(campaign: Campaign, record: CampaignRecord, now: datetime) -> str:
    """``stopped``, ``scheduled`` (before its start), ``exhausted`` (its budget delivered), ``ended``
    (past its end) or ``running``, in that order of precedence."""
    if record.stopped_us is not None:
        return "stopped"
    if now < campaign.start:
        return "scheduled"
    if record.delivered >= campaign.impressions:
        return "exhausted"
    if now >= campaign.end:
        return "ended"
    return "running"


def delivery_curve(campaign: Campaign, curve: TrafficCurve, minutes: list[tuple[int, int]], until: datetime
                   ) -> list[dict]:
    """Delivered and planned impressions at the start, at the end of the ``minutes`` with
    impressions ((minute since the epoch, impressions), in time order; at most
    :data:`MAX_CURVE_POINTS` of them, evenly spread: the delivered count is exact at each) and at
    ``until``."""
    delivered = np.cumsum([shown for _, shown in minutes], dtype=np.int64)
    ends = [datetime.fromtimestamp(60 * (minute + 1), UTC) for minute, _ in minutes]
    kept = np.unique(np.linspace(0, len(minutes) - 1, num=min(len(minutes), MAX_CURVE_POINTS)).round().astype(int))
    points = [(campaign.start, 0)] + [(min(ends[i], until), int(delivered[i])) for i in kept]
    if until > points[-1][0]:
        points.append((until, points[-1][1]))
    return [{"at": at.isoformat(), "delivered": count,
             "planned": round(campaign.impressions * curve.share(campaign.start, campaign.end, at), 1)}
            for at, count in points]


def campaign_report(record: CampaignRecord, delivery: CampaignDelivery, catalog: pd.DataFrame, items: IdEncoder,
                    running: PacedCampaign | None, now: datetime) -> dict:
    """A stored campaign's definition, status and delivery, as the API reports it: ``catalog`` and
    ``items`` are the served model's (catalog rows by item code), ``running`` the campaign as this
    worker paces it (None when it does not place it: a flat plan, no multiplier)."""
    campaign = Campaign.from_dict(record.definition)
    curve = running.curve if running is not None else TrafficCurve()
    planned = campaign.impressions * curve.share(campaign.start, campaign.end, now)
    groups: dict[str, dict[str, int]] = {"merchant_id": {}, "region": {}}
    for item_id, shown in delivery.per_item.items():
        code = items.code_of(item_id)
        for column, totals in groups.items():
            value = str(catalog[column].iloc[code]) if code >= 0 else UNKNOWN_LABEL
            totals[value] = totals.get(value, 0) + int(shown)
    return {"campaign": campaign.to_dict(), "status": campaign_status(campaign, record, now),
            "delivery_curve": delivery_curve(campaign, curve, delivery.per_minute, min(now, campaign.end)),
            "items": int(np.count_nonzero(campaign.item_mask(catalog, strict=False))),
            "delivered": record.delivered, "planned": round(planned, 1),
            "pacing_error": round((planned - record.delivered) / campaign.impressions, 6),
            "multiplier": None if running is None else round(running.controller.multiplier, 6),
            "buyers_reached": delivery.buyers_reached, "per_merchant": groups["merchant_id"],
            "per_region": groups["region"]}
