"""Clearance campaigns: a lot's shortfall turned into a campaign with a goal in units sold, paced on
the lot's sales, shown to the lot's audience only, granted nothing once the lot is sold out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recommender.campaigns import (
    PRIOR_CONVERSION,
    Campaign,
    PacedCampaign,
    TrafficCurve,
    clearance_campaign,
    conversion_rate,
)
from recommender.store import Event, EventStore, Lot, to_us

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def clearance(remaining=100, shortfall=40.0, conversion=0.02, days=10) -> Campaign:
    return clearance_campaign("M1", "pom-1", ("POM-A", "POM-B"), remaining, shortfall, T0 + timedelta(days=days), T0,
                              conversion)


def test_conversion_starts_at_the_prior_and_moves_to_what_is_measured():
    assert conversion_rate(0, 0) == PRIOR_CONVERSION
    assert conversion_rate(1_000, 100) == pytest.approx((20 + 100) / 2_000)
    assert conversion_rate(1_000_000, 50_000) == pytest.approx(0.05, rel=0.01)


def test_a_clearance_is_sized_on_the_shortfall_and_survives_its_json():
    campaign = clearance(shortfall=40.0, conversion=0.02)
    assert campaign.impressions == 2_000 and campaign.items == ("POM-A", "POM-B")
    assert (campaign.start, campaign.end) == (T0, T0 + timedelta(days=10))
    assert Campaign.from_dict(campaign.to_dict()) == campaign
    with pytest.raises(ValueError, match="no units left"):
        clearance(remaining=0)


def test_a_clearance_lifts_more_when_sales_lag_and_stops_lifting_when_they_run_ahead():
    lagging, ahead = (PacedCampaign(clearance(), np.array([0, 1]), TrafficCurve()) for _ in range(2))
    for hours in range(1, 49):
        now = T0 + timedelta(hours=hours)
        lagging.follow(delivered=0, now=now, sold=0)
        ahead.follow(delivered=0, now=now, sold=int(100 * hours / 48))  # half the lot in two of the ten days
    assert lagging.controller.multiplier == 1.0 and ahead.controller.multiplier == 0.0
    assert ahead.open(T0 + timedelta(days=2))  # a clearance follows sales, not an impression plan
    assert not ahead.open(T0 + timedelta(days=11))


def test_a_clearance_reaches_its_audience_only():
    paced = PacedCampaign(clearance(), np.array([0]), TrafficCurve(), audience=np.array([True, False, True]))
    assert [paced.reaches(code) for code in (0, 1, 2, 3, -1)] == [True, False, True, False, False]
    assert PacedCampaign(clearance(), np.array([0]), TrafficCurve()).reaches(-1)


def test_the_store_grants_a_clearance_nothing_once_its_lot_is_sold_out_or_withdrawn(store_url):
    store = EventStore.open(store_url)
    try:
        now_us = to_us(datetime.now(UTC))
        store.lots.declare(Lot("M1", "pom-1", ("POM-A",), 2, now_us - 10**9, now_us + 10**12))
        store.lots.declare(Lot("M1", "pom-2", ("POM-B",), 5, now_us - 10**9, now_us + 10**12))
        for campaign_id in ("c1", "c2"):
            store.campaigns.add({"campaign_id": campaign_id, "impressions": 100}, 0, 1)
        assert store.campaigns.reserve_impressions("c1", "u1", ["POM-A"], 3, lot=("M1", "pom-1")) == 1
        store.events.add([Event(f"buy-{n}", "u9", "POM-A", "purchase", now_us) for n in range(2)])
        assert store.lots.get("M1", "pom-1").remaining == 0
        assert store.campaigns.reserve_impressions("c1", "u2", ["POM-A"], 3, lot=("M1", "pom-1")) == 0
        assert store.campaigns.reserve_impressions("c2", "u2", ["POM-B"], 3, lot=("M1", "pom-2")) == 1
        store.lots.withdraw("M1", "pom-2")
        assert store.campaigns.reserve_impressions("c2", "u3", ["POM-B"], 3, lot=("M1", "pom-2")) == 0
        assert store.campaigns.reserve_impressions("c2", "u3", ["POM-B"], 3) == 1  # no lot named: a plain campaign
    finally:
        store.close()


def test_conversions_count_purchases_of_campaign_items_by_reached_buyers_after_the_start(store_url):
    store = EventStore.open(store_url)
    try:
        start = to_us(datetime.now(UTC)) - 10**9
        store.campaigns.add({"campaign_id": "c", "impressions": 100}, start, start + 10**12)
        for user in ("u1", "u2", "u3"):
            store.campaigns.reserve_impressions("c", user, ["A", "B"], 5)
        store.events.add([
            Event("e1", "u1", "A", "purchase", start + 1), Event("e2", "u1", "A", "purchase", start + 2),  # once
            Event("e3", "u1", "B", "purchase", start + 3),  # another item: counts
            Event("e4", "u2", "A", "purchase", start - 1),  # before the start
            Event("e5", "u2", "A", "view", start + 1),  # not a purchase
            Event("e6", "u9", "A", "purchase", start + 1),  # not reached
            Event("e7", "u3", "Z", "purchase", start + 1)])  # not a campaign item
        assert store.campaigns.conversions() == (6, 2)
    finally:
        store.close()
