"""Benchmark: the HTTP API under load, recommendations against the framework's own /healthz, same run.

    python bench/serve.py                          # demo marketplace, 100,000 buyers x 20,000 items
    python bench/serve.py --model DIR              # reuse a model directory (built there if missing)
    python bench/serve.py --workers 1 2 --seconds 15 --rounds 3 --concurrency 32 --generator auto

Steps:

* a model: ``--model DIR`` is reused when it holds a model; otherwise the demo marketplace is written
  to a temporary directory and ``recommender train`` builds one (into DIR when given, so the next
  run can reuse it); the time taken is printed.
* for each worker count: ``recommender serve --workers N`` on 127.0.0.1 and a free port, in its own
  process group (always stopped at the end, also on errors); ``/readyz`` must answer 200 and every
  worker must have finished starting (bounded wait); a warm-up; then, with the same load generator,
  ``GET /healthz`` (the baseline: the framework's ceiling on this machine) and ``GET
  /v1/users/{id}/recommendations?k=20`` for ``--seconds`` each, ``--concurrency`` keep-alive
  connections, in ``--rounds`` interleaved slices (healthz, recommendations, filtered, healthz,
  ...): the shared machine's speed drifts by tens of percent over a minute, and interleaving makes
  every endpoint see the same drift. The ids are drawn from the model's buyers, with a few unknown ids mixed in (the
  cold-start path). Known buyers' default requests are answered from their precomputed lists
  (:mod:`serving.precomputed`), so the same requests are measured again with filters, which
  compute everything per request (product, top-k, re-ranking): ``recs_filtered`` (``max_price``,
  which keeps nearly every item: the product with all item vectors) and ``recs_category`` (each
  request one of the catalog's categories, in turn: a storefront's category page, scored over that
  category's items only).
* the load generator: ``wrk`` when it is on PATH (a small Lua script cycles through the request
  paths and prints the latency percentiles), else a Python asyncio client on raw streams in a
  separate process. A Python client may itself be the bottleneck: /healthz is measured with the
  same client so the ratio stays fair.

Printed: requests/s, p50 and p99 latency (ms) and errors (non-2xx/3xx responses, socket errors and
timeouts) per worker count and endpoint, each server process's CPU seconds during the measurement
(an uneven split shows the accept imbalance between workers), then the ratios against the targets:
recommendations/healthz throughput >= 0.70 per worker count and recommendations p99 < 25 ms with
2 workers.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._http import exchange
from bench._process import run
from tests.live_server import HOST, ServerProcess

K = 20
SAMPLE_BUYERS = 20_000
UNKNOWN_SHARE = 0.05  # share of requests for buyers the model does not know (cold start)
WARMUP_SECONDS = 3.0
RATIO_TARGET = 0.70
P99_TARGET_MS = 25.0
FILTERED = "recs_filtered"
FILTER_QUERY = "&max_price=1000000"  # keeps (nearly) every priced item, but as a filter it takes the computed path
CATEGORY = "recs_category"
COMPUTED = (FILTERED, CATEGORY)
P99_TARGET_WORKERS = 2

BIN = Path(sys.executable).parent
RECOMMENDER = str(BIN / "recommender") if (BIN / "recommender").exists() else "recommender"

WRK_SCRIPT = r"""
-- cycles through the request paths of a file (one per line); each thread starts at its own offset
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

local paths = {}
local n = 0
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    paths[n] = line
  end
  i = (offset or 0) % n
end

function request()
  i = i % n + 1
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# --- the model ------------------------------------------------------------------------------------

def _write_demo(queue, out_dir, buyers, items):
    from recommender.demo_marketplace import write_demo_marketplace

    written = write_demo_marketplace(out_dir, buyers=buyers, items=items, seed=0)
    queue.put({name: str(path) for name, path in written.items()})


def _sample_buyers(queue, model_dir, n, seed):
    from recommender.artifacts import load_model_directory

    engine, manifest = load_model_directory(model_dir)
    ids = [str(i) for i in engine.users.ids]
    rng = random.Random(seed)
    categories = sorted({str(c) for c in engine.catalog["category"].dropna()}) if "category" in engine.catalog else []
    queue.put({"ids": rng.sample(ids, min(n, len(ids))), "buyers": len(ids), "items": engine.n_items,
               "version": manifest["model_version"], "categories": categories})


def build_model(model_dir: Path, work: Path, buyers: int, items: int) -> None:
    start = time.perf_counter()
    paths = run(_write_demo, str(work / "data"), buyers, items)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([RECOMMENDER, "train", "--purchases", paths["purchases"], "--catalog", paths["catalog"],
                    "--out", str(model_dir), "--quiet"], check=True, stdout=subprocess.DEVNULL, timeout=1800)
    print(f"model built in {generated + time.perf_counter() - start:.0f} s (demo data {generated:.0f} s, "
          f"recommender train {time.perf_counter() - start:.0f} s): {model_dir}")


def model_directory(model: Path | None, work: Path, buyers: int, items: int) -> Path:
    """``model`` when it holds a model (reused as it is), else a demo model of ``buyers`` x ``items``
    built into ``work`` (:func:`build_model`)."""
    model_dir = model if model is not None else work / "model"
    if (model_dir / "manifest.json").is_file():
        print(f"model reused: {model_dir}")
    else:
        build_model(model_dir, work, buyers, items)
    return model_dir


def request_paths(known: list[str], n: int, seed: int, queries: tuple[str, ...] = ("",)) -> list[str]:
    """Recommendation paths for ``n`` requests: known buyers, and UNKNOWN_SHARE unknown ones, shuffled;
    the ``queries`` are appended to them in turn."""
    rng = random.Random(seed)
    paths = []
    for j in range(n):
        user = f"bench-unknown-{j}" if rng.random() < UNKNOWN_SHARE else known[j % len(known)]
        query = queries[j % len(queries)]
        paths.append(f"/v1/users/{urllib.parse.quote(user, safe='')}/recommendations?k={K}{query}")
    rng.shuffle(paths)
    return paths


# --- the server -----------------------------------------------------------------------------------

def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return out


# --- the load generators --------------------------------------------------------------------------

def wrk_load(port: int, paths_file: Path, script: Path, concurrency: int, seconds: float, threads: int) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "5s",
               "-s", str(script), f"http://{HOST}:{port}", "--", str(paths_file)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next((line for line in out.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    row = json.loads(line[len("WRKJSON "):])
    return {"requests": row["requests"], "seconds": row["duration_us"] / 1e6, "p50_ms": row["p50_us"] / 1e3,
            "p99_ms": row["p99_us"] / 1e3,
            "errors": sum(row[name] for name in ("connect", "read", "write", "status", "timeout"))}


def _python_client(queue, port, paths, concurrency, seconds):
    """Keep-alive HTTP/1.1 over raw asyncio streams, ``concurrency`` connections, for ``seconds``."""
    import asyncio

    latencies: list[float] = []
    errors = 0
    host_header = f"Host: {HOST}:{port}\r\n\r\n".encode()

    async def connection(offset: int, deadline: float) -> None:
        nonlocal errors
        i = offset
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                path = paths[i % len(paths)]
                i += 1
                start = time.perf_counter()
                request = b"GET " + path.encode() + b" HTTP/1.1\r\n" + host_header
                status, close = await exchange(reader, writer, request)
                latencies.append(time.perf_counter() - start)
                if not 200 <= status < 400:
                    errors += 1
                if close:
                    writer.close()
                    writer = None
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                errors += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        tasks = [connection(c * 7919, deadline) for c in range(concurrency)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 30)
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    pick = (lambda q: latencies[min(n - 1, int(q * n))] * 1e3) if n else (lambda q: float("nan"))
    queue.put({"requests": n, "seconds": elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": errors})


class LoadGenerator:
    def __init__(self, kind: str, work: Path, concurrency: int, threads: int):
        self.kind, self.work, self.concurrency, self.threads = kind, work, concurrency, threads
        if kind == "wrk":
            self.script = work / "paths.lua"
            self.script.write_text(WRK_SCRIPT)

    def describe(self) -> str:
        if self.kind == "wrk":
            return f"wrk ({shutil.which('wrk')}), {self.threads} thread(s), {self.concurrency} connections"
        return f"Python asyncio raw-stream client (separate process), {self.concurrency} connections"

    def load(self, port: int, name: str, paths: list[str], seconds: float) -> dict:
        if self.kind == "wrk":
            paths_file = self.work / f"{name}.paths"
            paths_file.write_text("\n".join(paths) + "\n")
            return wrk_load(port, paths_file, self.script, self.concurrency, seconds, self.threads)
        return run(_python_client, port, paths, self.concurrency, seconds)


# --- the benchmark --------------------------------------------------------------------------------

def measure(server: ServerProcess, generator: LoadGenerator, endpoints: dict[str, list[str]], seconds: float,
            rounds: int) -> dict:
    """Each endpoint for ``seconds`` in all, in ``rounds`` interleaved slices (healthz, recommendations,
    filtered, healthz, ...), so a drift in the shared machine's speed hits every endpoint alike. A row:
    total requests over total time, the median of the slices' p50, the largest of their p99, errors
    and server CPU seconds per process summed."""
    for name, paths in endpoints.items():  # warm-up: every worker, every code path
        generator.load(server.port, name, paths, WARMUP_SECONDS)
    slices = {name: [] for name in endpoints}
    for _ in range(rounds):
        for name, paths in endpoints.items():
            pids = server.pids()
            before = cpu_seconds(pids)
            row = generator.load(server.port, name, paths, seconds / rounds)
            after = cpu_seconds(pids)
            row["cpu"] = [after[pid] - before[pid] for pid in pids if pid in before and pid in after]
            slices[name].append(row)
    results = {}
    for name, rows in slices.items():
        requests, total_seconds = sum(row["requests"] for row in rows), sum(row["seconds"] for row in rows)
        results[name] = {"requests": requests, "seconds": total_seconds,
                         "rate": requests / total_seconds if total_seconds else 0.0,
                         "p50_ms": statistics.median(row["p50_ms"] for row in rows),
                         "p99_ms": max(row["p99_ms"] for row in rows),
                         "errors": sum(row["errors"] for row in rows),
                         "cpu": [sum(cpu) for cpu in zip(*(row["cpu"] for row in rows))]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="time per endpoint and worker count, in all rounds (default 15)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved slices each endpoint's time is split into (default 3; whole seconds each)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--model", type=Path, help="model directory to reuse (built there when missing)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk when on PATH (auto, the default), or the Python client")
    parser.add_argument("--wrk-threads", type=int, default=1,
                        help="wrk threads (default 1: the server keeps the other core)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.seconds > 120 or args.concurrency < 1 or args.concurrency > 256:
        parser.error("keep runs bounded: --seconds in (0, 120], --concurrency in 1..256")
    if args.rounds < 1 or args.seconds / args.rounds != int(args.seconds / args.rounds):
        parser.error("--seconds must split into --rounds slices of whole seconds (wrk takes whole seconds)")
    kind = args.generator
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    elif kind == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH")

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        model_dir = model_directory(args.model, work, args.buyers, args.items)
        sample = run(_sample_buyers, str(model_dir), SAMPLE_BUYERS, 0)
        endpoints = {"healthz": ["/healthz"],
                     "recommendations": request_paths(sample["ids"], 4 * SAMPLE_BUYERS, 1),
                     FILTERED: request_paths(sample["ids"], 4 * SAMPLE_BUYERS, 2, (FILTER_QUERY,))}
        if sample["categories"]:
            queries = tuple(f"&category={urllib.parse.quote(c, safe='')}" for c in sample["categories"])
            endpoints[CATEGORY] = request_paths(sample["ids"], 4 * SAMPLE_BUYERS, 3, queries)
        generator = LoadGenerator(kind, work, args.concurrency, args.wrk_threads)
        print(f"model {sample['version']}: {sample['buyers']:,} buyers, {sample['items']:,} items; "
              f"requests for {len(sample['ids']):,} sampled buyers, {UNKNOWN_SHARE:.0%} unknown ids")
        print(f"load generator: {generator.describe()}; {args.seconds:g} s per endpoint in {args.rounds} "
              f"interleaved round(s), after {WARMUP_SECONDS:g} s of warm-up; {os.cpu_count()} cores shared by "
              f"server and client")
        print(f"endpoints: GET /healthz (baseline), GET /v1/users/{{id}}/recommendations?k={K} (known buyers "
              f"answered from their precomputed default lists), the same with {FILTER_QUERY!r} and with "
              f"'&category=...' ({len(sample['categories'])} categories in turn): filters, computed per request\n")

        results: dict[int, dict] = {}
        for workers in args.workers:
            with ServerProcess(model_dir, workers, log_path=work / f"server-{workers}.log") as server:
                status, body = get(server.port, endpoints["recommendations"][0])
                if status != 200:
                    print(f"warning: a first recommendations request answered {status}: {body[:300]!r}")
                results[workers] = measure(server, generator, endpoints, args.seconds, args.rounds)
            row = results[workers]
            print(f"  {workers} worker(s) done: " + ", ".join(f"{name} {row[name]['rate']:,.0f} req/s" for name in row),
                  flush=True)

        print(f"\n{'workers':>7}  {'endpoint':<22}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"  server CPU s per process")
        for workers, rows in results.items():
            for name, row in rows.items():
                label = f"{name}{' (baseline)' if name == 'healthz' else ''}"
                cpu = ", ".join(f"{c:.1f}" for c in row["cpu"])
                print(f"{workers:>7}  {label:<22}{row['rate']:11,.0f}{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}"
                      f"{row['errors']:8,}  {cpu}")

        print()
        for workers, rows in results.items():
            for name in ("recommendations", *(name for name in COMPUTED if name in rows)):
                ratio = rows[name]["rate"] / rows["healthz"]["rate"] if rows["healthz"]["rate"] else 0.0
                verdict = "PASS" if ratio >= RATIO_TARGET else "MISS"
                print(f"{workers} worker(s): {name} / healthz throughput x{ratio:.2f} "
                      f"(target >= {RATIO_TARGET:.2f}): {verdict}")
        if P99_TARGET_WORKERS in results:
            for name in ("recommendations", *(name for name in COMPUTED if name in results[P99_TARGET_WORKERS])):
                p99 = results[P99_TARGET_WORKERS][name]["p99_ms"]
                verdict = "PASS" if p99 < P99_TARGET_MS else "MISS"
                print(f"{P99_TARGET_WORKERS} workers: {name} p99 {p99:.1f} ms "
                      f"(target < {P99_TARGET_MS:g} ms): {verdict}")
        if len(results) > 1:
            first = min(results)
            for workers in sorted(results)[1:]:
                for name in results[first]:
                    base = results[first][name]["rate"]
                    gain = results[workers][name]["rate"] / base if base else 0.0
                    print(f"{name}: {workers} workers / {first} worker(s) throughput x{gain:.2f}")
        errors = sum(row["errors"] for rows in results.values() for row in rows.values())
        if errors:
            print(f"\nnote: {errors:,} errors in all (see the errors column)")


if __name__ == "__main__":
    main()
