"""Harvest lots in the event store, on SQLite and on a real PostgreSQL: declared idempotently,
listed and withdrawn; stored purchases take units from them exactly once per event id, within
their window and never past their units, with several processes storing the same events."""
from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy.exc import IntegrityError

from recommender.store import Event, EventStore, GroupCommit, Lot, LotConflict

DAY = 86_400_000_000  # microseconds
T0 = 1_780_000_000_000_000  # 2026-05-28
POTATOES = Lot("M1", "potatoes-2026", ("POT-1", "POT-2"), units=10, available_from_us=T0, sell_by_us=T0 + 30 * DAY)


@pytest.fixture
def store(store_url):
    opened = EventStore.open(store_url)
    yield opened
    opened.close()


def bought(event_id: str, item: str = "POT-1", at: int = T0 + DAY, quantity: float = 1.0, **fields) -> Event:
    return Event(event_id, fields.pop("user", "u1"), item, fields.pop("type", "purchase"), at, quantity, **fields)


def sold(store: EventStore, lot: Lot = POTATOES) -> int:
    return store.lots.get(lot.merchant_id, lot.lot_id).units_sold


def test_a_lot_is_declared_once_and_listed(store):
    record = store.lots.declare(Lot("M1", "potatoes-2026", ("POT-2", "POT-1", "POT-1"), 10, T0, T0 + 30 * DAY))
    assert record.definition == POTATOES and record.items == ("POT-1", "POT-2")
    assert (record.units, record.units_sold, record.remaining, record.withdrawn_us) == (10, 0, 10, None)
    assert store.lots.declare(POTATOES) == record  # the same definition again: nothing new
    with pytest.raises(LotConflict, match="lot_id: 'potatoes-2026' is declared already with another definition"):
        store.lots.declare(Lot("M1", "potatoes-2026", ("POT-1",), 10, T0, T0 + 30 * DAY))
    pomegranates = store.lots.declare(Lot("M2", "pomegranates", ("POM-1",), 700, T0, T0 + 90 * DAY, tiers=(2, 1),
                                          regions=("Sichuan",)))
    same_id = store.lots.declare(Lot("M2", "potatoes-2026", ("POT-9",), 5, T0, T0 + DAY))  # ids are per merchant
    assert store.lots.of_merchant("M1") == [record]
    assert store.lots.of_merchant("M2") == [pomegranates, same_id] and pomegranates.tiers == (1, 2)
    assert store.lots.all() == [record, pomegranates, same_id]
    assert store.lots.get("M1", "nope") is None and store.lots.of_merchant("M9") == []


@pytest.mark.parametrize("fields, message", [
    ({"units": 0}, "units: must be a positive whole number"),
    ({"units": 2.5}, "units: must be a positive whole number"),
    ({"sell_by_us": T0}, "sell_by_us: must be after available_from_us"),
    ({"items": ()}, "items: 1-1000 item ids"),
    ({"items": ("",)}, "items: an item id is 1-128 characters"),
    ({"lot_id": "no spaces"}, "lot_id: 1-64 letters"),
    ({"merchant_id": ""}, "merchant_id: 1-128 characters"),
    ({"tiers": (6,)}, "tiers: city tiers are 1..5"),
    ({"regions": ("",)}, "regions: a region is a non-empty name"),
])
def test_a_bad_lot_is_refused_naming_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        Lot(**{**POTATOES.__dict__, **fields})


def test_a_purchase_counts_once_per_event_id(store):
    store.lots.declare(POTATOES)
    store.events.add([bought("p1"), bought("p1"), bought("p2", "POT-2", quantity=2)])
    store.events.add([bought("p1"), bought("p2", "POT-2", quantity=2), bought("p3")])  # a retried batch
    assert store.events.add_batches([[bought("p4")], [bought("p4"), bought("p3")]])[1].duplicate_ids == ("p4", "p3")
    assert sold(store) == 5  # p1, p2 (2 units), p3, p4
    for _ in range(2):  # a sale counted again is ignored (lot_sales: one row per lot and event id)
        with store.writing() as connection:
            store.lots.count_sales(connection, [bought("p1"), bought("p5")])
    assert sold(store) == 6


def test_only_purchases_of_the_lots_items_in_its_window_count(store):
    store.lots.declare(POTATOES)
    store.lots.declare(Lot("M1", "tier-1-only", ("TEA-1",), 10, T0, T0 + DAY, tiers=(1,)))
    store.events.add([
        bought("at-start", at=T0), bought("at-sell-by", at=T0 + 30 * DAY),  # both ends are in the window
        bought("too-early", at=T0 - 1), bought("too-late", at=T0 + 30 * DAY + 1),
        bought("other-item", "CARROT-1"), bought("a-view", type="view"), bought("a-return", type="return"),
        bought("half-a-unit", quantity=0.5),  # rounded up to a whole unit
        bought("tier-1", "TEA-1", city_tier=1), bought("tier-unknown", "TEA-1"), bought("tier-3", "TEA-1", city_tier=3),
    ])
    assert sold(store) == 3
    assert store.lots.get("M1", "tier-1-only").units_sold == 2


def test_units_sold_never_exceed_the_units_and_spill_to_the_next_lot(store):
    store.lots.declare(POTATOES)
    later = store.lots.declare(Lot("M2", "late-potatoes", ("POT-1",), 4, T0, T0 + 60 * DAY))
    store.events.add([bought("big", quantity=8), bought("bigger", quantity=5)])
    assert sold(store) == 10 and store.lots.get("M1", "potatoes-2026").remaining == 0  # spoils first: sold first
    assert sold(store, later) == 3
    store.events.add([bought("more", quantity=9)])
    assert sold(store) == 10 and sold(store, later) == 4  # both sold out: nothing negative


def test_a_withdrawn_lot_stops_counting(store):
    store.lots.declare(POTATOES)
    store.events.add([bought("before")])
    assert store.lots.withdraw("M1", "potatoes-2026") and not store.lots.withdraw("M1", "potatoes-2026")
    assert not store.lots.withdraw("M1", "nope")
    store.events.add([bought("after")])
    record = store.lots.get("M1", "potatoes-2026")
    assert record.units_sold == 1 and record.withdrawn_us is not None


def test_a_failed_batch_counts_nothing(store):
    store.lots.declare(POTATOES)
    with pytest.raises(IntegrityError):  # the database's own: city tier 9 breaks a CHECK constraint
        store.events.add([bought("fine"), bought("broken", city_tier=9)])
    assert sold(store) == 0 and store.events.count() == 0


def test_group_commit_counts_each_purchase_once(store):
    store.lots.declare(POTATOES)
    writer = GroupCommit(store.events)
    for i in range(6):
        writer.add([bought(f"g{i}"), bought(f"g{i + 1}")])
    writer.close()
    assert sold(store) == 7


def _send_purchases(url: str, worker: int, events: int) -> None:
    store = EventStore.open(url, migrate=False)
    for start in range(0, events, 10):
        # every worker sends the same ids, each batch repeating one event of the one before
        store.events.add([bought(f"e{i}", user=f"worker-{worker}") for i in range(max(0, start - 1), start + 10)])
    store.close()


@pytest.mark.parametrize("units, events", [(1_000, 120), (50, 120)])
def test_workers_storing_the_same_purchases_count_each_once(store, store_url, units, events):
    """Three processes store the same 120 purchases concurrently: the lot counts each once, and a
    lot of 50 units stops at 50."""
    store.lots.declare(Lot("M1", "potatoes-2026", ("POT-1",), units, T0, T0 + 30 * DAY))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_send_purchases, args=(store_url, worker, events)) for worker in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert store.events.count() == events
    record = store.lots.get("M1", "potatoes-2026")
    assert record.units_sold == min(units, events) and record.remaining == max(0, units - events)
