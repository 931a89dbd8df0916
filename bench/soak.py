"""Soak: a 2-worker server for minutes at a steady request rate, with model reloads and forecast republishes.

    python bench/soak.py                              # 10 minutes at 500 requests/s, a reload every minute
    python bench/soak.py --minutes 2 --model DIR      # inputs built into DIR, reused from there next time
    python bench/soak.py --rate 500 --reload-every 60 --sample-every 5 --connections 64 --workers 2

Steps:

* the inputs, in ``--model DIR`` (each reused when present, built there when missing; else in a
  temporary directory), as ``make demo`` builds them: the demo marketplace (``recommender
  demo-data``), model A (``recommender train``), model B (``recommender train --config`` with A's
  parameters and another seed: a model of the same kind and size, another version, so a reload
  really swaps), the forecasts (``recommender forecast-publish``, minutes), and a token for each
  of a few merchants with sales (``recommender merchant-token``, issued anew every run).
* the server: ``recommender serve --workers N --forecasts DIR --merchant-tokens FILE`` serving
  model A, with ``RECOMMENDER_ADMIN_KEY`` set, on 127.0.0.1 and a free port, in its own process
  group (always stopped at the end, also on errors); ready when ``/readyz`` answers 200 and every
  worker has started (bounded wait). The forecasts it serves are a copy of the published ones.
* the load: a Python asyncio client in its own process sends ``--rate`` requests per second on a
  fixed schedule (open loop: the schedule never waits for answers, and a latency counts from the
  request's scheduled time, so a stalled server shows in the percentiles), over at most
  ``--connections`` keep-alive connections (reused oldest first, dropped after 2 s idle, before
  the server's 5 s keep-alive timeout). The mix (:data:`MIX`): recommendations for known buyers,
  unknown buyers (cold start) and with filters (category, region, max_price, niche,
  exclude_purchased=false: computed per request), similar items, ``POST /v1/rank`` with 50
  candidates, popular items, and merchants' forecasts (``by`` item, item,city_tier or merchant)
  with their bearer tokens. Some answers are errors by design: similar items of an unknown item
  (404) and a forecast asked with another merchant's token (403). Every other non-2xx answer,
  socket error or timeout (10 s) is an error.
* every ``--reload-every`` seconds: ``POST /v1/admin/reload`` (``X-API-Key``) with model B, then
  A, then B, ..., followed until fresh connections see the new version 10 times in a row (both
  workers); then the forecasts are republished: the served directory is written again the way
  ``forecast-publish`` writes it (a complete new directory renamed into place,
  ``recommender.atomic.atomic_directory``) with the published tables and a new ``created_at``,
  followed until the forecast route answers with it 10 times in a row. Rerunning ``recommender
  forecast-publish`` itself takes longer than a minute (1 min 54 s on a 150-item marketplace, 5 to
  7 min on the demo marketplace, on 2 shared cores), so it runs once, to build the inputs.
* every ``--sample-every`` seconds: each worker's resident memory (``VmRSS`` of the serve
  process's worker children).

Printed: per minute, requests, errors, answers that are errors by design, p50 and p99 latency
(ms), the client's largest lag behind its schedule (ms: large values mean the client, not the
server, fell behind) and each worker's RSS in MB: the median of the minute's samples taken between
reload rounds (a worker holds two models while it reloads) and, in brackets, the largest sample;
each reload and republish with the time every worker took to serve it (a round that outlasts
``--reload-every`` delays the next to the following slot); at the end, per route, requests, errors
and p50/p99, the errors by kind, and the verdicts: each worker's RSS growth after warm-up (between
reload rounds: the last minute against the first after minute 1, the warm-up) against the 5%
target, and errors (load, reloads and republishes) against 0.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing as mp
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._http import exchange
from bench._process import run
from bench.serve import RECOMMENDER, get
from recommender.artifacts import MANIFEST
from recommender.atomic import atomic_directory
from tests.live_server import HOST, ServerProcess

ADMIN_KEY_ENV = "RECOMMENDER_ADMIN_KEY"
MINUTE = 60.0
RSS_TARGET = 0.05  # growth after warm-up, per worker
REQUEST_TIMEOUT = 10.0
IDLE_EXPIRY = 2.0  # client side, below uvicorn's 5 s keep-alive timeout: never send on a connection being closed
FOLLOW_TIMEOUT = 90.0  # for every worker to serve a reloaded model or republished forecasts
IN_A_ROW = 10  # fresh connections in a row that must see the new version
FORECAST_MERCHANTS = 3
RANK_CANDIDATES = 50
BUILD_TIMEOUT = 3600
# route -> share of the requests
MIX = {"recs": 0.35, "recs_unknown": 0.08, "recs_filtered": 0.12, "similar": 0.15, "similar_unknown_404": 0.01,
       "rank": 0.10, "popular": 0.09, "forecast": 0.09, "forecast_other_merchant_403": 0.01}


# --- the inputs -----------------------------------------------------------------------------------

def recommender(*args: str) -> str:
    """Run a ``recommender`` command (bounded); its standard output."""
    done = subprocess.run([RECOMMENDER, *args], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"recommender {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def build_inputs(directory: Path) -> dict[str, Path]:
    """The marketplace, models A and B and the published forecasts in ``directory``, each built when missing."""
    paths = {"purchases": directory / "market" / "purchases.csv", "catalog": directory / "market" / "catalog.csv",
             "model_a": directory / "model-a", "model_b": directory / "model-b", "forecasts": directory / "forecasts"}
    data = ["--purchases", str(paths["purchases"]), "--catalog", str(paths["catalog"])]
    steps = [("demo marketplace", paths["purchases"], lambda: recommender(
                 "demo-data", "--out", str(paths["purchases"].parent))),
             ("model A", paths["model_a"] / MANIFEST, lambda: recommender(
                 "train", *data, "--out", str(paths["model_a"]), "--quiet")),
             ("model B", paths["model_b"] / MANIFEST, lambda: recommender(
                 "train", *data, "--config", str(second_config(paths["model_a"], directory)),
                 "--out", str(paths["model_b"]), "--quiet")),
             ("forecasts", paths["forecasts"] / MANIFEST, lambda: recommender(
                 "forecast-publish", *data, "--out", str(paths["forecasts"]), "--quiet"))]
    for name, made, build in steps:
        if made.exists():
            print(f"{name} reused: {made.parent}")
            continue
        start = time.perf_counter()
        build()
        print(f"{name} built in {time.perf_counter() - start:.0f} s: {made.parent}", flush=True)
    return paths


def second_config(model_a: Path, directory: Path) -> Path:
    """A training config with model A's parameters and another seed."""
    parameters = json.loads((model_a / MANIFEST).read_text(encoding="utf-8"))["parameters"]
    config = directory / "model-b-config.json"
    config.write_text(json.dumps({**parameters, "seed": parameters.get("seed", 0) + 1}), encoding="utf-8")
    return config


def issue_tokens(forecasts: Path, tokens_file: Path, seed: int) -> dict[str, str]:
    """A token for the merchant with the most items sold and for others drawn at random; merchant -> token."""
    merchants = json.loads((forecasts / MANIFEST).read_text(encoding="utf-8"))["merchants"]
    selling = sorted((m for m, entry in merchants.items() if entry["items_sold"]),
                     key=lambda m: (-merchants[m]["items_sold"], m))
    chosen = selling[:1] + random.Random(seed).sample(selling[1:], min(FORECAST_MERCHANTS - 1, len(selling) - 1))
    return {merchant: recommender("merchant-token", "--tokens", str(tokens_file), "--merchant", merchant)
            .strip().splitlines()[-1] for merchant in chosen}


def _sample_ids(queue, model_dir, n_buyers, seed):
    from recommender.artifacts import load_model_directory

    engine, manifest = load_model_directory(model_dir)
    rng = random.Random(seed)
    buyers = [str(b) for b in engine.users.ids]
    catalog = engine.catalog
    queue.put({"buyers": rng.sample(buyers, min(n_buyers, len(buyers))),
               "items": [str(i) for i in engine.items.ids],
               "categories": sorted({str(c) for c in catalog["category"].dropna()}),
               "regions": sorted({str(r) for r in catalog["region"].dropna()}),
               "median_price": float(catalog["price"].median()), "version": manifest["model_version"]})


def republish(published: Path, served: Path) -> str:
    """Write the served forecast directory again, atomically: the published tables, a new creation time."""
    manifest = json.loads((published / MANIFEST).read_text(encoding="utf-8"))
    manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    with atomic_directory(served) as tmp:
        for path in published.iterdir():
            if path.name != MANIFEST:
                shutil.copy2(path, tmp / path.name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest["created_at"]


# --- the requests ---------------------------------------------------------------------------------

def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def request_mix(port: int, ids: dict, tokens: dict[str, str], n: int, seed: int) -> list[tuple[str, bytes, tuple]]:
    """``n`` requests drawn from :data:`MIX`: (route, the request's bytes, the statuses expected)."""
    rng = random.Random(seed)
    buyers, items, merchants = ids["buyers"], ids["items"], sorted(tokens)
    filters = [lambda: f"category={quote(rng.choice(ids['categories']))}",
               lambda: f"region={quote(rng.choice(ids['regions']))}",
               lambda: f"max_price={ids['median_price']:.2f}", lambda: f"niche={rng.choice([0.0, 0.3, 0.9])}",
               lambda: "exclude_purchased=false"]
    horizons = sorted({min(4, ids["horizon"]), min(12, ids["horizon"]), ids["horizon"]})
    requests = []
    for j, route in enumerate(rng.choices(list(MIX), list(MIX.values()), k=n)):
        buyer, item, expected, body, headers = quote(rng.choice(buyers)), quote(rng.choice(items)), (200,), b"", {}
        method = "GET"
        if route == "recs":
            path = f"/v1/users/{buyer}/recommendations?k=20"
        elif route == "recs_unknown":
            path = f"/v1/users/soak-unknown-{j}/recommendations?k=20&city_tier={rng.randint(1, 3)}"
        elif route == "recs_filtered":
            path = f"/v1/users/{buyer}/recommendations?k=20&{rng.choice(filters)()}"
        elif route == "similar":
            path = f"/v1/items/{item}/similar?k=10"
        elif route == "similar_unknown_404":
            path, expected = f"/v1/items/soak-unknown-{j}/similar?k=10", (404,)
        elif route == "rank":
            method, path = "POST", "/v1/rank"
            body = json.dumps({"user_id": rng.choice(buyers), "item_ids": rng.sample(items, RANK_CANDIDATES)}).encode()
        elif route == "popular":
            tier = rng.choice(["", f"city_tier={rng.randint(1, 3)}&"])
            category = rng.choice(["", f"category={quote(rng.choice(ids['categories']))}&"])
            path = f"/v1/popular?{tier}{category}k=20"
        else:  # forecasts: a merchant's own token, or another merchant's (403 by design)
            merchant = rng.choice(merchants)
            by = rng.choice(["item", "item,city_tier", "merchant"])
            path = f"/v1/merchants/{merchant}/forecast?horizon={rng.choice(horizons)}&by={quote(by)}"
            owner = merchant
            if route == "forecast_other_merchant_403":
                owner, expected = next(m for m in merchants if m != merchant), (403,)
            headers = {"Authorization": f"Bearer {tokens[owner]}"}
        requests.append((route, http_request(port, method, path, headers, body), expected))
    return requests


# --- the load generator (its own process) ---------------------------------------------------------

class Connections:
    """Keep-alive connections to the server: the oldest idle one first, a new one while fewer than
    ``limit`` are open, else wait for one; idle ones expire after IDLE_EXPIRY."""

    def __init__(self, port: int, limit: int):
        self.port, self.limit, self.open, self.opened = port, limit, 0, 0
        self.idle: asyncio.Queue = asyncio.Queue()

    async def acquire(self):
        while True:
            try:
                connection = self.idle.get_nowait()
            except asyncio.QueueEmpty:
                if self.open < self.limit:
                    self.open += 1
                    try:
                        reader, writer = await asyncio.open_connection(HOST, self.port)
                    except BaseException:
                        self.open -= 1
                        raise
                    self.opened += 1
                    return [reader, writer, 0.0]
                connection = await self.idle.get()
            reader, writer, idle_since = connection
            if time.monotonic() - idle_since < IDLE_EXPIRY and not reader.at_eof():
                return connection
            self.discard(connection)

    def release(self, connection) -> None:
        connection[2] = time.monotonic()
        self.idle.put_nowait(connection)

    def discard(self, connection) -> None:
        connection[1].close()
        self.open -= 1


class Load:
    """The load generator's state, in its own process: the connections, and the figures per minute
    (of the schedule) and per route. Minutes are put on ``queue`` in order, each once its requests
    have all finished."""

    def __init__(self, queue, port: int, requests: list, max_connections: int):
        self.queue, self.requests = queue, requests
        self.pool = Connections(port, max_connections)
        self.minutes: list[dict] = []
        self.routes = collections.defaultdict(lambda: {"requests": 0, "errors": 0, "latencies": []})
        self.error_kinds: collections.Counter = collections.Counter()
        self.reported = 0

    async def run(self, rate: float, seconds: float) -> None:
        start = time.monotonic() + 0.5
        self.queue.put(("start", start))
        tasks = set()
        for i in range(int(rate * seconds)):
            scheduled = start + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            minute = int((scheduled - start) // MINUTE)
            if minute == len(self.minutes):
                self.minutes.append({"requests": 0, "errors": 0, "by_design": 0, "latencies": [], "outstanding": 0,
                                     "lag_ms": 0.0})
            row = self.minutes[minute]
            row["requests"] += 1
            row["outstanding"] += 1
            row["lag_ms"] = max(row["lag_ms"], (time.monotonic() - scheduled) * 1e3)
            task = asyncio.create_task(self.send(*self.requests[i % len(self.requests)], scheduled, row))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.report(before=minute)
        if tasks:
            await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
        self.report(before=len(self.minutes))
        while not self.pool.idle.empty():
            self.pool.discard(self.pool.idle.get_nowait())

    async def send(self, route: str, request: bytes, expected: tuple, scheduled: float, row: dict) -> None:
        self.routes[route]["requests"] += 1
        connection = None
        try:
            connection = await asyncio.wait_for(self.pool.acquire(), REQUEST_TIMEOUT)
            status, close = await asyncio.wait_for(exchange(connection[0], connection[1], request),
                                                   scheduled + REQUEST_TIMEOUT - time.monotonic())
            if close:
                self.pool.discard(connection)
            else:
                self.pool.release(connection)
            connection = None
            latency = time.monotonic() - scheduled
            row["latencies"].append(latency)
            self.routes[route]["latencies"].append(latency)
            if status not in expected:
                self.error(route, row, f"status {status}")
            elif status != 200:
                row["by_design"] += 1
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self.error(route, row, type(exc).__name__)
            if connection is not None:
                self.pool.discard(connection)
        finally:
            row["outstanding"] -= 1

    def error(self, route: str, row: dict, kind: str) -> None:
        row["errors"] += 1
        self.routes[route]["errors"] += 1
        self.error_kinds[f"{route}: {kind}"] += 1

    def report(self, before: int) -> None:
        """Put the minutes before ``before`` whose requests have all finished, in order."""
        while self.reported < before and self.minutes[self.reported]["outstanding"] == 0:
            row = self.minutes[self.reported]
            self.reported += 1
            self.queue.put(("minute", {"minute": self.reported, "requests": row["requests"], "errors": row["errors"],
                                       "by_design": row["by_design"], "p50_ms": percentile(row["latencies"], 0.50),
                                       "p99_ms": percentile(row["latencies"], 0.99), "lag_ms": row["lag_ms"]}))

    def summary(self) -> dict:
        return {"routes": {route: {"requests": r["requests"], "errors": r["errors"],
                                   "p50_ms": percentile(r["latencies"], 0.50),
                                   "p99_ms": percentile(r["latencies"], 0.99)}
                           for route, r in sorted(self.routes.items())},
                "error_kinds": dict(self.error_kinds), "connections_opened": self.pool.opened}


def percentile(latencies: list[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, in ms (nan when there are none)."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def _load(queue, port, requests, rate, seconds, max_connections):
    """The load generator's process: see :class:`Load`; ("done", summary) at the end."""
    import uvloop

    async def main() -> dict:
        load = Load(queue, port, requests, max_connections)
        await load.run(rate, seconds)
        return load.summary()

    queue.put(("done", uvloop.run(main())))


# --- the server, its reloads and its memory -------------------------------------------------------

def soak_server(model_dir: Path, workers: int, log_path: Path, forecasts: Path, tokens: Path,
                admin_key: str) -> ServerProcess:
    """The tests' and benchmarks' server (own process group, bounded waits, always stopped), serving
    the merchants' forecasts too, with an admin key."""
    return ServerProcess(model_dir, workers, "--forecasts", str(forecasts), "--merchant-tokens", str(tokens),
                         log_path=log_path, env={ADMIN_KEY_ENV: admin_key})


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def post_json(port: int, path: str, body: dict, headers: dict[str, str], timeout: float) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"detail": exc.read()[:300].decode(errors="replace")}


def get_json(port: int, path: str, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        return json.loads(response.read())


def seen_in_a_row(read, wanted: str) -> float:
    """Seconds until ``read()`` (one request, a fresh connection each) returns ``wanted`` IN_A_ROW
    times in a row; raises TimeoutError after FOLLOW_TIMEOUT."""
    start = time.monotonic()
    streak = 0
    while streak < IN_A_ROW:
        if time.monotonic() - start > FOLLOW_TIMEOUT:
            raise TimeoutError(f"not every worker serves {wanted} after {FOLLOW_TIMEOUT:.0f} s")
        streak = streak + 1 if read() == wanted else 0
        if streak == 0:
            time.sleep(0.2)
    return time.monotonic() - start


class Events(threading.Thread):
    """Every ``interval`` seconds from ``start``: an admin reload (model B, A, B, ...) followed to
    every worker, then a forecast republish followed to every worker; failures counted. ``busy``
    is set during a round; a round that outlasts the interval makes the next one wait for the next
    slot (the slots skipped are counted)."""

    def __init__(self, server: ServerProcess, admin_key: str, models: list[Path], published: Path, served: Path,
                 tokens: dict[str, str], start: float, interval: float, end: float):
        super().__init__(daemon=True)
        self.server, self.admin_key, self.models, self.tokens = server, admin_key, models, tokens
        self.published, self.served = published, served
        self.start_time, self.interval, self.end = start, interval, end
        self.stopping, self.busy = threading.Event(), threading.Event()
        self.failures: list[str] = []
        self.rounds = self.skipped = 0

    def run(self) -> None:
        slot = 1
        while (due := self.start_time + slot * self.interval) < self.end:
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            self.rounds += 1
            self.busy.set()
            for step in (self.reload, self.republish):
                try:
                    step(self.rounds)
                except (OSError, TimeoutError, ValueError, KeyError) as exc:
                    self.failures.append(f"{step.__name__} {self.rounds}: {exc}")
                    print(f"[{time.monotonic() - self.start_time:6.1f} s] {step.__name__} {self.rounds} FAILED: "
                          f"{exc}", flush=True)
            self.busy.clear()
            next_slot = max(slot + 1, int((time.monotonic() - self.start_time) // self.interval) + 1)
            self.skipped += next_slot - slot - 1
            slot = next_slot

    def reload(self, k: int) -> None:
        model_dir = self.models[k % 2]
        start = time.monotonic()
        status, body = post_json(self.server.port, "/v1/admin/reload", {"model_dir": str(model_dir)},
                                 {"X-API-Key": self.admin_key}, timeout=FOLLOW_TIMEOUT)
        if status != 200:
            raise ValueError(f"status {status}: {body}")
        answered = time.monotonic() - start
        everywhere = seen_in_a_row(lambda: get_json(self.server.port, "/v1/model")["model_version"],
                                   body["model_version"]) + answered
        print(f"[{start - self.start_time:6.1f} s] reload {k}: model {'AB'[k % 2]} ({body['model_version']}), "
              f"answered in {answered:.1f} s (load {body['seconds']:.1f} s), every worker serving it after "
              f"{everywhere:.1f} s", flush=True)

    def republish(self, k: int) -> None:
        merchant, token = next(iter(self.tokens.items()))
        start = time.monotonic()
        created = republish(self.published, self.served)
        path = f"/v1/merchants/{merchant}/forecast?horizon=1&by=merchant"
        everywhere = seen_in_a_row(lambda: get_json(self.server.port, path, {"Authorization": f"Bearer {token}"})
                                   ["generated_at"], created)
        print(f"[{start - self.start_time:6.1f} s] republish {k}: forecasts of {created} served by every worker "
              f"after {everywhere:.1f} s", flush=True)


# --- the soak -------------------------------------------------------------------------------------

def minute_rss(samples: dict[int, list[tuple[float, float, bool]]], start: float,
               minute: int) -> list[tuple[float | None, float | None]]:
    """Each worker's RSS (MB) in ``minute`` (1-based, from ``start``): the median of the samples taken
    between reload rounds (None when a round ran all minute) and the largest sample."""
    low, high = start + (minute - 1) * MINUTE, start + minute * MINUTE
    figures = []
    for rows in samples.values():
        in_minute = [(mb, settled) for t, mb, settled in rows if low <= t < high]
        settled = [mb for mb, between_rounds in in_minute if between_rounds]
        figures.append((statistics.median(settled) if settled else None,
                        max(mb for mb, _ in in_minute) if in_minute else None))
    return figures


def print_verdicts(rss_rows: dict[int, list], pids: list[int], summary: dict, events: Events, minutes: int) -> bool:
    print("\nper route (whole run):")
    print(f"  {'route':<30}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for route, row in summary["routes"].items():
        print(f"  {route:<30}{row['requests']:10,}{row['errors']:8,}{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}")
    if summary["error_kinds"]:
        print("errors by kind: " + ", ".join(f"{kind} x{n}" for kind, n in sorted(summary["error_kinds"].items())))
    print(f"connections opened by the client: {summary['connections_opened']:,}")

    print()
    passed = True
    if minutes >= 3:
        for i, pid in enumerate(pids):
            settled = [(minute, row[i][0]) for minute, row in sorted(rss_rows.items())
                       if minute >= 2 and row[i][0] is not None]
            peak = max((row[i][1] for minute, row in rss_rows.items() if minute >= 2 and row[i][1] is not None),
                       default=float("nan"))
            if len(settled) < 2:
                print(f"worker {i + 1} (pid {pid}): RSS growth not measured (fewer than 2 minutes after warm-up with "
                      f"samples between reload rounds): MISS")
                passed = False
                continue
            (first_minute, first), (last_minute, last) = settled[0], settled[-1]
            growth = last / first - 1
            passed &= growth <= RSS_TARGET
            values = [mb for _, mb in settled]
            print(f"worker {i + 1} (pid {pid}): RSS between reloads {first:,.0f} MB (minute {first_minute}) -> "
                  f"{last:,.0f} MB (minute {last_minute}): {growth:+.1%} (after warm-up {min(values):,.0f}-"
                  f"{max(values):,.0f} MB, largest sample {peak:,.0f} MB); target growth <= {RSS_TARGET:.0%}: "
                  f"{'PASS' if growth <= RSS_TARGET else 'MISS'}")
    else:
        print("RSS growth after warm-up: no verdict (needs --minutes 3 or more: minute 1 is the warm-up)")
    requests = sum(row["requests"] for row in summary["routes"].values())
    errors = sum(row["errors"] for row in summary["routes"].values()) + len(events.failures)
    skipped = f" ({events.skipped} slots skipped: a round outlasted the interval)" if events.skipped else ""
    print(f"errors: {errors:,} ({len(events.failures)} in reloads/republishes) in {requests:,} requests and "
          f"{events.rounds} reload+republish rounds{skipped}; target 0: {'PASS' if errors == 0 else 'MISS'}")
    return passed and errors == 0


def soak(args, inputs: dict[str, Path], work: Path) -> bool:
    served_forecasts = work / "served-forecasts"
    shutil.copytree(inputs["forecasts"], served_forecasts)
    tokens = issue_tokens(inputs["forecasts"], work / "merchant_tokens.json", args.seed)
    ids = run(_sample_ids, str(inputs["model_a"]), 20_000, args.seed)
    ids["horizon"] = json.loads((inputs["forecasts"] / MANIFEST).read_text(encoding="utf-8"))["horizon"]
    print(f"model A {ids['version']}: {len(ids['buyers']):,} sampled buyers, {len(ids['items']):,} items; "
          f"forecast requests for merchants {', '.join(tokens)}")
    admin_key = secrets.token_urlsafe(16)
    with soak_server(inputs["model_a"], args.workers, work / "server.log", served_forecasts,
                     work / "merchant_tokens.json", admin_key) as server:
        pids = server.pids()
        requests = request_mix(server.port, ids, tokens, 50_000, args.seed)
        status, body = get(server.port, "/v1/model")
        if status != 200:
            raise RuntimeError(f"/v1/model answered {status}: {body[:300]!r}")
        print(f"server on port {server.port}, workers {', '.join(map(str, pids))}; {args.minutes} min at "
              f"{args.rate:g} requests/s, at most {args.connections} connections; reload + republish every "
              f"{args.reload_every:g} s; RSS every {args.sample_every:g} s\n")
        context = mp.get_context("spawn")
        queue = context.Queue()
        client = context.Process(target=_load, args=(queue, server.port, requests, args.rate, args.minutes * MINUTE,
                                                     args.connections))
        client.start()
        events = None
        try:
            _, start = queue.get(timeout=60)
            events = Events(server, admin_key, [inputs["model_a"], inputs["model_b"]], inputs["forecasts"],
                            served_forecasts, tokens, start, args.reload_every, start + args.minutes * MINUTE)
            events.start()
            samples = {pid: [] for pid in pids}
            rss_rows: dict[int, list] = {}
            print(f"{'minute':>6}{'requests':>10}{'errors':>8}{'by design':>10}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'lag ms':>8}  RSS MB per worker: between reloads (peak)")
            deadline = start + args.minutes * MINUTE + REQUEST_TIMEOUT + 60
            next_sample = time.monotonic()
            summary = None
            while summary is None:
                if time.monotonic() >= next_sample:
                    for pid in pids:
                        if (mb := rss_mb(pid)) is not None:
                            samples[pid].append((time.monotonic(), mb, not events.busy.is_set()))
                    next_sample += args.sample_every
                if server.process.poll() is not None or not client.is_alive() and queue.empty():
                    raise RuntimeError(f"the server or the client stopped early:\n{server.log_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError("the load did not finish in time")
                try:
                    kind, value = queue.get(timeout=max(0.01, next_sample - time.monotonic()))
                except Empty:
                    continue
                if kind == "minute":
                    rss_rows[value["minute"]] = minute_rss(samples, start, value["minute"])
                    rss = "  ".join(f"{'-' if settled is None else f'{settled:,.0f}':>6} ({peak or 0:,.0f})"
                                    for settled, peak in rss_rows[value["minute"]])
                    print(f"{value['minute']:6}{value['requests']:10,}{value['errors']:8,}{value['by_design']:10,}"
                          f"{value['p50_ms']:9.2f}{value['p99_ms']:9.2f}{value['lag_ms']:8.1f}  {rss}", flush=True)
                else:
                    summary = value
        finally:
            if events is not None:
                events.stopping.set()
                events.join(timeout=FOLLOW_TIMEOUT * 2 + 30)
            client.join(timeout=REQUEST_TIMEOUT + 30)
            if client.is_alive():
                client.terminate()
                client.join(timeout=10)
        server_errors = server.log_text().count("Traceback")
        if server_errors:
            print(f"\nthe server logged {server_errors} traceback(s); its log ends:\n{server.log_text()[-3000:]}")
    return print_verdicts(rss_rows, pids, summary, events, args.minutes) and not server_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="length of the run (default 10)")
    parser.add_argument("--rate", type=float, default=500.0,
                        help="requests per second, on a fixed schedule (default 500)")
    parser.add_argument("--reload-every", type=float, default=60.0,
                        help="seconds between admin reloads, each followed by a forecast republish (default 60)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="most keep-alive connections open (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--model", type=Path,
                        help="directory of the soak's inputs (marketplace, models A and B, published forecasts): "
                             "each reused when present, built there when missing; default a temporary directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix and the merchants chosen")
    args = parser.parse_args()
    if not (1 <= args.minutes <= 180 and 0 < args.rate <= 5000 and 1 <= args.connections <= 512
            and 5 <= args.reload_every and 0.5 <= args.sample_every <= 60 and 1 <= args.workers <= 8):
        parser.error("keep runs bounded: --minutes 1..180, --rate (0, 5000], --connections 1..512, "
                     "--reload-every >= 5, --sample-every 0.5..60, --workers 1..8")

    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        inputs = build_inputs(args.model if args.model is not None else work / "inputs")
        passed = soak(args, inputs, work)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
