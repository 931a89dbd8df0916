"""The live overlay of a served model: what the event store changed since it was trained.

A served model is a snapshot that never changes (:class:`serving.served.ServedModel`); what
changes while it is served lives in its :class:`LiveOverlay`, which only the watcher changes
(:mod:`serving.watcher`, every quarter of a second): the buyers whose purchases arrived since
(:class:`LiveBuyers`), the items whose availability changed or that the model does not know
(:class:`LiveItems`) and the running campaigns (:class:`serving.campaigns.LiveCampaigns`). A new
snapshot gets a new overlay (carried over from the old one when it only adds items), so two
snapshots never share one.

Each worker follows the event store (:meth:`LiveBuyers.follow`): for every buyer with new
purchases or returns it rebuilds the buyer's history (the stored row plus the new purchases,
minus returned items), lets the model fold it in (factor models solve the buyer's vector from it,
item-item models read it as it is: :class:`recommender.engine.Histories`), and recomputes the
buyer's default list; it keeps the buyer's purchases since training with their times, which
buy-again scores at the request's time (:meth:`recommender.models.repeat.RepeatScores.buyer`).
Requests for that buyer are then answered from it, so a bought item leaves the buyer's
recommendations, from every worker, within about a second of its acknowledgement, and a buyer the
model has never seen is personalised from the first purchase. Views and carts change no live
ranking (training weighs them: ``event_weights``).

A new purchase weighs what a purchase of that item typically weighs in the training data (the
mean of the item's nonzero weights; 1 for items nobody bought), whatever the weighting scheme.
On start and after every model swap, the events the model was not trained on are replayed (at
most :data:`REPLAY_LIMIT` of the newest): those after the position its training read, for a
model trained from this store (``train --from-store``), else those received since the model was
created.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recommender.engine import Histories, RecommendationEngine
from recommender.explain import Explainer
from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.seasons import request_week
from recommender.store import EventStore, Item, StoredEvent, to_us
from serving.campaigns import LiveCampaigns
from serving.precomputed import Listed, valid_prefix

if TYPE_CHECKING:
    from serving.served import ServedModel

log = logging.getLogger(__name__)

REPLAY_LIMIT = 200_000  # newest events replayed when a model starts serving
FOLLOW_BATCH = 10_000  # events read from the store per query
REBUILD_BATCH = 1_024  # buyers scored per engine call
CHANGING_TYPES = ("purchase", "return")


@dataclass(frozen=True)
class LiveBuyer:
    """A buyer whose purchases changed since training: what their requests are answered from."""

    code: int  # training buyer code, or UNKNOWN_CODE
    tier: int  # 0: unknown
    bought: np.ndarray  # item codes (int32) of the history the model folds in...
    weights: np.ndarray  # ...and their weights (float32): 8 bytes an item, not a dict's hundred
    listed: Listed  # the default list (the re-ranker's depth), with reason ids
    purchases: np.ndarray  # item codes (int64) of the purchases since training, not returned (buy-again)...
    purchased_us: np.ndarray  # ...and when each was made (int64, microseconds since the epoch)
    week: int | None = None  # the week of the year whose season ``listed`` was ranked for (None: no season)

    def listed_for_now(self) -> bool:
        """Whether :attr:`listed` still answers a default request: ranked without a season, or for
        this week's (as the precomputed default lists, :class:`serving.precomputed.DefaultLists`)."""
        return self.week is None or self.week == request_week()

    def history(self) -> dict[int, float]:
        """The history as item code -> weight (to change it)."""
        return dict(zip(self.bought.tolist(), self.weights.tolist()))

    def histories(self, n_items: int) -> Histories:
        return history_rows(self.bought, self.weights, n_items)

    def tiers(self, tier: int | None = None) -> np.ndarray | None:
        """The engine's ``tiers`` for a request in ``tier`` (None: the buyer's own)."""
        return request_tiers(tier or self.tier)


def history_rows(items: np.ndarray, weights: np.ndarray, n_items: int) -> Histories:
    """A history (item codes and their weights) as a one-row :class:`~recommender.engine.Histories`."""
    rows = np.zeros(len(items), dtype=np.int64)
    return Histories(sp.csr_matrix((weights, (rows, items)), shape=(1, n_items)),
                     sp.csr_matrix((np.ones(len(items), dtype=np.float32), (rows, items)), shape=(1, n_items)))


def as_arrays(history: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """A history (item code -> weight) as item codes (int32) and weights (float32)."""
    return (np.fromiter(history, dtype=np.int32, count=len(history)),
            np.fromiter(history.values(), dtype=np.float32, count=len(history)))


def request_tiers(tier: int) -> np.ndarray | None:
    return np.array([tier], dtype=np.int8) if tier else None


class LiveBuyers:
    """The buyers of one served model whose purchases arrived after it was trained, their lists
    ranked among the ``available`` items (the overlay's, :attr:`LiveItems.available`)."""

    def __init__(self, engine: RecommendationEngine, explainer: Explainer, depth: int, manifest: dict[str, Any],
                 available: np.ndarray):
        self.engine, self.explainer, self.depth, self.available = engine, explainer, depth, available
        created_at = manifest.get("created_at")
        self.created_us = to_us(datetime.fromisoformat(created_at)) if created_at else 0
        self.trained_on = manifest.get("data", {}).get("store")  # {"url", "last_seq"} of train --from-store
        history = engine.history.tocsc()
        counts = np.diff(history.indptr)
        sums = np.asarray(history.sum(axis=0)).ravel()
        self.item_weight = np.where(counts > 0, sums / np.maximum(counts, 1), 1.0).astype(np.float32)
        self.buyers: dict[str, LiveBuyer] = {}
        self.seq: int | None = None  # the last event seen; None until the first follow

    def get(self, user_id: str) -> LiveBuyer | None:
        return self.buyers.get(user_id)

    def carry_over(self, other: LiveBuyers) -> None:
        """Take the buyers and store position of ``other``, the live buyers of the model this one's
        extends with added items (their lists lack those items until they change again)."""
        self.buyers, self.seq = dict(other.buyers), other.seq

    def follow(self, store: EventStore) -> int:
        """Apply the events stored since the last call (on the first, the newest events received
        since the model was created); returns how many buyers changed."""
        if self.seq is None:
            newest = store.events.last_seq()
            if self.trained_on is not None and self.trained_on["url"] == store.display_url:
                # what training did not read
                events = self._read(store, max(self.trained_on["last_seq"], newest - REPLAY_LIMIT), newest)
            else:
                events = [e for e in self._read(store, max(0, newest - REPLAY_LIMIT), newest)
                          if e.received_us >= self.created_us]
        else:
            events = self._read(store, self.seq, None)
        return self.apply(events)

    def _read(self, store: EventStore, seq: int, until: int | None) -> list[StoredEvent]:
        """The events stored after position ``seq`` (all of them, or at least up to ``until``);
        :attr:`seq` follows each batch read."""
        events: list[StoredEvent] = []
        self.seq = seq
        while True:
            batch = store.events.after(seq, limit=FOLLOW_BATCH)
            events.extend(batch)
            if batch:
                self.seq = seq = batch[-1].seq
            if len(batch) < FOLLOW_BATCH or (until is not None and seq >= until):
                return events

    def apply(self, events: list[StoredEvent]) -> int:
        """Rebuild the buyers of the purchases and returns in ``events`` (items unknown to the
        model are ignored); returns how many buyers changed."""
        changed: dict[str, list[StoredEvent]] = {}
        for event in events:
            if event.type in CHANGING_TYPES and self.engine.items.code_of(event.item_id) != UNKNOWN_CODE:
                changed.setdefault(event.user_id, []).append(event)
        users = list(changed)
        for start in range(0, len(users), REBUILD_BATCH):
            self._rebuild({user_id: changed[user_id] for user_id in users[start:start + REBUILD_BATCH]})
        if changed:
            log.info("rankings of %d buyer(s) updated from %d new event(s)", len(changed), len(events))
        return len(changed)

    def _history(self, user_id: str) -> tuple[int, int, dict[int, float]]:
        """The buyer's code, tier and history as they are now (live, else as trained)."""
        current = self.buyers.get(user_id)
        if current is not None:
            return current.code, current.tier, current.history()
        engine = self.engine
        code = engine.users.code_of(user_id)
        if code == UNKNOWN_CODE:
            return code, 0, {}
        row = slice(engine.history.indptr[code], engine.history.indptr[code + 1])
        return code, int(engine.user_tiers[code]), dict(zip(engine.history.indices[row].tolist(),
                                                            engine.history.data[row].tolist()))

    def _rebuild(self, changed: dict[str, list[StoredEvent]]) -> None:
        """Apply each buyer's events to their history and score all of them in one engine call."""
        engine = self.engine
        rebuilt, purchases = [], {}
        for user_id, events in changed.items():
            code, tier, history = self._history(user_id)
            current = self.buyers.get(user_id)
            live = [] if current is None else list(zip(current.purchases.tolist(), current.purchased_us.tolist()))
            for event in events:
                item = engine.items.code_of(event.item_id)
                if event.type == "return":
                    history.pop(item, None)  # a return cancels the buyer's purchases of the item
                    live = [(other, at) for other, at in live if other != item]  # and buy-again's live ones
                else:
                    history[item] = max(history.get(item, 0.0), float(self.item_weight[item]))
                    live.append((item, event.timestamp_us))
                tier = event.city_tier or tier
            rebuilt.append((user_id, code, tier, *as_arrays(history)))
            purchases[user_id] = (np.array([item for item, _ in live], dtype=np.int64),
                                  np.array([at for _, at in live], dtype=np.int64))
        rows = [history_rows(bought, weights, engine.n_items) for *_, bought, weights in rebuilt]
        histories = Histories(sp.vstack([row.weights for row in rows], format="csr"),
                              sp.vstack([row.purchased for row in rows], format="csr"))
        codes, scores = engine.recommend(np.array([code for _, code, *_ in rebuilt]), self.depth,
                                         tiers=np.array([tier for _, _, tier, *_ in rebuilt], dtype=np.int8),
                                         histories=histories, available=self.available)
        week = request_week() if engine.season_factor and engine.seasons is not None else None
        for (user_id, code, tier, bought, weights), row_codes, row_scores in zip(rebuilt, codes, scores):
            listed = valid_prefix(row_codes, row_scores)
            reasons = self.explainer.reason_ids(listed.codes, bought, tier or None)
            self.buyers[user_id] = LiveBuyer(code, tier, bought, weights, Listed(listed.codes, listed.scores, reasons),
                                             *purchases[user_id], week)


class LiveItems:
    """Items written through ``PUT /v1/items`` (followed from the event store) for one served model:
    an item made unavailable leaves every route at once, an item made available again can be
    recommended again (the precomputed default lists gain it at the next training), and available
    items the model does not know wait in :attr:`new` until the server adds them to the model
    (:meth:`serving.served.ModelSwapper.add_items`). The availability is this overlay's own copy
    (:attr:`available`, what every route ranks by); the engine's, the catalog's, never changes."""

    def __init__(self, engine: RecommendationEngine, kept: LiveItems | None = None):
        """``kept``: the live items of the model ``engine`` extends with added items, whose
        availability, position in the store and hidden state carry over."""
        self.engine = engine
        self.available: np.ndarray = engine.available.copy()
        if kept is not None:
            self.available[:len(kept.available)] = kept.available
        self.hidden: bool = kept is not None and kept.hidden  # whether an item was made unavailable since loading
        self.since_us: int = 0 if kept is None else kept.since_us  # update time followed (0: every item still to read)
        self.new: dict[str, Item] = {}  # available items the model does not know, by id, latest version

    def follow(self, store: EventStore) -> int:
        """Apply the items written since the last call (on the first: every item in the store);
        returns how many of the model's items changed availability."""
        written = store.items.since(self.since_us)
        if written:
            self.since_us = written[-1].updated_us  # items at this very time are read again next time: harmless
        return sum(self.apply(item) for item in written)

    def shows(self, codes: np.ndarray) -> bool:
        """Whether every item of a list computed before the last availability change may still be
        shown (a row lookup only once an item was hidden)."""
        return not self.hidden or bool(self.available[codes].all())

    def apply(self, item: Item) -> bool:
        code = self.engine.items.code_of(item.item_id)
        if code == UNKNOWN_CODE:
            if item.available:
                self.new[item.item_id] = item
            else:
                self.new.pop(item.item_id, None)
            return False
        if bool(self.available[code]) == item.available:
            return False
        self.available[code] = item.available
        self.hidden |= not item.available
        log.info("item %s is %s", item.item_id, "available" if item.available else "unavailable")
        return True


class LiveOverlay:
    """What changes while one model snapshot is served: its buyers, items and campaigns as the
    event store has them. Only the watcher changes a served overlay; a snapshot not served yet
    follows the store through its own (:meth:`follow`)."""

    def __init__(self, model: ServedModel, kept: LiveOverlay | None = None):
        """``kept``: the overlay of the model ``model`` extends with added items, whose buyers and
        items carry over."""
        engine = model.engine
        self.items: LiveItems = LiveItems(engine, kept.items if kept is not None else None)
        self.buyers = LiveBuyers(engine, model.explainer, engine.reranker.candidates, model.manifest,
                                 self.items.available)
        if kept is not None:
            self.buyers.carry_over(kept.buyers)
        self.campaigns = LiveCampaigns(engine, model.explainer, self.items.available)

    @property
    def available(self) -> np.ndarray:
        """Each item's availability now (boolean, by item code)."""
        return self.items.available

    def follow(self, store: EventStore) -> None:
        """Catch up with the store's items and events."""
        self.items.follow(store)
        self.buyers.follow(store)
