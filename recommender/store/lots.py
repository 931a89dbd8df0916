"""Harvest lots: units of a merchant's items on offer until they spoil or the season ends, and the
units sold so far.

A merchant declares a lot (:meth:`Lots.declare`: the same definition again is a no-op, another one
under the same id an error), lists its lots and withdraws one. Purchases count against lots as
they are stored: :meth:`Events.add_batches <recommender.store.events.Events.add_batches>` calls
:meth:`Lots.count_sales` in the transaction that stores the batch, with the purchases it newly
stored, so a purchase is counted once whatever the number of workers and retries (an event id
stored before is skipped, and ``lot_sales`` keeps one row per lot and event id), and the writers'
turn (:meth:`Database.writing <recommender.store.database.Database.writing>`) makes each
read-and-update of the units sold one at a time across processes.

A purchase counts against a lot when its item is one of the lot's, its time is within
``available_from_us``..``sell_by_us`` (both included), its city tier is one the lot ships to (or
unknown, or the lot ships to every tier) and the lot is not withdrawn. It takes its quantity,
rounded up to whole units, from such lots in the order they spoil (earliest ``sell_by_us`` first,
then the oldest), each giving at most what it has left: a lot's units sold never exceed its units.
Returns give no units back.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.engine import Connection

from recommender.contract import MAX_CITY_TIER
from recommender.store.database import Database, now_us
from recommender.store.events import Event
from recommender.store.schema import MAX_ID_LENGTH, MAX_LOT_ID_LENGTH, lot_items, lot_sales, lots

LOT_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_LOT_ID_LENGTH - 1}}}$")
MAX_LOT_ITEMS = 1_000


class LotConflict(ValueError):
    """A lot id the merchant declared already, with another definition."""


@dataclass(frozen=True)
class Lot:
    """A harvest lot as a merchant declares it: ``units`` of its ``items`` on offer from
    ``available_from_us`` until ``sell_by_us`` (microseconds since the epoch, UTC), shipped to the
    city ``tiers`` and ``regions`` listed (none: everywhere). Items, tiers and regions are kept
    sorted, without repeats; a bad field raises ValueError naming it."""

    merchant_id: str
    lot_id: str
    items: tuple[str, ...]
    units: int
    available_from_us: int
    sell_by_us: int
    tiers: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.merchant_id, str) or not 1 <= len(self.merchant_id) <= MAX_ID_LENGTH:
            raise ValueError(f"merchant_id: 1-{MAX_ID_LENGTH} characters")
        if not isinstance(self.lot_id, str) or not LOT_ID.match(self.lot_id):
            raise ValueError(f"lot_id: 1-{MAX_LOT_ID_LENGTH} letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit")
        items = tuple(sorted(set(self.items)))
        if not items or len(items) > MAX_LOT_ITEMS:
            raise ValueError(f"items: 1-{MAX_LOT_ITEMS} item ids")
        if not all(isinstance(item, str) and 1 <= len(item) <= MAX_ID_LENGTH for item in items):
            raise ValueError(f"items: an item id is 1-{MAX_ID_LENGTH} characters")
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units < 1:
            raise ValueError("units: must be a positive whole number")
        if self.sell_by_us <= self.available_from_us:
            raise ValueError("sell_by_us: must be after available_from_us")
        tiers = tuple(sorted(set(self.tiers)))
        if not all(isinstance(tier, int) and 1 <= tier <= MAX_CITY_TIER for tier in tiers):
            raise ValueError(f"tiers: city tiers are 1..{MAX_CITY_TIER}")
        regions = tuple(sorted(set(self.regions)))
        if not all(isinstance(region, str) and region for region in regions):
            raise ValueError("regions: a region is a non-empty name")
        for name, value in (("items", items), ("tiers", tiers), ("regions", regions)):
            object.__setattr__(self, name, value)

    def ships_to(self, city_tier: int | None) -> bool:
        """Whether a buyer of ``city_tier`` (None: unknown) may be sold this lot's units."""
        return not self.tiers or city_tier is None or city_tier in self.tiers

    def on_offer(self, timestamp_us: int) -> bool:
        """Whether ``timestamp_us`` is within the lot's window (both ends included)."""
        return self.available_from_us <= timestamp_us <= self.sell_by_us


@dataclass(frozen=True)
class LotRecord(Lot):
    """A stored lot: its definition, the units sold so far, and when it was declared and withdrawn
    (None while on offer)."""

    units_sold: int = 0
    created_us: int = 0
    withdrawn_us: int | None = None

    @property
    def remaining(self) -> int:
        """Units not sold yet."""
        return self.units - self.units_sold

    @property
    def definition(self) -> Lot:
        """The lot as declared."""
        return Lot(**{field.name: getattr(self, field.name) for field in fields(Lot)})


class Lots:
    """The harvest lots in ``database``."""

    def __init__(self, database: Database):
        self.database = database

    def declare(self, lot: Lot) -> LotRecord:
        """Store ``lot``, or return it as stored when the merchant declared it before with the same
        definition; raises :class:`LotConflict` when the id has another definition."""
        with self.database.writing() as connection:
            existing = self._read(connection, lots.c.merchant_id == lot.merchant_id, lots.c.lot_id == lot.lot_id)
            if existing and existing[0].definition != lot:
                raise LotConflict(f"lot_id: {lot.lot_id!r} is declared already with another definition")
            if existing:
                return existing[0]
            record = LotRecord(**lot.__dict__, units_sold=0, created_us=now_us())
            connection.execute(lots.insert(), {
                "merchant_id": lot.merchant_id, "lot_id": lot.lot_id, "units": lot.units, "units_sold": 0,
                "available_from_us": lot.available_from_us, "sell_by_us": lot.sell_by_us,
                "tiers": json.dumps(list(lot.tiers)) if lot.tiers else None,
                "regions": json.dumps(list(lot.regions)) if lot.regions else None,
                "created_us": record.created_us, "withdrawn_us": None})
            connection.execute(lot_items.insert(), [
                {"merchant_id": lot.merchant_id, "lot_id": lot.lot_id, "item_id": item} for item in lot.items])
        return record

    def get(self, merchant_id: str, lot_id: str) -> LotRecord | None:
        """The merchant's lot ``lot_id``, or None when there is none."""
        with self.database.connection_pool.connect() as connection:
            found = self._read(connection, lots.c.merchant_id == merchant_id, lots.c.lot_id == lot_id)
        return found[0] if found else None

    def of_merchant(self, merchant_id: str) -> list[LotRecord]:
        """The merchant's lots, withdrawn ones too, oldest first."""
        with self.database.connection_pool.connect() as connection:
            return self._read(connection, lots.c.merchant_id == merchant_id)

    def all(self) -> list[LotRecord]:
        """Every merchant's lots, withdrawn ones too, oldest first (the operator's view)."""
        with self.database.connection_pool.connect() as connection:
            return self._read(connection)

    def withdraw(self, merchant_id: str, lot_id: str) -> bool:
        """Withdraw the lot now: no purchase counts against it any more. False when there is no
        such lot or it was withdrawn before."""
        statement = (update(lots).where(lots.c.merchant_id == merchant_id, lots.c.lot_id == lot_id,
                                        lots.c.withdrawn_us.is_(None)).values(withdrawn_us=now_us()))
        with self.database.writing() as connection:
            return connection.execute(statement).rowcount == 1

    def _read(self, connection: Connection, *conditions: ColumnElement[bool]) -> list[LotRecord]:
        """The lots matching ``conditions`` (on ``lots``' columns), oldest first."""
        members: dict[tuple[str, str], list[str]] = defaultdict(list)
        for merchant_id, lot_id, item_id in connection.execute(
                select(lot_items.c.merchant_id, lot_items.c.lot_id, lot_items.c.item_id)
                .join(lots, and_(lots.c.merchant_id == lot_items.c.merchant_id, lots.c.lot_id == lot_items.c.lot_id))
                .where(*conditions)):
            members[merchant_id, lot_id].append(item_id)
        rows = connection.execute(select(lots).where(*conditions)
                                  .order_by(lots.c.created_us, lots.c.merchant_id, lots.c.lot_id)).mappings()
        return [LotRecord(**{**row, "items": tuple(members[row["merchant_id"], row["lot_id"]]),
                             "tiers": tuple(json.loads(row["tiers"] or "[]")),
                             "regions": tuple(json.loads(row["regions"] or "[]"))}) for row in rows]

    def count_sales(self, connection: Connection, purchases: Sequence[Event]) -> None:
        """Take the units of ``purchases`` (events stored for the first time, in order) from the
        lots they count against (see the module's documentation), on ``connection``: the
        transaction that stores them, within the writers' turn."""
        if not purchases:
            return
        held = lot_items.alias("held")
        holds_a_purchased_item = select(held.c.item_id).where(
            held.c.merchant_id == lots.c.merchant_id, held.c.lot_id == lots.c.lot_id,
            held.c.item_id.in_({event.item_id for event in purchases})).correlate(lots).exists()
        open_lots = self._read(connection, lots.c.withdrawn_us.is_(None), lots.c.units_sold < lots.c.units,
                               holds_a_purchased_item)
        by_item: dict[str, list[LotRecord]] = defaultdict(list)
        for lot in sorted(open_lots, key=lambda lot: (lot.sell_by_us, lot.created_us, lot.merchant_id, lot.lot_id)):
            for item in lot.items:
                by_item[item].append(lot)
        left = {(lot.merchant_id, lot.lot_id): lot.remaining for lot in open_lots}
        sales = []
        for event in purchases:
            wanted = math.ceil(event.quantity)
            for lot in by_item.get(event.item_id, ()):
                key = (lot.merchant_id, lot.lot_id)
                if wanted <= 0:
                    break
                if left[key] <= 0 or not lot.on_offer(event.timestamp_us) or not lot.ships_to(event.city_tier):
                    continue
                taken = min(wanted, left[key])
                left[key] -= taken
                wanted -= taken
                sales.append({"merchant_id": lot.merchant_id, "lot_id": lot.lot_id, "event_id": event.event_id,
                              "units": taken})
        if not sales:
            return
        counted = connection.execute(
            self.database.insert(lot_sales).on_conflict_do_nothing()
            .returning(lot_sales.c.merchant_id, lot_sales.c.lot_id, lot_sales.c.units), sales).all()
        if not counted:  # every sale was counted before (the same event id)
            return
        sold: dict[tuple[str, str], int] = defaultdict(int)
        for merchant_id, lot_id, units in counted:
            sold[merchant_id, lot_id] += units
        connection.execute(
            update(lots).where(lots.c.merchant_id == bindparam("key_merchant"), lots.c.lot_id == bindparam("key_lot"))
            .values(units_sold=lots.c.units_sold + bindparam("sold")),
            [{"key_merchant": merchant_id, "key_lot": lot_id, "sold": units}
             for (merchant_id, lot_id), units in sold.items()])
