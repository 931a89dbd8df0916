"""The event store: one database (:class:`~recommender.store.database.Database`) and its aggregates,
each in a module of its own:

* :attr:`EventStore.events`: buyer events, stored in idempotent all-or-nothing batches
  (:mod:`recommender.store.events`);
* :attr:`EventStore.items`: catalog items managed through the API (:mod:`recommender.store.items`);
* :attr:`EventStore.models`: the model registry of ``recommender retrain`` (:mod:`recommender.store.registry`);
* :attr:`EventStore.campaigns`: campaign records and their delivery (:mod:`recommender.store.campaigns`);
* :attr:`EventStore.lots`: merchants' harvest lots and the units sold, which stored purchases
  count against (:mod:`recommender.store.lots`).

They share the database's connection pool and its writers' turn. :meth:`EventStore.open` migrates the
database (or checks it is migrated) and :meth:`EventStore.close` closes it.
"""
from __future__ import annotations

from recommender.store.campaigns import Campaigns
from recommender.store.database import Database
from recommender.store.events import Events
from recommender.store.items import Items
from recommender.store.lots import Lots
from recommender.store.registry import ModelRegistry


class EventStore(Database):
    """The store at ``url``: its database, with one attribute per aggregate."""

    def __init__(self, url: str):
        super().__init__(url)
        self.lots = Lots(self)
        self.events = Events(self, self.lots)
        self.items = Items(self)
        self.models = ModelRegistry(self)
        self.campaigns = Campaigns(self)

    def position(self) -> dict[str, str | int]:
        """Where the store is now: its URL (without a password) and the position of its newest
        event, as a model's manifest records what its training read (``data.store``)."""
        return {"url": self.display_url, "last_seq": self.events.last_seq()}
