"""`GET /v1/items/{item_id}/audience` (admin key) and the merchant's view of its items' audiences."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recommender.merchant_tokens import issue_token
from serving import create_app
from serving.served import audience_time
from serving.settings import ServingSettings
from serving.state import state_of
from serving.watcher import Watcher

KEY = "audience-admin-key"


@pytest.fixture(scope="module")
def engine_and_item(small_model):
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine

    engine = load_model_directory(small_model, RecommendationEngine)[0]
    item = int(np.argmax(engine.item_sales))
    return engine, item


@pytest.fixture(scope="module")
def merchants(engine_and_item) -> tuple[str, str]:
    """The merchant of the most bought item, and another merchant."""
    engine, item = engine_and_item
    owner = str(engine.catalog.merchant_id.iloc[item])
    other = next(str(m) for m in engine.catalog.merchant_id.unique() if str(m) != owner)
    return owner, other


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, merchants):
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    return path, {merchant: issue_token(path, merchant) for merchant in merchants}


@pytest.fixture(scope="module")
def app(small_model, tokens, tmp_path_factory):
    store = f"sqlite:///{tmp_path_factory.mktemp('store') / 'events.sqlite3'}"
    return create_app(ServingSettings(model_dir=small_model, admin_key=KEY, merchant_tokens=tokens[0], store=store))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def admin_get(client, item_id: str, key: str | None = KEY, **params):
    return client.get(f"/v1/items/{item_id}/audience", params=params, headers={} if key is None else {"X-API-Key": key})


def test_the_admin_gets_both_parts_with_their_expected_buyers(app, client, engine_and_item):
    engine = state_of(app).served.model.engine
    _, item = engine_and_item
    item_id = str(engine.items.ids[item])
    answer = admin_get(client, item_id, k=20)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    audience = engine.audience(item, at_us=audience_time())  # repeat timing as of today
    past = set(np.asarray(engine.users.ids)[audience.part("repeat")[0]].astype(str))
    for kind in ("repeat", "first_time"):
        part = body[kind]
        assert len(part["buyers"]) == 20
        assert part["expected_buyers"] == pytest.approx(audience.part(kind)[1].sum(), rel=1e-6)
        scores = [buyer["score"] for buyer in part["buyers"]]
        assert scores == sorted(scores, reverse=True) and all(buyer["reason"] for buyer in part["buyers"])
        ids = {buyer["user_id"] for buyer in part["buyers"]}
        assert ids <= past if kind == "repeat" else not ids & past
    assert body["horizon_days"] == audience.horizon_days


def test_tier_and_region_keep_only_their_buyers(app, client, engine_and_item):
    engine = state_of(app).served.model.engine
    _, item = engine_and_item
    item_id = str(engine.items.ids[item])
    codes = {str(user): code for code, user in enumerate(engine.users.ids)}
    tiered = admin_get(client, item_id, k=30, tier=2).json()
    assert all(engine.user_tiers[codes[buyer["user_id"]]] == 2
               for kind in ("repeat", "first_time") for buyer in tiered[kind]["buyers"])
    everyone = admin_get(client, item_id, k=30).json()
    assert tiered["first_time"]["expected_buyers"] < everyone["first_time"]["expected_buyers"]
    region = engine.audiences.place_names[0]
    placed = admin_get(client, item_id, k=30, region=region).json()
    assert placed["first_time"]["buyers"] and all(
        engine.audiences.place_names[engine.audiences.places[codes[buyer["user_id"]]]] == region
        for buyer in placed["first_time"]["buyers"])
    nowhere = admin_get(client, item_id, region="Atlantis").json()
    assert nowhere["first_time"] == {"expected_buyers": 0.0, "buyers": []}


def test_the_repeat_part_moves_on_with_the_date(app, client, engine_and_item):
    engine = state_of(app).served.model.engine
    _, item = engine_and_item
    item_id = str(engine.items.ids[item])
    data_end = engine.repeat.reference_time.astype("datetime64[D]").item()
    parts = {}
    for days in (0, 60):
        day = data_end + timedelta(days=days)
        body = admin_get(client, item_id, k=200, date=day.isoformat()).json()
        expected = engine.audience(item, at_us=audience_time(day))
        buyers, probability = expected.top("repeat", 200)
        assert [buyer["user_id"] for buyer in body["repeat"]["buyers"]] == np.asarray(
            engine.users.ids)[buyers].astype(str).tolist()
        assert [buyer["score"] for buyer in body["repeat"]["buyers"]] == pytest.approx(probability.tolist())
        parts[days] = {buyer["user_id"]: buyer for buyer in body["repeat"]["buyers"]}
    assert parts[0] and set(parts[0]) == set(parts[60])  # the same past buyers, two months on
    assert parts[0] != parts[60]
    assert any(buyer["reason"].endswith("ago") and "month" in buyer["reason"].rsplit(";", 1)[1]
               for buyer in parts[60].values())  # last bought two months or more before that day


@pytest.mark.parametrize("params, field", [({"k": 0}, "k"), ({"tier": 9}, "tier"), ({"who": "x"}, "who"),
                                           ({"date": "2026-13-01"}, "date")])
def test_bad_parameters_are_a_422_naming_the_field(client, engine_and_item, params, field):
    engine, item = engine_and_item
    answer = admin_get(client, str(engine.items.ids[item]), **params)
    assert answer.status_code == 422 and field in answer.text


def test_the_audience_needs_the_admin_key_and_a_known_item(client, engine_and_item):
    engine, item = engine_and_item
    assert admin_get(client, str(engine.items.ids[item]), key=None).status_code == 401
    assert admin_get(client, "NO-SUCH-ITEM").status_code == 404


def test_the_merchant_sees_size_and_make_up_and_never_a_buyer_id(client, engine_and_item, merchants, tokens):
    engine, item = engine_and_item
    owner, _ = merchants
    item_id = str(engine.items.ids[item])
    answer = client.get(f"/v1/merchants/{owner}/items/{item_id}/audience",
                        headers={"Authorization": f"Bearer {tokens[1][owner]}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    total = body["expected_repeat_buyers"] + body["expected_first_time_buyers"]
    assert total > 0 and body["expected_units"] > 0
    assert body["repeat_share"] == pytest.approx(body["expected_repeat_buyers"] / total)
    assert sum(row["expected_first_time_buyers"] for row in body["by_city_tier"]) == pytest.approx(
        body["expected_first_time_buyers"])
    assert sum(row["expected_repeat_buyers"] for row in body["by_region"]) == pytest.approx(
        body["expected_repeat_buyers"])
    assert len([row for row in body["by_region"] if row["region"] is not None]) <= 10
    user_ids = set(np.asarray(engine.users.ids).astype(str))
    text = answer.text
    assert not any(f'"{user_id}"' in text for user_id in user_ids)


def test_a_merchant_reads_only_its_own_items(client, engine_and_item, merchants, tokens):
    engine, item = engine_and_item
    owner, other = merchants
    item_id = str(engine.items.ids[item])

    def get(merchant: str, token: str | None):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return client.get(f"/v1/merchants/{merchant}/items/{item_id}/audience", headers=headers)

    assert get(owner, None).status_code == 401
    assert get(owner, tokens[1][other]).status_code == 403  # another merchant's token
    assert get(other, tokens[1][other]).status_code == 403  # its own token, another merchant's item
    missing = client.get(f"/v1/merchants/{owner}/items/NO-SUCH-ITEM/audience",
                         headers={"Authorization": f"Bearer {tokens[1][owner]}"})
    assert missing.status_code == 404


def test_an_item_added_through_the_api_gets_a_first_time_audience(app, client, engine_and_item):
    engine = state_of(app).served.model.engine
    _, item = engine_and_item
    like = engine.catalog.iloc[item]
    body = {"title": str(like.title), "category": str(like.category), "region": str(like.region),
            "merchant_id": str(like.merchant_id), "available": True}
    item_id = str(engine.items.ids[item])
    before = admin_get(client, item_id, k=50).json()["repeat"]
    put = client.put("/v1/items/NEW-AUDIENCE-1", json=body, headers={"X-API-Key": KEY})
    assert put.status_code in (200, 201), put.text
    Watcher(state_of(app)).check()
    answer = admin_get(client, "NEW-AUDIENCE-1", k=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["repeat"]["buyers"] == [] and len(answer.json()["first_time"]["buyers"]) == 10
    extended = state_of(app).served.model.engine
    assert extended is not engine and extended.repeat_by_item(audience_time()).shape[1] == len(engine.users)
    assert admin_get(client, item_id, k=50).json()["repeat"] == before  # today's repeat scores carried over
