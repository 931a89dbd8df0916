"""The store's database: one SQLAlchemy connection pool (an ``Engine``) on SQLite (the embedded
default) or PostgreSQL, its migrations, and the writers' turn that every aggregate's writes take.

One schema for both (:mod:`recommender.store.schema`), created and upgraded by versioned Alembic
migrations (:mod:`recommender.store.migrations`; :meth:`Database.open` runs them). URLs:

* ``sqlite:///PATH`` (a file, created when missing; WAL mode, ``synchronous=FULL``: a write is on
  disk when it returns, and survives the process being killed or the machine losing power;
  writers from several threads and processes take turns through a lock file);
* ``postgresql://USER@HOST:PORT/DB`` (psycopg 3, the ``[postgres]`` extra; ``postgresql+psycopg://`` is
  the same).

Writers commit one at a time (:meth:`Database.writing`: SQLite's write lock, a PostgreSQL advisory
lock), so events become visible in the order of their positions and a follower going on from the
last position it saw misses nothing.
"""
from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from recommender.extras import missing_extra

WRITE_LOCK_KEY = 0x7265636F  # PostgreSQL advisory lock of the store's writers ("reco")
BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for another process's write to finish
DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}  # the URL schemes taken, and their drivers
MIGRATIONS = "recommender.store:migrations"

Opened = TypeVar("Opened", bound="Database")


class StoreError(ValueError):
    """The store cannot be opened or used as asked (bad URL, unreachable, not migrated)."""


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(moment: datetime) -> int:
    """``moment`` (timezone-aware) in microseconds since the epoch, as the store keeps times."""
    return int(moment.timestamp() * 1_000_000)


def from_us(microseconds: int) -> datetime:
    """A time the store keeps (microseconds since the epoch) as a UTC datetime."""
    return datetime.fromtimestamp(microseconds / 1_000_000, UTC)


def driver_url(url: str) -> str:
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


def _sqlite_pool(url: str) -> Engine:
    pool = create_engine(url)

    @event.listens_for(pool, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where _begin says, not where pysqlite guesses
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={BUSY_TIMEOUT_MS}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(pool, "begin")
    def _begin(connection: Connection) -> None:
        # a writer takes the write lock at BEGIN: two processes never deadlock upgrading a read lock
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writes")
                                   else "BEGIN")

    return pool


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations, run on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class Database:
    """The database at ``url``: its connection pool, migrations and writers' turn (see the module's documentation)."""

    def __init__(self, url: str):
        self.url = driver_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._turn_file: BinaryIO | None = None
        self._thread_turn = threading.Lock()
        if self.dialect == "sqlite":
            path = make_url(self.url).database
            assert path is not None  # driver_url refuses a sqlite URL without one
            database = Path(path).expanduser()
            database.parent.mkdir(parents=True, exist_ok=True)
            self.connection_pool = _sqlite_pool(self.url)
            # writers take turns through this file's lock (closed in close)
            self._turn_file = open(database.with_name(database.name + ".writers"), "a+b")
        else:
            try:
                self.connection_pool = create_engine(self.url, pool_pre_ping=True)
            except ModuleNotFoundError as exc:  # the driver, psycopg: the [postgres] extra
                missing = missing_extra(exc, "a postgresql:// store")
                if missing is None:
                    raise
                raise missing from exc
        self._insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert  # with ON CONFLICT

    @classmethod
    def open(cls: type[Opened], url: str, migrate: bool = True) -> Opened:
        """The database at ``url``, upgraded to the newest schema (``migrate``), or checked to be at
        it (``migrate=False``: a process that must not change the schema, e.g. a server worker)."""
        opened = cls(url)
        try:
            if migrate:
                opened.migrate()
            current, newest = opened.schema_version(), cls.newest_schema_version()
        except StoreError:
            opened.close()
            raise
        except Exception as exc:  # the driver's connection errors name the host and the reason
            opened.close()
            raise StoreError(f"cannot open the store {opened.display_url}: {exc}") from exc
        if current != newest:
            opened.close()
            raise StoreError(f"the store {opened.display_url} is at schema version {current}, not {newest}: "
                             "`recommender serve --store URL` migrates it")
        return opened

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (the newest migration by default; nothing to do when it is there)."""
        with self.connection_pool.connect().execution_options(writes=True) as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.commit()

    def schema_version(self) -> str | None:
        """The migration the database is at (None: an empty database)."""
        with self.connection_pool.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def newest_schema_version() -> str:
        """The newest migration this code has."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if head is None:
            raise StoreError(f"no migrations in {MIGRATIONS}")
        return head

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT into ``table`` in this database's dialect (with ``on_conflict_do_nothing`` and
        ``on_conflict_do_update``)."""
        return self._insert(table)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction, one writer at a time across threads and processes: writers take
        positions and commit in turn, so events become visible in position order and a follower
        going on from the last position it saw skips none. PostgreSQL: an advisory lock. SQLite:
        its write lock (BEGIN IMMEDIATE), entered in turn through a lock file (a waiting process
        sleeps in the kernel until its turn instead of polling SQLite's busy handler, whose
        back-off put 140-870 ms on the p99 of two workers' writes)."""
        with self._turn():
            with self.connection_pool.connect().execution_options(writes=True) as connection, connection.begin():
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

    def close(self) -> None:
        """Close the pool's connections and the writers' lock file."""
        self.connection_pool.dispose()
        if self._turn_file is not None:
            self._turn_file.close()
