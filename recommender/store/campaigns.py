"""Campaign records and their delivery: the impressions every server worker counts, per buyer (the
frequency cap), per item and per minute. What a campaign is and how it is paced and reported is
the library's (:mod:`recommender.campaigns`); this is what the store keeps of it."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from recommender.store.database import Database, now_us
from recommender.store.schema import campaign_buyers, campaign_items, campaign_minutes, campaigns, events, lots


@dataclass(frozen=True)
class CampaignRecord:
    """A stored campaign: its definition (the API's JSON), the impressions delivered so far, and
    when it was created and stopped (None while it runs)."""

    campaign_id: str
    definition: dict[str, Any]  # the API's JSON
    delivered: int
    created_us: int
    stopped_us: int | None


@dataclass(frozen=True)
class CampaignDelivery:
    """Where a campaign's impressions went: distinct buyers reached, impressions per item id, and
    impressions per minute since the Unix epoch (UTC) in time order (minutes without any left out)."""

    buyers_reached: int
    per_item: dict[str, int]
    per_minute: list[tuple[int, int]]


class Campaigns:
    """The campaigns in ``database``."""

    def __init__(self, database: Database):
        self.database = database

    def add(self, definition: dict[str, Any], start_us: int, end_us: int) -> CampaignRecord:
        """Store a new campaign (``definition``: its JSON, with ``campaign_id`` and ``impressions``);
        raises ValueError when the id is in use."""
        row = {"campaign_id": definition["campaign_id"], "definition": json.dumps(definition),
               "start_us": start_us, "end_us": end_us, "impressions": int(definition["impressions"]),
               "delivered": 0, "created_us": now_us(), "stopped_us": None}
        try:
            with self.database.writing() as connection:
                connection.execute(campaigns.insert(), row)
        except IntegrityError as exc:
            raise ValueError(f"campaign_id: {row['campaign_id']!r} is already in use") from exc
        return CampaignRecord(row["campaign_id"], definition, 0, row["created_us"], None)

    def all(self) -> list[CampaignRecord]:
        """Every campaign, stopped ones too, oldest first."""
        return self._records(select(campaigns).order_by(campaigns.c.created_us, campaigns.c.campaign_id))

    def get(self, campaign_id: str) -> CampaignRecord | None:
        """The campaign ``campaign_id``, or None when there is none."""
        found = self._records(select(campaigns).where(campaigns.c.campaign_id == campaign_id))
        return found[0] if found else None

    def _records(self, query: Select[Any]) -> list[CampaignRecord]:
        with self.database.connection_pool.connect() as connection:
            return [CampaignRecord(row.campaign_id, json.loads(row.definition), row.delivered, row.created_us,
                                   row.stopped_us) for row in connection.execute(query)]

    def stop(self, campaign_id: str) -> bool:
        """Stop a running campaign now; False when there is no such campaign or it was stopped."""
        statement = (update(campaigns).where(campaigns.c.campaign_id == campaign_id, campaigns.c.stopped_us.is_(None))
                     .values(stopped_us=now_us()))
        with self.database.writing() as connection:
            return connection.execute(statement).rowcount == 1

    def reserve_impressions(self, campaign_id: str, user_id: str, item_ids: Sequence[str], cap: int,
                            lot: tuple[str, str] | None = None) -> int:
        """Count impressions of ``item_ids`` (in order) for buyer ``user_id``, in one transaction and
        as far as the campaign's budget and the buyer's ``cap`` allow; how many were granted (the
        first ones), 0 for a stopped or unknown campaign, and for a clearance of ``lot``
        (merchant id, lot id) 0 once the lot is sold out or withdrawn. Every worker counts here, so
        neither the budget nor the cap is ever exceeded, and no lot item is shown for a clearance
        after the purchase that sold the lot out is stored."""
        with self.database.writing() as connection:
            campaign = connection.execute(select(campaigns.c.impressions, campaigns.c.delivered, campaigns.c.stopped_us)
                                          .where(campaigns.c.campaign_id == campaign_id)).first()
            if campaign is None or campaign.stopped_us is not None:
                return 0
            if lot is not None:
                on_offer = connection.execute(select(lots.c.units - lots.c.units_sold).where(
                    lots.c.merchant_id == lot[0], lots.c.lot_id == lot[1], lots.c.withdrawn_us.is_(None))).scalar()
                if not on_offer or on_offer <= 0:
                    return 0
            shown = connection.execute(select(campaign_buyers.c.shown).where(
                campaign_buyers.c.campaign_id == campaign_id, campaign_buyers.c.user_id == user_id)).scalar()
            granted: int = max(0, min(len(item_ids), campaign.impressions - campaign.delivered, cap - (shown or 0)))
            if granted == 0:
                return 0
            connection.execute(update(campaigns).where(campaigns.c.campaign_id == campaign_id)
                               .values(delivered=campaigns.c.delivered + granted))
            self._increment(connection, campaign_buyers, "user_id", [(campaign_id, user_id, granted)])
            self._increment(connection, campaign_items, "item_id",
                            [(campaign_id, item_id, 1) for item_id in item_ids[:granted]])
            self._increment(connection, campaign_minutes, "minute", [(campaign_id, int(time.time() // 60), granted)])
        return granted

    def conversions(self) -> tuple[int, int]:
        """What campaigns converted, over every campaign: the impressions delivered, and the
        purchases that followed them (purchases of a campaign's items, after its start, by buyers
        it reached; a buyer's purchases of one item count once per campaign)."""
        with self.database.connection_pool.connect() as connection:
            impressions = connection.execute(select(func.coalesce(func.sum(campaigns.c.delivered), 0))).scalar_one()
            followed = (select(campaign_buyers.c.campaign_id, campaign_buyers.c.user_id, campaign_items.c.item_id)
                        .join(campaign_items, campaign_items.c.campaign_id == campaign_buyers.c.campaign_id)
                        .join(campaigns, campaigns.c.campaign_id == campaign_buyers.c.campaign_id)
                        .join(events, (events.c.user_id == campaign_buyers.c.user_id)
                              & (events.c.item_id == campaign_items.c.item_id))
                        .where(events.c.type == "purchase", events.c.timestamp_us >= campaigns.c.start_us)
                        .distinct().subquery())
            purchases = connection.execute(select(func.count()).select_from(followed)).scalar_one()
        return int(impressions), int(purchases)

    def _increment(self, connection: Connection, table: Table, key: str, rows: list[tuple[str, str | int, int]]
                   ) -> None:
        insert = self.database.insert(table)
        connection.execute(insert.on_conflict_do_update(index_elements=["campaign_id", key],
                                                        set_={"shown": table.c.shown + insert.excluded.shown}),
                           [{"campaign_id": campaign_id, key: name, "shown": count}
                            for campaign_id, name, count in rows])

    def delivery(self, campaign_id: str) -> CampaignDelivery:
        """Where the campaign's impressions went so far."""
        with self.database.connection_pool.connect() as connection:
            buyers = connection.execute(select(func.count()).select_from(campaign_buyers)
                                        .where(campaign_buyers.c.campaign_id == campaign_id)).scalar_one()
            per_item = dict(connection.execute(select(campaign_items.c.item_id, campaign_items.c.shown)
                                               .where(campaign_items.c.campaign_id == campaign_id)).all())
            per_minute = [(int(minute), int(shown)) for minute, shown in connection.execute(
                select(campaign_minutes.c.minute, campaign_minutes.c.shown)
                .where(campaign_minutes.c.campaign_id == campaign_id).order_by(campaign_minutes.c.minute))]
        return CampaignDelivery(buyers, per_item, per_minute)

    def buyer_impressions(self, campaign_id: str) -> dict[str, int]:
        """The campaign's impressions per buyer."""
        with self.database.connection_pool.connect() as connection:
            return dict(connection.execute(select(campaign_buyers.c.user_id, campaign_buyers.c.shown)
                                           .where(campaign_buyers.c.campaign_id == campaign_id)).all())
