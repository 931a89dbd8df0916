"""Every known buyer's default recommendation list, computed once when a model is loaded.

A model and the purchase histories it holds never change while it is served, so the answer to
the most common request (a known buyer, no filters, the model's default niche knob, purchases
excluded, the stored city tier) is fixed: it is computed for every training buyer at load time,
to ``depth`` items (the re-ranker's candidate count), and a request slices it. So is the
cold-start list of each city tier (0: unknown), which every unknown buyer of that tier gets. This is exact, not
a cache that can go stale: the niche re-ranker is greedy, position by position, so the first
``k`` items of the ``depth``-item list are the ``k``-item list (``tests/test_serving_fast_path.py``
checks it against the engine). Other requests are computed as before.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from recommender.contract import MAX_CITY_TIER
from recommender.engine import RecommendationEngine
from recommender.features.encoders import UNKNOWN_CODE

log = logging.getLogger(__name__)

MAX_BYTES = 512 << 20  # 100k buyers x 100 items take 80 MB


@dataclass(frozen=True)
class DefaultLists:
    """Item codes (int32, -1 padding) and scores (float32) of each training buyer's default list,
    and of each city tier's cold-start list (rows 0..MAX_CITY_TIER)."""

    codes: np.ndarray
    scores: np.ndarray
    cold_codes: np.ndarray
    cold_scores: np.ndarray

    @property
    def depth(self) -> int:
        return self.codes.shape[1]

    @classmethod
    def compute(cls, engine: RecommendationEngine, depth: int | None = None, max_bytes: int = MAX_BYTES,
                threads: int = 2) -> DefaultLists | None:
        """The lists of every training buyer, ``depth`` items each (default: the re-ranker's
        candidate count); None when they would take more than ``max_bytes``."""
        depth = min(engine.n_items, depth or engine.reranker.candidates)
        n_users = len(engine.users)
        if n_users * depth * 8 > max_bytes:
            log.info("default lists not precomputed: %d buyers x %d items exceed %d MB", n_users, depth,
                     max_bytes >> 20)
            return None
        start = time.perf_counter()
        codes, scores = engine.recommend_many(np.arange(n_users), depth, threads=threads)
        tiers = np.arange(MAX_CITY_TIER + 1, dtype=np.int8)
        cold_codes, cold_scores = engine.recommend(np.full(len(tiers), UNKNOWN_CODE), depth, tiers=tiers)
        log.info("default lists of %d buyers (%d items each) computed in %.1f s", n_users, depth,
                 time.perf_counter() - start)
        return cls(codes.astype(np.int32), scores, cold_codes.astype(np.int32), cold_scores)

    def top(self, user_code: int, k: int, tier: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The first ``k`` items of a training buyer's list (``tier`` None: the stored one), or of
        the cold-start list of ``tier`` for an unknown buyer (``UNKNOWN_CODE``); None when ``k``
        exceeds the depth or a known buyer's tier is overridden."""
        if k > self.depth:
            return None
        if user_code == UNKNOWN_CODE:
            return self.cold_codes[tier or 0, :k].astype(np.int64), self.cold_scores[tier or 0, :k]
        if tier is not None:
            return None
        return self.codes[user_code, :k].astype(np.int64), self.scores[user_code, :k]
