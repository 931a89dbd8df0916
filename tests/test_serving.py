"""The HTTP API (serving/app.py) on a small trained model, through FastAPI's TestClient."""
from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving import create_app
from serving.schemas import (
    MAX_CANDIDATES,
    MAX_K,
    ErrorResponse,
    PopularQuery,
    PopularResponse,
    RecommendationsQuery,
    RecommendationsResponse,
    SimilarItemsQuery,
    SimilarItemsResponse,
)
from serving.settings import ServingSettings
from serving.state import state_of


@pytest.fixture(scope="module")
def app(small_model):
    return create_app(ServingSettings(model_dir=small_model))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:  # runs the lifespan (BLAS thread limit)
        yield test_client


@pytest.fixture(scope="module")
def served(app):
    return state_of(app).served.model


@pytest.fixture(scope="module")
def buyer(served) -> str:
    """A known buyer with at least two purchases."""
    counts = np.diff(served.engine.purchased.indptr)
    return str(served.engine.users.ids[int(np.flatnonzero(counts >= 2)[0])])


def bought_ids(served, user_id: str) -> set[str]:
    code = int(served.engine.users.encode([user_id])[0])
    return {str(served.item_ids[c]) for c in served.engine.purchased[code].indices}


def item_codes(served, ids) -> np.ndarray:
    return np.asarray(served.engine.items.encode(list(ids)))


# --- ops -------------------------------------------------------------------------------------------

def test_healthz_and_readyz(client, served):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"] == served.model_version


def test_without_model_not_ready_but_alive():
    with TestClient(create_app(ServingSettings())) as bare:
        assert bare.get("/healthz").status_code == 200
        for path in ("/readyz", "/v1/model", "/v1/popular", "/v1/users/u1/recommendations"):
            answer = bare.get(path)
            assert answer.status_code == 503, path
            assert "no model" in answer.json()["detail"]


def test_model_manifest(client, served):
    body = client.get("/v1/model").json()
    assert body["model_version"] == served.manifest["model_version"]
    assert body["files"] == served.manifest["files"]
    assert body["default_niche"] == served.engine.default_niche  # the knob served, exactly


def test_model_names_a_known_buyer_with_a_median_history_to_try(client, served):
    example = client.get("/v1/model").json()["example_buyer"]
    counts = np.diff(served.engine.purchased.indptr)
    bought = counts[served.engine.users.code_of(example)]
    assert bought > 0 and abs(bought - np.median(counts[counts > 0])) <= 0.5
    answer = client.get(f"/v1/users/{example}/recommendations").json()
    assert answer["personalized"] is True and answer["items"]


# --- recommendations -------------------------------------------------------------------------------

def test_known_buyer_gets_personalized_list(client, served, buyer):
    body = client.get(f"/v1/users/{buyer}/recommendations", params={"k": 10}).json()
    assert body["user_id"] == buyer and body["personalized"] is True
    assert body["model_version"] == served.model_version
    assert body["niche"] == pytest.approx(served.engine.default_niche)
    items = body["items"]
    assert len(items) == 10
    ids = [item["item_id"] for item in items]
    assert len(set(ids)) == 10
    assert not set(ids) & bought_ids(served, buyer)
    assert served.engine.available[item_codes(served, ids)].all()
    for item in items:
        assert item["reason"] and item["title"]
        assert set(item) == {"item_id", "score", "title", "region", "merchant_id", "category", "price", "reason",
                             "campaign"}
    titles_bought = {str(served.titles[c]) for c in item_codes(served, bought_ids(served, buyer))}
    named = [item["reason"] for item in items if item["reason"].startswith(("bought by buyers who bought ",
                                                                               "similar to "))]
    assert named, "personalised reasons should name a purchase"
    assert all(any(title in reason for title in titles_bought) for reason in named)


def test_unknown_buyer_gets_tier_aware_cold_start(client, served):
    lists = {}
    for tier in (1, 3):
        body = client.get("/v1/users/never-seen-buyer/recommendations",
                          params={"k": 10, "city_tier": tier, "niche": 0}).json()
        assert body["personalized"] is False and body["city_tier"] == tier
        assert len(body["items"]) == 10
        assert all(item["reason"].startswith(f"popular with tier-{tier} buyers") for item in body["items"])
        lists[tier] = [item["item_id"] for item in body["items"]]
    no_tier = client.get("/v1/users/never-seen-buyer/recommendations", params={"k": 5}).json()
    assert no_tier["city_tier"] is None
    assert all(item["reason"].startswith("popular with buyers") for item in no_tier["items"])
    top1, top3 = (np.argsort(-served.popularity[t])[:10] for t in (1, 3))
    if not np.array_equal(top1, top3):  # the data distinguish the tiers, so must the lists
        assert lists[1] != lists[3]


def test_filters_are_respected(client, served, buyer):
    category = max(served.category_masks, key=lambda c: served.category_masks[c].sum())
    region = max(served.region_masks, key=lambda r: served.region_masks[r].sum())
    items = client.get(f"/v1/users/{buyer}/recommendations", params={"k": 50, "category": category}).json()["items"]
    assert items and all(item["category"] == category for item in items)
    items = client.get(f"/v1/users/{buyer}/recommendations", params={"k": 50, "region": region}).json()["items"]
    assert items and all(item["region"] == region for item in items)
    limit = float(np.nanmedian(served.prices))
    items = client.get(f"/v1/users/{buyer}/recommendations", params={"k": 50, "max_price": limit}).json()["items"]
    assert items and all(item["price"] is not None and item["price"] <= limit for item in items)
    both = client.get("/v1/users/nobody/recommendations",
                      params={"k": 50, "category": category, "max_price": limit}).json()["items"]
    assert all(item["category"] == category and item["price"] <= limit for item in both)


def test_exclude_purchased_false_can_return_bought_items(client, served, buyer):
    everything = client.get(f"/v1/users/{buyer}/recommendations",
                            params={"k": MAX_K, "exclude_purchased": "false"}).json()["items"]
    ids = {item["item_id"] for item in everything}
    available_bought = {i for i in bought_ids(served, buyer) if served.engine.available[item_codes(served, [i])[0]]}
    assert available_bought and available_bought <= ids
    assert any(item["reason"].startswith("you bought this before") for item in everything)


def test_unknown_category_is_422_naming_it(client, buyer):
    answer = client.get(f"/v1/users/{buyer}/recommendations", params={"category": "spaceships"})
    assert answer.status_code == 422
    assert "spaceships" in answer.json()["detail"] and "known values" in answer.json()["detail"]


@pytest.mark.parametrize("niche", [0, 0.5, 1])
def test_scores_follow_the_order_and_shorter_lists_are_prefixes(client, buyer, niche):
    """Each item's score is the one its list is ordered by (the model's at niche 0, the re-ranked
    score in [0, 1] above it), at every knob, for known and new buyers, with filters or without;
    up to the re-ranker's 50 candidates, a shorter list is the first part of a longer one."""
    for user, params in ((buyer, {}), (buyer, {"max_price": 500}), ("someone-new", {"city_tier": 2})):
        long, short = (client.get(f"/v1/users/{user}/recommendations", params={"k": k, "niche": niche, **params}
                                  ).json()["items"] for k in (20, 5))
        scores = [item["score"] for item in long]
        assert len(scores) > 5 and scores == sorted(scores, reverse=True), (user, params, scores)
        if niche:
            assert 0 <= min(scores) and max(scores) <= 1
        assert short == long[:5]


def test_niche_goods_say_where_they_come_from(client, served):
    items = client.get("/v1/users/nobody/recommendations", params={"k": MAX_K, "niche": 1}).json()["items"]
    flagged = [item for item in items if item["reason"].endswith(f"from {item['region']}")]
    assert flagged, "long-tail / priority-region items should name their region"


# --- similar items ---------------------------------------------------------------------------------

def test_similar_items_of_a_bought_item(client, served):
    item = str(served.item_ids[int(np.argmax(served.engine.item_sales))])
    body = client.get(f"/v1/items/{item}/similar", params={"k": 5}).json()
    assert body["item_id"] == item and len(body["items"]) == 5
    ids = [entry["item_id"] for entry in body["items"]]
    assert item not in ids and served.engine.available[item_codes(served, ids)].all()
    assert all(entry["reason"] for entry in body["items"])


def test_similar_items_of_a_never_bought_item(client, served):
    cold = np.flatnonzero(served.engine.item_sales == 0)
    if len(cold) == 0:
        pytest.skip("the small marketplace has no never-bought item to test content similarity with")
    item = str(served.item_ids[int(cold[0])])
    body = client.get(f"/v1/items/{item}/similar", params={"k": 5}).json()
    assert len(body["items"]) == 5 and item not in {entry["item_id"] for entry in body["items"]}
    assert all(entry["reason"].startswith("similar in content to") for entry in body["items"])


def test_similar_items_of_unknown_item_is_404(client):
    answer = client.get("/v1/items/NO-SUCH-ITEM/similar")
    assert answer.status_code == 404 and "NO-SUCH-ITEM" in answer.json()["detail"]


# --- rank ------------------------------------------------------------------------------------------

def test_rank_orders_candidates_and_lists_unknown_ids(client, served, buyer):
    candidates = [str(i) for i in served.item_ids[:20]]
    body = client.post("/v1/rank", json={"user_id": buyer, "item_ids": candidates + ["GHOST-1", candidates[0]]}).json()
    assert body["personalized"] is True and body["unknown_item_ids"] == ["GHOST-1"]
    ranked = [item["item_id"] for item in body["items"]]
    assert sorted(ranked) == sorted(candidates)  # duplicates ranked once
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    code = int(served.engine.users.encode([buyer])[0])
    expected = served.engine.score_items(code, item_codes(served, ranked))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    cold = client.post("/v1/rank", json={"user_id": "stranger", "item_ids": candidates, "city_tier": 2}).json()
    assert cold["personalized"] is False and len(cold["items"]) == 20


def test_score_items_matches_full_scores(served, buyer):
    engine = served.engine
    code = int(engine.users.encode([buyer])[0])
    codes = np.arange(0, engine.n_items, 7)
    full = engine.model.score(engine.batch(np.array([code])))[0]
    np.testing.assert_allclose(engine.score_items(code, codes), full[codes], rtol=1e-4, atol=1e-5)
    cold = engine.model.score(engine.batch(np.array([-1]), np.array([3])))[0]
    np.testing.assert_allclose(engine.score_items(-1, codes, tier=3), cold[codes], rtol=1e-4, atol=1e-5)


def test_rank_lists_unavailable_items_apart(small_model, buyer):
    app = create_app(ServingSettings(model_dir=small_model))
    served = state_of(app).served
    ids = [str(i) for i in served.model.item_ids[:6]]
    served.live.available[item_codes(served.model, ids[:2])] = False  # as the watcher does
    with TestClient(app) as private:
        body = private.post("/v1/rank", json={"user_id": buyer, "item_ids": ids}).json()
        assert body["unavailable_item_ids"] == ids[:2]
        assert sorted(item["item_id"] for item in body["items"]) == sorted(ids[2:])


# --- popular ---------------------------------------------------------------------------------------

def test_popular(client, served):
    body = client.get("/v1/popular", params={"city_tier": 1, "k": 5}).json()
    assert body["city_tier"] == 1 and len(body["items"]) == 5
    expected = np.argsort(-np.where(served.engine.available, served.popularity[1], -np.inf), kind="stable")[:5]
    assert [item["item_id"] for item in body["items"]] == [str(i) for i in served.item_ids[expected]]
    assert all(item["reason"].startswith("popular with tier-1 buyers") for item in body["items"])
    glob = client.get("/v1/popular", params={"k": 3}).json()
    assert glob["city_tier"] is None and len(glob["items"]) == 3
    category = next(iter(served.category_masks))
    filtered = client.get("/v1/popular", params={"category": category, "k": 50}).json()["items"]
    assert filtered and all(item["category"] == category for item in filtered)


# --- malformed requests ----------------------------------------------------------------------------

LONG_ID = "x" * 129


@pytest.mark.parametrize("params, named", [
    ({"k": 0}, "k"), ({"k": 100000}, "k"), ({"k": "abc"}, "k"), ({"niche": 2}, "niche"),
    ({"niche": "nan"}, "niche"), ({"city_tier": 9}, "city_tier"), ({"city_tier": 0}, "city_tier"),
    ({"max_price": -1}, "max_price"), ({"max_price": "cheap"}, "max_price"),
    ({"exclude_purchased": "maybe"}, "exclude_purchased"), ({"colour": "red"}, "colour"),
    ({"category": ""}, "category"),
])
def test_bad_recommendation_queries_are_422(client, buyer, params, named):
    answer = client.get(f"/v1/users/{buyer}/recommendations", params=params)
    assert answer.status_code == 422
    assert named in str(answer.json()["detail"])


@pytest.mark.parametrize("method, path, kwargs", [
    ("get", f"/v1/users/{LONG_ID}/recommendations", {}),
    ("get", f"/v1/items/{LONG_ID}/similar", {}),
    ("get", "/v1/items/AX-1/similar", {"params": {"k": 0}}),
    ("get", "/v1/items/AX-1/similar", {"params": {"region": "x"}}),
    ("get", "/v1/popular", {"params": {"city_tier": 6}}),
    ("get", "/v1/popular", {"params": {"k": MAX_K + 1}}),
    ("get", "/v1/popular", {"params": {"category": "spaceships"}}),
    ("get", "/v1/popular", {"params": {"tier": 1}}),
    ("get", "/v1/model", {"params": {"verbose": 1}}),
    ("post", "/v1/rank", {"params": {"k": 3}, "json": {"user_id": "u", "item_ids": ["AX-1"]}}),
    ("post", "/v1/rank", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": "AX-1"}}),
    ("post", "/v1/rank", {"json": {"user_id": 5, "item_ids": ["AX-1"]}}),
    ("post", "/v1/rank", {"json": {"item_ids": ["AX-1"]}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": []}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": ["i"] * (MAX_CANDIDATES + 1)}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": [LONG_ID]}}),
    ("post", "/v1/rank", {"json": {"user_id": LONG_ID, "item_ids": ["AX-1"]}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": ["AX-1"], "city_tier": 7}}),
    ("post", "/v1/rank", {"json": {"user_id": "u", "item_ids": ["AX-1"], "surprise": 1}}),
    ("post", "/v1/rank", {"json": [1, 2, 3]}),
])
def test_malformed_requests_are_422_naming_the_fields(client, method, path, kwargs):
    answer = getattr(client, method)(path, **kwargs)
    assert answer.status_code == 422, answer.text  # every one of these is a client error, never a 500
    body = answer.json()
    assert ErrorResponse.model_validate(body).model_dump(mode="json") == body  # the one documented shape
    assert body["detail"] and body["errors"] and all(error["loc"][0] in ("path", "query", "body")
                                                     for error in body["errors"])


def test_an_unknown_query_parameter_is_named(client, buyer):
    errors = client.get(f"/v1/users/{buyer}/recommendations", params={"colour": "red"}).json()["errors"]
    assert errors == [{"loc": ["query", "colour"], "msg": "unknown query parameter", "type": "extra_forbidden"}]


def test_path_and_query_errors_are_named_together_and_every_time(client):
    long_id = "u" * 200
    for _ in range(2):  # a query string seen before is answered from the validated ones: its errors are not
        answer = client.get(f"/v1/users/{long_id}/recommendations", params={"k": "0"})
        assert answer.status_code == 422
        assert [error["loc"] for error in answer.json()["errors"]] == [["path", "user_id"], ["query", "k"]]


def test_a_repeated_query_string_answers_as_the_first_time(client, buyer):
    first, again = (client.get(f"/v1/users/{buyer}/recommendations", params={"k": 3, "niche": 0}).json()
                    for _ in range(2))
    assert first == again and len(first["items"]) == 3 and first["niche"] == 0


def chunks(body: bytes, size: int = 65536):
    """``body`` sent without a Content-Length (chunked)."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_bodies_are_413_in_the_error_shape(client, declared):
    body = b'{"user_id": "u", "item_ids": ["' + b"x" * (2 << 20) + b'"]}'
    answer = client.post("/v1/rank", content=body if declared else chunks(body),
                         headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/json"
    assert ErrorResponse.model_validate(answer.json()).errors == [] and "too large" in answer.json()["detail"]


@pytest.mark.parametrize("method, path, status", [("get", "/v1/nothing-here", 404), ("delete", "/v1/rank", 405),
                                                  ("get", "/v1/items/NO-SUCH-ITEM/similar", 404)])
def test_framework_errors_have_the_error_shape_too(client, method, path, status):
    answer = getattr(client, method)(path)
    assert answer.status_code == status
    assert ErrorResponse.model_validate(answer.json()).model_dump(mode="json") == answer.json()


def test_unexpected_errors_are_json_500(small_model, monkeypatch):
    app = create_app(ServingSettings(model_dir=small_model))

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(state_of(app).served.model.engine, "recommend", broken)
    with TestClient(app, raise_server_exceptions=False) as private:
        answer = private.get("/v1/users/u/recommendations?max_price=1000000")  # a filter: computed
    assert answer.status_code == 500 and "internal server error" in answer.json()["detail"]


# --- OpenAPI ---------------------------------------------------------------------------------------

def test_openapi_documents_every_endpoint_with_examples(client):
    schema = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/model", "/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar",
            "/v1/rank", "/v1/popular"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    for name in ("RecommendationsResponse", "RecommendedItem", "SimilarItemsResponse", "RankRequest", "RankResponse",
                 "PopularResponse", "ModelInfo", "HealthResponse", "ReadyResponse", "ErrorResponse"):
        assert components[name].get("examples"), name
    parameters = {p["name"]: p for p in schema["paths"]["/v1/users/{user_id}/recommendations"]["get"]["parameters"]}
    assert parameters["k"]["schema"]["maximum"] == MAX_K and parameters["k"].get("description")


LIST_ROUTES = [("/v1/users/{user_id}/recommendations", RecommendationsQuery),
               ("/v1/items/{item_id}/similar", SimilarItemsQuery), ("/v1/popular", PopularQuery)]


@pytest.mark.parametrize("path, query_model", LIST_ROUTES)
def test_openapi_documents_the_query_models_of_the_list_routes(client, path, query_model):
    parameters = {p["name"]: p for p in client.get("/openapi.json").json()["paths"][path]["get"]["parameters"]}
    query = {name: p for name, p in parameters.items() if p["in"] == "query"}
    assert set(query) == set(query_model.model_fields)
    for name, parameter in query.items():
        assert parameter["description"] and parameter["required"] is False, name
        assert parameter["schema"].get("examples"), name


def test_list_answers_follow_their_response_models(client, served, buyer):
    """These routes answer with orjson, not through FastAPI's response validation: check the contract here."""
    item = str(served.item_ids[0])
    answers = [(RecommendationsResponse, f"/v1/users/{buyer}/recommendations", {}),
               (RecommendationsResponse, f"/v1/users/{buyer}/recommendations", {"max_price": 1e6, "niche": 0.9}),
               (RecommendationsResponse, "/v1/users/never-seen/recommendations", {"city_tier": 2, "k": 5}),
               (SimilarItemsResponse, f"/v1/items/{item}/similar", {"k": 3}),
               (PopularResponse, "/v1/popular", {"city_tier": 1})]
    for model, path, params in answers:
        answer = client.get(path, params=params)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert model.model_validate(body).model_dump(mode="json") == body, path  # no field missing, none extra
        assert body["items"], path


def test_the_served_model_is_kept_out_of_garbage_collection(client, served):
    import gc

    # the lifespan froze the heap with the model in it (serving.app.freeze_heap): frozen objects are
    # in no generation the collector walks
    assert gc.get_freeze_count() > 0
    explainer = served.explainer
    assert gc.is_tracked(explainer) and not any(tracked is explainer for tracked in gc.get_objects())


def test_the_api_docs_reference_only_files_the_server_serves(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    referenced = {next(part for part in found if part) for found in assets}
    assert "/openapi.json" in referenced and any(path.endswith(".js") for path in referenced)
    for path in referenced:
        assert path.startswith("/"), f"/docs fetches {path} from elsewhere"
        assert client.get(path).status_code == 200, path
    assert client.get("/ui/vendor/not-a-file.js").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN
