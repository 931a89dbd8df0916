"""Keeping every worker process of a server on the same model after an admin reload.

``POST /v1/admin/reload`` reaches one worker process. With several workers (``recommender serve
--workers N``) the launcher gives all of them one *announcement file* (its path in the setting
``reload_file``): the worker that reloaded writes the new model's directory and
version into it (atomically, :func:`announce`), and every worker's watcher
(:mod:`serving.watcher`) reads it when its modification time changes (:class:`Announcements`)
and, when it announces a version other than the one it serves, loads that directory and swaps it
in the same way. So all workers serve the new model within about a quarter of a second plus the load
time; a worker that fails to load it keeps its model and logs why.
"""
from __future__ import annotations

import json
from pathlib import Path

from recommender.atomic import atomic_file


def announce(path: Path, model_dir: str, model_version: str) -> None:
    """Tell the other workers which model to serve now."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps({"model_dir": model_dir, "model_version": model_version}), encoding="utf-8")


class Announcements:
    """Reads an announcement file each time it changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: int | None = None  # so an announcement made before this worker started is followed too

    def new(self) -> dict[str, str] | None:
        """The announcement (``model_dir``, ``model_version``) when the file changed since the last
        call, else None. Raises ``ValueError`` or ``KeyError`` on a malformed announcement."""
        try:
            modified = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if modified == self._seen:
            return None
        self._seen = modified
        wanted = json.loads(self.path.read_text(encoding="utf-8"))
        return {"model_dir": str(wanted["model_dir"]), "model_version": str(wanted["model_version"])}
