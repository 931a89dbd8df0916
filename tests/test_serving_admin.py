"""The admin API (POST /v1/admin/reload, serving/routes/admin.py) and /metrics."""
from __future__ import annotations

import shutil
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serving import create_app
from serving.routes.admin import ADMIN_KEY_ENV
from serving.settings import ServingSettings, env_name
from serving.state import state_of

ADMIN_RATE_ENV = env_name("admin_rate")

KEY = "s3cret-admin-key"
RECS = "/v1/users/{user_id}/recommendations"
@pytest.fixture
def admin_key(monkeypatch):
    monkeypatch.setenv(ADMIN_KEY_ENV, KEY)
    return KEY


@pytest.fixture
def client(small_model, admin_key):
    """A fresh app per test (reloads change its state), with the admin key set before it starts."""
    with TestClient(create_app(ServingSettings(model_dir=small_model))) as test_client:
        yield test_client


def buyer_of(client) -> str:
    engine = state_of(client.app).served.model.engine
    return str(engine.users.ids[0])


def reload(client, body=None, key=KEY):
    headers = {} if key is None else {"X-API-Key": key}
    return client.post("/v1/admin/reload", json=body, headers=headers)


# --- authentication --------------------------------------------------------------------------------

def test_admin_requests_are_rate_limited_per_key_and_guesses_per_client(small_model, admin_key, monkeypatch):
    monkeypatch.setenv(ADMIN_RATE_ENV, "3/minute")
    with TestClient(create_app(ServingSettings(model_dir=small_model))) as client:
        for _ in range(3):
            assert reload(client, {"model_dir": ""}).status_code == 422  # counted, though refused
        limited = reload(client, {"model_dir": ""})
        assert limited.status_code == 429 and "at most 3 per 1 minute" in limited.json()["detail"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        for _ in range(3):
            assert reload(client, key="guess").status_code == 401
        assert reload(client, key="another guess").status_code == 429  # guesses count per client, any key
        assert reload(client, key=None).status_code == 429


def test_a_bad_admin_rate_is_refused_at_start(small_model, monkeypatch):
    monkeypatch.setenv(ADMIN_RATE_ENV, "often")
    with pytest.raises(ValueError, match=ADMIN_RATE_ENV):
        create_app(ServingSettings(model_dir=small_model))


def test_keys_and_tokens_are_never_logged(small_model, published_forecasts, admin_key, tmp_path, caplog):
    from recommender.merchant_tokens import issue_token

    token = issue_token(tmp_path / "tokens.json", "M1")
    caplog.set_level("DEBUG")
    settings = ServingSettings(model_dir=small_model, forecasts_dir=published_forecasts,
                               merchant_tokens=tmp_path / "tokens.json")
    with TestClient(create_app(settings)) as client:
        reload(client, {"model_dir": str(tmp_path / "missing")})
        reload(client, key=KEY + "-wrong")
        client.get("/v1/merchants/M1/forecast", headers={"Authorization": f"Bearer {token}"})
        client.get("/v1/merchants/M2/forecast", headers={"Authorization": f"Bearer {token}x"})
    assert caplog.records  # the requests were logged about, just not with the secrets
    assert KEY not in caplog.text and token not in caplog.text

def test_reload_without_key_is_401(client, admin_key, versions):
    answer = reload(client, key=None)
    assert answer.status_code == 401
    assert "missing API key" in answer.json()["detail"] and "X-API-Key" in answer.json()["detail"]
    assert client.get("/v1/model").json()["model_version"] == versions[0]


def test_reload_with_wrong_key_is_401(client, admin_key, second_model, versions):
    answer = reload(client, {"model_dir": str(second_model)}, key="not-the-key")
    assert answer.status_code == 401
    assert "invalid API key" in answer.json()["detail"]
    assert client.get("/v1/model").json()["model_version"] == versions[0]


@pytest.mark.parametrize("value", [None, ""])
def test_reload_disabled_without_server_key(small_model, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(ADMIN_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(ADMIN_KEY_ENV, value)
    with TestClient(create_app(ServingSettings(model_dir=small_model))) as client:
        for key in (None, "", KEY):
            answer = reload(client, key=key)
            assert answer.status_code == 403
            assert answer.json()["detail"] == f"admin API disabled: set {ADMIN_KEY_ENV}"


def test_reload_is_documented_with_the_api_key_scheme(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/admin/reload"]["post"]
    assert {"401", "403", "422"} <= set(operation["responses"])
    scheme = next(iter(operation["security"][0]))
    assert spec["components"]["securitySchemes"][scheme] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": spec["components"]["securitySchemes"][
            scheme]["description"]}


# --- reloading -------------------------------------------------------------------------------------

def test_reload_to_another_directory(client, admin_key, second_model, versions):
    answer = reload(client, {"model_dir": str(second_model)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["previous_model_version"] == versions[0] and body["model_version"] == versions[1]
    assert body["model_dir"] == str(second_model) and 0 <= body["seconds"] < 60
    assert client.get("/v1/model").json()["model_version"] == versions[1]
    assert client.get("/readyz").json()["model_version"] == versions[1]
    recs = client.get(f"/v1/users/{buyer_of(client)}/recommendations", params={"k": 3}).json()
    assert recs["model_version"] == versions[1] and recs["niche"] == pytest.approx(0.2)
    # no body: reload the directory served now (the second one)
    again = reload(client)
    assert again.status_code == 200
    assert again.json()["model_dir"] == str(second_model)
    assert again.json()["previous_model_version"] == again.json()["model_version"] == versions[1]


def test_reload_default_is_the_served_directory(client, admin_key, small_model, versions):
    for body in (None, {}, {"model_dir": None}):
        answer = reload(client, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_dir"] == str(small_model)
        assert answer.json()["model_version"] == versions[0]
    assert state_of(client.app).served.model.path == str(small_model)


@pytest.mark.parametrize("damage", ["missing", "no_manifest", "bad_checksum"])
def test_broken_directory_keeps_the_old_model(client, admin_key, small_model, tmp_path, versions, damage):
    target = tmp_path / "broken"
    if damage != "missing":
        shutil.copytree(small_model, target)
    if damage == "no_manifest":
        (target / "manifest.json").unlink()
    elif damage == "bad_checksum":
        engine_file = next(p for p in target.iterdir() if p.name != "manifest.json")
        engine_file.write_bytes(engine_file.read_bytes()[:-10] + b"0123456789")
    served_before = state_of(client.app).served
    answer = reload(client, {"model_dir": str(target)})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    expected = {"missing": "no such directory", "no_manifest": "manifest.json is missing",
                "bad_checksum": "checksum does not match"}[damage]
    assert expected in detail and str(target) in detail
    assert f"still serving model {versions[0]}" in detail
    assert state_of(client.app).served is served_before
    assert client.get("/v1/model").json()["model_version"] == versions[0]
    assert client.get(f"/v1/users/{buyer_of(client)}/recommendations").status_code == 200


def test_reload_rejects_a_bad_body(client, admin_key):
    assert reload(client, {"model_dir": ""}).status_code == 422
    for unreadable in ("0" * 4000, "model\x00dir"):  # a name too long for the file system, a NUL byte
        answer = reload(client, {"model_dir": unreadable})
        assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == ["body", "model_dir"]
    assert reload(client, {"model": "x"}).status_code == 422
    assert client.post("/v1/admin/reload", params={"x": 1}, headers={"X-API-Key": KEY}).status_code == 422


def test_reload_brings_a_bare_app_up(admin_key, small_model, versions):
    with TestClient(create_app(ServingSettings())) as bare:
        assert bare.get("/readyz").status_code == 503
        nothing = reload(bare)
        assert nothing.status_code == 422 and "no model_dir given" in nothing.json()["detail"]
        answer = reload(bare, {"model_dir": str(small_model)})
        assert answer.status_code == 200
        assert answer.json()["previous_model_version"] is None
        assert bare.get("/readyz").json()["model_version"] == versions[0]


def test_reloads_are_serialized(client, admin_key, small_model, second_model, versions, monkeypatch):
    """Simultaneous reloads run one at a time (the lock) and each one succeeds."""
    from serving.served import ServedModel

    original = ServedModel.load.__func__
    active, most = [0], [0]
    guard = threading.Lock()

    def slow_load(cls, path):
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            time.sleep(0.1)
            return original(cls, path)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(ServedModel, "load", classmethod(slow_load))
    results = []

    def reload_to(target):
        results.append(reload(client, {"model_dir": str(target)}).status_code)

    threads = [threading.Thread(target=reload_to, args=(target,)) for target in (second_model, small_model) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [200] * 4
    assert most[0] == 1
    assert client.get("/v1/model").json()["model_version"] in versions


# --- reload under load -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # a live uvicorn under load
def test_reload_under_concurrent_requests(admin_key, small_model, second_model, versions):
    """Real uvicorn on 127.0.0.1: 6 threads ask for recommendations while the model is swapped
    back and forth; every request answers 200 with one of the two versions."""
    app = create_app(ServingSettings(model_dir=small_model))
    buyers = [str(u) for u in state_of(app).served.model.engine.users.ids[:50]] + ["never-seen-buyer"]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert serving.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)

    stop = threading.Event()
    lock = threading.Lock()
    answers: list[tuple[int, str | None]] = []
    problems: list[str] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                user = buyers[int(rng.integers(len(buyers)))]
                try:
                    answer = http.get(f"/v1/users/{user}/recommendations", params={"k": 10})
                    version = answer.json().get("model_version") if answer.status_code == 200 else None
                    with lock:
                        answers.append((answer.status_code, version))
                except (httpx.HTTPError, ValueError) as exc:  # transport error or bad JSON: a failure too
                    with lock:
                        problems.append(repr(exc))

    workers = [threading.Thread(target=hammer, args=(seed,), daemon=True) for seed in range(6)]
    try:
        for worker in workers:
            worker.start()
        with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": KEY}) as admin:
            for target, version in [(second_model, versions[1]), (small_model, versions[0]),
                                    (second_model, versions[1]), (small_model, versions[0]),
                                    (second_model, versions[1])]:
                answer = admin.post("/v1/admin/reload", json={"model_dir": str(target)})
                assert answer.status_code == 200, answer.text
                assert answer.json()["model_version"] == version
                with lock:
                    seen = len(answers)
                wait_until = time.monotonic() + 10
                while len(answers) < seen + 20 and time.monotonic() < wait_until:  # let requests hit this model
                    time.sleep(0.01)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        server.should_exit = True
        serving.join(timeout=30)
    assert not problems, problems[:5]
    assert len(answers) >= 100
    statuses = {status for status, _ in answers}
    assert statuses == {200}, statuses
    assert {version for _, version in answers} == set(versions)
    assert state_of(app).served.model.model_version == versions[1]


# --- metrics ---------------------------------------------------------------------------------------

def scrape(client) -> dict:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def samples(families, family, sample_name, **labels):
    return [s for s in families[family].samples
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_metrics(client, admin_key, second_model, versions):
    buyer = buyer_of(client)
    for _ in range(3):
        assert client.get(f"/v1/users/{buyer}/recommendations", params={"k": 5}).status_code == 200
    assert client.get("/v1/users/someone-new/recommendations").status_code == 200
    assert client.get(f"/v1/users/{buyer}/recommendations", params={"k": 0}).status_code == 422
    assert client.get("/no/such/route").status_code == 404
    assert client.get("/healthz").status_code == 200

    families = scrape(client)
    count = samples(families, "recommender_http_requests", "recommender_http_requests_total",
                    method="GET", route=RECS, status="200")
    assert [s.value for s in count] == [4.0]  # raw paths are folded into the route template
    assert samples(families, "recommender_http_requests", "recommender_http_requests_total",
                   method="GET", route=RECS, status="422")[0].value == 1.0
    assert samples(families, "recommender_http_requests", "recommender_http_requests_total",
                   route="unmatched", status="404")[0].value == 1.0
    assert samples(families, "recommender_http_requests", "recommender_http_requests_total",
                   route="/healthz", status="200")[0].value == 1.0
    routes = {s.labels["route"] for s in families["recommender_http_requests"].samples}
    assert not any(buyer in route or "someone-new" in route for route in routes)

    histogram = families["recommender_http_request_duration_seconds"]
    assert histogram.type == "histogram"
    buckets = samples(families, "recommender_http_request_duration_seconds",
                      "recommender_http_request_duration_seconds_bucket", method="GET", route=RECS)
    assert [float(s.labels["le"]) for s in buckets] == [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                                        float("inf")]
    assert buckets[-1].value == 5.0
    assert samples(families, "recommender_http_request_duration_seconds",
                   "recommender_http_request_duration_seconds_count", route=RECS)[0].value == 5.0

    model = samples(families, "recommender_model_info", "recommender_model_info")
    assert [(s.labels["model_version"], s.value) for s in model] == [(versions[0], 1.0)]

    assert reload(client, {"model_dir": str(second_model)}).status_code == 200
    assert reload(client, {"model_dir": "/no/such/model"}).status_code == 422
    families = scrape(client)
    model = samples(families, "recommender_model_info", "recommender_model_info")
    assert [(s.labels["model_version"], s.value) for s in model] == [(versions[1], 1.0)]
    reloads = {s.labels["outcome"]: s.value for s in families["recommender_model_reloads"].samples
               if s.name == "recommender_model_reloads_total"}
    assert reloads == {"success": 1.0, "failure": 1.0}
    assert samples(families, "recommender_http_requests", "recommender_http_requests_total",
                   method="POST", route="/v1/admin/reload", status="422")[0].value == 1.0
    assert samples(families, "recommender_http_requests", "recommender_http_requests_total",
                   route="/metrics", status="200")[0].value == 1.0  # the first scrape


def test_each_app_has_its_own_registry(small_model):
    with (TestClient(create_app(ServingSettings(model_dir=small_model))) as one,
          TestClient(create_app(ServingSettings())) as two):
        one.get("/healthz")
        families = scrape(two)
        assert not samples(families, "recommender_http_requests", "recommender_http_requests_total",
                           route="/healthz")
        assert not families["recommender_model_info"].samples  # no model loaded


# --- exposure -------------------------------------------------------------------------------------

def test_exposure_counts_the_top_ten_the_api_serves(client, admin_key):
    assert client.get("/v1/admin/exposure").status_code == 401
    answer = client.get("/v1/admin/exposure", headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    exposure = answer.json()
    engine = state_of(client.app).served.model.engine
    assert exposure["buyers"] == len(engine.users) and exposure["k"] == 10
    slots: dict[str, int] = {}
    for user_id in engine.users.ids:
        for item in client.get(RECS.format(user_id=user_id), params={"k": 10}).json()["items"]:
            slots[item["region"]] = slots.get(item["region"], 0) + 1
    total = sum(slots.values())
    shares = {row["group"]: row["slot_share"] for row in exposure["region"]["groups"]}
    assert set(shares) == set(engine.catalog.region.astype(str))  # regions never shown are listed at 0
    for region, count in slots.items():
        assert shares[region] == pytest.approx(count / total, abs=1e-6)
    listed = [row["slot_share"] for row in exposure["merchant"]["groups"]]
    assert listed == sorted(listed, reverse=True) and sum(listed) == pytest.approx(1.0, abs=1e-4)
    assert sum(row["sales_share"] for row in exposure["merchant"]["groups"]) == pytest.approx(1.0, abs=1e-4)
    assert 0.0 <= exposure["merchant"]["least_fifth_share"] <= 0.2 <= 1.0 - exposure["merchant"]["gini"]
    assert 0.0 <= exposure["long_tail_share"] <= 1.0
