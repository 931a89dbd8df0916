"""Harvest lots under concurrent purchases (issue 30, "Reliability and speed"): a live 2-worker
`recommender serve` with an event store (SQLite, then PostgreSQL), a merchant's lot of three of its
items, and 10,000 events sent at once on several connections: 9,000 distinct events, of which
14% must not count (outside the lot's window, items outside it, a tier it does not ship to, not
purchases), and 1,000 repeated event ids (in the same batch, in another batch, whole batches sent
again: tests/lot_load.py), batches reaching both workers. Once every batch is answered, the lot's
units sold are exactly min(units, distinct counting purchases), on every worker, and the store holds
one sale per counted event id, each of a counting purchase; while the load runs the lot never shows
negative remaining units nor fewer units sold than before. Three cases: a lot that sells out
(7,000 units), one that does not (9,000), and twenty lots of 350 units on the same items, filled
one after another (twenty sell-outs under concurrent writers: without PostgreSQL's writers' turn
two workers sell past a lot's units, the database's check refuses the transaction, and the
storefront gets 503s, which the test counts as a failure).

:class:`LiveLots` (the ``live`` fixture) is the server with a merchant, its token, an ingest key
and the admin key: a test declares lots (:func:`declare_lots`), sends a load while reading them
(:meth:`LiveLots.send_watching`) and reads them back on any worker, so a check of what else the
server does while a lot sells out (a clearance campaign started between the two steps, and its
placements after sell-out) runs on the same setup.
"""
from __future__ import annotations

import queue
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from recommender.merchant_tokens import issue_token
from recommender.store import EventStore
from recommender.store.schema import lot_sales
from serving.routes.admin import ADMIN_KEY_ENV
from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import ServerProcess
from tests.lot_load import SHIPPED_TIERS, LotLoad, lot_load

pytestmark = pytest.mark.slow  # a live 2-worker server per test

INGEST = "lots-live-ingest-key"
ADMIN = "lots-live-admin-key"
SENDERS = 6  # threads sending batches: half on one kept-alive connection, half on a new one per batch
LOAD_SECONDS = 180  # every batch answered within this, on a shared 2-core machine
READS = 8  # reads of the lot on new connections once the load is answered (both workers answer some)
LATE = 5  # counting purchases sent after the load (they count only while units remain)
EVENTS_ROUTE = re.compile(r'^recommender_http_requests_total\{(?=[^}]*method="POST")(?=[^}]*route="/v1/events")'
                          r'(?=[^}]*status="200")[^}]*\} (\S+)$', re.MULTILINE)


@dataclass
class LiveLots:
    """A live server (``server``, on ``store_url``) where ``merchant`` (token ``token``) sells
    ``lot_items``, ``other_items`` are items outside its lots and ``buyers`` buy them."""

    server: ServerProcess
    store_url: str
    merchant: str
    token: str
    lot_items: list[str]
    other_items: list[str]
    buyers: list[str]
    batches_stored: int = field(default=0)  # POST /v1/events answered 200 so far
    unavailable: int = field(default=0)  # and 503 (the store could not take the batch: sent again)

    def declare(self, lot: dict) -> dict:
        answer = httpx.post(f"{self.server.url}/v1/merchants/{self.merchant}/lots", json=lot, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def read(self) -> dict[str, tuple[int, int]]:
        """Each of the merchant's lots: (units sold, remaining), as the merchant lists them on a new
        connection (either worker)."""
        answer = httpx.get(f"{self.server.url}/v1/merchants/{self.merchant}/lots", timeout=30,
                           headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 200, answer.text
        return {lot["lot_id"]: (lot["units_sold"], lot["remaining"]) for lot in answer.json()["lots"]}

    def read_as_operator(self) -> dict[str, tuple[int, int]]:
        answer = httpx.get(f"{self.server.url}/v1/admin/lots", headers={"X-API-Key": ADMIN}, timeout=30)
        assert answer.status_code == 200, answer.text
        return {lot["lot_id"]: (lot["units_sold"], lot["remaining"]) for lot in answer.json()["lots"]}

    def send(self, batches: list[list[dict]]) -> list[dict]:
        """Post every batch from SENDERS threads at once (a 503 is sent again after a pause, as
        its Retry-After asks); the 200 answers' bodies, in no particular order."""
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for batch in batches:
            todo.put(batch)
        answers: list[dict] = []
        failures: list[str] = []
        deadline = time.monotonic() + LOAD_SECONDS

        def sender(keep_alive: bool) -> None:
            limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
            with httpx.Client(base_url=self.server.url, headers={"X-API-Key": INGEST}, timeout=60,
                              limits=limits) as client:
                while time.monotonic() < deadline:
                    try:
                        batch = todo.get_nowait()
                    except queue.Empty:
                        return
                    answer = client.post("/v1/events", json={"events": batch})
                    while answer.status_code == 503 and time.monotonic() < deadline:
                        self.unavailable += 1
                        time.sleep(0.1)
                        answer = client.post("/v1/events", json={"events": batch})
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code}: {answer.text[:300]}")
                        return
                    answers.append(answer.json())

        threads = [threading.Thread(target=sender, args=(number % 2 == 0,)) for number in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=LOAD_SECONDS + 60)
        assert not failures, failures[:3]
        assert len(answers) == len(batches), f"{len(answers)} of {len(batches)} batches answered in time"
        self.batches_stored += len(answers)
        return answers

    def send_watching(self, batches: list[list[dict]]) -> tuple[list[dict], list[dict[str, tuple[int, int]]]]:
        """:meth:`send` the batches while reading the lots on new connections every 50 ms: the
        answers, and the reads (the last one made once every batch was answered)."""
        stop, seen = threading.Event(), []

        def watch() -> None:
            while not stop.is_set():
                seen.append(self.read())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            answers = self.send(batches)
        finally:
            stop.set()
            watcher.join(timeout=60)
        return answers, [*seen, self.read()]

    def counted(self) -> dict[str, list[tuple[str, int]]]:
        """Each of the merchant's lots' sales in the store: (event id, units) each."""
        store = EventStore.open(self.store_url, migrate=False)
        found = defaultdict(list)
        try:
            with store.connection_pool.connect() as connection:
                for lot_id, event_id, units in connection.execute(select(
                        lot_sales.c.lot_id, lot_sales.c.event_id, lot_sales.c.units).where(
                        lot_sales.c.merchant_id == self.merchant)):
                    found[lot_id].append((event_id, units))
        finally:
            store.close()
        return found

    def events_stored_per_scrape(self, scrapes: int = 10) -> list[float]:
        """The 200s of POST /v1/events each worker scraped (on new connections) says it answered."""
        found = []
        for _ in range(scrapes):
            text = httpx.get(f"{self.server.url}/metrics", timeout=30).text
            found.append(sum(float(count) for count in EVENTS_ROUTE.findall(text)))
        return found


@pytest.fixture(scope="module")
def catalog(small_model):
    """The small model's merchant with the most items (its items, most sold first), another
    merchant's item, and buyers."""
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine

    engine = load_model_directory(small_model, RecommendationEngine)[0]
    items = engine.catalog.assign(sales=engine.item_sales).sort_values("sales", ascending=False)
    merchant = str(items.merchant_id.value_counts().index[0])
    own = [str(item) for item in items[items.merchant_id == merchant].item_id]
    other = str(items[items.merchant_id != merchant].item_id.iloc[0])
    assert len(own) >= 4
    return merchant, own, other, [str(user) for user in engine.users.ids[:300]]


@pytest.fixture
def live(small_model, store_url, catalog, tmp_path: Path):
    merchant, own, other, buyers = catalog
    token = issue_token(tmp_path / "tokens.json", merchant)
    with ServerProcess(small_model, 2, "--store", store_url, "--merchant-tokens", str(tmp_path / "tokens.json"),
                       env={INGEST_KEYS_ENV: INGEST, ADMIN_KEY_ENV: ADMIN}) as server:
        yield LiveLots(server, store_url, merchant, token, own[:3], [*own[3:], other], buyers)


def late_purchases(load: LotLoad) -> list[dict]:
    """LATE counting purchases of the lot under new event ids (the same fields as counting ones)."""
    counting = [event for batch in load.batches for event in batch if event["event_id"] in load.counting]
    return [{**event, "event_id": f"late-{number}"} for number, event in enumerate(counting[:LATE])]


def in_turn(units: list[int], purchases: int) -> list[int]:
    """Units sold of lots of ``units`` that purchases of 1 unit fill one after another."""
    sold = []
    for lot_units in units:
        sold.append(min(lot_units, purchases - sum(sold)))
    return sold


def declare_lots(live: LiveLots, load: LotLoad, units: list[int]) -> dict[str, int]:
    """Declare lots of ``units`` each on the load's items and window, in order (the first declared
    sells first): their units by lot id."""
    lots = {f"harvest-{number:02d}": lot_units for number, lot_units in enumerate(units)}
    for lot_id, lot_units in lots.items():
        declared = live.declare({**load.lot, "lot_id": lot_id, "units": lot_units})
        assert declared["tiers"] == list(SHIPPED_TIERS) and (declared["units_sold"], declared["remaining"]) == (
            0, lot_units)
    return lots


# lots of the same items and window, declared in this order: the first declared sells first
SPLITS = {"sold-out": [7_000], "units-left": [9_000], "twenty-lots-sold-out-in-turn": [350] * 20}


@pytest.mark.parametrize("units", SPLITS.values(), ids=SPLITS.keys())
def test_concurrent_duplicated_purchases_count_once_each_within_the_lot_and_never_past_its_units(live, units):
    load = lot_load("harvest-00", live.lot_items, live.other_items, live.buyers, units[0], purchases=9_000)
    assert (load.sends, load.distinct) == (10_000, 9_000) and len(load.counting) == 7_740
    lots = declare_lots(live, load, units)
    answers, seen = live.send_watching(load.batches)
    assert sum(answer["stored"] for answer in answers) == load.distinct  # each event id stored once
    assert sum(len(answer["duplicate_event_ids"]) for answer in answers) == load.sends - load.distinct
    per_worker = live.events_stored_per_scrape()
    assert all(0 < count < live.batches_stored for count in per_worker), per_worker  # both workers stored batches

    for lot_id, lot_units in lots.items():
        assert all(read[lot_id][0] + read[lot_id][1] == lot_units and read[lot_id][1] >= 0 for read in seen), seen
        assert [read[lot_id][0] for read in seen] == sorted(read[lot_id][0] for read in seen), "units sold went down"
    expected = {lot_id: (sold, lots[lot_id] - sold) for lot_id, sold in zip(lots, in_turn(units, len(load.counting)))}
    assert [live.read() for _ in range(READS)] == [expected] * READS  # every worker: exact
    assert live.read_as_operator() == expected
    counted = live.counted()
    assert {lot_id: len(sales) for lot_id, sales in counted.items()} == {
        lot_id: sold for lot_id, (sold, _) in expected.items() if sold}
    assert {sold for sales in counted.values() for _, sold in sales} == {1}  # a purchase of 1 unit takes 1
    counted_ids = [event_id for sales in counted.values() for event_id, _ in sales]
    assert len(counted_ids) == len(set(counted_ids)) == sum(sold for sold, _ in expected.values())
    assert set(counted_ids) <= load.counting  # never a purchase outside the window, the items or the tiers
    assert set(counted_ids) == load.counting or sum(units) < len(load.counting)
    refused = [line for line in live.server.log_text().splitlines() if "refused" in line]
    assert live.unavailable == 0, refused[:3]  # e.g. two workers' sales past a lot's units, stopped by the database

    assert live.send([late_purchases(load)])[0]["stored"] == LATE
    after = {lot_id: (sold, lots[lot_id] - sold)
             for lot_id, sold in zip(lots, in_turn(units, len(load.counting) + LATE))}
    assert [live.read() for _ in range(READS)] == [after] * READS


@pytest.fixture
def live_with_forecasts(small_model, small_forecasts, store_url, catalog, tmp_path: Path):
    """:func:`live`, serving the small marketplace's forecasts too (a clearance is sized on them)."""
    merchant, own, other, buyers = catalog
    token = issue_token(tmp_path / "tokens.json", merchant)
    with ServerProcess(small_model, 2, "--store", store_url, "--merchant-tokens", str(tmp_path / "tokens.json"),
                       "--forecasts", str(small_forecasts),
                       env={INGEST_KEYS_ENV: INGEST, ADMIN_KEY_ENV: ADMIN}) as server:
        yield LiveLots(server, store_url, merchant, token, own[:3], [*own[3:], other], buyers)


CLEARANCE_AUDIENCE = 60  # buyers per part and lot item the clearance may reach


def test_no_lot_item_is_placed_for_the_clearance_after_the_lot_sells_out(live_with_forecasts, small_model):
    from recommender.artifacts import load_model_directory
    from recommender.engine import RecommendationEngine
    from recommender.lots import clearance_audience

    live = live_with_forecasts
    load = lot_load("harvest-00", live.lot_items, live.other_items, live.buyers, 7_000, purchases=9_000)
    declare_lots(live, load, [7_000])
    started = httpx.post(f"{live.server.url}/v1/merchants/{live.merchant}/lots/harvest-00/clearance", timeout=30,
                         json={"audience": CLEARANCE_AUDIENCE}, headers={"Authorization": f"Bearer {live.token}"})
    assert started.status_code == 201, started.text
    campaign_id = started.json()["campaign"]["campaign"]["campaign_id"]
    store = EventStore.open(live.store_url, migrate=False)
    engine = load_model_directory(small_model, RecommendationEngine)[0]
    record = store.lots.get(live.merchant, "harvest-00")
    audience = [str(user) for user in np.asarray(engine.users.ids)[clearance_audience(
        engine, record, CLEARANCE_AUDIENCE)]]
    time.sleep(1.0)  # both workers' watchers pick the campaign up (every quarter of a second)

    sold_out_at: list[float] = []  # when a read of the store first saw the lot without units
    placements: list[tuple[float, int]] = []  # (request start, lot items placed for the clearance)
    stop = threading.Event()

    def watch_store() -> None:
        while not stop.is_set() and not sold_out_at:
            if store.lots.get(live.merchant, "harvest-00").remaining == 0:
                sold_out_at.append(time.monotonic())
            time.sleep(0.01)

    def browse() -> None:
        with httpx.Client(base_url=live.server.url, timeout=30) as client:
            for turn in range(100_000):
                if stop.is_set():
                    return
                started_at = time.monotonic()
                items = client.get(f"/v1/users/{audience[turn % len(audience)]}/recommendations",
                                   params={"k": 20}).json()["items"]
                placements.append((started_at, sum(item.get("campaign") == campaign_id for item in items)))

    helpers = [threading.Thread(target=watch_store), threading.Thread(target=browse)]
    for thread in helpers:
        thread.start()
    try:
        live.send(load.batches)
        time.sleep(1.0)  # some requests after the sell-out, before the watchers stop the campaign
    finally:
        stop.set()
        for thread in helpers:
            thread.join(timeout=60)
        store.close()
    assert sold_out_at, "the lot did not sell out"
    before = [placed for at, placed in placements if at < sold_out_at[0]]
    after = [placed for at, placed in placements if at > sold_out_at[0]]
    assert sum(before) > 0 and after, (sum(before), len(after))  # the clearance ran, and was asked for after
    assert sum(after) == 0  # not one lot item shown for it once the sale that emptied the lot was stored
    status = httpx.get(f"{live.server.url}/v1/admin/campaigns/{campaign_id}", headers={"X-API-Key": ADMIN},
                       timeout=30).json()["status"]
    assert status == "stopped"
