"""Buyer events: stored in batches, idempotently, and read back in arrival order.

:meth:`Events.add` stores a batch in one transaction, all of it or (on any error) none of it, and
skips events whose ``event_id`` is already stored (a retried batch is not counted twice). Events
become visible in the order of their positions (``seq``, see :meth:`Database.writing
<recommender.store.database.Database.writing>`): :meth:`Events.after` from the last position seen
misses nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Select, func, select

from recommender.store.database import Database, now_us
from recommender.store.schema import EVENT_TYPES, SIGNAL_TYPES, events

if TYPE_CHECKING:
    from recommender.store.lots import Lots


@dataclass(frozen=True)
class Event:
    """One buyer event. ``timestamp_us``: when it happened, microseconds since the epoch (UTC)."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    timestamp_us: int
    quantity: float = 1.0
    city_tier: int | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"event {self.event_id!r}: type {self.type!r} is not one of {', '.join(EVENT_TYPES)}")


@dataclass(frozen=True)
class StoredEvent(Event):
    """An event as stored: its position in arrival order (``seq``) and arrival time."""

    seq: int = 0
    received_us: int = 0


@dataclass(frozen=True)
class Added:
    """What :meth:`Events.add` did with a batch: events newly stored, and the ids of those already
    stored before (skipped)."""

    stored: int
    duplicate_ids: tuple[str, ...]


class Events:
    """The buyer events of ``database``; the purchases stored count against ``lots`` in the same transaction."""

    def __init__(self, database: Database, lots: Lots):
        self.database, self.lots = database, lots

    def add(self, batch: Sequence[Event]) -> Added:
        """Store ``batch`` in one transaction (all or nothing) and return what was new; events whose
        ``event_id`` is stored already, or repeated earlier in the batch, are skipped."""
        return self.add_batches([batch])[0]

    def add_batches(self, batches: Sequence[Sequence[Event]]) -> list[Added]:
        """Store several batches in one transaction (one commit: see :class:`recommender.store.GroupCommit`),
        all of them or none; what each added, as :meth:`add` says, an event repeated in an earlier
        batch counting as stored before. The purchases newly stored count against the lots of
        their items in that transaction (:meth:`Lots.count_sales <recommender.store.lots.Lots.count_sales>`)."""
        received = now_us()
        rows = [{"event_id": e.event_id, "user_id": e.user_id, "item_id": e.item_id, "type": e.type,
                 "timestamp_us": e.timestamp_us, "quantity": float(e.quantity), "city_tier": e.city_tier,
                 "received_us": received} for batch in batches for e in batch]
        stored: set[str] = set()
        if rows:
            statement = (self.database.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
                         .returning(events.c.event_id))
            with self.database.writing() as connection:
                stored = set(connection.execute(statement, rows).scalars())
                self.lots.count_sales(connection, _first_purchases(batches, stored))
        seen: set[str] = set()
        added = []
        for batch in batches:
            new, duplicates = 0, []
            for e in batch:
                if e.event_id in stored and e.event_id not in seen:
                    new += 1
                else:
                    duplicates.append(e.event_id)
                seen.add(e.event_id)
            added.append(Added(new, tuple(duplicates)))
        return added

    def _stored(self, statement: Select[Any]) -> list[StoredEvent]:
        with self.database.connection_pool.connect() as connection:
            return [StoredEvent(**row) for row in connection.execute(statement).mappings()]

    def history(self, user_id: str) -> list[StoredEvent]:
        """The buyer's events in arrival order."""
        return self._stored(select(events).where(events.c.user_id == user_id).order_by(events.c.seq))

    def after(self, seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``seq`` (0: from the first), in arrival order."""
        return self._stored(select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit))

    def last_seq(self) -> int:
        """The position of the newest event (0 when there is none)."""
        with self.database.connection_pool.connect() as connection:
            return connection.execute(select(func.max(events.c.seq))).scalar_one() or 0

    def count(self) -> int:
        """How many events are stored."""
        with self.database.connection_pool.connect() as connection:
            return connection.execute(select(func.count()).select_from(events)).scalar_one()

    def purchases(self) -> pd.DataFrame:
        """The stored purchases and returns as purchase lines of the data contract (``user_id``,
        ``item_id``, ``timestamp`` (UTC), ``quantity``, ``city_tier``, ``order_id`` = the event id),
        in arrival order. Returns cancel purchases: a buyer's purchases and returns of an item are
        left out when the buyer returned at least as many units of it; otherwise a return is a
        line of negative quantity, which the loaders' policy excludes like any return."""
        query = (select(events.c.event_id, events.c.user_id, events.c.item_id, events.c.type,
                        events.c.timestamp_us, events.c.quantity, events.c.city_tier)
                 .where(events.c.type.in_(["purchase", "return"])).order_by(events.c.seq))
        with self.database.connection_pool.connect() as connection:
            frame = pd.read_sql_query(query, connection)
        sign = frame.pop("type").map({"return": -1.0}).fillna(1.0)
        net = (frame["quantity"] * sign).groupby([frame["user_id"], frame["item_id"]]).transform("sum")
        frame, sign = frame[net > 0], sign[net > 0]
        return pd.DataFrame({
            "user_id": frame["user_id"], "item_id": frame["item_id"],
            "timestamp": pd.to_datetime(frame["timestamp_us"], unit="us", utc=True),
            "quantity": frame["quantity"] * sign, "order_id": frame["event_id"],
            "city_tier": frame["city_tier"].astype("Int8"),
        })

    def signals(self) -> pd.DataFrame:
        """The stored views and carts (``user_id``, ``item_id``, ``type``, ``timestamp`` (UTC)), in
        arrival order: what training weighs as the config says (``event_weights``)."""
        query = (select(events.c.user_id, events.c.item_id, events.c.type, events.c.timestamp_us)
                 .where(events.c.type.in_(SIGNAL_TYPES)).order_by(events.c.seq))
        with self.database.connection_pool.connect() as connection:
            frame = pd.read_sql_query(query, connection)
        frame["timestamp"] = pd.to_datetime(frame.pop("timestamp_us"), unit="us", utc=True)
        return frame


def _first_purchases(batches: Sequence[Sequence[Event]], stored: set[str]) -> list[Event]:
    """The purchases among ``batches`` whose ids were ``stored`` now, each as its first occurrence (the one stored)."""
    first: dict[str, Event] = {}
    for batch in batches:
        for e in batch:
            if e.event_id in stored and e.event_id not in first:
                first[e.event_id] = e
    return [e for e in first.values() if e.type == "purchase"]
