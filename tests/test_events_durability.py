"""Acknowledged events survive SIGKILL: a 2-worker server is killed (every process, SIGKILL) in the
middle of a stream of event batches; after a restart every acknowledged event is in the store,
and re-sending every batch stores each event exactly once."""
from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from recommender.store import EventStore
from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import ServerProcess

pytestmark = pytest.mark.slow  # live 2-worker servers, killed and restarted

KEY = "durability-key"
BATCH = 20
ACKNOWLEDGED_BEFORE_KILL = 40  # batches


def batch(number: int) -> list[dict]:
    return [{"event_id": f"b{number}-e{i}", "user_id": f"u{i % 7}", "item_id": f"i{number % 11}", "type": "purchase"}
            for i in range(BATCH)]


def send(base: str, batches: list[int], attempted: list[int], acknowledged: list[int], stop: threading.Event
         ) -> None:
    """Post ``batches`` one after another on one connection, recording the ones sent and the ones
    acknowledged."""
    with httpx.Client(base_url=base, timeout=5, headers={"X-API-Key": KEY}) as client:
        for number in batches:
            if stop.is_set():
                return
            attempted.append(number)
            try:
                answer = client.post("/v1/events", json={"events": batch(number)})
            except httpx.TransportError:
                continue  # the server is gone: this batch was not acknowledged
            if answer.status_code == 200:
                acknowledged.append(number)


def test_sigkill_loses_no_acknowledged_event_and_counts_none_twice(small_model, store_url):
    env = {INGEST_KEYS_ENV: KEY}
    server = ServerProcess(small_model, 2, "--store", store_url, env=env).start()
    base = server.url
    attempted: list[int] = []
    acknowledged: list[int] = []
    stop = threading.Event()
    senders = [threading.Thread(target=send, args=(base, list(range(start, 100_000, 2)), attempted, acknowledged,
                                                   stop))
               for start in (0, 1)]  # two connections: both workers write
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
        time.sleep(0.01)
    server.signal_group(signal.SIGKILL)  # the supervisor and both workers, mid-stream
    server.process.wait(timeout=10)
    stop.set()
    for sender in senders:
        sender.join(timeout=30)
    acked = set(acknowledged)
    assert len(acked) >= ACKNOWLEDGED_BEFORE_KILL

    with ServerProcess(small_model, 2, "--store", store_url, env=env, port=server.port):
        store = EventStore.open(store_url, migrate=False)
        stored_ids = [event.event_id for event in store.events.after(0, limit=10_000_000)]
        expected = {f"b{number}-e{i}" for number in acked for i in range(BATCH)}
        assert expected <= set(stored_ids)  # every acknowledged event survived
        assert len(stored_ids) == len(set(stored_ids))
        with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": KEY}) as client:
            for number in attempted:  # a storefront re-sends every batch it is unsure of (here: all)
                assert client.post("/v1/events", json={"events": batch(number)}).status_code == 200
        stored_ids = [event.event_id for event in store.events.after(0, limit=10_000_000)]
        assert len(stored_ids) == len(set(stored_ids)) == len(set(attempted)) * BATCH
        store.close()
