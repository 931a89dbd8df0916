"""`GET /v1/users/{user_id}/buy-again`: a buyer's earlier items, likeliest to be bought again first."""
from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving import create_app
from serving.settings import ServingSettings
from serving.state import state_of


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
    answer = client.get(f"/v1/users/{user_id}/buy-again", params={"k": 3})
    assert answer.status_code == 200
    body = answer.json()
    assert body["user_id"] == user_id and len(body["items"]) == 3
    expected, probabilities = engine.buy_again(np.array([code]), 3)
    assert [item["item_id"] for item in body["items"]] == [str(engine.items.ids[c]) for c in expected[0]]
    np.testing.assert_allclose([item["score"] for item in body["items"]], probabilities[0], rtol=1e-6)
    bought = set(engine.items.ids[engine.bought(code)].astype(str))
    assert {item["item_id"] for item in body["items"]} <= bought
    assert all(item["reason"].startswith("you buy this about every ") and " ago" in item["reason"]
               for item in body["items"])


def test_a_buyer_unknown_to_the_model_gets_an_empty_list(client):
    answer = client.get("/v1/users/NOBODY-EVER/buy-again")
    assert answer.status_code == 200 and answer.json()["items"] == []


@pytest.mark.parametrize("params, field", [({"k": 0}, "k"), ({"k": "many"}, "k"), ({"niche": 0.5}, "niche")])
def test_bad_parameters_are_a_422_naming_the_field(client, params, field):
    answer = client.get("/v1/users/U-1/buy-again", params=params)
    assert answer.status_code == 422
    assert field in answer.text


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
