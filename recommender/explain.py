"""Short, honest reasons for why an item is shown.

* Personalised lists: "bought by buyers who bought <title>", naming the buyer's purchase that
  leads the collaborative model to the item (:meth:`~recommender.models.base.Recommender.explaining_purchases`:
  the closest by item factors for factor models, the largest item-item weight for item-item
  models); when none does (e.g. a never-bought item surfaced by the content model), "similar to
  <title>" by the content model; "you bought this before" for repeat purchases.
* Cold-start lists and popular lists: "popular with tier-N buyers" ("popular with buyers" when the
  tier is unknown).
* Similar items: "bought by the same buyers as <title>" or, for items nobody has bought yet
  (served by the content model), "similar in content to <title>".
* Buy-again lists: "you buy this about every 5 weeks; last bought 6 weeks ago"
  (:func:`repeat_reason`, from repeat timing's expected interval).
* Audiences (the platform's view of an item's likely buyers): the repeat part says the buyer's
  pace the same way ("buys it about every 5 weeks; ..."); the first-time part names the signal
  that weighs most for that buyer in the first-time model ("bought by buyers with similar
  purchases", "buys often", ...; :func:`first_time_reasons`).
* Items from a priority region or in the long tail get "; from <region>", so niche goods say
  where they come from (nothing when the catalog does not name the region: no "from unknown").
* A reason never names the item itself or another listing of the same product
  (:mod:`recommender.features.products`): "bought by buyers who bought Menghai Pu'er Tea Cake"
  under a Menghai Pu'er Tea Cake says nothing; the model's next explaining purchase is named.

Every reason is a *reason id* into :attr:`Explainer.reason_texts` (the texts naming a purchase, one
per item and explaining model, then the popularity texts of each city tier and the fixed texts)
plus the item's suffix (:attr:`Explainer.suffix`), except the similar-items reason, one text per
request. Texts and suffixes are built once per model; a list costs one small ``k x history``
lookup per explaining model. The HTTP API and ``recommender recommend --reasons`` both use it.
"""
from __future__ import annotations

import math

import numpy as np

from recommender.contract import MAX_CITY_TIER, UNKNOWN_LABEL
from recommender.models.audience import SIGNAL_FEATURES, Audience
from recommender.models.hybrid import NEIGHBOUR_ROLES
from recommender.models.repeat import RepeatScores


def _duration(days: float) -> str:
    """Days in the unit a person would say: days up to two weeks, weeks up to two months, months."""
    if days < 14:
        count, unit = max(1, round(days)), "day"
    elif days < 60:
        count, unit = round(days / 7), "week"
    else:
        count, unit = round(days / 30.4), "month"
    return f"{count} {unit}{'s' if count != 1 else ''}"


REPEAT_PACE = {"buyer": "you buy this", "audience": "buys it"}  # who the reason speaks to: the buyer, or about them
FIRST_TIME_TEXTS = {"collaborative": "bought by buyers with similar purchases", "content": "buys goods like it",
                    "popularity": "popular in the buyer's city tier", "buyer activity": "buys often",
                    "buyer recency": "bought recently", "item newcomers": "the item is drawing new buyers"}


def repeat_reason(interval_days: float, since_days: float, voice: str = "buyer") -> str:
    """Why a buy-again item is shown: "you buy this about every 5 weeks; last bought 6 weeks ago"
    ("last bought today" under a day); ``voice="audience"`` says it of the buyer ("buys it about
    every ...")."""
    since = "today" if since_days < 1 else f"{_duration(since_days)} ago"
    return f"{REPEAT_PACE[voice]} about every {_duration(interval_days)}; last bought {since}"


def repeat_reasons(repeat: RepeatScores, user: int, items: np.ndarray, voice: str = "buyer") -> list[str]:
    """The :func:`repeat_reason` of each of ``items`` (codes the buyer ``user`` bought before)."""
    intervals, since = repeat.timing(user, items)
    return [repeat_reason(days, ago, voice) for days, ago in zip(intervals.tolist(), since.tolist())]


def audience_reasons(engine, audience: Audience, kind: str, buyers: np.ndarray, at_us: int | None = None
                     ) -> list[str]:
    """Why each of ``buyers`` (codes) is in part ``kind`` of ``engine``'s ``audience`` (computed as of
    ``at_us``): a repeat buyer's pace (:func:`repeat_reason`, said of the buyer, its last purchase
    counted back from ``at_us``); for a first-time buyer, the text of the
    feature that raises their probability most
    (:meth:`~recommender.models.audience.FirstTimeAudience.strongest`): a component's score, named
    by its role, or one of the buyer's and item's signals."""
    if kind == "repeat":
        return [repeat_reasons(engine.repeat_as_of(at_us), buyer, np.array([audience.item]), "audience")[0]
                for buyer in np.asarray(buyers).tolist()]
    names = [model.role for _, model in engine.audience_components] + list(SIGNAL_FEATURES)
    strongest = engine.audiences.first_time.strongest(engine.audiences.first_time_features(audience, buyers))
    return [FIRST_TIME_TEXTS[names[feature]] for feature in strongest.tolist()]


MAX_HISTORY = 500  # a buyer's purchases compared per request (bounds the work for bulk buyers)
# reason ids with a fixed text: negative, so they index the end of Explainer.reason_texts, after the
# popularity texts of tiers 0 (unknown) .. MAX_CITY_TIER
FIXED_REASONS = ("you bought this before", "matches your purchase history")
BOUGHT_BEFORE, MATCHES_HISTORY = -2, -1
EXPLAINING_ROLES = {"collaborative": "bought by buyers who bought {}", "content": "similar to {}"}
SIMILAR_TEMPLATES = {"content": "similar in content to {}", "popularity": "popular in the same category as {}",
                     "collaborative": "bought by the same buyers as {}"}


def catalog_text(catalog, column: str) -> np.ndarray:
    """A catalog text column as an object array, None where missing or empty (all None without it)."""
    if column not in catalog:
        return np.full(len(catalog), None, dtype=object)
    values = catalog[column].astype(object).to_numpy()
    return np.array([None if (value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "")
                     else str(value) for value in values], dtype=object)


def label_text(catalog, column: str) -> np.ndarray:
    """A catalog label column (region, merchant) as :func:`catalog_text` reads it, None also where
    the loaders filled in the placeholder ``unknown``: a buyer-facing text never shows it."""
    values = catalog_text(catalog, column)
    return np.array([None if value is None or value.strip().lower() == UNKNOWN_LABEL else value
                     for value in values], dtype=object)


def popular_text(tier: int) -> str:
    """The popularity reason of city tier ``tier`` (0: unknown)."""
    return f"popular with tier-{tier} buyers" if tier else "popular with buyers"


def popular_id(tier: int | None) -> int:
    """The reason id of :func:`popular_text` (``tier`` None or 0: unknown)."""
    tier = tier or 0
    if not 0 <= tier <= MAX_CITY_TIER:
        raise ValueError(f"city tier {tier} outside 0..{MAX_CITY_TIER}")
    return tier - (MAX_CITY_TIER + 1) - len(FIXED_REASONS)


def niche_flags(engine) -> np.ndarray:
    """Items that should say where they come from: priority-region tag or long tail (the
    re-ranker's item groups)."""
    groups = engine.reranker.groups_
    return np.asarray(groups.priority_region, dtype=bool) | np.asarray(groups.tail, dtype=bool)


class Explainer:
    """Reasons for lists of item codes of one engine (build once per loaded model)."""

    def __init__(self, engine, titles: np.ndarray, regions: np.ndarray):
        self.titles = titles
        self.products = None if engine.products is None else engine.products.of  # product code per item
        model = engine.model
        # the models a purchase is named by, in order of preference, and their reason texts; reason id
        # ``purchase * len(sources) + source`` names a purchase (so the ids of an engine's items
        # stay valid for the engine with items added after them), the last ids are the fixed texts
        sources = [(found, template) for role, template in EXPLAINING_ROLES.items()
                   if (found := model.component(role)) is not None]
        self.sources = [found for found, _ in sources]
        named = [template.format(title) for title in titles for _, template in sources]
        popular = [popular_text(tier) for tier in range(MAX_CITY_TIER + 1)]
        self.reason_texts = np.array(named + popular + list(FIXED_REASONS), dtype=object)
        flags = niche_flags(engine)
        self.suffix = np.array([f"; from {region}" if flag and region else ""
                                for flag, region in zip(flags, regions)], dtype=object)
        self.has_content = model.component("content") is not None
        self.neighbour_role = next((role for role in NEIGHBOUR_ROLES if model.component(role) is not None),
                                   "collaborative")

    @classmethod
    def of(cls, engine) -> Explainer:
        """The explainer of an engine, naming items by their catalog titles (their ids where untitled)."""
        titles = catalog_text(engine.catalog, "title")
        titles = np.where([title is None for title in titles], np.asarray(engine.items.ids, dtype=object), titles)
        return cls(engine, titles.astype(object), label_text(engine.catalog, "region"))

    def reason_ids(self, codes: np.ndarray, bought: np.ndarray, tier: int | None) -> np.ndarray:
        """Why each of ``codes`` suits a buyer of city tier ``tier`` who bought ``bought``, as ids into
        :attr:`reason_texts` (int32): the purchase the collaborative model names, else the one the
        content model names, else ``MATCHES_HISTORY``; ``BOUGHT_BEFORE`` for repeat purchases; the
        popularity reason of the tier for all when ``bought`` is empty. A purchase of the item's own
        product (the item itself or another listing of it) is never named."""
        codes = np.asarray(codes, dtype=np.int64)
        bought = np.asarray(bought, dtype=np.int64)[:MAX_HISTORY]
        if len(bought) == 0:
            return np.full(len(codes), popular_id(tier), dtype=np.int32)
        ids = np.full(len(codes), MATCHES_HISTORY, dtype=np.int32)
        open_rows = np.arange(len(codes))
        for source, model in enumerate(self.sources):
            found = self._explaining_purchases(model, codes[open_rows], bought)
            named = found >= 0
            ids[open_rows[named]] = bought[found[named]] * len(self.sources) + source
            open_rows = open_rows[~named]
            if len(open_rows) == 0:  # the usual case after the collaborative model
                break
        ids[(codes[:, None] == bought[None, :]).any(axis=1)] = BOUGHT_BEFORE
        return ids

    def _explaining_purchases(self, model, codes: np.ndarray, bought: np.ndarray) -> np.ndarray:
        """``model.explaining_purchases(codes, bought)``, never naming a purchase of the item's own
        product (the item itself or another listing of it)."""
        own = None if self.products is None else self.products[codes][:, None] == self.products[bought][None, :]
        return model.explaining_purchases(codes, bought, own)

    def texts(self, codes: np.ndarray, bought: np.ndarray, tier: int | None) -> list[str]:
        """The full reasons (with the items' suffixes) of :meth:`reason_ids`, as strings."""
        ids = self.reason_ids(codes, bought, tier)
        return [str(self.reason_texts[i]) + self.suffix[code] for i, code in zip(ids.tolist(), codes.tolist())]

    def similar(self, query: int, cold: bool) -> str:
        """The reason (without suffix) for the neighbours of item ``query``: by content when the item
        is ``cold`` (nobody bought it) and the model has content, else by the model whose
        neighbours the engine gives."""
        role = "content" if cold and self.has_content else self.neighbour_role
        return SIMILAR_TEMPLATES[role].format(self.titles[query])
