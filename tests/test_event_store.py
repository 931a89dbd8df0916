"""The event store on SQLite and on a real PostgreSQL: migrations, idempotent all-or-nothing
batches, histories, the purchases it hands to training."""
from __future__ import annotations

import multiprocessing
import threading

import pandas as pd
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from recommender.store import Added, Event, EventStore, GroupCommit, StoreError

T0 = 1_780_000_000_000_000  # 2026-05-28, microseconds


@pytest.fixture
def store(store_url):
    opened = EventStore.open(store_url)
    yield opened
    opened.close()


def purchase(event_id: str, user: str = "u1", item: str = "FH-1", **fields) -> Event:
    return Event(event_id, user, item, fields.pop("type", "purchase"), fields.pop("timestamp_us", T0), **fields)


def test_open_creates_the_schema_with_its_indexes(store):
    assert store.schema_version() == EventStore.newest_schema_version()
    inspector = inspect(store.connection_pool)
    assert {"events", "items", "alembic_version"} <= set(inspector.get_table_names())
    indexes = {index["name"]: index for index in inspector.get_indexes("events")}
    assert indexes["events_event_id"]["unique"] and indexes["events_event_id"]["column_names"] == ["event_id"]
    assert indexes["events_user_seq"]["column_names"] == ["user_id", "seq"]


def test_open_upgrades_a_store_of_an_older_schema(store_url):
    store = EventStore(store_url)
    store.migrate("0001")  # as an earlier release left it
    assert store.schema_version() == "0001"
    assert "items_updated" not in {index["name"] for index in inspect(store.connection_pool).get_indexes("items")}
    store.close()
    upgraded = EventStore.open(store_url)
    assert upgraded.schema_version() == EventStore.newest_schema_version() == "0006"
    assert "items_updated" in {index["name"] for index in inspect(upgraded.connection_pool).get_indexes("items")}
    assert {"models", "campaigns", "campaign_buyers", "campaign_items", "campaign_minutes", "lots", "lot_items",
            "lot_sales"} <= set(inspect(upgraded.connection_pool).get_table_names())
    upgraded.close()


def test_a_retried_batch_stores_nothing_twice(store):
    batch = [purchase("e1"), purchase("e2", item="JDZ-2", quantity=2, city_tier=1), purchase("e1")]
    first = store.events.add(batch)
    assert first.stored == 2 and first.duplicate_ids == ("e1",)  # repeated inside the batch
    again = store.events.add(batch + [purchase("e3", user="u2")])
    assert again.stored == 1 and again.duplicate_ids == ("e1", "e2", "e1")
    assert store.events.count() == 3
    assert [(e.event_id, e.item_id, e.quantity, e.city_tier) for e in store.events.history("u1")] == [
        ("e1", "FH-1", 1.0, None), ("e2", "JDZ-2", 2.0, 1)]


def test_a_batch_breaking_a_constraint_stores_nothing(store):
    store.events.add([purchase("kept")])
    with pytest.raises(IntegrityError):  # the database's own: city tier 9 breaks a CHECK constraint
        store.events.add([purchase("new-1"), purchase("new-2", city_tier=9)])
    assert [e.event_id for e in store.events.after(0)] == ["kept"]


def test_events_after_a_position_come_in_arrival_order(store):
    store.events.add([purchase(f"e{i}", user=f"u{i % 3}") for i in range(10)])
    first = store.events.after(0, limit=4)
    rest = store.events.after(first[-1].seq)
    assert [e.event_id for e in first + rest] == [f"e{i}" for i in range(10)]
    assert all(a.seq < b.seq for a, b in zip(first + rest, (first + rest)[1:]))


def test_purchases_are_contract_lines_with_returns_negative(store):
    store.events.add([purchase("p1", quantity=3, city_tier=2), purchase("v1", type="view"),
                      purchase("r1", type="return", timestamp_us=T0 + 86_400_000_000)])
    lines = store.events.purchases()
    assert lines["order_id"].tolist() == ["p1", "r1"] and lines["quantity"].tolist() == [3.0, -1.0]
    assert lines["timestamp"].tolist() == [pd.Timestamp("2026-05-28 20:26:40", tz="UTC"),
                                           pd.Timestamp("2026-05-29 20:26:40", tz="UTC")]
    assert lines["city_tier"].tolist() == [2, pd.NA]


def test_returns_cancel_the_purchases_they_return(store):
    store.events.add([purchase("p1", item="FH-1"), purchase("r1", item="FH-1", type="return"),
                      purchase("p2", item="JDZ-2", quantity=2), purchase("r2", item="JDZ-2", type="return"),
                      purchase("p3", item="FH-1", user="u2")])
    lines = store.events.purchases()
    assert lines["order_id"].tolist() == ["p2", "r2", "p3"]  # u1's FH-1 returned whole; one of two JDZ-2 kept


def test_an_unknown_event_type_is_refused():
    with pytest.raises(ValueError, match="type 'click' is not one of purchase, view, cart, return"):
        purchase("e1", type="click")


@pytest.mark.parametrize("url, message", [
    ("mysql://h/db", "unsupported database 'mysql'"),
    ("sqlite://", "sqlite needs a file path"),
    ("not a url", "not a store URL"),
])
def test_bad_urls_are_named(url, message):
    with pytest.raises(StoreError, match=message):
        EventStore.open(url)


def test_an_unreachable_postgresql_is_a_store_error_without_the_password():
    with pytest.raises(StoreError, match="cannot open the store") as raised:
        EventStore.open("postgresql://user:secret@127.0.0.1:1/db")
    assert "secret" not in str(raised.value)


def test_a_store_behind_the_code_is_refused_without_migrating(store_url):
    store = EventStore(store_url)
    with store.connection_pool.connect() as connection:  # a database that was never migrated
        connection.execute(text("SELECT 1"))
    with pytest.raises(StoreError, match=f"schema version None, not {EventStore.newest_schema_version()}"):
        EventStore.open(store_url, migrate=False)
    store.close()


def _add_from_another_process(url: str, start: int, batches: int = 50) -> None:
    store = EventStore.open(url, migrate=False)
    for i in range(start, start + batches):
        store.events.add([purchase(f"e{i}"), purchase(f"e{i + 1}")])  # overlapping batches of both processes
    store.close()


@pytest.mark.slow
def test_a_follower_reading_during_concurrent_writes_misses_no_event(store_url):
    """Events become visible in position order: a reader that goes on from the last position it saw
    (as every server worker does) never skips an event committed later with an earlier position."""
    store = EventStore.open(store_url)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_add_from_another_process, args=(store_url, start, 300))
               for start in (0, 1_000, 2_000)]
    for writer in writers:
        writer.start()
    followed, position = [], 0
    while any(writer.is_alive() for writer in writers) or position < store.events.last_seq():
        for event in store.events.after(position):
            followed.append(event.event_id)
            position = event.seq
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    assert sorted(followed) == sorted(event.event_id for event in store.events.after(0, limit=10_000))
    store.close()


def test_writers_in_several_processes_store_each_event_once(store_url):
    EventStore.open(store_url).close()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_add_from_another_process, args=(store_url, start)) for start in (0, 25)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    store = EventStore.open(store_url, migrate=False)
    assert store.events.count() == 76 and len({e.event_id for e in store.events.after(0)}) == 76
    store.close()


def test_group_commit_answers_each_batch_and_fails_a_bad_one_alone(store):
    writer = GroupCommit(store.events)
    batches = [[purchase(f"g{i}"), purchase(f"g{i + 1}")] for i in range(0, 40, 2)]
    batches.append([purchase("g0"), purchase("bad", city_tier=9)])  # a duplicate, and a broken constraint
    outcomes: dict[int, object] = {}

    def send(i: int) -> None:
        try:
            outcomes[i] = writer.add(batches[i])
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    writer.close()
    assert all(outcomes[i] == Added(2, ()) for i in range(20))
    assert isinstance(outcomes[20], Exception)  # only the broken batch failed, and stored nothing
    assert sorted(e.event_id for e in store.events.after(0)) == sorted(f"g{i}" for i in range(40))


def test_batches_committed_together_count_a_repeated_event_once(store):
    added = store.events.add_batches([[purchase("x1"), purchase("x2")], [purchase("x2"), purchase("x3")], []])
    assert added == [Added(2, ()), Added(1, ("x2",)), Added(0, ())]
