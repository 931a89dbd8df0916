"""Harvest lots over HTTP: a merchant declares, lists and withdraws its lots; purchases count against
them; each lot shows its projection and audience; the operator lists the lots at risk."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recommender.merchant_tokens import issue_token
from serving import create_app
from serving.settings import ServingSettings

ADMIN = "lots-admin-key"
INGEST = "lots-storefront-key"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def engine(small_model):
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine

    return load_model_directory(small_model, RecommendationEngine)[0]


@pytest.fixture(scope="module")
def merchants(engine) -> dict[str, list[str]]:
    """Two merchants with their items, the one with the most sold first."""
    catalog = engine.catalog.assign(sales=engine.item_sales)
    totals = catalog.groupby("merchant_id", observed=True).sales.sum().sort_values(ascending=False)
    return {str(merchant): [str(item) for item in catalog[catalog.merchant_id == merchant].sort_values(
        "sales", ascending=False).item_id] for merchant in totals.index[:2]}


def make_client(small_model, merchants, tmp_path, monkeypatch, forecasts=None):
    tokens = tmp_path / "tokens.json"
    issued = {merchant: issue_token(tokens, merchant) for merchant in merchants}
    monkeypatch.setenv("RECOMMENDER_INGEST_KEYS", INGEST)
    settings = ServingSettings(model_dir=small_model, admin_key=ADMIN, merchant_tokens=tokens,
                               store=f"sqlite:///{tmp_path / 'events.sqlite3'}", forecasts_dir=forecasts)
    return TestClient(create_app(settings)), issued


@pytest.fixture
def served(small_model, merchants, tmp_path, monkeypatch):
    client, issued = make_client(small_model, merchants, tmp_path, monkeypatch)
    with client:
        yield client, issued


def lot(items, units=50, days=(0, 30), **fields) -> dict:
    return {"lot_id": "harvest-1", "items": items, "units": units,
            "available_from": (NOW + timedelta(days=days[0])).isoformat(),
            "sell_by": (NOW + timedelta(days=days[1])).isoformat(), **fields}


def as_merchant(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def purchase(event_id: str, item: str, quantity: float = 1, tier: int | None = None) -> dict:
    return {"event_id": event_id, "user_id": "buyer-1", "item_id": item, "type": "purchase", "quantity": quantity,
            "timestamp": (NOW + timedelta(hours=1)).isoformat(), **({} if tier is None else {"city_tier": tier})}


def test_a_merchant_declares_a_lot_and_purchases_count_against_it_once(served, merchants):
    client, issued = served
    owner, items = next(iter(merchants.items()))
    headers = as_merchant(issued[owner])
    created = client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:2]), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["units"] == 50 and body["units_sold"] == 0 and body["remaining"] == 50
    assert body["projection"] is None and "forecast" in body["note"]
    assert body["audience"] and all(row["expected_buyers"] > 0 for row in body["audience"])
    again = client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:2]), headers=headers)
    assert again.status_code == 200
    events = [purchase("order-1", items[0], 3), purchase("order-2", items[1]), purchase("order-1", items[0], 3),
              purchase("order-3", "not-in-the-lot")]
    stored = client.post("/v1/events", json={"events": events}, headers={"X-API-Key": INGEST})
    assert stored.status_code == 200, stored.text
    client.post("/v1/events", json={"events": events[:2]}, headers={"X-API-Key": INGEST})  # a retry
    listed = client.get(f"/v1/merchants/{owner}/lots", headers=headers).json()["lots"]
    assert [(row["lot_id"], row["units_sold"], row["remaining"]) for row in listed] == [("harvest-1", 4, 46)]


@pytest.mark.parametrize("change, field", [
    ({"items": ["NO-SUCH-ITEM"]}, "items"), ({"units": 0}, "units"), ({"units": -3}, "units"),
    ({"days": (10, 5)}, "sell_by"), ({"tiers": [9]}, "tiers"), ({"lot_id": "bad id!"}, "lot_id")])
def test_a_bad_lot_is_a_422_naming_the_field(served, merchants, change, field):
    client, issued = served
    owner, items = next(iter(merchants.items()))
    days = change.pop("days", (0, 30))
    answer = client.post(f"/v1/merchants/{owner}/lots", json={**lot(items[:1], days=days), **change},
                         headers=as_merchant(issued[owner]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][:2] == ["body", field]


def test_another_merchants_items_and_tokens_are_refused(served, merchants):
    client, issued = served
    (owner, items), (other, other_items) = merchants.items()
    mixed = client.post(f"/v1/merchants/{owner}/lots", json=lot([items[0], other_items[0]]),
                        headers=as_merchant(issued[owner]))
    assert mixed.status_code == 422 and "items" in mixed.text and other_items[0] in mixed.text
    assert client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:1]),
                       headers=as_merchant(issued[other])).status_code == 403
    assert client.get(f"/v1/merchants/{owner}/lots").status_code == 401


def test_another_definition_under_the_same_id_is_a_409_and_a_withdrawn_lot_stops_counting(served, merchants):
    client, issued = served
    owner, items = next(iter(merchants.items()))
    headers = as_merchant(issued[owner])
    assert client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:1]), headers=headers).status_code == 201
    assert client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:1], units=60),
                       headers=headers).status_code == 409
    withdrawn = client.delete(f"/v1/merchants/{owner}/lots/harvest-1", headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    assert client.delete(f"/v1/merchants/{owner}/lots/harvest-1", headers=headers).status_code == 200
    assert client.delete(f"/v1/merchants/{owner}/lots/no-such-lot", headers=headers).status_code == 404
    client.post("/v1/events", json={"events": [purchase("late-1", items[0])]}, headers={"X-API-Key": INGEST})
    listed = client.get(f"/v1/merchants/{owner}/lots", headers=headers).json()["lots"]
    assert listed[0]["units_sold"] == 0


@pytest.mark.slow  # publishes the small marketplace's forecasts
def test_the_projection_and_the_operators_lots_at_risk(small_model, engine, merchants, small_forecasts, tmp_path,
                                                       monkeypatch):
    client, issued = make_client(small_model, merchants, tmp_path, monkeypatch, forecasts=small_forecasts)
    owner, items = next(iter(merchants.items()))
    headers = as_merchant(issued[owner])
    places = engine.audiences.places
    region = engine.audiences.place_names[int(np.bincount(places[places >= 0]).argmax())]  # the most buyers'
    with client:
        small = client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:3], units=1, days=(0, 60)),
                            headers=headers).json()
        huge = client.post(f"/v1/merchants/{owner}/lots", json={**lot(items[:3], units=10**6, days=(0, 60)),
                                                                 "lot_id": "harvest-2"}, headers=headers).json()
        regional = client.post(f"/v1/merchants/{owner}/lots", json={
            **lot(items[:3], units=10**6, days=(0, 60)), "lot_id": "harvest-3", "regions": [region]},
            headers=headers).json()
        for body in (small, huge, regional):
            projection = body["projection"]
            assert projection is not None, body
            expected = projection["expected"]
            assert 0 <= expected["p10"] <= expected["p50"] <= expected["p90"] and expected["p50"] > 0
            assert np.isclose(sum(row["p50"] for row in projection["by_city_tier"]), expected["p50"])
            assert projection["curve"][0]["p50"] == 0 and projection["curve"][-1]["p50"] == pytest.approx(
                expected["p50"])
        assert not small["projection"]["at_risk"] and huge["projection"]["at_risk"]
        assert huge["projection"]["shortfall"]["p50"] == pytest.approx(10**6 - huge["projection"]["expected"]["p50"])
        # a lot shipped to one region sells each tier's forecast times the region's share of the
        # tier's expected units (the lots' audiences, among the buyers each ships to)
        assert regional["projection"]["expected"]["p50"] < huge["projection"]["expected"]["p50"]
        everywhere = {row["city_tier"]: row["p50"] for row in huge["projection"]["by_city_tier"]}
        units = {body["lot_id"]: {row["city_tier"]: row["expected_units"] for row in body["audience"]}
                 for body in (huge, regional)}
        for row in regional["projection"]["by_city_tier"]:
            share = units["harvest-3"][row["city_tier"]] / units["harvest-2"][row["city_tier"]]
            assert 0 < share < 1 and row["p50"] == pytest.approx(everywhere[row["city_tier"]] * share)
        at_risk = client.get("/v1/admin/lots", params={"at_risk": "true"}, headers={"X-API-Key": ADMIN})
        assert at_risk.status_code == 200
        assert [row["lot_id"] for row in at_risk.json()["lots"]] == ["harvest-2", "harvest-3"]
        every = client.get("/v1/admin/lots", headers={"X-API-Key": ADMIN}).json()["lots"]
        assert {row["lot_id"] for row in every} == {"harvest-1", "harvest-2", "harvest-3"}


def campaign_items(client, user_id: str, campaign_id: str) -> list[str]:
    answer = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 20})
    return [item["item_id"] for item in answer.json()["items"] if item.get("campaign") == campaign_id]


@pytest.mark.slow  # publishes the small marketplace's forecasts
def test_a_clearance_reaches_the_lots_audience_only_and_ends_when_the_lot_sells_out(
        small_model, engine, merchants, small_forecasts, tmp_path, monkeypatch):
    from recommender.lots import clearance_audience
    from recommender.store import from_us
    from serving import watcher
    from serving.state import state_of

    monkeypatch.setattr(watcher, "POLL_SECONDS", 3600)  # the test follows the store itself (pick_up)
    client, issued = make_client(small_model, merchants, tmp_path, monkeypatch, forecasts=small_forecasts)
    owner, items = next(iter(merchants.items()))
    headers = as_merchant(issued[owner])
    with client:
        state = state_of(client.app)

        def pick_up() -> None:
            watcher.Watcher(state).check()

        assert client.post(f"/v1/merchants/{owner}/lots", json={**lot(items[:2], units=10**6), "lot_id": "slow"},
                           headers=headers).status_code == 201
        small = client.post(f"/v1/merchants/{owner}/lots/harvest-1/clearance", headers=headers)
        assert small.status_code == 404
        client.post(f"/v1/merchants/{owner}/lots", json=lot(items[:2], units=1, days=(0, 60)), headers=headers)
        assert client.post(f"/v1/merchants/{owner}/lots/harvest-1/clearance", headers=headers).status_code == 409

        started = client.post(f"/v1/merchants/{owner}/lots/slow/clearance", json={"audience": 40}, headers=headers)
        assert started.status_code == 201, started.text
        body = started.json()
        campaign_id = body["campaign"]["campaign"]["campaign_id"]
        assert body["campaign"]["campaign"]["impressions"] == int(np.ceil(body["goal_units"] / body["conversion"]))
        assert body["campaign"]["campaign"]["items"] == sorted(items[:2])
        assert body["conversion"] == pytest.approx(0.02) and body["audience_buyers"] > 0
        assert client.post(f"/v1/merchants/{owner}/lots/slow/clearance", headers=headers).status_code == 409
        pick_up()

        record = state.store.lots.get(owner, "slow")
        audience = clearance_audience(engine, record, 40)
        user_ids = np.asarray(engine.users.ids).astype(str)
        reached = [user for user in user_ids[audience][:60] if campaign_items(client, user, campaign_id)]
        outside = [user for user in user_ids[~audience][:60] if campaign_items(client, user, campaign_id)]
        assert reached and not outside

        # the lot sells out: from the purchase that empties it, no lot item is shown for the clearance
        remaining = state.store.lots.get(owner, "slow").remaining
        sold_out = {"event_id": "the-last-units", "user_id": "a-big-buyer", "item_id": items[0], "type": "purchase",
                    "quantity": remaining, "timestamp": (from_us(record.available_from_us) + timedelta(
                        hours=1)).isoformat()}
        assert client.post("/v1/events", json={"events": [sold_out]}, headers={"X-API-Key": INGEST}).status_code == 200
        assert state.store.lots.get(owner, "slow").remaining == 0
        assert not any(campaign_items(client, user, campaign_id) for user in reached)
        pick_up()
        stopped = client.get(f"/v1/admin/campaigns/{campaign_id}", headers={"X-API-Key": ADMIN}).json()
        assert stopped["status"] == "stopped"
