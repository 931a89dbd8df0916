"""The event store's tables, as they are after the newest migration (:mod:`recommender.store.migrations`).

* ``events``: one row per buyer event, in arrival order (``seq``). ``event_id`` is the sender's
  id and is unique: a batch sent again stores nothing twice. Times are integer microseconds since
  the Unix epoch (UTC), the same on SQLite and PostgreSQL; ``timestamp_us`` is when it happened
  (the sender's, or the arrival time), ``received_us`` when the store took it.
* ``items``: catalog items added or changed through the API, with the data contract's catalog
  fields.
* ``models``: the model registry of ``recommender retrain``: every model it trained, its NDCG@10
  on the most recent days next to the serving model's, and whether it was promoted.
* ``campaigns``: exposure campaigns (:mod:`recommender.campaigns`), their definition as JSON and
  the impressions delivered; ``campaign_buyers``, ``campaign_items`` and ``campaign_minutes``:
  impressions per buyer (the frequency cap), per item (delivery per merchant and region) and per
  minute since the Unix epoch (delivery over time).

Indexes: ``events.event_id`` (unique: idempotent ingestion), ``(user_id, seq)`` (a buyer's
history in order); ``seq`` is the primary key (events after a position, for followers);
``items.updated_us`` (items changed since a time, for followers).
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

EVENT_TYPES = ("purchase", "view", "cart", "return")
SIGNAL_TYPES = ("view", "cart")  # stored, weighted in training by the config (event_weights)
MAX_ID_LENGTH = 128
MAX_TYPE_LENGTH = 8

metadata = MetaData()

# SQLite gives an INTEGER PRIMARY KEY the row id (autoincrementing); PostgreSQL a BIGINT identity
Sequence64 = BigInteger().with_variant(Integer, "sqlite")

events = Table(
    "events", metadata,
    Column("seq", Sequence64, primary_key=True, autoincrement=True),
    Column("event_id", String(MAX_ID_LENGTH), nullable=False),
    Column("user_id", String(MAX_ID_LENGTH), nullable=False),
    Column("item_id", String(MAX_ID_LENGTH), nullable=False),
    Column("type", String(MAX_TYPE_LENGTH), nullable=False),
    Column("timestamp_us", BigInteger, nullable=False),
    Column("quantity", Float, nullable=False),
    Column("city_tier", SmallInteger, nullable=True),
    Column("received_us", BigInteger, nullable=False),
    CheckConstraint("type IN ('purchase', 'view', 'cart', 'return')", name="events_type"),
    CheckConstraint("city_tier IS NULL OR city_tier BETWEEN 1 AND 5", name="events_city_tier"),
    Index("events_event_id", "event_id", unique=True),
    Index("events_user_seq", "user_id", "seq"),
)

items = Table(
    "items", metadata,
    Column("item_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("category", Text),
    Column("region", Text),
    Column("merchant_id", String(MAX_ID_LENGTH)),
    Column("price", Float),
    Column("tags", Text),
    Column("available", Boolean, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("items_updated", "updated_us"),
)

MODEL_STATUSES = ("promoted", "rejected", "failed")

models = Table(
    "models", metadata,
    Column("model_version", String(64), primary_key=True),
    Column("model_dir", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("candidate_ndcg", Float),
    Column("serving_ndcg", Float),
    Column("serving_version", String(64)),
    Column("reason", Text, nullable=False),
    CheckConstraint("status IN ('promoted', 'rejected', 'failed')", name="models_status"),
    Index("models_created", "created_us"),
)

campaigns = Table(
    "campaigns", metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("definition", Text, nullable=False),  # the campaign's JSON (Campaign.to_dict)
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("impressions", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("stopped_us", BigInteger),
)

campaign_buyers = Table(
    "campaign_buyers", metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("user_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("shown", Integer, nullable=False),
)

campaign_items = Table(
    "campaign_items", metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("item_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("shown", BigInteger, nullable=False),
)

campaign_minutes = Table(
    "campaign_minutes", metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("shown", BigInteger, nullable=False),
)
