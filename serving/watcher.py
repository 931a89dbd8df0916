"""One watcher for everything a running server picks up from disk without a restart.

Every :data:`POLL_SECONDS`, in one hop to a worker thread (file checks never block the event
loop), :meth:`Watcher.check` looks at

* the model another worker of the same server reloaded (:mod:`serving.reload_sync`), loaded and
  swapped in when its version is not the one served;
* the published forecasts (``recommender forecast-publish`` again into the served directory);
* the merchant token file (a re-issued or revoked token);
* the event store: items written through ``PUT /v1/items`` change their availability, purchases
  and returns stored since the last check, by any worker, change those buyers' rankings
  (:mod:`serving.live`), and items the model does not know are added to it, ranked by their
  content (:meth:`serving.served.ModelSwapper.add_items`), and campaigns' deliveries update their
  pacing (:mod:`serving.campaigns`): the served model's live overlay, which nothing else changes.

Each file check is a ``stat``, and a file is read only when it changed; the store check is one
indexed query. A source that fails to load is logged and the one served is kept; the watcher goes
on.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from serving.reload_sync import Announcements

if TYPE_CHECKING:
    from serving.state import ServingState

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class Watcher:
    """Keeps ``state`` (``served`` through ``state.swapper``, ``forecasts``, ``merchant_tokens``)
    up to date with the files it came from."""

    def __init__(self, state: ServingState):
        self.state = state
        shared = state.settings.reload_file
        self.announcements = Announcements(shared) if shared is not None else None

    def check(self) -> None:
        """Pick up whatever changed since the last check (reads files: call it off the event loop)."""
        state = self.state
        steps: list[tuple[str, Callable[[], object]]] = []
        announcements = self.announcements
        if announcements is not None:
            steps.append(("model announcement", lambda: self._follow_model(announcements)))
        # read once: only this watcher replaces forecasts and tokens, and a model swapped in meanwhile
        # is followed on the next check
        forecasts, merchant_tokens, store, served = state.forecasts, state.merchant_tokens, state.store, state.served
        if forecasts is not None:
            steps.append(("published forecasts", lambda: setattr(state, "forecasts", forecasts.refreshed())))
        if store is not None and served is not None:
            live = served.live  # changed by this watcher alone
            steps.append(("items of the event store", lambda: live.items.follow(store)))
            steps.append(("events of the event store", lambda: live.buyers.follow(store)))
            steps.append(("new items of the event store", lambda: state.swapper.add_items(served)))
            steps.append(("campaigns of the event store", lambda: live.campaigns.follow(store)))
        if merchant_tokens is not None:
            steps.append(("merchant tokens", lambda: setattr(state, "merchant_tokens", merchant_tokens.refreshed())))
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # one bad source must not stop the others, nor the server
                log.warning("could not pick up the %s: %s", name, exc)

    def _follow_model(self, announcements: Announcements) -> None:
        wanted = announcements.new()
        if wanted is not None and wanted["model_version"] != self.state.model_version:
            self.state.swapper.swap(wanted["model_dir"])

    async def run(self, poll_seconds: float | None = None) -> None:
        """Check forever, every ``poll_seconds`` (default :data:`POLL_SECONDS`)."""
        while True:
            await asyncio.sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)
            await asyncio.to_thread(self.check)
