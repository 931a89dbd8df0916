"""POST /v1/events: storefront keys, idempotent all-or-nothing batches, on SQLite and PostgreSQL."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from recommender.models.base import Recommender
from serving.app import create_app
from serving.routes.events import INGEST_KEYS_ENV
from serving.schemas import ErrorResponse
from serving.settings import ServingSettings
from serving.state import state_of

KEY = "storefront-key-1"
ADMIN = "items-admin-key"


@pytest.fixture
def client(store_url, monkeypatch):
    monkeypatch.setenv(INGEST_KEYS_ENV, f"other-key, {KEY}")
    with TestClient(create_app(ServingSettings(store=store_url))) as test_client:  # ingestion needs no model
        yield test_client


def stored(client) -> list:
    return state_of(client.app).store.events.after(0)


def post(client, events, key=KEY, **kwargs):
    return client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key} if key else {}, **kwargs)


def event(event_id, **fields):
    return {"event_id": event_id, "user_id": "u1", "item_id": "FH-1", "type": "purchase", **fields}


def test_a_batch_is_stored_and_a_retry_counts_nothing_twice(client):
    batch = [event("e1", timestamp="2026-11-30T09:15:00+08:00", quantity=2, city_tier=1),
             event("e2", type="view", timestamp="2026-11-30T01:00:00"),
             event("e3", type="cart", timestamp=1_790_000_000)]
    first = post(client, batch)
    # no model served: the catalog is only the items added through PUT /v1/items, which FH-1 is not
    assert first.status_code == 200
    assert first.json() == {"stored": 3, "duplicate_event_ids": [], "unknown_item_ids": ["FH-1"]}
    again = post(client, batch + [event("e4")])
    assert again.json() == {"stored": 1, "duplicate_event_ids": ["e1", "e2", "e3"], "unknown_item_ids": ["FH-1"]}
    rows = {e.event_id: e for e in stored(client)}
    assert len(rows) == 4 and rows["e1"].quantity == 2 and rows["e1"].city_tier == 1
    assert rows["e1"].timestamp_us == int(datetime(2026, 11, 30, 1, 15, tzinfo=UTC).timestamp() * 1e6)
    assert rows["e2"].timestamp_us == rows["e1"].timestamp_us - 15 * 60 * 1_000_000  # no offset: UTC
    assert rows["e3"].timestamp_us == 1_790_000_000 * 1_000_000
    assert abs(rows["e4"].timestamp_us - rows["e4"].received_us) < 5_000_000  # no timestamp: when received


def test_a_bad_event_is_named_by_index_and_nothing_of_the_batch_is_stored(client):
    answer = post(client, [event("ok-1"), event("bad-1", type="click"), event("ok-2"),
                           event("bad-2", quantity=0, city_tier=9, colour="red")])
    assert answer.status_code == 422
    body = ErrorResponse.model_validate(answer.json())
    assert sorted(tuple(error.loc) for error in body.errors) == [
        ("body", "events", 1, "type"), ("body", "events", 3, "city_tier"), ("body", "events", 3, "colour"),
        ("body", "events", 3, "quantity")]
    assert stored(client) == []


@pytest.mark.parametrize("payload, location", [
    ({"events": []}, ["body", "events"]),
    ({"events": [event(f"e{i}") for i in range(1001)]}, ["body", "events"]),
    ({"events": [event("e1", timestamp="1999-12-31T23:59:59Z")]}, ["body", "events", 0, "timestamp"]),
    ({"events": [event("e1", timestamp="2999-01-01T00:00:00Z")]}, ["body", "events", 0, "timestamp"]),
    ({"events": [event("e" * 129)]}, ["body", "events", 0, "event_id"]),
    ({"events": [{"event_id": "e1"}]}, ["body", "events", 0, "user_id"]),
])
def test_malformed_batches_are_422(client, payload, location):
    answer = client.post("/v1/events", json=payload, headers={"X-API-Key": KEY})
    assert answer.status_code == 422 and location in [error["loc"] for error in answer.json()["errors"]]
    assert stored(client) == []


@pytest.mark.parametrize("key, status", [(None, 401), ("wrong", 401), (ADMIN, 401)])
def test_a_storefront_key_is_required(store_url, monkeypatch, key, status):
    monkeypatch.setenv(INGEST_KEYS_ENV, KEY)
    monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", ADMIN)  # not an ingest key
    with TestClient(create_app(ServingSettings(store=store_url))) as client:
        answer = post(client, [event("e1")], key=key)
        assert answer.status_code == status and answer.headers["WWW-Authenticate"] == "X-API-Key"
        assert stored(client) == []


def test_ingestion_is_disabled_without_keys(store_url, monkeypatch):
    monkeypatch.delenv(INGEST_KEYS_ENV, raising=False)
    with TestClient(create_app(ServingSettings(store=store_url))) as client:
        answer = post(client, [event("e1")])
    assert answer.status_code == 403 and INGEST_KEYS_ENV in answer.json()["detail"]


def test_without_a_store_the_route_is_503(monkeypatch):
    monkeypatch.setenv(INGEST_KEYS_ENV, KEY)
    with TestClient(create_app(ServingSettings())) as client:
        answer = post(client, [event("e1")])
    assert answer.status_code == 503 and "--store" in answer.json()["detail"]


def test_a_store_that_cannot_write_is_503_and_stores_nothing(client):
    with state_of(client.app).store.connection_pool.connect() as connection:  # the table gone: every write fails
        connection.exec_driver_sql("ALTER TABLE events RENAME TO events_away")
        connection.commit()
    answer = post(client, [event("e1")])
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert "nothing was stored" in answer.json()["detail"]


def wait_for(condition, seconds: float = 5.0):
    """Poll ``condition()`` until it returns something true (bounded); that value, or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return None


@pytest.fixture
def model_client(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv(INGEST_KEYS_ENV, KEY)
    monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", ADMIN)
    settings = ServingSettings(model_dir=small_model, store=f"sqlite:///{tmp_path / 'events.sqlite3'}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def listed(client, user, **params) -> dict:
    return client.get(f"/v1/users/{user}/recommendations", params={"k": 10, **params}).json()


def item_ids(answer: dict) -> list[str]:
    return [item["item_id"] for item in answer["items"]]


def test_a_purchase_leaves_the_buyers_lists_and_a_return_brings_it_back(model_client):
    served = state_of(model_client.app).served.model
    buyer = str(served.engine.users.ids[0])
    first = item_ids(listed(model_client, buyer))[0]
    assert post(model_client, [event("p1", user_id=buyer, item_id=first)]).status_code == 200
    assert wait_for(lambda: first not in item_ids(listed(model_client, buyer)))
    # the bought item back in the relevance order: no variety cap, which may hold it back past the 20 shown
    for params in ({"niche": 0}, {"k": 200}, {"city_tier": 1},
                   {"exclude_purchased": "false", "niche": 0, "max_per_group": 0}):
        shown = item_ids(listed(model_client, buyer, **params))  # computed per request from the new history
        assert (first in shown) == (params.get("exclude_purchased") == "false"), params
    assert post(model_client, [event("r1", user_id=buyer, item_id=first, type="return")]).status_code == 200
    assert wait_for(lambda: first in item_ids(listed(model_client, buyer, k=50)))


def test_a_buyer_never_seen_is_personalised_from_the_first_purchase(model_client):
    served = state_of(model_client.app).served.model
    item = str(served.item_ids[int(served.engine.item_sales.argmax())])
    assert listed(model_client, "first-time-buyer")["personalized"] is False
    post(model_client, [event("n1", user_id="first-time-buyer", item_id=item, city_tier=2)])
    answer = wait_for(lambda: (lambda a: a if a["personalized"] else None)(listed(model_client, "first-time-buyer")))
    assert answer is not None and item not in item_ids(answer) and answer["city_tier"] == 2
    assert any(item_title in entry["reason"] for entry in answer["items"]
               for item_title in [str(served.titles[served.engine.items.code_of(item)])])


def test_views_and_unknown_items_change_no_ranking(model_client):
    served = state_of(model_client.app).served
    buyer = str(served.model.engine.users.ids[1])
    before = item_ids(listed(model_client, buyer))
    answer = post(model_client, [event("v1", user_id=buyer, item_id=before[0], type="view"),
                                 event("c1", user_id=buyer, item_id="NOT-IN-CATALOG")])
    assert answer.json() == {"stored": 2, "duplicate_event_ids": [], "unknown_item_ids": ["NOT-IN-CATALOG"]}
    assert wait_for(lambda: served.live.buyers.seq == 2)
    assert item_ids(listed(model_client, buyer)) == before and served.live.buyers.get(buyer) is None


def put_item(client, item_id: str, **fields):
    return client.put(f"/v1/items/{item_id}", json={"title": "An item", **fields}, headers={"X-API-Key": ADMIN})


def test_events_of_items_the_catalog_lacks_are_stored_and_listed(model_client):
    served = state_of(model_client.app).served.model
    known = [str(item) for item in served.item_ids[:2]]
    assert put_item(model_client, "ADDED-1", available=False).status_code == 200  # known from the store at once
    answer = post(model_client, [event("k1", item_id=known[0]), event("u1", item_id="GONE-1"),
                                 event("a1", item_id="ADDED-1", type="view"), event("u2", item_id="TYPO-7"),
                                 event("u3", item_id="GONE-1", type="return"), event("k2", item_id=known[1])])
    assert answer.status_code == 200
    assert answer.json() == {"stored": 6, "duplicate_event_ids": [], "unknown_item_ids": ["GONE-1", "TYPO-7"]}
    assert [e.item_id for e in stored(model_client)] == [known[0], "GONE-1", "ADDED-1", "TYPO-7", "GONE-1", known[1]]
    assert unknown_item_events(model_client) == {"store": 3.0}  # for the operator: /metrics counts the events


def unknown_item_events(client) -> dict[str, float]:
    """``recommender_unknown_item_events_total`` of ``/metrics``, by policy."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {sample.labels["policy"]: sample.value for family in families
            if family.name == "recommender_unknown_item_events" for sample in family.samples
            if sample.name.endswith("_total")}


@pytest.fixture
def refusing_client(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_UNKNOWN_ITEMS", "refuse")
    monkeypatch.setenv(INGEST_KEYS_ENV, KEY)
    monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", ADMIN)
    with TestClient(create_app(ServingSettings(model_dir=small_model,
                                               store=f"sqlite:///{tmp_path / 'events.sqlite3'}"))) as test_client:
        yield test_client


def test_a_server_that_refuses_unknown_items_refuses_the_whole_batch_naming_each_event(refusing_client):
    known = str(state_of(refusing_client.app).served.model.item_ids[0])
    batch = [event("k1", item_id=known), event("u1", item_id="GONE-1"), event("k2", item_id=known, type="view"),
             event("u2", item_id="GONE-1", type="cart")]
    answer = post(refusing_client, batch)
    assert answer.status_code == 422
    body = ErrorResponse.model_validate(answer.json())
    assert [(tuple(error.loc), error.type) for error in body.errors] == [
        (("body", "events", 1, "item_id"), "unknown_item"), (("body", "events", 3, "item_id"), "unknown_item")]
    assert "'GONE-1' is not in the catalog" in body.errors[0].msg and unknown_item_events(refusing_client) == {
        "refuse": 2.0}
    assert body.detail.startswith("events.1.item_id: item 'GONE-1' is not in the catalog")
    assert stored(refusing_client) == []
    assert post(refusing_client, [event("k3", item_id=known)]).json()["unknown_item_ids"] == []
    assert put_item(refusing_client, "GONE-1").status_code == 200  # added to the catalog: taken from now on
    assert post(refusing_client, batch).json() == {"stored": 4, "duplicate_event_ids": [], "unknown_item_ids": []}
    assert sorted(e.event_id for e in stored(refusing_client)) == ["k1", "k2", "k3", "u1", "u2"]


def test_an_item_made_unavailable_leaves_every_route_and_comes_back(model_client):
    served = state_of(model_client.app).served.model
    buyer = str(served.engine.users.ids[2])
    hidden = item_ids(listed(model_client, buyer))[0]
    neighbour = item_ids(model_client.get(f"/v1/items/{hidden}/similar", params={"k": 5}).json())[0]
    answer = put_item(model_client, hidden, available=False, tags=["seasonal"], price=12.5)
    assert answer.status_code == 200 and answer.json()["in_model"] is True and answer.json()["available"] is False

    def gone() -> bool:
        lists = [item_ids(listed(model_client, buyer)), item_ids(listed(model_client, buyer, niche=0)),
                 item_ids(listed(model_client, "someone-new")),
                 item_ids(model_client.get("/v1/popular", params={"k": 100}).json()),
                 item_ids(model_client.get(f"/v1/items/{neighbour}/similar", params={"k": 50}).json())]
        return all(hidden not in shown for shown in lists)

    assert wait_for(gone)
    ranked = model_client.post("/v1/rank", json={"user_id": buyer, "item_ids": [hidden]}).json()
    assert ranked["unavailable_item_ids"] == [hidden]
    put_item(model_client, hidden, available=True)
    assert wait_for(lambda: hidden in item_ids(listed(model_client, buyer, niche=0, k=50)))


def copy_of(served, code: int, **changes) -> dict:
    """The catalog fields of item ``code`` as a PUT /v1/items body."""
    row = served.engine.catalog.iloc[code]
    return {"title": str(row.title), "description": str(row.description), "category": str(row.category),
            "region": str(row.region), "merchant_id": str(row.merchant_id), "price": float(row.price),
            "tags": [tag for tag in str(row.tags).split(";") if tag], **changes}


def test_a_new_item_is_ranked_by_its_content_at_once(model_client):
    served = state_of(model_client.app).served.model
    original = int(served.engine.item_sales.argmax())
    buyers = [str(user) for user in served.engine.users.ids[served.engine.purchased[:, original].nonzero()[0]]]
    bought = item_ids(listed(model_client, buyers[1]))[0]  # a purchase since training, to survive the additions
    post(model_client, [event("before-new-item", user_id=buyers[1], item_id=bought)])
    assert wait_for(lambda: bought not in item_ids(listed(model_client, buyers[1])))
    answer = model_client.put("/v1/items/LYCHEE-NEW-1", json=copy_of(served, original, title="Conghua lychee"),
                              headers={"X-API-Key": ADMIN})
    assert answer.status_code == 200 and answer.json()["in_model"] is False
    similar = wait_for(lambda: (lambda a: a if a.status_code == 200 else None)(
        model_client.get("/v1/items/LYCHEE-NEW-1/similar", params={"k": 5})))
    assert bought not in item_ids(listed(model_client, buyers[1]))
    assert similar is not None and str(served.item_ids[original]) in item_ids(similar.json())
    assert "similar in content to" in similar.json()["items"][0]["reason"]
    ranked = model_client.post("/v1/rank", json={"user_id": buyers[0], "item_ids": ["LYCHEE-NEW-1"]}).json()
    assert item_ids(ranked) == ["LYCHEE-NEW-1"] and ranked["unknown_item_ids"] == []
    # the original's buyers (it is left out of their lists) are offered the copy, a never-bought item:
    # at once in lists computed per request, in their precomputed lists once those are computed again
    shown = [item_ids(listed(model_client, buyer, k=20, niche=0.1)) for buyer in buyers[:30]]
    assert sum("LYCHEE-NEW-1" in items for items in shown) >= len(shown) // 3
    assert wait_for(lambda: sum("LYCHEE-NEW-1" in item_ids(listed(model_client, buyer, k=20))
                                for buyer in buyers[:30]) >= len(shown) // 3)
    assert state_of(model_client.app).served.model.manifest["added_items"] == 1
    assert bought not in item_ids(listed(model_client, buyers[1]))
    again = put_item(model_client, "LYCHEE-NEW-1", available=False)
    assert again.json()["in_model"] is True
    assert wait_for(lambda: model_client.get("/v1/items/LYCHEE-NEW-1/similar").status_code == 200 and all(
        "LYCHEE-NEW-1" not in item_ids(listed(model_client, buyer, k=20)) for buyer in buyers[:30]))


def test_a_model_that_cannot_add_items_keeps_serving(model_client, monkeypatch, caplog):
    served = state_of(model_client.app).served
    model = served.model.engine.model  # given the base class's with_items: a family that cannot add items
    monkeypatch.setattr(model, "with_items", partial(Recommender.with_items, model))
    with caplog.at_level("WARNING", logger="serving.served"):
        assert put_item(model_client, "LYCHEE-NEW-2", category="fruit").status_code == 200
        assert wait_for(lambda: "ranked after the next training" in caplog.text)
    assert state_of(model_client.app).served is served
    assert model_client.get("/v1/items/LYCHEE-NEW-2/similar").status_code == 404
    [item] = state_of(model_client.app).store.items.since(0)
    assert (item.item_id, item.category, item.available) == ("LYCHEE-NEW-2", "fruit", True)


@pytest.mark.parametrize("fields, location", [
    ({"title": ""}, ["body", "title"]), ({"title": "x", "price": -1}, ["body", "price"]),
    ({"title": "x", "tags": ["a;b"]}, ["body", "tags", 0]), ({"title": "x", "colour": "red"}, ["body", "colour"]),
])
def test_bad_items_are_422(model_client, fields, location):
    answer = model_client.put("/v1/items/X-1", json=fields, headers={"X-API-Key": ADMIN})
    assert answer.status_code == 422 and location in [error["loc"] for error in answer.json()["errors"]]
    assert state_of(model_client.app).store.items.since(0) == []


def test_items_need_the_admin_key(model_client):
    assert model_client.put("/v1/items/X-1", json={"title": "x"}, headers={"X-API-Key": KEY}).status_code == 401


def test_rank_scores_a_buyer_from_the_new_history(model_client):
    served = state_of(model_client.app).served.model
    item = str(served.item_ids[int(served.engine.item_sales.argmax())])
    candidates = [str(i) for i in served.item_ids[:50]]

    def ranked():
        return model_client.post("/v1/rank", json={"user_id": "ranked-new-buyer", "item_ids": candidates}).json()

    cold = ranked()
    assert cold["personalized"] is False
    post(model_client, [event("rk1", user_id="ranked-new-buyer", item_id=item)])
    warm = wait_for(lambda: (lambda answer: answer if answer["personalized"] else None)(ranked()))
    assert warm is not None and [entry["score"] for entry in warm["items"]] != [
        entry["score"] for entry in cold["items"]]
