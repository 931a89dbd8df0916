"""The event store (SQLite or PostgreSQL): buyer events sent to the API, and items managed through it."""
from recommender.store.event_store import (
    Added,
    CampaignRecord,
    Event,
    EventStore,
    Item,
    ModelRecord,
    StoredEvent,
    StoreError,
    from_us,
    now_us,
    to_us,
)
from recommender.store.group_commit import GroupCommit

__all__ = ["Added", "CampaignRecord", "Event", "EventStore", "GroupCommit", "Item", "ModelRecord", "StoreError",
           "StoredEvent", "from_us", "now_us", "to_us"]
