"""Catalog items added or changed through the API, which server workers and training follow."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from recommender.store.database import Database, now_us
from recommender.store.schema import items


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


class Items:
    """The API-managed items of ``database``."""

    def __init__(self, database: Database):
        self.database = database

    def put(self, item: Item) -> Item:
        """Add or replace the item (one at a time across writers, as events are); the item as
        stored, with its update time."""
        insert = self.database.insert(items)
        with self.database.writing() as connection:
            # timed under the lock: update times follow commit order, which followers rely on
            stored = Item(**{**item.__dict__, "updated_us": now_us()})
            values = dict(stored.__dict__)
            connection.execute(insert.on_conflict_do_update(index_elements=["item_id"], set_={
                name: value for name, value in values.items() if name != "item_id"}), values)
        return stored

    def known(self, item_ids: list[str]) -> set[str]:
        """Those of ``item_ids`` written through the API (available or not)."""
        query = select(items.c.item_id).where(items.c.item_id.in_(item_ids))
        with self.database.connection_pool.connect() as connection:
            return set(connection.execute(query).scalars())

    def since(self, updated_us: int) -> list[Item]:
        """Items written at or after ``updated_us``, oldest first."""
        query = select(items).where(items.c.updated_us >= updated_us).order_by(items.c.updated_us, items.c.item_id)
        with self.database.connection_pool.connect() as connection:
            return [Item(**row) for row in connection.execute(query).mappings()]
