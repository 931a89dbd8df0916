"""Keeping every worker process of a server on the same model after an admin reload.

``POST /v1/admin/reload`` reaches one worker process. With several workers (``recommender serve
--workers N``) the launcher gives all of them one *announcement file* (its path in
``RECOMMENDER_RELOAD_FILE``): the worker that reloaded writes the new model's directory and
version into it (atomically), and every worker checks the file's modification time every
:data:`POLL_SECONDS` and, when it announces a version other than the one it serves, loads that
directory in a thread and swaps it in the same way. So all workers serve the new model within
about half a second plus the load time; a worker that fails to load it keeps its model and logs why.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from recommender.atomic import atomic_file

log = logging.getLogger(__name__)

RELOAD_FILE_ENV = "RECOMMENDER_RELOAD_FILE"
POLL_SECONDS = 0.5


def announcement_file() -> Path | None:
    """The announcement file shared by this server's workers (None with a single process)."""
    path = os.environ.get(RELOAD_FILE_ENV)
    return Path(path) if path else None


def announce(path: Path, model_dir: str, model_version: str) -> None:
    """Tell the other workers which model to serve now."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps({"model_dir": model_dir, "model_version": model_version}), encoding="utf-8")


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


async def follow(path: Path, served_version: Callable[[], str | None], reload: Callable[[str], object]) -> None:
    """Poll ``path`` forever; when it announces a model version other than ``served_version()``,
    run ``reload(model_dir)`` in a thread (it loads and swaps, or raises)."""
    seen = None  # so an announcement made before this worker started is followed too
    while True:
        await asyncio.sleep(POLL_SECONDS)
        modified = _modified(path)
        if modified is None or modified == seen:
            continue
        seen = modified
        try:
            wanted = json.loads(path.read_text(encoding="utf-8"))
            if wanted["model_version"] != served_version():
                await asyncio.to_thread(reload, wanted["model_dir"])
        except Exception as exc:  # a bad announcement or model must not stop the worker
            log.warning("could not follow the model announced in %s: %s", path, exc)
