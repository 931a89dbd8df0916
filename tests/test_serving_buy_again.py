"""`GET /v1/users/{user_id}/buy-again`: a buyer's earlier items, likeliest to be bought again first."""
from __future__ import annotations

from datetime import UTC, datetime, time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recommender.store import to_us
from serving import create_app
from serving.settings import ServingSettings
from serving.state import state_of
from serving.watcher import Watcher

KEY = "buy-again-key"


@pytest.fixture(scope="module")
def app(small_model):
    return create_app(ServingSettings(model_dir=small_model))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def test_a_buyer_gets_their_earlier_items_likeliest_first_with_the_pace_as_reason(app, client):
    engine = state_of(app).served.model.engine
    histories = np.diff(engine.purchased.indptr)
    code = int(np.flatnonzero(histories >= 3)[0])
    user_id = str(engine.users.ids[code])
    day = (pd.Timestamp(engine.repeat.reference_time) + pd.Timedelta(days=40)).date()
    answer = client.get(f"/v1/users/{user_id}/buy-again", params={"k": 3, "date": str(day)})
    assert answer.status_code == 200
    body = answer.json()
    assert body["user_id"] == user_id and len(body["items"]) == 3
    # scored at the end of that day (UTC)
    expected = engine.repeat.buyer(code, to_us(datetime.combine(day, time(), tzinfo=UTC)) + DAY_US).top(3)
    assert [item["item_id"] for item in body["items"]] == [str(engine.items.ids[c]) for c in expected.items]
    np.testing.assert_allclose([item["score"] for item in body["items"]], expected.probability, rtol=1e-6)
    # at the end of the model's data they are the batch path's (`recommender buy-again`)
    codes, probabilities = engine.buy_again(np.array([code]), 3)
    np.testing.assert_allclose(engine.repeat.buyer(code).top(3).probability, probabilities[0], rtol=1e-6)
    bought = set(engine.items.ids[engine.bought(code)].astype(str))
    assert {item["item_id"] for item in body["items"]} <= bought
    assert all(item["reason"].startswith("you buy this about every ") and " ago" in item["reason"]
               for item in body["items"])


def test_a_buyer_unknown_to_the_model_gets_an_empty_list(client):
    answer = client.get("/v1/users/NOBODY-EVER/buy-again")
    assert answer.status_code == 200 and answer.json()["items"] == []


@pytest.mark.parametrize("params, field", [({"k": 0}, "k"), ({"k": "many"}, "k"), ({"niche": 0.5}, "niche"),
                                           ({"date": "next week"}, "date")])
def test_bad_parameters_are_a_422_naming_the_field(client, params, field):
    answer = client.get("/v1/users/U-1/buy-again", params=params)
    assert answer.status_code == 422
    assert field in answer.text


DAY_US = 86_400 * 1_000_000


def test_a_model_saved_without_buy_again_scores_answers_an_empty_list(app, client):
    served = state_of(app).served.model
    engine = served.engine
    user_id = str(engine.users.ids[0])
    saved = engine.__dict__.pop("repeat")  # as an engine pickled before buy-again existed loads
    try:
        answer = client.get(f"/v1/users/{user_id}/buy-again")
    finally:
        engine.repeat = saved
    assert answer.status_code == 200 and answer.json()["items"] == []


@pytest.fixture(scope="module")
def live_client(small_model, tmp_path_factory):
    store = f"sqlite:///{tmp_path_factory.mktemp('buy-again') / 'events.sqlite3'}"
    with TestClient(create_app(ServingSettings(model_dir=small_model, store=store, ingest_keys=KEY))) as test_client:
        yield test_client


def buy_again_items(client, user_id: str) -> dict[str, dict]:
    answer = client.get(f"/v1/users/{user_id}/buy-again", params={"k": 200})
    assert answer.status_code == 200
    return {item["item_id"]: {**item, "rank": rank} for rank, item in enumerate(answer.json()["items"])}


def send(client, *events: dict) -> None:
    answer = client.post("/v1/events", headers={"X-API-Key": KEY}, json={"events": list(events)})
    assert answer.status_code == 200 and answer.json()["stored"] == len(events), answer.text
    Watcher(state_of(client.app)).check()  # what the server's watcher does every quarter of a second


def test_live_purchases_change_the_buyers_buy_again_list_and_a_return_undoes_one(live_client):
    engine = state_of(live_client.app).served.model.engine
    code = int(np.flatnonzero(np.diff(engine.purchased.indptr) >= 3)[0])
    user_id = str(engine.users.ids[code])
    before = buy_again_items(live_client, user_id)
    first = next(iter(before))
    assert "; last bought today" not in before[first]["reason"]
    bought = set(engine.items.ids[engine.bought(code)].astype(str))
    new = next(str(item) for item in engine.items.ids[np.argsort(-engine.item_sales, kind="stable")]
               if str(item) not in bought and engine.available[engine.items.code_of(item)])
    assert new not in before
    send(live_client, {"event_id": "again-1", "user_id": user_id, "item_id": first, "type": "purchase"},
         {"event_id": "again-2", "user_id": user_id, "item_id": new, "type": "purchase"})
    after = buy_again_items(live_client, user_id)
    assert "; last bought today" in after[first]["reason"] and after[first]["score"] != before[first]["score"]
    assert new in after and after[new]["reason"].startswith("you buy this about every ")
    assert "; last bought today" in after[new]["reason"]
    others = [item for item in before if item != first]
    assert all(after[item]["reason"] == before[item]["reason"] for item in others)  # the same clock
    # the scores are the library's for these purchases, now
    codes = np.array([engine.items.code_of(item) for item in (first, new)])
    now = to_us(datetime.now(UTC))
    expected = engine.repeat.buyer(code, now, codes, np.full(2, now))
    for item, probability in zip(expected.items.tolist(), expected.probability.tolist()):
        assert after[str(engine.items.ids[item])]["score"] == pytest.approx(probability, rel=1e-3)
    send(live_client, {"event_id": "again-3", "user_id": user_id, "item_id": new, "type": "return"})
    returned = buy_again_items(live_client, user_id)
    assert new not in returned and "; last bought today" in returned[first]["reason"]


def test_a_buyer_unknown_to_the_model_gets_buy_again_after_a_first_purchase(live_client):
    engine = state_of(live_client.app).served.model.engine
    item = str(engine.items.ids[int(np.flatnonzero(engine.available)[0])])
    assert buy_again_items(live_client, "first-buy-again") == {}
    send(live_client, {"event_id": "first-1", "user_id": "first-buy-again", "item_id": item, "type": "purchase"})
    answer = buy_again_items(live_client, "first-buy-again")
    assert list(answer) == [item] and 0 < answer[item]["score"] < 1
    assert "; last bought today" in answer[item]["reason"]
