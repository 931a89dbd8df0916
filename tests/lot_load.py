"""A harvest lot's purchases as storefronts send them, for tests/test_lots_live.py and bench/lots.py.

:func:`lot_load` draws distinct events of 1 unit: most are purchases that count against the lot
(of its items, within its window, both ends included, from a city tier it ships to or an unknown
one), the others must not count: purchases before the window opens or after the sell-by date,
of another item of the merchant, from a tier the lot does not ship to, and views, carts and
returns of the lot's items. They go out in batches of varied sizes, and a share of the sends
repeats an event id: a third in the same batch, a third in another batch (sent on another
connection, so possibly to the other worker, possibly at the same moment), a third as whole
batches sent again (a storefront's retry). A repeated event carries the same fields.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SHIPPED_TIERS = (1, 2)  # the lot ships to these city tiers; purchases from 3..5 must not count
BATCH_SIZES = (1, 3, 10, 25, 60, 120, 250)  # drawn uniformly: 1..250 events, 70 on average
NOT_COUNTING = {"before the window": 0.03, "after the sell-by date": 0.03, "an item outside the lot": 0.03,
                "a tier not shipped to": 0.03, "not a purchase": 0.02}  # shares of the distinct events
BOUNDARY_EVENTS = 20  # counting purchases made exactly when the window opens, and as many at its end


@dataclass(frozen=True)
class LotLoad:
    """A lot (the body of ``POST /v1/merchants/{merchant_id}/lots``) and the events sent for it."""

    lot: dict
    batches: list[list[dict]]  # the events of each POST /v1/events, in sending order
    counting: frozenset[str]  # event ids that count against the lot (once each)
    not_counting: frozenset[str]  # the other distinct event ids

    @property
    def sends(self) -> int:
        """Events sent, repeats included."""
        return sum(map(len, self.batches))

    @property
    def distinct(self) -> int:
        return len(self.counting) + len(self.not_counting)

    @property
    def expected_sold(self) -> int:
        """The lot's units sold once every batch is stored."""
        return min(self.lot["units"], len(self.counting))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def lot_load(lot_id: str, lot_items: list[str], other_items: list[str], buyers: list[str], units: int,
             purchases: int = 9_000, duplicate_share: float = 0.1, ids: str = "", seed: int = 0,
             now: datetime | None = None) -> LotLoad:
    """A lot of ``units`` of ``lot_items`` (on offer from two days before ``now`` until six hours
    after, shipped to SHIPPED_TIERS) and ``purchases`` distinct events (event ids prefixed by
    ``ids``) of ``buyers``, sent with repeated event ids making ``duplicate_share`` of the sends;
    ``other_items`` are the merchant's items outside the lot. The same ``seed`` draws the same
    events and batches."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    opens, sell_by = now - timedelta(days=2), now + timedelta(hours=6)
    window_us = int((now - opens) / timedelta(microseconds=1))

    def event(number: int, kind: str) -> dict:
        item, kind_of, tier = rng.choice(lot_items), "purchase", rng.choice((*SHIPPED_TIERS, None))
        at = opens + timedelta(microseconds=rng.randrange(window_us))
        if kind == "before the window":
            at = opens - timedelta(seconds=rng.uniform(0.001, 3 * 86_400))
        elif kind == "after the sell-by date":
            at = sell_by + timedelta(seconds=rng.uniform(0.001, 12 * 3600))
        elif kind == "an item outside the lot":
            item = rng.choice(other_items)
        elif kind == "a tier not shipped to":
            tier = rng.choice([t for t in range(1, 6) if t not in SHIPPED_TIERS])
        elif kind == "not a purchase":
            kind_of = rng.choice(("view", "cart", "return"))
        elif number < BOUNDARY_EVENTS:
            at = opens
        elif number < 2 * BOUNDARY_EVENTS:
            at = sell_by
        found = {"event_id": f"{ids}lot-{number}", "user_id": rng.choice(buyers), "item_id": item, "type": kind_of,
                 "quantity": 1, "timestamp": _iso(at)}
        return found if tier is None else {**found, "city_tier": tier}

    excluded = [kind for kind, share in NOT_COUNTING.items() for _ in range(round(share * purchases))]
    kinds = ["counts"] * (purchases - len(excluded)) + excluded  # the first counting ones at the window's ends
    events = [event(number, kind) for number, kind in enumerate(kinds)]
    counting = frozenset(e["event_id"] for e, kind in zip(events, kinds) if kind == "counts")
    rng.shuffle(events)

    batches, start = [], 0
    while start < len(events):
        size = rng.choice(BATCH_SIZES)
        batches.append(events[start:start + size])
        start += size
    repeats = round(purchases * duplicate_share / (1 - duplicate_share))
    retried = _retried(batches, repeats // 3, rng)
    kept = [index for index in range(len(batches)) if index not in retried]  # a retry repeats its first send
    for _ in range(repeats // 3):  # the same event twice in its batch
        batch = batches[rng.choice(kept)]
        batch.insert(rng.randrange(len(batch) + 1), dict(rng.choice(batch)))
    for _ in range(repeats - sum(len(batches[i]) for i in retried) - repeats // 3):  # in another batch
        target = rng.choice(kept)
        source = (target + rng.randrange(1, len(batches))) % len(batches)  # any other batch
        batches[target].insert(rng.randrange(len(batches[target]) + 1), dict(rng.choice(batches[source])))
    order = list(range(len(batches)))
    rng.shuffle(order)
    for index in retried:  # sent again, some time after the first time
        order.insert(rng.randrange(order.index(index) + 1, len(order) + 1), index)
    lot = {"lot_id": lot_id, "items": list(lot_items), "units": units, "available_from": _iso(opens),
           "sell_by": _iso(sell_by), "tiers": list(SHIPPED_TIERS)}
    return LotLoad(lot, [[dict(e) for e in batches[index]] for index in order], counting,
                   frozenset(e["event_id"] for e in events) - counting)


def _retried(batches: list[list[dict]], events: int, rng: random.Random) -> list[int]:
    """Batches to send again, up to ``events`` events in all."""
    chosen, total = [], 0
    for index in rng.sample(range(len(batches)), len(batches)):
        if total + len(batches[index]) <= events:
            chosen.append(index)
            total += len(batches[index])
    return chosen
