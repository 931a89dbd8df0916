"""The event store: buyer events and API-managed items in SQLite (the embedded default) or PostgreSQL.

One schema for both (:mod:`recommender.store.schema`), created and upgraded by versioned Alembic
migrations (:mod:`recommender.store.migrations`; :meth:`EventStore.open` runs them). URLs:

* ``sqlite:///PATH`` (a file, created when missing; WAL mode, ``synchronous=FULL``: a batch is on
  disk when :meth:`EventStore.add` returns, and survives the process being killed or the machine
  losing power; writers from several threads and processes take turns through a lock file);
* ``postgresql://USER@HOST:PORT/DB`` (psycopg 3; ``postgresql+psycopg://`` is the same).

:meth:`EventStore.add` stores a batch in one transaction, all of it or (on any error) none of it,
and skips events whose ``event_id`` is already stored (a retried batch is not counted twice).
Writers commit one at a time (SQLite's write lock, a PostgreSQL advisory lock), so events become
visible in the order of their positions (``seq``): :meth:`EventStore.events_after` from the last
position seen misses nothing.
"""
from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from recommender.store.schema import (
    EVENT_TYPES,
    SIGNAL_TYPES,
    campaign_buyers,
    campaign_items,
    campaign_minutes,
    campaigns,
    events,
    items,
    models,
)

WRITE_LOCK_KEY = 0x7265636F  # PostgreSQL advisory lock of the event writers ("reco")
BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for another process's write to finish
DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}  # the URL schemes taken, and their drivers
MIGRATIONS = "recommender.store:migrations"


class StoreError(ValueError):
    """The store cannot be opened or used as asked (bad URL, unreachable, not migrated)."""


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

    def __post_init__(self):
        if self.type not in EVENT_TYPES:
            raise ValueError(f"event {self.event_id!r}: type {self.type!r} is not one of {', '.join(EVENT_TYPES)}")


@dataclass(frozen=True)
class StoredEvent(Event):
    """An event as stored: its position in arrival order (``seq``) and arrival time."""

    seq: int = 0
    received_us: int = 0


@dataclass(frozen=True)
class Item:
    """A catalog item as the API manages it (the data contract's catalog fields); ``updated_us``:
    when it was last written."""

    item_id: str
    title: str
    description: str | None = None
    category: str | None = None
    region: str | None = None
    merchant_id: str | None = None
    price: float | None = None
    tags: str | None = None  # semicolon-separated, as in catalog files
    available: bool = True
    updated_us: int = 0


@dataclass(frozen=True)
class ModelRecord:
    """A model in the registry: where it is, how it compared with the serving model on the most
    recent days (NDCG@10), and whether it was ``promoted``, ``rejected`` or ``failed`` (why)."""

    model_version: str
    model_dir: str
    status: str
    reason: str
    candidate_ndcg: float | None = None
    serving_ndcg: float | None = None
    serving_version: str | None = None
    created_us: int = 0


@dataclass(frozen=True)
class CampaignRecord:
    """A stored campaign: its definition (the API's JSON), the impressions delivered so far, and
    when it was created and stopped (None while it runs)."""

    campaign_id: str
    definition: dict
    delivered: int
    created_us: int
    stopped_us: int | None


@dataclass(frozen=True)
class Added:
    """What :meth:`EventStore.add` did with a batch: events newly stored, and the ids of those
    already stored before (skipped)."""

    stored: int
    duplicate_ids: tuple[str, ...]


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(moment: datetime) -> int:
    """``moment`` (timezone-aware) in microseconds since the epoch, as the store keeps times."""
    return int(moment.timestamp() * 1_000_000)


def from_us(microseconds: int) -> datetime:
    """A time the store keeps (microseconds since the epoch) as a UTC datetime."""
    return datetime.fromtimestamp(microseconds / 1_000_000, timezone.utc)


def engine_url(url: str) -> str:
    """``url`` with the driver this project uses for its scheme, or a ``StoreError``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a store URL: {url!r} (use sqlite:///PATH or postgresql://USER@HOST/DB)") from exc
    backend = parsed.get_backend_name()
    if backend not in DRIVERS:
        raise StoreError(f"store URL {parsed.render_as_string(hide_password=True)!r}: unsupported database "
                         f"{backend!r} (use sqlite:///PATH or postgresql://USER@HOST/DB)")
    if backend == "sqlite" and not parsed.database:
        raise StoreError("store URL: sqlite needs a file path, e.g. sqlite:///var/recommender/events.sqlite3")
    return parsed.set(drivername=DRIVERS[backend]).render_as_string(hide_password=False)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions begin where _begin says, not where pysqlite guesses
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={BUSY_TIMEOUT_MS}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # a writer takes the write lock at BEGIN: two processes never deadlock upgrading a read lock
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writes")
                                   else "BEGIN")

    return engine


class EventStore:
    """Buyer events and items in the database at ``url`` (see the module's documentation)."""

    def __init__(self, url: str):
        self.url = engine_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._turn_file = None
        self._thread_turn = threading.Lock()
        if self.dialect == "sqlite":
            database = Path(make_url(self.url).database).expanduser()
            database.parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(self.url)
            # writers take turns through this file's lock (closed in close)
            self._turn_file = open(database.with_name(database.name + ".writers"), "a+b")  # noqa: SIM115
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._insert_into = sqlite.insert if self.dialect == "sqlite" else postgresql.insert  # with ON CONFLICT

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> EventStore:
        """The store at ``url``, upgraded to the newest schema (``migrate``), or checked to be at
        it (``migrate=False``: a process that must not change the schema, e.g. a server worker)."""
        store = cls(url)
        try:
            if migrate:
                store.migrate()
            current, newest = store.schema_version(), cls.newest_schema_version()
        except StoreError:
            store.close()
            raise
        except Exception as exc:  # the driver's connection errors name the host and the reason
            store.close()
            raise StoreError(f"cannot open the store {store.display_url}: {exc}") from exc
        if current != newest:
            store.close()
            raise StoreError(f"the store {store.display_url} is at schema version {current}, not {newest}: "
                             "`recommender serve --store URL` migrates it")
        return store

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def _alembic_config(self, connection) -> Config:
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.attributes["connection"] = connection
        return config

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (nothing to do when it is there)."""
        with self.engine.connect().execution_options(writes=True) as connection:
            command.upgrade(self._alembic_config(connection), "head")
            connection.commit()

    def schema_version(self) -> str | None:
        """The migration the database is at (None: an empty database)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def newest_schema_version() -> str:
        """The newest migration this code has."""
        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        return ScriptDirectory.from_config(config).get_current_head()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, one writer at a time across threads and processes: writers take
        positions and commit in turn, so events become visible in position order and a follower
        going on from the last position it saw skips none. PostgreSQL: an advisory lock. SQLite:
        its write lock (BEGIN IMMEDIATE), entered in turn through a lock file (a waiting process
        sleeps in the kernel until its turn instead of polling SQLite's busy handler, whose
        back-off put 140-870 ms on the p99 of two workers' writes)."""
        with self._turn():
            with self.engine.connect().execution_options(writes=True) as connection, connection.begin():
                if self.dialect == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
                yield connection

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._turn_file is None:
            yield
            return
        with self._thread_turn:  # flock is shared by the threads of a process: they queue here first
            fcntl.flock(self._turn_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._turn_file, fcntl.LOCK_UN)

    def add(self, batch: Sequence[Event]) -> Added:
        """Store ``batch`` in one transaction (all or nothing) and return what was new; events whose
        ``event_id`` is stored already, or repeated earlier in the batch, are skipped."""
        return self.add_batches([batch])[0]

    def add_batches(self, batches: Sequence[Sequence[Event]]) -> list[Added]:
        """Store several batches in one transaction (one commit: see :class:`recommender.store.GroupCommit`), all of
        them or none; what each added, as :meth:`add` says, an event repeated in an earlier batch
        counting as stored before."""
        received = now_us()
        rows = [{"event_id": e.event_id, "user_id": e.user_id, "item_id": e.item_id, "type": e.type,
                 "timestamp_us": e.timestamp_us, "quantity": float(e.quantity), "city_tier": e.city_tier,
                 "received_us": received} for batch in batches for e in batch]
        stored: set[str] = set()
        if rows:
            statement = (self._insert_into(events).on_conflict_do_nothing(index_elements=["event_id"])
                         .returning(events.c.event_id))
            with self._writing() as connection:
                stored = set(connection.execute(statement, rows).scalars())
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

    def put_item(self, item: Item) -> Item:
        """Add or replace the item (one at a time across writers, as events are); the item as
        stored, with its update time."""
        insert = self._insert_into(items)
        with self._writing() as connection:
            # timed under the lock: update times follow commit order, which followers rely on
            stored = Item(**{**item.__dict__, "updated_us": now_us()})
            values = dict(stored.__dict__)
            connection.execute(insert.on_conflict_do_update(index_elements=["item_id"], set_={
                name: value for name, value in values.items() if name != "item_id"}), values)
        return stored

    def items_since(self, updated_us: int) -> list[Item]:
        """Items written at or after ``updated_us``, oldest first."""
        query = select(items).where(items.c.updated_us >= updated_us).order_by(items.c.updated_us, items.c.item_id)
        with self.engine.connect() as connection:
            return [Item(**row) for row in connection.execute(query).mappings()]

    def record_model(self, record: ModelRecord) -> ModelRecord:
        """Add ``record`` to the model registry (timed now)."""
        stored = ModelRecord(**{**record.__dict__, "created_us": now_us()})
        with self._writing() as connection:
            connection.execute(models.insert(), dict(stored.__dict__))
        return stored

    def models(self) -> list[ModelRecord]:
        """The registry, newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(models).order_by(models.c.created_us.desc())).mappings()
            return [ModelRecord(**row) for row in rows]

    def serving_model(self) -> ModelRecord | None:
        """The model promoted last, if any."""
        return next((record for record in self.models() if record.status == "promoted"), None)

    def _stored(self, statement) -> list[StoredEvent]:
        with self.engine.connect() as connection:
            return [StoredEvent(**row) for row in connection.execute(statement).mappings()]

    def history(self, user_id: str) -> list[StoredEvent]:
        """The buyer's events in arrival order."""
        return self._stored(select(events).where(events.c.user_id == user_id).order_by(events.c.seq))

    def events_after(self, seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``seq`` (0: from the first), in arrival order."""
        return self._stored(select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit))

    def position(self) -> dict:
        """Where the store is now: its URL (without a password) and the position of its newest
        event, as a model's manifest records what its training read (``data.store``)."""
        return {"url": self.display_url, "last_seq": self.last_seq()}

    def last_seq(self) -> int:
        """The position of the newest event (0 when there is none)."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.max(events.c.seq))).scalar_one() or 0

    def count(self) -> int:
        """How many events are stored."""
        with self.engine.connect() as connection:
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
        with self.engine.connect() as connection:
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
        with self.engine.connect() as connection:
            frame = pd.read_sql_query(query, connection)
        frame["timestamp"] = pd.to_datetime(frame.pop("timestamp_us"), unit="us", utc=True)
        return frame

    def add_campaign(self, definition: dict, start_us: int, end_us: int) -> CampaignRecord:
        """Store a new campaign (``definition``: its JSON, with ``campaign_id`` and ``impressions``);
        raises ValueError when the id is in use."""
        row = {"campaign_id": definition["campaign_id"], "definition": json.dumps(definition),
               "start_us": start_us, "end_us": end_us, "impressions": int(definition["impressions"]),
               "delivered": 0, "created_us": now_us(), "stopped_us": None}
        try:
            with self._writing() as connection:
                connection.execute(campaigns.insert(), row)
        except IntegrityError as exc:
            raise ValueError(f"campaign_id: {row['campaign_id']!r} is already in use") from exc
        return CampaignRecord(row["campaign_id"], definition, 0, row["created_us"], None)

    def campaigns(self) -> list[CampaignRecord]:
        """Every campaign, stopped ones too, oldest first."""
        query = select(campaigns).order_by(campaigns.c.created_us, campaigns.c.campaign_id)
        with self.engine.connect() as connection:
            return [CampaignRecord(row.campaign_id, json.loads(row.definition), row.delivered, row.created_us,
                                   row.stopped_us) for row in connection.execute(query)]

    def stop_campaign(self, campaign_id: str) -> bool:
        """Stop a running campaign now; False when there is no such campaign or it was stopped."""
        statement = (update(campaigns).where(campaigns.c.campaign_id == campaign_id, campaigns.c.stopped_us.is_(None))
                     .values(stopped_us=now_us()))
        with self._writing() as connection:
            return connection.execute(statement).rowcount == 1

    def reserve_impressions(self, campaign_id: str, user_id: str, item_ids: Sequence[str], cap: int) -> int:
        """Count impressions of ``item_ids`` (in order) for buyer ``user_id``, in one transaction and
        as far as the campaign's budget and the buyer's ``cap`` allow; how many were granted (the
        first ones), 0 for a stopped or unknown campaign. Every worker counts here, so neither the
        budget nor the cap is ever exceeded."""
        with self._writing() as connection:
            campaign = connection.execute(select(campaigns.c.impressions, campaigns.c.delivered, campaigns.c.stopped_us)
                                          .where(campaigns.c.campaign_id == campaign_id)).first()
            if campaign is None or campaign.stopped_us is not None:
                return 0
            shown = connection.execute(select(campaign_buyers.c.shown).where(
                campaign_buyers.c.campaign_id == campaign_id, campaign_buyers.c.user_id == user_id)).scalar()
            granted = max(0, min(len(item_ids), campaign.impressions - campaign.delivered, cap - (shown or 0)))
            if granted == 0:
                return 0
            connection.execute(update(campaigns).where(campaigns.c.campaign_id == campaign_id)
                               .values(delivered=campaigns.c.delivered + granted))
            self._increment(connection, campaign_buyers, "user_id", [(campaign_id, user_id, granted)])
            self._increment(connection, campaign_items, "item_id",
                            [(campaign_id, item_id, 1) for item_id in item_ids[:granted]])
            self._increment(connection, campaign_minutes, "minute", [(campaign_id, int(time.time() // 60), granted)])
        return granted

    def _increment(self, connection: Connection, table, key: str, rows: list[tuple[str, str | int, int]]) -> None:
        insert = self._insert_into(table)
        connection.execute(insert.on_conflict_do_update(index_elements=["campaign_id", key],
                                                        set_={"shown": table.c.shown + insert.excluded.shown}),
                           [{"campaign_id": campaign_id, key: name, "shown": count}
                            for campaign_id, name, count in rows])

    def campaign_delivery(self, campaign_id: str) -> tuple[int, dict[str, int]]:
        """A campaign's distinct buyers reached and impressions per item id."""
        with self.engine.connect() as connection:
            buyers = connection.execute(select(func.count()).select_from(campaign_buyers)
                                        .where(campaign_buyers.c.campaign_id == campaign_id)).scalar_one()
            per_item = dict(connection.execute(select(campaign_items.c.item_id, campaign_items.c.shown)
                                               .where(campaign_items.c.campaign_id == campaign_id)).all())
        return buyers, per_item

    def delivery_by_minute(self, campaign_id: str) -> list[tuple[int, int]]:
        """A campaign's impressions per minute since the Unix epoch (UTC), in time order; minutes
        without impressions are left out."""
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(campaign_minutes.c.minute, campaign_minutes.c.shown)
                .where(campaign_minutes.c.campaign_id == campaign_id).order_by(campaign_minutes.c.minute)).all()]

    def buyer_impressions(self, campaign_id: str) -> dict[str, int]:
        """A campaign's impressions per buyer."""
        with self.engine.connect() as connection:
            return dict(connection.execute(select(campaign_buyers.c.user_id, campaign_buyers.c.shown)
                                           .where(campaign_buyers.c.campaign_id == campaign_id)).all())

    def close(self) -> None:
        self.engine.dispose()
        if self._turn_file is not None:
            self._turn_file.close()
