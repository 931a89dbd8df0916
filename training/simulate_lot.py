"""``recommender simulate-lot``: does a clearance campaign sell a harvest lot by its date, and at what cost?

The demo marketplace's buyers have known tastes (``demo-data`` writes them to ``buyers.csv``: each
buyer's top category and favourite producing regions, the generator's latent truth, not part of
the data contract). A lot of some items is put on sale over the last ``days`` days of a purchase
file, whose orders are replayed in time order, twice:

* **organic**: the lot sells what the replayed orders bought of its items (one unit per order
  line), until its units run out;
* **with the clearance**: the same orders, plus a clearance campaign placed in each visit's list of
  10 as the server places it (the lot's audience only, the relevance gate, the multiplier driven
  by the lot's sales against the plan, the budget sized on the projected shortfall at the prior
  conversion, :mod:`recommender.campaigns`). A lot item shown for the campaign and not bought in
  the order anyway is bought with :func:`response_probability`: :data:`BASE_RESPONSE` for an item
  matching one of the buyer's known tastes (their top category, a favourite region), three times
  that for both, a third for neither. Draws are seeded.

The projected shortfall the campaign is sized on is the lot's units minus a moving average: the
lot items' order lines per day over the ``days`` before the window, times the window's days.

Reported: the share of the lot sold by its sell-by date with and without the clearance, the
impressions and purchases the campaign made, NDCG@10 of the lists with and without it (relevance:
the items each order bought that were new to the buyer; a model trained before the replayed days),
and a plot of the two cumulative sell-through curves against the lot's units.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.campaigns import (
    AUDIENCE_SIZE,
    PRIOR_CONVERSION,
    TOP,
    PacedCampaign,
    Placer,
    TrafficCurve,
    clearance_campaign,
)
from recommender.engine import RecommendationEngine
from recommender.loaders import Dataset
from recommender.lots import clearance_audience
from recommender.progress import progress_bar
from recommender.store import Lot, to_us
from training.simulate_campaign import CHUNK, html_report, ndcg_of_lists, visits_of

BASE_RESPONSE = PRIOR_CONVERSION  # chance that a buyer of average taste buys a lot item shown for the campaign
TASTE_LIFT = 3.0  # each taste an item matches (the buyer's top category, a favourite region) multiplies it


@dataclass
class LotSimulation:
    """A lot's replay: cumulative units sold by each visit, organic and with the clearance."""

    lot_id: str
    units: int
    times: np.ndarray
    organic: np.ndarray
    with_clearance: np.ndarray
    impressions: int
    campaign_purchases: int
    budget: int
    ndcg_with: float
    ndcg_without: float
    scored_visits: int

    def share(self, sold: np.ndarray) -> float:
        return float(sold[-1] / self.units) if len(sold) else 0.0

    def table(self) -> str:
        rows = [("lot", f"{self.lot_id}: {self.units:,} units over {len(self.times):,} visits from {self.times[0]} "
                        f"to {self.times[-1]}"),
                ("sold by the sell-by date", f"organic {int(self.organic[-1]):,} ({self.share(self.organic):.3f}); "
                                             f"with the clearance {int(self.with_clearance[-1]):,} "
                                             f"({self.share(self.with_clearance):.3f})"),
                ("clearance", f"{self.impressions:,} impressions of a budget of {self.budget:,}, "
                              f"{self.campaign_purchases:,} purchases after them"),
                ("NDCG@10", f"with the clearance {self.ndcg_with:.4f}, without {self.ndcg_without:.4f} "
                            f"({self.scored_visits:,} visits with an item new to the buyer)")]
        return "\n".join(f"{name:<26}{value}" for name, value in rows)


def buyer_tastes(buyers: pd.DataFrame, engine: RecommendationEngine) -> tuple[np.ndarray, list[set[str]]]:
    """Each model buyer's top category and favourite regions (region codes) from the demo
    marketplace's ``buyers.csv`` (unknown buyers: none)."""
    codes = engine.users.encode(buyers.user_id.astype(str))
    top = np.full(len(engine.users), None, dtype=object)
    favourites: list[set[str]] = [set() for _ in range(len(engine.users))]
    for code, category, regions in zip(codes.tolist(), buyers.top_category.astype(str),
                                       buyers.favourite_regions.fillna("").astype(str)):
        if code >= 0:
            top[code], favourites[code] = category, set(filter(None, regions.split(";")))
    return top, favourites


def response_probability(top_category: str | None, favourite_regions: set[str], category: str, region_code: str
                         ) -> float:
    """The chance that a buyer buys a lot item shown for the campaign: :data:`BASE_RESPONSE` times
    :data:`TASTE_LIFT` per taste the item matches beyond one (a third of it for none)."""
    matches = int(top_category == category) + int(region_code in favourite_regions)
    return min(1.0, BASE_RESPONSE * TASTE_LIFT ** matches / TASTE_LIFT)


def simulate_lot(engine: RecommendationEngine, dataset: Dataset, buyers: pd.DataFrame, lot_id: str,
                 items: tuple[str, ...], units: int, days: float, seed: int = 0, show_progress: bool = True
                 ) -> LotSimulation:
    """Replay the last ``days`` days of ``dataset`` with a lot of ``units`` of ``items`` on sale,
    organic and with its clearance campaign (see the module notes)."""
    visits = visits_of(dataset, days)
    times = pd.DatetimeIndex(visits.timestamp).tz_localize("UTC")
    start, end = times[0].to_pydatetime(), (times[-1] + timedelta(seconds=1)).to_pydatetime()
    codes = engine.items.encode(list(items))
    if (codes < 0).any():
        raise ValueError(f"lot: item(s) {', '.join(np.asarray(items)[codes < 0][:10])} unknown to the model")
    purchases = dataset.purchases
    before = purchases[(purchases.timestamp < visits.timestamp.iloc[0])
                       & (purchases.timestamp >= visits.timestamp.iloc[0] - pd.Timedelta(days=days))]
    organic_forecast = float(before.item_id.astype(str).isin(items).sum())  # the same days' length before
    lot = Lot("simulated", lot_id, tuple(items), int(units), to_us(start), to_us(end))
    campaign = clearance_campaign("simulated", lot_id, lot.items, lot.units, max(1.0, units - organic_forecast),
                                  end, start, PRIOR_CONVERSION)
    paced = PacedCampaign(campaign, np.sort(codes), TrafficCurve.from_times(pd.Series(before.timestamp)
                                                                           .dt.tz_localize("UTC")),
                          audience=clearance_audience(engine, lot, AUDIENCE_SIZE))
    placer = Placer(engine.catalog, engine.available)
    top_category, favourites = buyer_tastes(buyers, engine)
    category = engine.catalog.category.astype(str).to_numpy()
    region_code = engine.catalog.item_id.astype(str).str.split("-").str[0].to_numpy()  # demo ids start with it
    users = engine.users.encode(visits.user_id)
    rng = np.random.default_rng(seed)
    member = set(codes.tolist())
    organic = np.zeros(len(visits), dtype=np.int64)
    cleared = np.zeros(len(visits), dtype=np.int64)
    sold_organic = sold_cleared = campaign_purchases = 0
    shown_per_buyer: dict[int, int] = {}
    with_lists, without_lists, relevant_rows = [], [], []
    progress = progress_bar(total=len(visits), desc="visits", unit="visit", disable=not show_progress, mininterval=1)
    for first in range(0, len(visits), CHUNK):
        rows = np.arange(first, min(first + CHUNK, len(visits)))
        chunk_users = users[rows]
        lists, _ = engine.recommend(chunk_users, TOP, date=times[rows[0]])  # the season of the replayed day
        scores = engine.model.score(engine.batch(chunk_users))
        for offset, row in enumerate(rows):
            now = times[row].to_pydatetime()
            user = int(chunk_users[offset])
            bought_now = {code for code in engine.items.encode(visits.item_id.iloc[row]).tolist() if code >= 0}
            lot_bought = len(bought_now & member)
            sold_organic = min(units, sold_organic + lot_bought)
            sold_cleared = min(units, sold_cleared + lot_bought)
            paced.follow(paced.delivered, now, sold=sold_cleared)
            listed = lists[offset][lists[offset] >= 0]
            final = listed
            if sold_cleared < units and paced.open(now) and paced.reaches(user):
                bought = engine.bought(user)
                placement = placer.place(paced, scores[offset], bought, listed, np.zeros(len(listed), dtype=bool))
                shown = [int(listed[p]) for p in placement.organic] + (
                    [] if placement.lifted is None else [placement.lifted[1]])
                granted = max(0, min(len(shown), campaign.impressions - paced.delivered,
                                     campaign.per_buyer_cap - shown_per_buyer.get(user, 0)))
                if placement.lifted is not None and granted == len(shown):
                    final = np.insert(listed, placement.lifted[0], placement.lifted[1])[:len(listed)]
                paced.delivered += granted
                shown_per_buyer[user] = shown_per_buyer.get(user, 0) + granted
                for code in shown[:granted]:
                    chance = response_probability(top_category[user], favourites[user], category[code],
                                                  region_code[code])
                    if code not in bought_now and sold_cleared < units and rng.random() < chance:
                        sold_cleared += 1
                        campaign_purchases += 1
            organic[row], cleared[row] = sold_organic, sold_cleared
            new = [code for code in bought_now if user < 0 or code not in engine.bought(user)]
            if new:
                with_lists.append(final)
                without_lists.append(listed)
                relevant_rows.append(new)
            progress.update(1)
    progress.close()
    return LotSimulation(lot_id, int(units), times.to_numpy(), organic, cleared, int(paced.delivered),
                         campaign_purchases, campaign.impressions,
                         ndcg_of_lists(with_lists, relevant_rows, engine.n_items),
                         ndcg_of_lists(without_lists, relevant_rows, engine.n_items), len(relevant_rows))


def sell_through_plot(simulation: LotSimulation) -> bytes:
    """The two cumulative sell-through curves against the lot's units (PNG)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 4.5), dpi=100)
    fig.set_layout_engine("constrained")
    axes = fig.subplots()
    times = pd.DatetimeIndex(simulation.times).tz_localize(None)
    axes.plot(times, simulation.organic, color="#7f8c8d", label="organic demand alone")
    axes.plot(times, simulation.with_clearance, color="#c0392b", label="with the clearance campaign")
    axes.axhline(simulation.units, color="#2e6da4", linewidth=0.8, linestyle="--", label="the lot's units")
    axes.axvline(times[-1], color="#8e44ad", linewidth=0.8, label="sell-by date")
    axes.set_ylabel("units sold")
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(alpha=0.3)
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_lot_report(simulation: LotSimulation, path: str | os.PathLike) -> Path:
    """An HTML report (the table and the plot, embedded; nothing fetched), written atomically."""
    return html_report(f"Lot simulation: {simulation.lot_id}", simulation.table(), sell_through_plot(simulation),
                       "cumulative units sold, organic and with the clearance, against the lot",
                       "Units of the lot sold by each replayed order: organic demand alone (grey) and with the "
                       "clearance campaign (red), against the lot's units (dashed) up to its sell-by date.", path)
