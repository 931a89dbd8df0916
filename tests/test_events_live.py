"""Rankings react at once, from every worker: a 2-worker `recommender serve` with an event store.
A purchase of a buyer's first recommendation leaves that buyer's list within one second of its
acknowledgement, on every connection (the kernel spreads new connections over both workers), and a
buyer the model has never seen gets a personalised list after a first purchase."""
from __future__ import annotations

import time

import httpx
import pytest

from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import ServerProcess

pytestmark = pytest.mark.slow  # a live 2-worker server

KEY = "live-key"
REACT_SECONDS = 1.0
CONFIRMATIONS = 12  # consecutive answers, each on a new connection, that must all show the change


@pytest.fixture(scope="module")
def server(small_model, tmp_path_factory):
    store = f"sqlite:///{tmp_path_factory.mktemp('live') / 'events.sqlite3'}"
    with ServerProcess(small_model, 2, "--store", store, env={INGEST_KEYS_ENV: KEY}) as server:
        yield server.url


def fresh_get(base: str, path: str) -> dict:
    """One request on a new connection (so the answers come from both workers)."""
    with httpx.Client(base_url=base, timeout=5) as client:
        return client.get(path).json()


def seconds_until_every_worker_shows(base: str, path: str, changed) -> float:
    """Seconds from now until the first of ``CONFIRMATIONS`` answers in a row that satisfy
    ``changed`` was asked for (bounded wait)."""
    start, streak_start, streak = time.monotonic(), 0.0, 0
    while time.monotonic() - start < 10:
        asked = time.monotonic()
        if changed(fresh_get(base, path)):
            streak_start, streak = (streak_start, streak + 1) if streak else (asked, 1)
        else:
            streak = 0
        if streak == CONFIRMATIONS:
            return streak_start - start
    return float("inf")


def post_purchase(base: str, event_id: str, user: str, item: str) -> None:
    answer = httpx.post(f"{base}/v1/events", headers={"X-API-Key": KEY}, timeout=10, json={
        "events": [{"event_id": event_id, "user_id": user, "item_id": item, "type": "purchase"}]})
    assert answer.status_code == 200 and answer.json()["stored"] == 1


def test_a_bought_item_leaves_the_buyers_list_on_every_worker_within_a_second(server, small_market):
    purchases, _ = small_market
    buyer = purchases.read_text().splitlines()[1].split(",")[0].strip('"')
    path = f"/v1/users/{buyer}/recommendations?k=10"
    before = fresh_get(server, path)
    assert before["personalized"] is True  # a buyer the model was trained on
    first = before["items"][0]["item_id"]
    post_purchase(server, "live-1", buyer, first)
    seconds = seconds_until_every_worker_shows(
        server, path, lambda answer: first not in [item["item_id"] for item in answer["items"]])
    assert seconds <= REACT_SECONDS, f"{seconds:.2f} s"


def test_a_new_buyers_first_purchase_personalises_their_list(server):
    path = "/v1/users/never-seen-before/recommendations?k=10"
    cold = fresh_get(server, path)
    assert cold["personalized"] is False
    post_purchase(server, "live-2", "never-seen-before", cold["items"][0]["item_id"])
    seconds = seconds_until_every_worker_shows(server, path, lambda answer: answer["personalized"])
    assert seconds <= REACT_SECONDS, f"{seconds:.2f} s"
