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
* ``lots``: merchants' harvest lots (:mod:`recommender.store.lots`): units on offer between
  ``available_from_us`` and ``sell_by_us``, the city tiers and regions they ship to (JSON lists;
  NULL: everywhere), and the units sold so far (never more than the units); ``lot_items``: the
  items of each lot; ``lot_sales``: the units each purchase event took from a lot, one row per
  lot and event id, so an event is counted once.

Indexes: ``events.event_id`` (unique: idempotent ingestion), ``(user_id, seq)`` (a buyer's
history in order); ``seq`` is the primary key (events after a position, for followers);
``items.updated_us`` (items changed since a time, for followers); ``lot_items.item_id`` (the lots
a purchased item belongs to).
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

MAX_LOT_ID_LENGTH = 64

lots = Table(
    "lots", metadata,
    Column("merchant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("lot_id", String(MAX_LOT_ID_LENGTH), primary_key=True),
    Column("units", BigInteger, nullable=False),
    Column("units_sold", BigInteger, nullable=False),
    Column("available_from_us", BigInteger, nullable=False),
    Column("sell_by_us", BigInteger, nullable=False),
    Column("tiers", Text),  # a JSON list of city tiers; NULL: every tier
    Column("regions", Text),  # a JSON list of regions; NULL: every region
    Column("created_us", BigInteger, nullable=False),
    Column("withdrawn_us", BigInteger),
    CheckConstraint("units > 0", name="lots_units"),
    CheckConstraint("units_sold BETWEEN 0 AND units", name="lots_units_sold"),
    CheckConstraint("sell_by_us > available_from_us", name="lots_window"),
)

lot_items = Table(
    "lot_items", metadata,
    Column("merchant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("lot_id", String(MAX_LOT_ID_LENGTH), primary_key=True),
    Column("item_id", String(MAX_ID_LENGTH), primary_key=True),
    Index("lot_items_item", "item_id"),
)

lot_sales = Table(
    "lot_sales", metadata,
    Column("merchant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("lot_id", String(MAX_LOT_ID_LENGTH), primary_key=True),
    Column("event_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("units", BigInteger, nullable=False),
    CheckConstraint("units > 0", name="lot_sales_units"),
)
