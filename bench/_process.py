"""Helpers shared by the benchmarks: a step in a fresh process, that step's own peak memory, the data."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_measuring() -> float:
    """Resident memory now, in MB; resets the peak so that the next step's is its own (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Peak resident memory since :func:`start_measuring`, in MB (Linux VmHWM)."""
    return _status_mb("VmHWM")


def run(target, *args) -> dict:
    """Run ``target(queue, *args)`` in a fresh process and return what it puts on the queue."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def market_paths(purchases, catalog, directory, buyers: int, items: int) -> tuple:
    """``(purchases, catalog)``: the files given, or a demo marketplace written to ``directory``."""
    if purchases:
        return purchases, catalog
    from recommender.demo_marketplace import write_demo_marketplace

    written = write_demo_marketplace(directory, buyers=buyers, items=items)
    return written["purchases"], written["catalog"]
