"""The event store (SQLite or PostgreSQL): one database and its aggregates (buyer events, items
managed through the API, the model registry, campaigns, harvest lots), reached through :class:`EventStore`."""
from recommender.store.campaigns import CampaignDelivery, CampaignRecord, Campaigns
from recommender.store.database import Database, StoreError, from_us, now_us, to_us
from recommender.store.event_store import EventStore
from recommender.store.events import Added, Event, Events, StoredEvent
from recommender.store.group_commit import GroupCommit
from recommender.store.items import Item, Items
from recommender.store.lots import Lot, LotConflict, LotRecord, Lots
from recommender.store.registry import ModelRecord, ModelRegistry

__all__ = ["Added", "CampaignDelivery", "CampaignRecord", "Campaigns", "Database", "Event", "EventStore", "Events",
           "GroupCommit", "Item", "Items", "Lot", "LotConflict", "LotRecord", "Lots", "ModelRecord", "ModelRegistry",
           "StoreError", "StoredEvent", "from_us", "now_us", "to_us"]
