"""Harvest lots: will a lot sell before it spoils, and who could take it?

(The lots themselves, their units sold and how purchases count against them: the store's
:mod:`recommender.store.lots`.) :func:`lot_report` puts together what a merchant reads of a lot:
its sales so far, the sell-through projection below and the lot's audience per city tier
(:func:`lot_demand`, from the engine's audiences of its items).

A merchant declares a lot (items, units, from when it is available, when it must be sold by, the
city tiers and regions it ships to). Its projection reads the published demand forecast of the
lot's items per city tier (a long table: one row per item, tier and period, P10/P50/P90 units),
weighs each tier by the share of its demand the lot reaches (:func:`lot_reach`: none of a tier it
does not ship to; of a tier it ships to, all, or with regions named, the share of the items'
expected buyers there who live in those regions, from their audiences) and sums the periods
between the later of now and ``available_from`` and ``sell_by``, a period cut by either end
counted by its share of days, the period the data stops inside by what is left of its forecast
after the sales so far (:func:`rest_of_current_period`):

* the expected units sold by ``sell_by`` (P10/P50/P90), net of what is sold already;
* per city tier the P50 (only the tiers the lot ships to, and of them the regions it ships to);
* the expected shortfall against the remaining units (P50, and the band: the shortfall if sales
  come in at P90, and at P10);
* the cumulative curve (sold so far, then the expected sales period by period with the band) the
  merchant page draws against the units and the sell-by line.

Quantiles of a sum are not sums of quantiles. The band here is the sum of the periods' and items'
bands, which is exact when their errors move together (as a forecast's level error does: a season
that starts late is late every week) and wider otherwise; a merchant deciding on a clearance
campaign is better served by a band too wide than too narrow.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.models.audience import KINDS, Audience
from recommender.store.database import from_us
from recommender.store.lots import Lot, LotRecord

if TYPE_CHECKING:
    from recommender.engine import RecommendationEngine

QUANTILES = ("p10", "p50", "p90")
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class SellThrough:
    """A lot's projection (see the module notes): ``expected`` units sold from ``start`` to
    ``sell_by`` per quantile, ``by_tier`` the P50 per city tier, ``shortfall`` the remaining units
    expected unsold per quantile of sales (P90 sales: the smallest shortfall), ``curve`` the
    cumulative units per period end, ``covered_until`` the end of the forecast's horizon (before
    ``sell_by`` when the forecast does not reach it)."""

    units: float
    sold: float
    start: datetime
    sell_by: datetime
    expected: dict[str, float]
    by_tier: dict[int, float]
    shortfall: dict[str, float]
    curve: list[dict]
    covered_until: datetime

    @property
    def remaining(self) -> float:
        return max(0.0, self.units - self.sold)

    @property
    def at_risk(self) -> bool:
        """Whether the P50 of the sales to come is below the remaining units."""
        return self.shortfall["p50"] > 0

    def to_dict(self) -> dict:
        """The projection as JSON-ready values (times in ISO 8601)."""
        return {"units": self.units, "sold": self.sold, "remaining": self.remaining, "at_risk": self.at_risk,
                "start": self.start.isoformat(), "sell_by": self.sell_by.isoformat(),
                "covered_until": self.covered_until.isoformat(),
                "expected": self.expected, "shortfall": self.shortfall,
                "by_city_tier": [{"city_tier": tier, "p50": value} for tier, value in sorted(self.by_tier.items())],
                "curve": self.curve}


def period_shares(period_starts: pd.Series, period_days: float, start: datetime, end: datetime) -> np.ndarray:
    """Each period's share of days inside ``[start, end)`` (0 to 1)."""
    length = period_days * SECONDS_PER_DAY
    begins = pd.DatetimeIndex(pd.to_datetime(period_starts, utc=True)).asi8 / 1e9  # epoch seconds
    inside = np.minimum(begins + length, end.timestamp()) - np.maximum(begins, start.timestamp())
    return np.clip(inside / length, 0.0, 1.0)


def rest_of_current_period(current: dict | None, period_days: float) -> pd.DataFrame | None:
    """The forecast of the days left in the period the data stops inside, as rows of the forecast's
    long table (``current``: :meth:`~recommender.forecasting.published.PublishedForecasts.current`
    at the item x city tier level; None when the data ended with a whole period): each row's whole-
    period P10/P50/P90 net of its sales so far, scaled so that, spread over the period's days as
    :func:`project_sell_through` spreads every row, the days left carry all of it (the days already
    observed lie before any lot's start)."""
    if current is None or not current["rows"]:
        return None
    rest = current["days"] - current["days_observed"]
    rows = pd.DataFrame(current["rows"])
    scale = period_days / rest if rest > 0 else 0.0
    return pd.DataFrame({"item_id": rows.item_id, "city_tier": rows.city_tier.astype("int64"),
                         "period_start": current["period_start"],
                         **{name: (rows[name] - rows.sold_so_far).clip(lower=0.0) * scale for name in QUANTILES}})


def project_sell_through(forecast: pd.DataFrame, period_days: float, units: float, sold: float,
                         available_from: datetime, sell_by: datetime, now: datetime,
                         reach: dict[int, float] | None = None) -> SellThrough:
    """The :class:`SellThrough` of a lot of ``units`` (``sold`` of them sold already) from
    ``forecast`` (its items' rows: ``city_tier``, ``period_start``, ``p10``, ``p50``, ``p90``;
    periods of ``period_days``), counted from the later of ``now`` and ``available_from`` to
    ``sell_by``, each city tier's rows weighed by the share of its demand the lot reaches
    (``reach``, see :func:`lot_reach`: a tier missing from it counts nothing; None: every tier whole)."""
    start = max(now, available_from)
    rows = forecast if reach is None else forecast[forecast.city_tier.isin(list(reach))]
    rows = rows.assign(period_start=pd.to_datetime(rows.period_start, utc=True))  # text or times: one order
    shares = period_shares(rows.period_start, period_days, start, sell_by)
    if reach is not None:
        shares = shares * rows.city_tier.map(reach).to_numpy(dtype=np.float64)
    weighted = rows.assign(**{name: rows[name].to_numpy(dtype=np.float64) * shares for name in QUANTILES})
    per_period = weighted.groupby("period_start", sort=True)[list(QUANTILES)].sum()
    expected = {name: float(per_period[name].sum()) for name in QUANTILES}
    by_tier = {int(tier): float(value) for tier, value in weighted.groupby("city_tier").p50.sum().items()
               if value > 0}
    remaining = max(0.0, units - sold)
    # more sales, less shortfall: P90 sales leave the P10 shortfall
    shortfall = {"p10": max(0.0, remaining - expected["p90"]), "p50": max(0.0, remaining - expected["p50"]),
                 "p90": max(0.0, remaining - expected["p10"])}
    begins = pd.to_datetime(per_period.index, utc=True)
    cumulative = per_period.cumsum()
    curve = [{"date": start.isoformat(), **dict.fromkeys(QUANTILES, float(sold))}]
    for row, begin in enumerate(begins):
        end = (begin + pd.Timedelta(days=period_days)).to_pydatetime()
        if end > start and begin.to_pydatetime() < sell_by:
            curve.append({"date": min(end, sell_by).isoformat(),
                          **{name: float(sold + cumulative[name].iloc[row]) for name in QUANTILES}})
    last = pd.to_datetime(forecast.period_start, utc=True).max()
    horizon_end = start if pd.isna(last) else (last + pd.Timedelta(days=period_days)).to_pydatetime()
    return SellThrough(float(units), float(sold), start, sell_by, expected, by_tier, shortfall, curve,
                       min(max(horizon_end, start), sell_by))


def lot_buyers(engine: RecommendationEngine, record: Lot) -> np.ndarray | None:
    """The training buyers a lot ships to (its tiers and regions; buyers of unknown tier or place
    are kept), or None for all of them."""
    keep = None
    if record.tiers:
        keep = np.isin(engine.user_tiers, (0, *record.tiers))
    if record.regions and engine.audiences is not None:
        names = engine.audiences.place_names
        codes = [names.index(region) for region in record.regions if region in names]
        in_regions = np.isin(engine.audiences.places, (-1, *codes))
        keep = in_regions if keep is None else keep & in_regions
    return keep


def lot_audiences(engine: RecommendationEngine, record: Lot) -> list[Audience] | None:
    """The audiences of the lot's items the model knows (None for a model without audiences)."""
    if engine.audiences is None or engine.repeat is None:
        return None
    codes = engine.items.encode(list(record.items))
    return list(engine.audiences_of(codes[codes >= 0]))


def clearance_audience(engine: RecommendationEngine, record: Lot, size: int,
                       audiences: list[Audience] | None = None) -> np.ndarray:
    """Which training buyers a lot's clearance campaign may reach (a flag per buyer code): of the
    buyers the lot ships to, the ``size`` likeliest of each part of each of its items' audiences
    (``audiences``: :func:`lot_audiences`, computed here when not given). None of them without an
    audience model."""
    chosen = np.zeros(len(engine.users), dtype=bool)
    audiences = lot_audiences(engine, record) if audiences is None else audiences
    if audiences is None:
        return chosen
    keep = lot_buyers(engine, record)
    for audience in audiences:
        for kind in KINDS:
            chosen[audience.top(kind, size, keep)[0]] = True
    return chosen


@dataclass(frozen=True)
class LotDemand:
    """The expected buyers and units of a lot's items per city tier (arrays by tier code), from
    their audiences (both parts; a buyer of two items counts twice): ``buyers`` and ``units``
    among the buyers the lot ships to, ``all_units`` among every buyer."""

    buyers: np.ndarray
    units: np.ndarray
    all_units: np.ndarray

    def audience(self) -> list[dict]:
        """Who could take the lot, per city tier (the tiers with expected buyers)."""
        return [{"city_tier": tier, "expected_buyers": float(self.buyers[tier]),
                 "expected_units": float(self.units[tier])}
                for tier in range(len(self.buyers)) if self.buyers[tier] > 0]


def lot_demand(engine: RecommendationEngine, record: Lot, audiences: list[Audience] | None = None
               ) -> LotDemand | None:
    """The :class:`LotDemand` of ``record``'s items from their ``audiences`` (:func:`lot_audiences`,
    computed here when not given; None for a model without audiences)."""
    audiences = lot_audiences(engine, record) if audiences is None else audiences
    if audiences is None:
        return None
    keep = lot_buyers(engine, record)
    tiers = engine.user_tiers.astype(np.int64)
    n_tiers = int(tiers.max(initial=0)) + 1
    buyers, units, all_units = np.zeros(n_tiers), np.zeros(n_tiers), np.zeros(n_tiers)
    for audience in audiences:
        per_buyer = float(engine.audiences.signals.units[audience.item])
        reached = sum(audience.expected(kind, tiers, n_tiers, keep) for kind in KINDS)
        buyers += reached
        units += reached * per_buyer
        all_units += sum(audience.expected(kind, tiers, n_tiers) for kind in KINDS) * per_buyer
    return LotDemand(buyers, units, all_units)


def lot_reach(engine: RecommendationEngine, record: Lot, demand: LotDemand | None) -> dict[int, float] | None:
    """The share of each city tier's demand for the lot's items that the lot reaches, by tier code
    (the weights of :func:`project_sell_through`): the tiers it ships to (every tier when it names
    none), each whole or, when it names regions, by the share of the expected units of the items'
    audiences in that tier bought by buyers in those regions or of unknown place (for a tier
    without expected buyers, its share of buyers there); None when the lot ships everywhere, or
    names only regions and ``demand`` is None (a model without audiences: regions are not applied)."""
    if record.regions and demand is not None:
        keep = lot_buyers(engine, record)
        tiers = engine.user_tiers.astype(np.int64)
        n_tiers = len(demand.units)
        buyers_in = np.bincount(tiers, weights=keep.astype(np.float64), minlength=n_tiers)
        buyers_all = np.maximum(np.bincount(tiers, minlength=n_tiers), 1)
        share = np.where(demand.all_units > 0, demand.units / np.maximum(demand.all_units, 1e-12),
                         buyers_in / buyers_all)
        return {tier: float(share[tier]) if tier < n_tiers else 0.0 for tier in record.tiers or range(n_tiers)}
    if record.tiers:
        return dict.fromkeys(record.tiers, 1.0)
    return None


def lot_report(record: LotRecord, engine: RecommendationEngine, forecast: pd.DataFrame | None,
               period_days: float, now: datetime) -> dict:
    """A lot as the API shows it: its definition, units sold and remaining, the
    :func:`project_sell_through` of ``forecast`` (its items' rows per city tier; None: no forecasts
    published, said in ``note``) and the lot's audience (:meth:`LotDemand.audience`; empty for a
    model without audiences)."""
    demand = lot_demand(engine, record)
    answer = {"merchant_id": record.merchant_id, "lot_id": record.lot_id, "items": list(record.items),
              "units": record.units, "units_sold": record.units_sold, "remaining": record.remaining,
              "available_from": from_us(record.available_from_us).isoformat(),
              "sell_by": from_us(record.sell_by_us).isoformat(), "tiers": list(record.tiers),
              "regions": list(record.regions), "created_at": from_us(record.created_us).isoformat(),
              "withdrawn_at": None if record.withdrawn_us is None else from_us(record.withdrawn_us).isoformat(),
              "projection": None, "audience": [] if demand is None else demand.audience(), "note": None}
    if forecast is None:
        answer["note"] = "no forecasts published: run `recommender forecast-publish` and serve them (--forecasts)"
    else:
        answer["projection"] = lot_projection(record, forecast, period_days, now,
                                              lot_reach(engine, record, demand)).to_dict()
    return answer


def lot_projection(record: LotRecord, forecast: pd.DataFrame, period_days: float, now: datetime,
                   reach: dict[int, float] | None) -> SellThrough:
    """The :func:`project_sell_through` of a stored lot from ``forecast`` (its merchant's rows per
    item and city tier; the lot's items are read) over the demand it ``reach``es (:func:`lot_reach`)."""
    return project_sell_through(forecast[forecast.item_id.isin(record.items)], period_days, record.units,
                                record.units_sold, from_us(record.available_from_us), from_us(record.sell_by_us), now,
                                reach)

