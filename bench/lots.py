"""Benchmark: purchases of a harvest lot's items posted to a 2-worker server while the lot counts
them, against the same events posted when no lot covers their items, in the same run; then the
count checked against the expected one.

    python bench/lots.py                              # a demo model built in a temporary directory
    python bench/lots.py --model DIR --rounds 5 --stores sqlite

Steps:

* a model: ``--model DIR`` is reused when it holds one, else the demo marketplace (20,000 buyers x
  2,000 items) is trained into it (or into a temporary directory); the lot's merchant is the one
  with the most items: three of them are the lot's, the others are the items outside it.
* per store (SQLite in a temporary directory; PostgreSQL: a throwaway server started from
  Debian's binaries, as the tests do): two 2-worker ``recommender serve`` on stores of their own,
  with merchant tokens and an ingest key, side by side: the baseline server and the lot server.
* ``--rounds`` rounds, each posting the load of ``tests/lot_load.py`` (as the live lot test sends
  it) first to the baseline server, where no lot covers the items, then to the lot server, after
  declaring a lot of ``--units`` units there (the previous round's lot withdrawn): ``--purchases``
  distinct events of 1 unit (14% that must not count: outside the window, other items, a tier not
  shipped to, not purchases), with repeated event ids making ``--duplicates`` of the sends (in the
  same batch, in another batch, whole batches sent again), batches of 1-250 events, new event ids
  each round, the same batches to both servers; ``--connections`` keep-alive connections post them,
  each taking the next batch. The rounds alternate so that both servers see the shared machine's
  drift.
* after each round on the lot server: the lot read on ``READS`` new connections (either worker).

Printed per store and server: events/s (events sent, repeats included, over the time from the
first send to the last answer; the median of the rounds and their range), p50 and p99 of a
batch's latency (ms, over every round's batches), non-200 answers, and the lot server's figures
over the baseline's; then per round the lot's units sold and remaining as expected
(min(units, distinct counting purchases)) and as every read answered.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._http import exchange
from bench.serve import model_directory
from recommender.merchant_tokens import issue_token
from serving.routes.events import INGEST_KEYS_ENV
from tests.live_server import HOST, ServerProcess
from tests.lot_load import LotLoad, lot_load
from tests.postgres_server import PostgresServer

KEY = "bench-lots-key"
READS = 8


def call(port: int, method: str, path: str, token: str, body: dict | None = None) -> dict:
    """A merchant's request (its bearer token): the JSON answer."""
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


async def post_batches(port: int, batches: list[list[dict]], connections: int) -> dict:
    """Post every batch on ``connections`` keep-alive connections, each taking the next batch:
    events/s (repeats included), each batch's latency (s) and the non-200 answers."""
    todo = deque(json.dumps({"events": batch}).encode() for batch in batches)
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        while todo:
            body = todo.popleft()
            request = (f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nX-API-Key: {KEY}\r\nContent-Type: "
                       f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            sent = time.perf_counter()
            status, _ = await exchange(reader, writer, request)
            latencies.append(time.perf_counter() - sent)
            errors += status != 200
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"events_per_s": sum(map(len, batches)) / (time.perf_counter() - start), "latencies": latencies,
            "errors": errors}


def lot_counts(port: int, merchant: str, token: str, lot_id: str) -> list[tuple[int, int]]:
    """(units sold, remaining) of the lot as READS reads on new connections answer."""
    found = []
    for _ in range(READS):
        lots = call(port, "GET", f"/v1/merchants/{merchant}/lots", token)["lots"]
        found.extend((lot["units_sold"], lot["remaining"]) for lot in lots if lot["lot_id"] == lot_id)
    return found


def summary(results: list[dict]) -> dict:
    rates = sorted(result["events_per_s"] for result in results)
    latencies = sorted(latency for result in results for latency in result["latencies"])
    return {"events_per_s": statistics.median(rates), "low": rates[0], "high": rates[-1],
            "p50_ms": 1e3 * latencies[len(latencies) // 2], "p99_ms": 1e3 * latencies[int(len(latencies) * 0.99)],
            "errors": sum(result["errors"] for result in results)}


def measure_store(name: str, urls: tuple[str, str], model_dir: Path, work: Path, args, merchant: str,
                  lot_items: list[str], other_items: list[str], buyers: list[str]):
    """The rows printed for one store, each as soon as it is measured."""
    tokens = work / f"{name}-tokens.json"
    token = issue_token(tokens, merchant)
    options = ("--merchant-tokens", str(tokens))
    env = {INGEST_KEYS_ENV: KEY}
    with ServerProcess(model_dir, 2, "--store", urls[0], *options, log_path=work / f"{name}-baseline.log",
                       env=env) as baseline, \
            ServerProcess(model_dir, 2, "--store", urls[1], *options, log_path=work / f"{name}-lot.log",
                          env=env) as counted:
        results: dict[str, list[dict]] = {"baseline": [], "lot": []}
        checks = []
        for round_number in range(args.rounds):
            load: LotLoad = lot_load(f"harvest-{round_number}", lot_items, other_items, buyers, args.units,
                                     args.purchases, args.duplicates, ids=f"r{round_number}-", seed=round_number)
            results["baseline"].append(asyncio.run(post_batches(baseline.port, load.batches, args.connections)))
            call(counted.port, "POST", f"/v1/merchants/{merchant}/lots", token, load.lot)
            results["lot"].append(asyncio.run(post_batches(counted.port, load.batches, args.connections)))
            checks.append((load, lot_counts(counted.port, merchant, token, load.lot["lot_id"])))
            call(counted.port, "DELETE", f"/v1/merchants/{merchant}/lots/{load.lot['lot_id']}", token)
    base, lot = summary(results["baseline"]), summary(results["lot"])
    for server, figures in (("no lot", base), ("lot counting", lot)):
        rate = f"{figures['events_per_s']:,.0f} ({figures['low']:,.0f}-{figures['high']:,.0f})"
        yield (f"{name:<11} {server:<13} {rate:>21} {figures['p50_ms']:>8.1f} {figures['p99_ms']:>8.1f} "
               f"{figures['errors']:>7}")
    ratio = f"{lot['events_per_s'] / base['events_per_s']:.2f}"
    yield (f"{name:<11} {'lot / no lot':<13} {ratio:>21} {lot['p50_ms'] / base['p50_ms']:>8.2f} "
           f"{lot['p99_ms'] / base['p99_ms']:>8.2f}")
    for round_number, (load, reads) in enumerate(checks):
        expected = (load.expected_sold, load.lot["units"] - load.expected_sold)
        answered = sorted(set(reads))
        yield (f"{name:<11} round {round_number}: {load.sends:,} events sent ({load.distinct:,} distinct, "
               f"{len(load.counting):,} counting), lot of {load.lot['units']:,} units: expected sold/remaining "
               f"{expected[0]:,}/{expected[1]:,}, {len(reads)} reads answered "
               + ", ".join(f"{sold:,}/{remaining:,}" for sold, remaining in answered)
               + ("  exact" if answered == [expected] and len(reads) == READS else "  WRONG"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory to reuse (built there when missing)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (default 3)")
    parser.add_argument("--purchases", type=int, default=9_000, help="distinct events per round (default 9,000)")
    parser.add_argument("--duplicates", type=float, default=0.1,
                        help="share of the sends repeating an event id (default 0.1: 10,000 sends)")
    parser.add_argument("--units", type=int, default=7_000, help="the lot's units (default 7,000: it sells out)")
    parser.add_argument("--connections", type=int, default=6, help="client connections (default 6)")
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"],
                        help="stores measured (default both)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lots-"))
    postgres = None
    try:
        model_dir = model_directory(args.model, work, buyers=20_000, items=2_000)
        from recommender.artifacts import load_model_directory

        engine, _ = load_model_directory(model_dir)
        catalog = engine.catalog
        merchant = str(catalog.merchant_id.value_counts().index[0])
        own = [str(item) for item in catalog[catalog.merchant_id == merchant].item_id]
        if len(own) < 4:
            parser.error(f"the model's merchant with the most items ({merchant}) has fewer than 4")
        buyers = [str(user) for user in engine.users.ids[:5_000]]
        del engine, catalog
        stores = {}
        if "sqlite" in args.stores:
            stores["sqlite"] = (f"sqlite:///{work / 'baseline.sqlite3'}", f"sqlite:///{work / 'lot.sqlite3'}")
        if "postgresql" in args.stores:
            postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="bench-postgres-"))).start()
            stores["postgresql"] = (postgres.new_database("baseline"), postgres.new_database("lot"))
        print(f"model {model_dir}; merchant {merchant}: lot items {', '.join(own[:3])}, {len(own) - 3} other "
              f"items; {args.rounds} rounds of {args.purchases:,} distinct events, "
              f"{args.duplicates:.0%} of the sends repeated, {args.connections} connections, 2 server workers; "
              "client, servers and database on the same machine")
        print(f"{'store':<11} {'server':<13} {'events/s (range)':>21} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>7}")
        for name, urls in stores.items():
            for row in measure_store(name, urls, model_dir, work, args, merchant, own[:3], own[3:], buyers):
                print(row, flush=True)
    finally:
        if postgres is not None:
            postgres.stop()
            shutil.rmtree(postgres.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
