"""Popularity per city tier: the baseline, and what buyers with no history are shown.

Popularity is measured on the time-decayed ``confidence`` matrix of :class:`TrainingData`
(quantities times ``0.5 ** (age / half_life)``), so it is *recent* popularity. Each buyer's
confidences can first be damped (``damping="log"``: ``log1p``) so that one wholesale buyer does
not outweigh many households, or counted once (``damping="buyers"``: popularity by distinct buyers,
whatever the time).

Shares and shrinkage
--------------------
For every item ``i`` the global share is ``g_i = m_i / sum_j m_j`` where ``m_i`` is the item's
(damped, decayed) mass over all buyers, unknown tier included. For a city tier ``t`` with
``n_t`` buyers and tier share ``s_ti = m_ti / sum_j m_tj``, the tier popularity is the blend

    p_ti = w_t * s_ti + (1 - w_t) * g_i,    w_t = n_t / (n_t + smoothing)

i.e. the posterior mean of a tier distribution under a prior centred on the global shares that
is worth ``smoothing`` pseudo-buyers (an empirical-Bayes / credibility blend): a tier with few
buyers stays close to the global ranking, a tier with many buyers follows its own. A tier with no
buyers gets the global shares. Rows sum to 1.

Scoring returns, for each buyer, the row of their tier (``UNKNOWN_TIER`` = 0 gets the global
shares); the history is ignored.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.columns import TEXT
from recommender.contract import MAX_CITY_TIER, UNKNOWN_TIER
from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import LinearRecommender
from recommender.models.checks import check_added_items, check_batch, check_items, check_non_negative_int
from recommender.models.family import Family, Move, Start
from recommender.ranking import top_k

DAMPINGS = ("none", "log", "buyers")


class PopularityRecommender(LinearRecommender):
    """Recent item popularity per buyer city tier, shrunk towards global popularity.

    Parameters
    ----------
    smoothing : float, default 50.0
        Strength of the global prior in pseudo-buyers: tier ``t`` with ``n_t`` buyers gets weight
        ``n_t / (n_t + smoothing)`` on its own shares (see the module docstring). 0 uses each
        tier's own shares as they are (tiers with buyers); large values give every tier the
        global ranking.
    damping : {"log", "none", "buyers"}, default "log"
        Applied to each buyer x item confidence before summing: ``"log"`` uses ``log1p`` so bulk
        buyers count less than their quantities; ``"none"`` sums decayed quantities as they are;
        ``"buyers"`` counts every buyer of an item once (distinct buyers, no decay).

    Learned attributes
    ------------------
    popularity_ : ndarray float32 (n_items,)
        Global recent popularity shares (sum to 1).
    tier_popularity_ : ndarray float32 (MAX_CITY_TIER + 1, n_items)
        Row ``t`` is the blended popularity of tier ``t``; row 0 (unknown) equals ``popularity_``.
    tier_buyers_ : ndarray int64 (MAX_CITY_TIER + 1,)
        Training buyers per tier (index 0 = unknown tier).
    tier_weight_ : ndarray float64 (MAX_CITY_TIER + 1,)
        Weight of each tier's own shares in its blend (0 for the unknown tier).
    item_category_ : ndarray int64 (n_items,)
        Catalog category code per item, for :meth:`similar_items`.
    n_items_ : int
    """

    role = "popularity"

    def __init__(self, smoothing: float = 50.0, damping: str = "log"):
        self.smoothing = smoothing
        self.damping = damping

    def _check_params(self) -> None:
        if isinstance(self.smoothing, bool) or not isinstance(self.smoothing, (int, float, np.number)) \
                or not np.isfinite(self.smoothing) or self.smoothing < 0:
            raise ValueError(f"PopularityRecommender: smoothing must be a finite number >= 0, got {self.smoothing!r}")
        if self.damping not in DAMPINGS:
            raise ValueError(f"PopularityRecommender: damping must be one of {DAMPINGS}, got {self.damping!r}")

    def fit(self, data: TrainingData) -> PopularityRecommender:
        """Per-tier and global shares of the (damped) decayed confidence mass of each item."""
        self._check_params()
        confidence = getattr(data, "confidence", None)
        if confidence is None or not sp.issparse(confidence):
            raise ValueError("PopularityRecommender.fit: data.confidence must be a sparse matrix (TrainingData)")
        n_users, n_items = confidence.shape
        tiers = np.asarray(data.user_tiers).reshape(-1).astype(np.int64)
        if len(tiers) != n_users:
            raise ValueError(f"PopularityRecommender.fit: {len(tiers)} buyer tiers for {n_users} buyers")
        if tiers.size and ((tiers < UNKNOWN_TIER) | (tiers > MAX_CITY_TIER)).any():
            raise ValueError(f"PopularityRecommender.fit: buyer tiers must be in {UNKNOWN_TIER}..{MAX_CITY_TIER}")
        if len(data.catalog) != n_items:
            raise ValueError(f"PopularityRecommender.fit: catalog has {len(data.catalog)} rows for {n_items} items")

        mass = sp.csr_matrix(confidence, dtype=np.float64, copy=True)
        if mass.nnz and (not np.isfinite(mass.data).all() or (mass.data < 0).any()):
            raise ValueError("PopularityRecommender.fit: confidence must be finite and non-negative")
        if self.damping == "log":
            mass.data = np.log1p(mass.data)
        elif self.damping == "buyers":
            mass.data = (mass.data > 0).astype(np.float64)
        n_tiers = MAX_CITY_TIER + 1
        # tiers x buyers indicator, so all tier sums are one sparse product
        indicator = sp.csr_matrix((np.ones(n_users), (tiers, np.arange(n_users))), shape=(n_tiers, n_users))
        tier_mass = np.asarray((indicator @ mass).todense(), dtype=np.float64)  # tiers x items
        global_mass = np.asarray(mass.sum(axis=0), dtype=np.float64).reshape(-1)

        total = global_mass.sum()
        glob = global_mass / total if total > 0 else np.full(n_items, 1.0 / max(n_items, 1))
        tier_totals = tier_mass.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(tier_totals > 0, tier_mass / tier_totals, glob)
        buyers = np.bincount(tiers, minlength=n_tiers).astype(np.int64)
        has_mass = tier_totals.reshape(-1) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(has_mass, buyers / (buyers + float(self.smoothing)), 0.0)
        weight = np.nan_to_num(weight, nan=0.0)
        weight[UNKNOWN_TIER] = 0.0  # unknown tier: global shares
        blended = weight[:, None] * shares + (1.0 - weight[:, None]) * glob[None, :]

        self.popularity_ = glob.astype(np.float32)
        self.tier_popularity_ = blended.astype(np.float32)
        self.item_tier_popularity_ = np.ascontiguousarray(self.tier_popularity_.T)
        self.tier_buyers_ = buyers
        self.tier_weight_ = weight
        self.item_category_ = _categories(data.catalog)
        self.n_items_ = int(n_items)
        return self

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> PopularityRecommender:
        """A copy that also ranks the added items: nobody bought them, so their popularity is 0."""
        self.check_fitted()
        n_added = len(check_added_items(catalog, embedding, self.n_items_, "PopularityRecommender.with_items"))
        other = copy.copy(self)
        other.popularity_ = np.concatenate([self.popularity_, np.zeros(n_added, dtype=np.float32)])
        other.tier_popularity_ = np.hstack([self.tier_popularity_,
                                            np.zeros((len(self.tier_popularity_), n_added), dtype=np.float32)])
        other.item_tier_popularity_ = np.ascontiguousarray(other.tier_popularity_.T)
        other.item_category_ = _categories(catalog)
        other.n_items_ = self.n_items_ + n_added
        return other

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """One-hot city tiers (float32, buyers x tiers): a buyer's scores are its tier's row."""
        self.check_fitted()
        check_batch(batch, None, self.n_items_, "PopularityRecommender.score")
        tiers = np.asarray(batch.tiers, dtype=np.int64).reshape(-1)
        return np.eye(MAX_CITY_TIER + 1, dtype=np.float32)[tiers]

    def item_vectors(self) -> np.ndarray:
        """Per-tier popularity of each item (float32, items x tiers); unknown tier -> global."""
        return self.item_tier_popularity_

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        """None: popularity does not follow from a buyer's purchases."""
        return np.full(len(items), -1, dtype=np.int64)

    def score(self, batch: UserBatch) -> np.ndarray:
        """The popularity row of each buyer's tier (float32, buyers x items); unknown tier -> global."""
        tiers = np.argmax(self.user_vectors(batch), axis=1)
        return np.asarray(self.tier_popularity_[tiers])

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Not co-purchase: the ``k`` globally most popular items of the same catalog category as
        each item (the item itself excluded), scored by ``popularity_``. Rows are padded with
        code -1 and score -inf when the category has fewer than ``k`` other items."""
        self.check_fitted()
        codes = check_items(items, self.n_items_, "PopularityRecommender.similar_items")
        k = check_non_negative_int(k, "k", "PopularityRecommender.similar_items")
        same = self.item_category_[None, :] == self.item_category_[codes][:, None]
        scores = np.where(same, self.popularity_[None, :], np.float32(-np.inf)).astype(np.float32)
        scores[np.arange(len(codes)), codes] = -np.inf
        return top_k(scores, k)


def _categories(catalog: pd.DataFrame) -> np.ndarray:
    """Each catalog row's category code (int64; all 0 without a category column)."""
    if "category" not in catalog:
        return np.zeros(len(catalog), dtype=np.int64)
    codes, _ = pd.factorize(catalog["category"].astype(TEXT), sort=True)
    return np.asarray(codes, dtype=np.int64)


GLOBAL_SMOOTHING = 1e9  # pseudo-buyers that give every tier the global shares


FAMILY = Family(
    "popularity", PopularityRecommender, parts=("searched", "blended", "floor"),
    starts=(Start({"smoothing": 50.0, "damping": "log"}),  # recent popularity per city tier
            Start({"smoothing": GLOBAL_SMOOTHING, "damping": "buyers"}, label="distinct buyers"),
            Start({"smoothing": 50.0, "damping": "log"}, {"scheme": "recency", "half_life_days": 14.0},
                  label="trending, 14-day half-life")),
    moves=(Move("smoothing", (0.1, 10.0)), Move("damping", ("none", "log", "buyers"), kind="set")))
