"""``recommender simulate-campaign``: a campaign replayed on past visits before it goes live.

The visits are the orders of a purchase file (one per buyer and purchase time) in its last
``days`` days, in time order; the campaign's window is laid over them (its start at the first
visit, its end just after the last) with its budget, cap and slot policy. Each visit gets the
model's list of 10 at its default niche knob, and the campaign is placed in it exactly as the
server places it (:class:`recommender.campaigns.Placer`: the relevance gate, the lift by the
pacing multiplier, the plan along the traffic curve of the visits before the window), the
multiplier updated at every visit. Impressions are counted against the budget and each buyer's
cap as the store counts them.

Reported: the delivery curve against the plan, the final delivery ratio, the pacing error per
hour, NDCG@10 of the lists with the campaign against the same replay without it (relevance: the
items each visit bought that were new to the buyer; meaningful for a model trained before the
replayed days), waste (campaign impressions outside the buyer's top ``gate_share`` of the
catalog, let through by the profile match alone), the merchants and regions reached, and the
niche knob alone for comparison (the replay at knob 1 without the campaign: how often the
campaign's items appear and what it costs).
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.atomic import atomic_file
from recommender.campaigns import TOP, Campaign, PacedCampaign, Placer, TrafficCurve, gate_threshold
from recommender.engine import RecommendationEngine
from recommender.loaders import Dataset
from recommender.metrics import ndcg_at_k
from recommender.progress import progress_bar

CHUNK = 1_024  # visits scored at once
NICHE_ALONE = 1.0  # the knob of the comparison replay


@dataclass
class Simulation:
    """A campaign's replay: delivery over time, costs and reach."""

    campaign: Campaign
    visits: int
    times: np.ndarray  # every visit's time
    planned: np.ndarray  # the plan's impressions by each visit
    delivered: np.ndarray  # impressions delivered by each visit (cumulative)
    ndcg_with: float
    ndcg_without: float
    scored_visits: int  # visits with an item new to the buyer (the NDCG's)
    waste: int
    buyers_reached: int
    per_merchant: dict[str, int] = field(default_factory=dict)
    per_region: dict[str, int] = field(default_factory=dict)
    niche_alone: dict[str, float] = field(default_factory=dict)

    @property
    def delivery_ratio(self) -> float:
        return float(self.delivered[-1] / self.campaign.impressions) if len(self.delivered) else 0.0

    def hourly_error(self) -> pd.Series:
        """The pacing error, (planned - delivered) / budget, at the end of every hour of the window."""
        frame = pd.DataFrame({"error": (self.planned - self.delivered) / self.campaign.impressions},
                             index=pd.DatetimeIndex(self.times))
        return frame.error.resample("1h").last().dropna()

    def ndcg(self, value: float) -> str:
        """``value`` (an NDCG@10 of the replay) in words: not measured when no visit had an item to find."""
        return f"{value:.4f}" if self.scored_visits else "not measured"

    def table(self) -> str:
        """The figures as aligned text."""
        errors = self.hourly_error().abs()
        scored = (f"{self.scored_visits:,} visits with an item new to the buyer" if self.scored_visits else
                  "no replayed visit bought an item new to the buyer: the model has seen these days; use one "
                  "trained before them")
        rows = [("campaign", f"{self.campaign.campaign_id}: {self.campaign.impressions:,} impressions, cap "
                             f"{self.campaign.per_buyer_cap}, {self.campaign.max_in_top10} in the top {TOP}"),
                ("visits replayed", f"{self.visits:,} from {self.times[0]} to {self.times[-1]}"),
                ("delivered", f"{int(self.delivered[-1]):,} ({self.delivery_ratio:.3f} of the budget)"),
                ("pacing error per hour", f"mean |error| {errors.mean():.3f}, max {errors.max():.3f} of the budget"),
                (f"NDCG@{TOP} with / without", f"{self.ndcg(self.ndcg_with)} / {self.ndcg(self.ndcg_without)} "
                                               f"({scored})"),
                ("waste", f"{self.waste:,} impressions outside the buyer's top {self.campaign.gate_share:.0%} "
                          "(through the profile match)"),
                ("reach", f"{self.buyers_reached:,} buyers, {len(self.per_merchant)} merchants, "
                          f"{len(self.per_region)} regions"),
                (f"niche knob {NICHE_ALONE:g} alone", f"{self.niche_alone['impressions']:,.0f} campaign-item "
                                                      f"impressions, NDCG@{TOP} {self.ndcg(self.niche_alone['ndcg'])}")]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def visits_of(dataset: Dataset, days: float | None) -> pd.DataFrame:
    """The orders of ``dataset`` (one row per buyer and purchase time, with the items bought) in its
    last ``days`` days (all without), in time order."""
    purchases = dataset.purchases
    if days is not None:
        purchases = purchases[purchases.timestamp > purchases.timestamp.max() - pd.Timedelta(days=days)]
    visits = (purchases.assign(user_id=purchases.user_id.astype(str), item_id=purchases.item_id.astype(str))
              .groupby(["timestamp", "user_id"], sort=True).item_id.agg(list).reset_index())
    if visits.empty:
        raise ValueError("the traffic file has no purchase in the replayed days")
    return visits


def simulate_campaign(engine: RecommendationEngine, campaign: Campaign, dataset: Dataset, days: float | None,
                      show_progress: bool = True) -> Simulation:
    """Replay the visits of ``dataset``'s last ``days`` days with ``campaign`` (see the module)."""
    visits = visits_of(dataset, days)
    times = pd.DatetimeIndex(visits.timestamp).tz_localize("UTC")
    before = dataset.purchases.timestamp[dataset.purchases.timestamp < visits.timestamp.iloc[0]]
    campaign = Campaign.from_dict({**campaign.to_dict(), "start": times[0].isoformat(),
                                   "end": (times[-1] + timedelta(seconds=1)).isoformat()})
    paced = PacedCampaign(campaign, np.flatnonzero(campaign.item_mask(engine.catalog) & engine.available),
                          TrafficCurve.from_times(pd.Series(before).dt.tz_localize("UTC")))
    placer = Placer(engine.catalog, engine.available)
    users = engine.users.encode(visits.user_id)
    member = np.zeros(engine.n_items, dtype=bool)
    member[paced.codes] = True
    shown_per_buyer: dict[str, int] = {}
    shown_items: dict[int, int] = {}
    delivered = np.zeros(len(visits), dtype=np.int64)
    planned = np.zeros(len(visits))
    with_lists, without_lists, niche_lists, relevant_rows = [], [], [], []
    waste = niche_impressions = 0
    progress = progress_bar(total=len(visits), desc="visits", unit="visit", disable=not show_progress, mininterval=1)
    for start in range(0, len(visits), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(visits)))
        chunk_users = users[rows]
        organic, _ = engine.recommend(chunk_users, TOP, date=times[rows[0]])  # the season of the replayed day
        niche, _ = engine.recommend(chunk_users, TOP, niche=NICHE_ALONE, date=times[rows[0]])
        scores = engine.model.score(engine.batch(chunk_users))
        for offset, row in enumerate(rows):
            now = times[row].to_pydatetime()
            paced.follow(paced.delivered, now)
            planned[row] = paced.planned(now)
            user, buyer = int(chunk_users[offset]), visits.user_id.iloc[row]
            bought = engine.bought(user)
            listed = organic[offset][organic[offset] >= 0]
            final = listed.copy()
            if user >= 0 and paced.open(now) and buyer not in paced.capped:
                placement = placer.place(paced, scores[offset], bought, listed, np.zeros(len(listed), dtype=bool))
                codes = [int(listed[p]) for p in placement.organic] + (
                    [] if placement.lifted is None else [placement.lifted[1]])
                granted = max(0, min(len(codes), campaign.impressions - paced.delivered,
                                     campaign.per_buyer_cap - shown_per_buyer.get(buyer, 0)))
                if granted < len(codes):
                    paced.capped.add(buyer)
                if placement.lifted is not None and granted == len(codes):
                    final = np.insert(listed, placement.lifted[0], placement.lifted[1])[:len(listed)]
                threshold = gate_threshold(scores[offset], campaign.gate_share)
                for code in codes[:granted]:
                    shown_items[code] = shown_items.get(code, 0) + 1
                    waste += int(scores[offset][code] < threshold)
                paced.delivered += granted
                shown_per_buyer[buyer] = shown_per_buyer.get(buyer, 0) + granted
            delivered[row] = paced.delivered
            niche_impressions += int(member[niche[offset][niche[offset] >= 0]].sum())
            new = [code for code in engine.items.encode(visits.item_id.iloc[row]) if code >= 0 and code not in bought]
            if new:
                with_lists.append(final)
                without_lists.append(listed)
                niche_lists.append(niche[offset][niche[offset] >= 0])
                relevant_rows.append(new)
            progress.update(1)
    progress.close()
    catalog = engine.catalog
    per: dict[str, dict[str, int]] = {column: {} for column in ("merchant_id", "region")}
    for code, count in shown_items.items():
        for column, totals in per.items():
            value = str(catalog[column].iloc[code]) if column in catalog else "unknown"
            totals[value] = totals.get(value, 0) + count
    n_items = engine.n_items
    return Simulation(campaign, len(visits), times.to_numpy(), planned, delivered,
                      ndcg_of_lists(with_lists, relevant_rows, n_items),
                      ndcg_of_lists(without_lists, relevant_rows, n_items),
                      len(relevant_rows), waste, sum(count > 0 for count in shown_per_buyer.values()),
                      per["merchant_id"], per["region"],
                      {"impressions": niche_impressions, "ndcg": ndcg_of_lists(niche_lists, relevant_rows, n_items)})


def ndcg_of_lists(lists: list[np.ndarray], relevant: list[list[int]], n_items: int) -> float:
    """Mean NDCG@TOP of ``lists`` against the ``relevant`` item codes of each (nan without any)."""
    if not lists:
        return math.nan
    recommended = np.full((len(lists), TOP), -1, dtype=np.int64)
    for row, codes in enumerate(lists):
        recommended[row, :len(codes)] = codes[:TOP]
    rows = np.repeat(np.arange(len(relevant)), [len(codes) for codes in relevant])
    truth = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(relevant))), shape=(len(lists), n_items))
    return float(ndcg_at_k(recommended, truth, TOP))


def delivery_plot(simulation: Simulation) -> bytes:
    """The delivered impressions against the plan over the window, and the hourly pacing error (PNG)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 5.5), dpi=100)
    fig.set_layout_engine("constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    times = pd.DatetimeIndex(simulation.times).tz_localize(None)
    top.plot(times, simulation.planned, color="#7f8c8d", linestyle="--", label="plan (traffic curve)")
    top.plot(times, simulation.delivered, color="#c0392b", label="delivered")
    top.axhline(simulation.campaign.impressions, color="#2e6da4", linewidth=0.8, label="budget")
    top.set_ylabel("impressions")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    errors = simulation.hourly_error()
    bottom.bar(errors.index.tz_localize(None), errors.to_numpy(), width=1 / 24, color="#8e44ad")
    bottom.set_ylabel("(plan - delivered) / budget")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def html_report(title: str, table: str, png: bytes, alt: str, caption: str, path: str | os.PathLike,
                extra: str = "") -> Path:
    """A simulation's HTML report: ``table`` (text) and the ``png`` plot embedded (nothing fetched),
    then ``extra`` HTML, written atomically."""
    image = base64.b64encode(png).decode("ascii")
    text = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1><pre>{html.escape(table)}</pre>"
            f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{image}'><figcaption>{caption}"
            f"</figcaption></figure>{extra}</body></html>")
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_simulation_report(simulation: Simulation, path: str | os.PathLike) -> Path:
    """An HTML report (the table and the plot, embedded; nothing fetched), written atomically."""
    reach = "".join(f"<tr><td>{html.escape(name)}</td><td>{count:,}</td></tr>"
                    for name, count in sorted(simulation.per_merchant.items(), key=lambda kv: -kv[1]))
    return html_report(
        f"Campaign simulation: {simulation.campaign.name}", simulation.table(), delivery_plot(simulation),
        "delivered impressions against the plan, and the hourly pacing error",
        "Top: impressions delivered (red) against the plan (dashed), which follows the traffic of the visits before "
        "the window. Bottom: the pacing error at the end of each hour, as a share of the budget (above 0: behind the "
        "plan).", path, f"<h2>Impressions per merchant</h2><table><tbody>{reach}</tbody></table>")
