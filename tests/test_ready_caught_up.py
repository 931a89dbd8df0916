"""Ready means caught up: after ``kill -9`` and a restart, a 2-worker server answers ``/readyz`` 200
only from workers that have replayed the event store up to the moment they started, so the very
first answers after readiness, from either worker, reflect every purchase acknowledged before the
kill."""
from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest

from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import ServerProcess

pytestmark = pytest.mark.slow  # live 2-worker servers, killed and restarted

KEY = "ready-key"
BUYERS = 60
FILLER_BATCHES = 40  # purchases by other buyers, so the replay after the restart takes a while
BATCH = 100


def top_item(client: httpx.Client, user_id: str) -> str:
    answer = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 5})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"][0]["item_id"]


def fresh_list(base: str, user_id: str) -> list[str]:
    """The buyer's list on a connection of its own (new connections spread over the workers)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 20})
    assert answer.status_code == 200, answer.text
    return [item["item_id"] for item in answer.json()["items"]]


def test_every_first_answer_after_readiness_reflects_purchases_acknowledged_before_a_kill(
        small_model, small_market, tmp_path):
    purchases, _ = small_market
    users = pd.read_csv(purchases, dtype=str)["user_id"].drop_duplicates()
    buyers, others = list(users[:BUYERS]), list(users[BUYERS:])
    env = {INGEST_KEYS_ENV: KEY}
    store = ("--store", f"sqlite:///{tmp_path / 'events.sqlite3'}")
    server = ServerProcess(small_model, 2, *store, env=env).start()
    assert server.log_text().count("every stored event replayed; open http://") == 2  # each worker says so
    with httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": KEY}) as client:
        bought = {user_id: top_item(client, user_id) for user_id in buyers}  # each buyer buys their first pick
        for number in range(FILLER_BATCHES):
            filler = [{"event_id": f"f{number}-{i}", "user_id": others[(number * BATCH + i) % len(others)],
                       "item_id": bought[buyers[i % BUYERS]], "type": "purchase"} for i in range(BATCH)]
            assert client.post("/v1/events", json={"events": filler}).status_code == 200
        events = [{"event_id": f"p-{user_id}", "user_id": user_id, "item_id": item_id, "type": "purchase"}
                  for user_id, item_id in bought.items()]
        assert client.post("/v1/events", json={"events": events}).json()["stored"] == BUYERS
    server.signal_group(signal.SIGKILL)
    server.process.wait(timeout=10)

    restarted = ServerProcess(small_model, 2, *store, env=env, port=server.port).launch()
    try:
        restarted.wait_until_ready(every_worker=False)  # the first 200, whichever worker gave it
        with ThreadPoolExecutor(8) as pool:
            lists = dict(zip(buyers, pool.map(lambda user_id: fresh_list(restarted.url, user_id), buyers)))
        stale = [user_id for user_id in buyers if bought[user_id] in lists[user_id]]
        assert stale == [], f"{len(stale)} of {BUYERS} buyers still see the item they bought"
    finally:
        restarted.stop()
