"""Progress for long jobs: a tqdm bar on a terminal, plain log lines anywhere else.

A bar redrawn into a log file or a pipe piles up frame after frame, with log lines glued onto it.
:func:`progress_bar` takes tqdm's arguments and, when standard error is not a terminal, writes
the same progress text as an ordinary ``INFO`` log line at most every :data:`LOG_EVERY_SECONDS`
(and once at the end) instead.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

LOG_EVERY_SECONDS = 30.0
log = logging.getLogger("recommender.progress")


class _LogLines:
    """A file for tqdm that logs each non-empty frame as one line."""

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            log.info(line)

    def flush(self) -> None:
        pass


def progress_bar(iterable=None, **options) -> tqdm:
    """``tqdm(iterable, **options)`` on a terminal; elsewhere its frames as log lines, at most one
    every :data:`LOG_EVERY_SECONDS` (``disable`` and every other option work as in tqdm)."""
    if not sys.stderr.isatty():
        options = {**options, "file": _LogLines(), "mininterval": max(options.get("mininterval", 0.1),
                                                                     LOG_EVERY_SECONDS),
                   "ascii": True, "ncols": 100, "dynamic_ncols": False}
    return tqdm(iterable, **options)


@contextmanager
def heartbeat(task: str, every: float | None = None) -> Iterator[Callable[[str], None]]:
    """While the block runs, log ``task: <stage>, <seconds> s`` every ``every`` seconds (default
    :data:`LOG_EVERY_SECONDS`) when
    standard error is not a terminal (even when the bars are off: a job in a pipe or a log file is
    never silent for long); on a terminal, nothing. Yields a function that names the stage."""
    stage = ["starting"]

    def name_stage(name: str) -> None:
        stage[0] = name

    if sys.stderr.isatty():
        yield name_stage
        return
    done = threading.Event()
    start = time.monotonic()
    every = LOG_EVERY_SECONDS if every is None else every

    def beat() -> None:
        while not done.wait(every):
            log.info("%s: %s, %.0f s", task, stage[0], time.monotonic() - start)

    thread = threading.Thread(target=beat, name=f"heartbeat {task}", daemon=True)
    thread.start()
    try:
        yield name_stage
    finally:
        done.set()
        thread.join()
