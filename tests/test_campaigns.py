"""Campaigns: definitions, the traffic plan, the pacing controller, the store's impression counts,
and the admin API (422s naming the field, marks in lists, the gate, stopping)."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recommender.campaigns import (
    Campaign,
    PacedCampaign,
    PacingController,
    Placer,
    Selection,
    TrafficCurve,
    lifted_position,
    passes_gate,
)
from recommender.store import EventStore
from serving import watcher
from serving.app import create_app
from serving.routes.admin import ADMIN_KEY_ENV
from serving.settings import ServingSettings
from serving.state import state_of

ADMIN = "campaign-key"
T0 = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday


def test_a_campaign_names_its_bad_field():
    good = {"campaign_id": "c", "name": "n", "start": T0, "end": T0 + timedelta(days=1), "impressions": 10,
            "items": ("A",)}
    Campaign(**good)
    for changes, field in (({"end": T0}, "end"), ({"impressions": 0}, "impressions"), ({"campaign_id": "a b"},
                           "campaign_id"), ({"select": Selection(tags=("x",))}, "items"),
                           ({"max_in_top10": 11}, "max_in_top10")):
        with pytest.raises(ValueError, match=field):
            Campaign(**{**good, **changes})


def test_a_selection_matches_every_given_field():
    catalog = pd.DataFrame({"item_id": ["A", "B", "C"], "tags": ["handmade;gift", "Handmade", "fresh"],
                            "region": ["Fenghuang", "Langqiao", "Fenghuang"], "category": ["weaving"] * 3,
                            "merchant_id": ["M1", "M2", "M3"]})
    assert Selection(tags=("handmade",)).mask(catalog).tolist() == [True, True, False]
    assert Selection(tags=("handmade",), regions=("Fenghuang",)).mask(catalog).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="unknown item"):
        Campaign("c", "n", T0, T0 + timedelta(days=1), 10, items=("A", "Z")).item_mask(catalog)


def test_the_plan_follows_the_traffic_curve():
    flat = TrafficCurve()
    assert flat.share(T0, T0 + timedelta(hours=10), T0 + timedelta(hours=5)) == pytest.approx(0.5)
    evenings = np.ones(168)
    evenings[18:22] = 10.0  # Monday 18:00-22:00 is busy
    curve = TrafficCurve(evenings)
    day = (T0, T0 + timedelta(days=1))
    assert curve.share(*day, T0 + timedelta(hours=18)) == pytest.approx(18 / 60)
    assert curve.share(*day, T0 + timedelta(hours=22)) == pytest.approx(58 / 60)
    times = pd.Series(pd.date_range(T0, periods=5_000, freq="37min"))
    assert TrafficCurve.from_times(times).hourly.shape == (168,)
    assert (TrafficCurve.from_times(times[:10]).hourly == 1).all()  # too few: flat


def test_the_controller_lifts_when_behind_drops_when_ahead_and_does_not_wind_up():
    controller = PacingController()
    assert controller.update(0.2, 1.0) == 1.0  # far behind: the ceiling
    pinned = controller.integral
    for _ in range(1_000):
        controller.update(0.2, 1.0)
    assert controller.integral == pinned  # pinned at the ceiling: the integral stops growing
    assert controller.update(-0.05, 1.0) < 1.0  # ahead: it drops at once instead of unwinding for minutes
    assert PacingController().update(-0.5, 1.0) == 0.0


def test_a_lifted_item_enters_where_its_lifted_score_ranks():
    scores = np.array([5.0, 4.0, 3.0, 1.0])
    assert lifted_position(scores, 0.5, 0.0) == 4  # no lift: below the list
    assert lifted_position(scores, 0.5, 1.0) == 1  # lifted by the spread (4): between 5 and 4
    assert passes_gate(np.arange(100.0), np.array([99, 50, 3]), 0.1, np.array([False, False, True])).tolist() == [
        True, False, True]


def test_the_store_grants_impressions_within_budget_and_cap(store_url):
    store = EventStore.open(store_url)
    try:
        store.campaigns.add({"campaign_id": "c", "impressions": 5}, 0, 1)
        with pytest.raises(ValueError, match="already in use"):
            store.campaigns.add({"campaign_id": "c", "impressions": 5}, 0, 1)
        grants = [store.campaigns.reserve_impressions("c", user, items, 2) for user, items in
                  (("u1", ["A", "B", "C"]), ("u1", ["A"]), ("u2", ["A", "B"]), ("u3", ["C", "D"]))]
        assert grants == [2, 0, 2, 1]  # u1 capped at 2; the budget of 5 ends at u3's first
        assert store.campaigns.buyer_impressions("c") == {"u1": 2, "u2": 2, "u3": 1}
        delivery = store.campaigns.delivery("c")
        assert (delivery.buyers_reached, delivery.per_item) == (3, {"A": 2, "B": 2, "C": 1})
        minutes = delivery.per_minute
        assert sum(shown for _, shown in minutes) == 5 and abs(minutes[-1][0] - time.time() / 60) < 2
        assert store.campaigns.get("c").delivered == 5 and store.campaigns.get("nope") is None
        assert store.campaigns.stop("c") and not store.campaigns.stop("c")
        assert store.campaigns.reserve_impressions("c", "u4", ["A"], 2) == 0
    finally:
        store.close()


@pytest.fixture
def client(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv(ADMIN_KEY_ENV, ADMIN)
    monkeypatch.setattr(watcher, "POLL_SECONDS", 3600)  # the app's own watcher waits: the tests call pick_up
    settings = ServingSettings(model_dir=small_model, store=f"sqlite:///{tmp_path / 'events.sqlite3'}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def pick_up(client) -> None:
    """What the app's watcher does every ``POLL_SECONDS``, now: the campaigns created or stopped
    are followed, with the deliveries so far."""
    watcher.Watcher(state_of(client.app)).check()


def campaign(**changes) -> dict:
    now = datetime.now(UTC)
    return {"campaign_id": "craft", "name": "Craft", "select": {"tags": ["handmade"]},
            "start": (now - timedelta(seconds=1)).isoformat(), "end": (now + timedelta(minutes=10)).isoformat(),
            "impressions": 1_000, "per_buyer_cap": 2, "max_in_top10": 2, **changes}


def post(client, body):
    return client.post("/v1/admin/campaigns", json=body, headers={"X-API-Key": ADMIN})


@pytest.mark.parametrize("changes, field", [
    ({"end": "2020-01-01T00:00:00Z"}, "end"), ({"impressions": 0}, "impressions"), ({"impressions": "many"},
                                                                                   "impressions"),
    ({"select": None, "items": ["NOT-AN-ITEM"]}, "items"), ({"select": {"tags": ["no-such-tag"]}}, "select"),
    ({"select": None}, "items"), ({"start": "0001-01-01T00:00:00+05:00"}, "start"),
])
def test_a_bad_campaign_is_422_naming_the_field(client, changes, field):
    answer = post(client, campaign(**changes))
    assert answer.status_code == 422 and ["body", field] in [error["loc"][:2] for error in answer.json()["errors"]]
    assert client.get("/v1/admin/campaigns", headers={"X-API-Key": ADMIN}).json() == {"campaigns": []}


def test_an_id_in_use_and_an_unavailable_item_are_422(client):
    served = state_of(client.app).served
    hidden = str(served.model.item_ids[0])
    served.live.available[0] = False  # as the watcher does
    assert post(client, campaign(select=None, items=[hidden], campaign_id="x")).json()["errors"][0]["loc"] == [
        "body", "items"]
    assert post(client, campaign()).status_code == 201
    assert post(client, campaign()).json()["errors"][0]["loc"] == ["body", "campaign_id"]


def test_campaign_items_are_marked_within_the_cap_and_the_campaign_can_be_stopped(client):
    assert post(client, campaign()).status_code == 201
    served = state_of(client.app).served.model
    pick_up(client)
    buyers = [str(user) for user in served.engine.users.ids[:60]]
    marked = {}
    for _ in range(3):  # the cap of 2 holds over repeated visits
        for buyer in buyers:
            items = client.get(f"/v1/users/{buyer}/recommendations", params={"k": 10}).json()["items"]
            marked[buyer] = marked.get(buyer, 0) + sum(item.get("campaign") == "craft" for item in items)
            assert sum(item.get("campaign") == "craft" for item in items) <= 2
    assert 0 < max(marked.values()) <= 2
    report = client.get("/v1/admin/campaigns/craft", headers={"X-API-Key": ADMIN}).json()
    assert report["delivered"] == sum(marked.values()) and report["buyers_reached"] == sum(
        count > 0 for count in marked.values())
    assert sum(report["per_merchant"].values()) == report["delivered"] == sum(report["per_region"].values())
    curve = report["delivery_curve"]  # from the start, with nothing, to now, with everything delivered
    assert curve[0]["delivered"] == 0 and curve[0]["planned"] == 0.0 and curve[-1]["delivered"] == report["delivered"]
    assert [point["at"] for point in curve] == sorted(point["at"] for point in curve)
    assert 0 < curve[-1]["planned"] <= report["planned"]
    assert client.delete("/v1/admin/campaigns/craft", headers={"X-API-Key": ADMIN}).json()["status"] == "stopped"
    pick_up(client)
    assert not any(item.get("campaign") for buyer in buyers for item in client.get(
        f"/v1/users/{buyer}/recommendations", params={"k": 10}).json()["items"])
    assert client.get("/v1/admin/campaigns/nope", headers={"X-API-Key": ADMIN}).status_code == 404


def test_a_buyer_the_gate_excludes_sees_no_campaign_item(client):
    served = state_of(client.app).served.model
    engine = served.engine
    categories = engine.catalog["category"].astype(str).to_numpy()
    regions = engine.catalog["region"].astype(str).to_numpy()
    bought = engine.bought

    # a category some buyers never bought from (nor from its items' regions): the gate keeps them out
    category = pd.Series(categories).value_counts().index[-1]
    items = np.flatnonzero(categories == category)
    outsiders = [user for user in range(len(engine.users)) if not np.isin(categories[bought(user)], category).any()
                 and not np.isin(regions[bought(user)], regions[items]).any()][:30]
    insiders = [user for user in range(len(engine.users)) if np.isin(categories[bought(user)], category).any()][:30]
    assert outsiders and insiders
    assert post(client, campaign(select=None, items=[str(served.item_ids[i]) for i in items], gate_share=0.01,
                                 per_buyer_cap=5)).status_code == 201
    pick_up(client)

    def campaign_items_shown(users) -> int:
        shown = 0
        for user in users:
            items = client.get(f"/v1/users/{engine.users.ids[user]}/recommendations", params={"k": 10}).json()["items"]
            scores = [item["score"] for item in items]
            assert scores == sorted(scores, reverse=True)  # campaign items placed show the score of their place
            shown += sum(item.get("campaign") == "craft" for item in items)
        return shown

    assert campaign_items_shown(outsiders) == 0
    assert campaign_items_shown(insiders) > 0  # the same campaign reaches buyers of its category
    assert not any(item.get("campaign") for item in client.get(
        "/v1/users/someone-new/recommendations").json()["items"])  # no history: nothing to match


def test_campaign_routes_need_the_admin_key(client):
    assert client.get("/v1/admin/campaigns").status_code == 401
    assert client.post("/v1/admin/campaigns", json=campaign(), headers={"X-API-Key": "wrong"}).status_code == 401


def test_rank_marks_and_lifts_campaign_candidates_within_the_cap(client):
    served = state_of(client.app).served.model
    engine = served.engine
    assert post(client, campaign(per_buyer_cap=3, max_in_top10=2)).status_code == 201
    pick_up(client)
    candidates = [str(item) for item in served.item_ids[:80]]
    buyers = [str(user) for user in engine.users.ids[:40]]
    marked = 0
    for buyer in buyers:
        answer = client.post("/v1/rank", json={"user_id": buyer, "item_ids": candidates}).json()
        ranked = [item["item_id"] for item in answer["items"]]
        assert sorted(ranked) == sorted(set(ranked)) and set(ranked) <= set(candidates)  # each candidate once
        positions = [position for position, item in enumerate(answer["items"]) if item["campaign"] == "craft"]
        assert all(position < 10 for position in positions) and len(positions) <= 2
        scores = [item["score"] for item in answer["items"]]
        assert scores == sorted(scores, reverse=True)  # a lifted candidate shows the score of its place
        marked += len(positions)
    report = client.get("/v1/admin/campaigns/craft", headers={"X-API-Key": ADMIN}).json()
    assert marked > 0 and report["delivered"] == marked


def test_an_organic_campaign_item_a_lift_pushes_off_the_list_is_not_counted():
    catalog = pd.DataFrame({"item_id": list("ABCDE"), "category": ["tea"] * 5, "region": ["Anxi"] * 5})
    paced = PacedCampaign(Campaign("c", "n", T0, T0 + timedelta(days=1), 10, items=("C", "E"), max_in_top10=2),
                          np.array([2, 4]), TrafficCurve())
    paced.controller.multiplier = 1.0  # lift to the top
    placer = Placer(catalog, np.ones(5, dtype=bool))
    scores = np.array([5.0, 4.0, 3.0, 0.0, 1.0])  # C (code 2) is listed last; E (code 4) is not listed
    placement = placer.place(paced, scores, np.array([3]), np.array([0, 1, 2]), np.zeros(3, dtype=bool))
    assert placement.lifted == (2, 4) and placement.organic == []  # lifted above C, which would fall off the list
    longer = placer.place(paced, scores, np.array([3]), np.array([0, 1, 2, 3]), np.zeros(4, dtype=bool))
    assert longer.organic == [2] and longer.lifted == (0, 4)  # C stays on a longer list, and is counted
