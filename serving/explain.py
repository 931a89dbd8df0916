"""Short, honest reasons for why an item is shown.

* Personalised lists: "bought by buyers who bought <title>", naming the buyer's purchased item
  closest to the recommended one by the collaborative model's item vectors (cosine); when no
  purchase is collaboratively close (e.g. a never-bought item surfaced by the content model),
  "similar to <title>" by the content vectors; "you bought this before" for repeat purchases.
* Cold-start lists and /v1/popular: "popular with tier-N buyers" ("popular with buyers" when the
  tier is unknown).
* Similar items: "bought by the same buyers as <title>" or, for items nobody has bought yet
  (served by the content model), "similar in content to <title>".
* Items from a priority region or in the long tail get "; from <region>", so niche goods say
  where they come from.

Every reason is a *reason id* into :attr:`Explainer.reason_texts` (the texts naming a purchase, one
per item and vector set, then the popularity texts of each city tier and the fixed texts) plus
the item's suffix (:attr:`Explainer.suffix`), except the similar-items reason, one text per
request. Everything is precomputed at load time (unit vectors, texts, suffixes); a request costs
one small ``k x history`` product per vector set.
"""
from __future__ import annotations

import numpy as np

from recommender.contract import MAX_CITY_TIER
from recommender.models.base import LinearRecommender
from recommender.models.checks import unit_rows

CONTENT = "content"
NON_COLLABORATIVE = ("content", "popularity")
MIN_SIMILARITY = 0.2  # below this cosine a purchase is not named as the reason
MAX_HISTORY = 500  # a buyer's purchases compared per request (bounds the product for bulk buyers)
# reason ids with a fixed text: negative, so they index the end of Explainer.reason_texts, after the
# popularity texts of tiers 0 (unknown) .. MAX_CITY_TIER
FIXED_REASONS = ("you bought this before", "matches your purchase history")
BOUGHT_BEFORE, MATCHES_HISTORY = -2, -1


def popular_text(tier: int) -> str:
    """The popularity reason of city tier ``tier`` (0: unknown)."""
    return f"popular with tier-{tier} buyers" if tier else "popular with buyers"


def popular_id(tier: int | None) -> int:
    """The reason id of :func:`popular_text` (``tier`` None or 0: unknown)."""
    tier = tier or 0
    if not 0 <= tier <= MAX_CITY_TIER:
        raise ValueError(f"city tier {tier} outside 0..{MAX_CITY_TIER}")
    return tier - (MAX_CITY_TIER + 1) - len(FIXED_REASONS)


def _unit_rows(vectors) -> np.ndarray | None:
    """Unit-length rows of item vectors (None when there are none to compare)."""
    if vectors is None or np.ndim(vectors) != 2 or np.shape(vectors)[1] == 0:
        return None
    return np.ascontiguousarray(unit_rows(np.asarray(vectors, dtype=np.float32)))


def _component_vectors(model, wanted) -> np.ndarray | None:
    """Item vectors of the first linear component whose name passes ``wanted``."""
    for name, component in getattr(model, "components", []):
        if wanted(name) and isinstance(component, LinearRecommender):
            return component.item_vectors()
    return None


def niche_flags(engine) -> np.ndarray:
    """Items that should say where they come from: priority-region tag or long tail (the
    re-ranker's item groups)."""
    groups = engine.reranker.groups_
    return np.asarray(groups.priority_region, dtype=bool) | np.asarray(groups.tail, dtype=bool)


class Explainer:
    """Reasons for lists of item codes of one engine (build once per loaded model)."""

    def __init__(self, engine, titles: np.ndarray, regions: np.ndarray):
        self.titles = titles
        model = engine.model
        collaborative = _unit_rows(_component_vectors(model, lambda name: name not in NON_COLLABORATIVE))
        content = _unit_rows(_component_vectors(model, lambda name: name == CONTENT))
        if collaborative is None and content is None and getattr(model, "is_linear", False):
            content = _unit_rows(model.item_vectors())  # whole-model vectors as a last resort
        self.n_items = len(titles)
        # the vector sets a purchase is compared by, in order of preference, and their reason texts;
        # reason id ``source * n_items + purchase`` names a purchase, the last ids are the fixed texts
        sources = [(vectors, template) for vectors, template in ((collaborative, "bought by buyers who bought {}"),
                                                                 (content, "similar to {}")) if vectors is not None]
        self.sources = [vectors for vectors, _ in sources]
        named = [template.format(title) for _, template in sources for title in titles]
        popular = [popular_text(tier) for tier in range(MAX_CITY_TIER + 1)]
        self.reason_texts = np.array(named + popular + list(FIXED_REASONS), dtype=object)
        flags = niche_flags(engine)
        self.suffix = np.array([f"; from {region}" if flag and region else ""
                                for flag, region in zip(flags, regions)], dtype=object)

    def reason_ids(self, codes: np.ndarray, bought: np.ndarray, tier: int | None) -> np.ndarray:
        """Why each of ``codes`` suits a buyer of city tier ``tier`` who bought ``bought``, as ids into
        :attr:`reason_texts` (int32): the closest purchase by the collaborative vectors, else by the
        content vectors, else ``MATCHES_HISTORY``; ``BOUGHT_BEFORE`` for repeat purchases; the
        popularity reason of the tier for all when ``bought`` is empty. A few array operations
        per list, whatever its length."""
        codes = np.asarray(codes, dtype=np.int64)
        bought = np.asarray(bought, dtype=np.int64)[:MAX_HISTORY]
        if len(bought) == 0:
            return np.full(len(codes), popular_id(tier), dtype=np.int32)
        ids = np.full(len(codes), MATCHES_HISTORY, dtype=np.int32)
        explained = np.zeros(len(codes), dtype=bool)
        rows = np.arange(len(codes))
        for source, vectors in enumerate(self.sources):
            similarity = vectors[codes] @ vectors[bought].T  # (list x history), one small product
            best = similarity.argmax(axis=1)
            close = ~explained & (similarity[rows, best] >= MIN_SIMILARITY)
            ids[close] = source * self.n_items + bought[best[close]]
            explained |= close
            if explained.all():  # the usual case after the collaborative vectors
                break
        ids[(codes[:, None] == bought[None, :]).any(axis=1)] = BOUGHT_BEFORE
        return ids

    def similar(self, query: int, source: str) -> str:
        """The reason (without suffix) for the neighbours of item ``query``; ``source`` names the model
        that found them: "content", "popularity" (same category) or anything else (collaborative)."""
        template = {"content": "similar in content to {}",
                    "popularity": "popular in the same category as {}"}.get(source, "bought by the same buyers as {}")
        return template.format(self.titles[query])
