"""Benchmark: POST /v1/events against raw INSERTs into the same store, in the same run, on SQLite
and PostgreSQL; the time from an acknowledged purchase to changed recommendations; memory after
many events.

    python bench/events.py                           # a small demo model, built in a temporary directory
    python bench/events.py --model DIR --seconds 10 --memory-events 1000000

For each store (SQLite in a temporary directory; PostgreSQL: a throwaway server started from
Debian's binaries, as the tests do, or ``--postgres URL``):

* raw INSERTs: the driver's own ``executemany`` of the same rows into the same table, one
  transaction per batch, with the store's durability (SQLite WAL, ``synchronous=FULL``), for
  batches of 1 and of 100: the ceiling of that database on this machine;
* the API: a 2-worker ``recommender serve --store URL``, ``--connections`` keep-alive connections
  posting batches of 1 and of 100 for ``--seconds`` each: events/s, p50 and p99 per request;
* reaction: for ``--buyers`` known buyers, one after another, a purchase of the buyer's first
  recommendation, then new-connection requests until the item has left the list on
  ``CONFIRMATIONS`` answers in a row: seconds from the acknowledgement (p50, p99);
* new items, first (while no buyer's history has changed): ``--new-items`` items the model does
  not know (copies of catalog items' fields under new ids), one after another, through
  ``PUT /v1/items``, then new-connection requests until the item's similar items answer (it is
  ranked) on ``CONFIRMATIONS`` answers in a row, and until it is in the (precomputed) default
  list of one of the buyers whose list gains it (found in-process beforehand): seconds from the
  acknowledgement (p50, max);
* memory: ``--memory-events`` purchases of random known buyers and items (batches of 1,000), then
  each worker's RSS once it has followed them all (no CPU used for 5 s), against its RSS before.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import psycopg

from bench._http import exchange
from bench.serve import cpu_seconds, get, model_directory
from bench.soak import rss_mb
from recommender.store import EventStore
from serving.routes.admin import ADMIN_KEY_ENV
from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import HOST, ServerProcess
from tests.postgres_server import PostgresServer

KEY = "bench-events-key"
BATCH_SIZES = (1, 100)
CONFIRMATIONS = 6
COLUMNS = ("event_id", "user_id", "item_id", "type", "timestamp_us", "quantity", "city_tier", "received_us")
API_FIELDS = COLUMNS[:4]
_ids = itertools.count()


def event_rows(n: int, users: list[str], items: list[str], rng: random.Random) -> list[dict]:
    now = time.time_ns() // 1000
    return [{"event_id": f"bench-{next(_ids)}", "user_id": rng.choice(users), "item_id": rng.choice(items),
             "type": "purchase"} | ({"timestamp_us": now, "quantity": 1.0, "city_tier": None, "received_us": now})
            for _ in range(n)]


def api_events(n: int, users: list[str], items: list[str], rng: random.Random) -> list[dict]:
    """``n`` purchases as a storefront sends them (the fields the API takes)."""
    return [{name: row[name] for name in API_FIELDS} for row in event_rows(n, users, items, rng)]


def raw_inserts(url: str, batch: int, seconds: float, users, items) -> float:
    """Events/s of the driver's executemany, one transaction per batch, for ``seconds``."""
    rng = random.Random(0)
    placeholders = ", ".join("?" if url.startswith("sqlite") else "%s" for _ in COLUMNS)
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        begin, commit = (lambda: connection.execute("BEGIN IMMEDIATE")), (lambda: connection.execute("COMMIT"))
        cursor = connection.cursor()
    else:
        connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        begin, commit = (lambda: None), connection.commit
        cursor = connection.cursor()
    stored, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rows = [tuple(row[c] for c in COLUMNS) for row in event_rows(batch, users, items, rng)]
        begin()
        cursor.executemany(sql, rows)
        commit()
        stored += batch
    elapsed = time.perf_counter() - start
    connection.close()
    return stored / elapsed


async def post_load(port: int, batch: int, seconds: float, connections: int, users, items) -> dict:
    """``connections`` keep-alive connections posting batches for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(HOST, port)
        while time.perf_counter() < deadline:
            body = json.dumps({"events": api_events(batch, users, items, rng)}).encode()
            request = (f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nX-API-Key: {KEY}\r\nContent-Type: "
                       f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            sent = time.perf_counter()
            status, _ = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - sent)
            errors += status != 200
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection(seed) for seed in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"events_per_s": len(latencies) * batch / elapsed, "p50_ms": 1e3 * latencies[len(latencies) // 2],
            "p99_ms": 1e3 * latencies[int(len(latencies) * 0.99)], "errors": errors}


def post(port: int, events: list[dict]) -> None:
    request = urllib.request.Request(f"http://{HOST}:{port}/v1/events", data=json.dumps({"events": events}).encode(),
                                     headers={"X-API-Key": KEY, "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def first_items(port: int, buyer: str) -> list[str]:
    status, body = get(port, f"/v1/users/{buyer}/recommendations?k=10")
    return [item["item_id"] for item in json.loads(body)["items"]] if status == 200 else []


def reaction_seconds(port: int, buyers: list[str]) -> list[float]:
    """Per buyer: seconds from an acknowledged purchase of the first recommendation until it has left
    the list (see :func:`seconds_until`)."""
    found = []
    for buyer in buyers:
        item = first_items(port, buyer)[0]
        post(port, [{"event_id": f"react-{next(_ids)}", "user_id": buyer, "item_id": item, "type": "purchase"}])
        found.append(seconds_until(time.perf_counter(), partial(_not_listed, port, buyer, item), 30))
    return found


def put_item(port: int, item_id: str, fields: dict) -> None:
    request = urllib.request.Request(f"http://{HOST}:{port}/v1/items/{item_id}", data=json.dumps(fields).encode(),
                                     headers={"X-API-Key": KEY, "Content-Type": "application/json"}, method="PUT")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def seconds_until(acknowledged: float, shown, limit: float) -> float:
    """Seconds from ``acknowledged`` until ``shown()`` held on CONFIRMATIONS calls in a row (from
    the first of them; new connections, so both workers answer), or inf after ``limit`` seconds."""
    streak, streak_start = 0, 0.0
    while streak < CONFIRMATIONS and time.perf_counter() - acknowledged < limit:
        asked = time.perf_counter()
        if shown():
            streak, streak_start = (streak + 1, streak_start) if streak else (1, asked)
        else:
            streak = 0
            time.sleep(0.01)
    return streak_start - acknowledged if streak == CONFIRMATIONS else float("inf")


def _not_listed(port: int, buyer: str, item: str) -> bool:
    return item not in first_items(port, buyer)


def _ranked(port: int, item: str) -> bool:
    return get(port, f"/v1/items/{item}/similar?k=10")[0] == 200


def _listed_for_any(port: int, buyers: list[str], item: str) -> bool:
    return any(item in first_items(port, buyer) for buyer in buyers)


def new_item_seconds(port: int, copies: list[tuple[dict, list[str]]]) -> list[tuple[float, float]]:
    """Per copied catalog row (its fields and buyers whose list gains it): seconds from an acknowledged
    PUT of the row under a new id until the item's similar items answer (it is ranked), and until
    it is in the default list (10 items, precomputed) of one of the buyers whose list gains it."""
    found = []
    for fields, buyers in copies:
        item_id = f"NEW-{next(_ids)}"
        put_item(port, item_id, fields)
        acknowledged = time.perf_counter()
        ranked = seconds_until(acknowledged, partial(_ranked, port, item_id), 120)
        listed = seconds_until(acknowledged, partial(_listed_for_any, port, buyers, item_id), 300)
        found.append((ranked, listed))
    return found


def item_copies(engine, count: int, buyers: int = 20, sample: int = 5_000) -> list[tuple[dict, list[str]]]:
    """``count`` catalog items as ``PUT /v1/items`` bodies (their fields, to list under new ids),
    each with up to ``buyers`` buyers whose default list of 10 gains the copy (found in-process with
    :meth:`~recommender.engine.RecommendationEngine.with_items` among ``sample`` buyers): the most
    bought items that have such buyers."""
    from recommender.loaders import written_items_catalog
    from recommender.store import Item

    copies, users = [], np.arange(min(sample, len(engine.users)))
    for code in engine.item_sales.argsort()[::-1]:
        row = engine.catalog.iloc[code]
        tags = [tag for tag in str(row.tags).split(";") if tag]
        fields = {"title": str(row.title), "description": str(row.description), "category": str(row.category),
                  "region": str(row.region), "merchant_id": str(row.merchant_id), "price": float(row.price),
                  "tags": tags}
        extended = engine.with_items(written_items_catalog([Item("COPY", available=True, **{
            **fields, "tags": ";".join(tags)})]))
        codes, _ = extended.recommend(users, 10)
        shown = users[(codes == extended.items.code_of("COPY")).any(axis=1)][:buyers]
        if len(shown):
            copies.append((fields, [str(user) for user in engine.users.decode(shown)]))
        if len(copies) == count:
            return copies
    return copies


def settled_rss(pids: list[int], steady_seconds: int = 5, limit_seconds: int = 300) -> dict[int, float]:
    """Each process's RSS (MB) once no process has used CPU for ``steady_seconds`` in a row (the
    followers are done), or after ``limit_seconds``."""
    deadline, steady, last = time.monotonic() + limit_seconds, 0, cpu_seconds(pids)
    while steady < steady_seconds and time.monotonic() < deadline:
        time.sleep(1)
        now = cpu_seconds(pids)
        steady = steady + 1 if all(now[pid] - last.get(pid, 0) < 0.05 for pid in now) else 0
        last = now
    return {pid: rss_mb(pid) for pid in pids}


def measure_store(name: str, url: str, make_url, model_dir: Path, work: Path, args, users, items,
                  new_items: list[tuple[dict, list[str]]]) -> Iterator[str]:
    """The rows of one store's measurements, each as soon as it is measured."""
    EventStore.open(url).close()
    for batch in BATCH_SIZES:
        rate = raw_inserts(url, batch, args.seconds, users, items)
        yield (f"{name:<11} {'raw INSERT':<16} {batch:>5} {rate:>12,.0f} {'':>9} {'':>9}")
    api_url = make_url()
    with ServerProcess(model_dir, 2, "--store", api_url, log_path=work / f"{name}.log",
                       env={INGEST_KEYS_ENV: KEY, ADMIN_KEY_ENV: KEY}) as server:
        if new_items:  # first: the buyers whose lists gain a copy were found on the histories as trained
            ranked, lists = (sorted(times) for times in zip(*new_item_seconds(server.port, new_items)))
            yield (f"{name:<11} new item: PUT acknowledged -> ranked on every worker: p50 "
                   f"{statistics.median(ranked):.2f} s, max {ranked[-1]:.2f} s; -> in a buyer's precomputed "
                   f"list: p50 {statistics.median(lists):.2f} s, max {lists[-1]:.2f} s ({len(ranked)} items)")
        for batch in BATCH_SIZES:
            result = asyncio.run(post_load(server.port, batch, args.seconds, args.connections, users, items))
            yield (f"{name:<11} {'POST /v1/events':<16} {batch:>5} {result['events_per_s']:>12,.0f} "
                   f"{result['p50_ms']:>9.1f} {result['p99_ms']:>9.1f}" + (f"  errors {result['errors']}"
                   if result["errors"] else ""))
        reactions = sorted(reaction_seconds(server.port, random.Random(1).sample(users, args.buyers)))
        yield (f"{name:<11} reaction: purchase acknowledged -> item gone on every worker: p50 "
               f"{statistics.median(reactions):.2f} s, p99 {reactions[int(len(reactions) * 0.99)]:.2f} s "
               f"({len(reactions)} buyers)")
        if args.memory_events:
            before = {pid: rss_mb(pid) for pid in server.pids()}
            rng = random.Random(2)
            start = time.perf_counter()
            for _ in range(args.memory_events // 1000):
                post(server.port, api_events(1000, users, items, rng))
            ingested = time.perf_counter() - start
            after = settled_rss(server.pids())  # once the followers have folded the purchases in
            yield (f"{name:<11} memory: {args.memory_events:,} purchases posted in {ingested:.0f} s; RSS per "
                   "worker " + ", ".join(f"{before[pid]:.0f} -> {after[pid]:.0f} MB" for pid in after))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory to reuse (built there when missing)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement (default 8)")
    parser.add_argument("--connections", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--buyers", type=int, default=20, help="buyers of the reaction measurement (default 20)")
    parser.add_argument("--new-items", type=int, default=5, help="items of the new-item measurement (default 5)")
    parser.add_argument("--memory-events", type=int, default=100_000,
                        help="purchases posted before the memory reading (default 100,000; 0 skips it)")
    parser.add_argument("--postgres", help="PostgreSQL URL of an empty database (default: a throwaway server)")
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"],
                        help="stores measured (default both)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    postgres = None
    try:
        model_dir = model_directory(args.model, work, buyers=20_000, items=2_000)
        from recommender.artifacts import load_model_directory

        engine, _ = load_model_directory(model_dir)
        users, items = [str(u) for u in engine.users.ids], [str(i) for i in engine.items.ids]
        new_items = item_copies(engine, args.new_items)
        del engine
        stores = {}  # name: (the raw INSERTs' database, a function giving the API's)
        if "sqlite" in args.stores:
            stores["sqlite"] = (f"sqlite:///{work / 'raw.sqlite3'}", lambda: f"sqlite:///{work / 'api.sqlite3'}")
        if "postgresql" in args.stores and args.postgres:
            stores["postgresql"] = (args.postgres, lambda: args.postgres)
        elif "postgresql" in args.stores:
            postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="bench-postgres-"))).start()
            stores["postgresql"] = (postgres.new_database("raw"), lambda: postgres.new_database("api"))
        print(f"model {model_dir}: {len(users):,} buyers, {len(items):,} items; {args.seconds:g} s per measurement, "
              f"{args.connections} connections, 2 server workers; client, server and database on the same machine")
        print(f"{'store':<11} {'path':<16} {'batch':>5} {'events/s':>12} {'p50 ms':>9} {'p99 ms':>9}")
        for name, (raw_url, api_url) in stores.items():
            for row in measure_store(name, raw_url, api_url, model_dir, work, args, users, items, new_items):
                print(row, flush=True)
    finally:
        if postgres is not None:
            postgres.stop()
            shutil.rmtree(postgres.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
