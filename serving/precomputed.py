"""Every known buyer's default recommendation list, computed once when a model is loaded.

A model and the purchase histories it holds never change while it is served, so the answer to
the most common request (a known buyer, no filters, the model's default niche knob, purchases
excluded, the stored city tier) is fixed: it is computed for every training buyer at load time,
to ``depth`` items (the re-ranker's candidate count), and a request slices it. So is the
cold-start list of each city tier (0: unknown), which every unknown buyer of that tier gets. This is
exact, not a cache that can go stale: the niche re-ranker is greedy, position by position, so the first
``k`` items of the ``depth``-item list are the ``k``-item list (``tests/test_serving_fast_path.py``
checks it against the engine). The reasons of the known buyers' items are precomputed too (as
reason ids, :meth:`recommender.explain.Explainer.reason_ids`): an item's reason depends only on the item
and the buyer's purchases. Other requests are computed as before.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recommender.contract import MAX_CITY_TIER
from recommender.engine import RecommendationEngine
from recommender.explain import MATCHES_HISTORY, Explainer
from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.seasons import request_week
from recommender.progress import progress_bar

log = logging.getLogger(__name__)

MAX_BYTES = 512 << 20  # 100k buyers x 100 items take 120 MB
BYTES_PER_ENTRY = 12  # item code, score and reason id


class Listed(NamedTuple):
    """A list to answer with: item codes (int64) and scores, best first, all valid; and the reason
    ids of :meth:`recommender.explain.Explainer.reason_ids` when they were precomputed (else None)."""

    codes: np.ndarray
    scores: np.ndarray
    reason_ids: np.ndarray | None = None


def valid_prefix(codes: np.ndarray, scores: np.ndarray) -> Listed:
    """A list of the engine (``-1`` / ``-inf`` padding where fewer items qualify) without its padding."""
    keep = (codes >= 0) & np.isfinite(scores)
    return Listed(codes[keep], scores[keep])


@dataclass(frozen=True)
class DefaultLists:
    """Item codes (int32, -1 padding), scores (float32), valid lengths and reason ids (int32) of
    each training buyer's default list, and each city tier's cold-start list (rows
    0..MAX_CITY_TIER); ``week``: the week of the year whose season they were ranked for (None: the
    model weighs no season), after which they are computed again per request."""

    codes: np.ndarray
    scores: np.ndarray
    lengths: np.ndarray
    reason_ids: np.ndarray
    cold_codes: np.ndarray
    cold_scores: np.ndarray
    week: int | None = None

    @property
    def depth(self) -> int:
        return int(self.codes.shape[1])

    @classmethod
    def compute(cls, engine: RecommendationEngine, explainer: Explainer, depth: int | None = None,
                max_bytes: int = MAX_BYTES, threads: int = 2) -> DefaultLists | None:
        """The lists of every training buyer, ``depth`` items each (default: the re-ranker's
        candidate count), with the reasons ``explainer`` gives; None when they would take more
        than ``max_bytes``."""
        depth = min(engine.n_items, depth or engine.reranker.candidates)
        n_users = len(engine.users)
        if n_users * depth * BYTES_PER_ENTRY > max_bytes:
            log.info("default lists not precomputed: %d buyers x %d items exceed %d MB", n_users, depth,
                     max_bytes >> 20)
            return None
        start = time.perf_counter()
        week = request_week() if engine.season_factor and engine.seasons is not None else None
        codes, scores = engine.recommend_many(np.arange(n_users), depth, threads=threads)
        lengths = ((codes >= 0) & np.isfinite(scores)).sum(axis=1)  # padding is at the end of a list
        reason_ids = np.full(codes.shape, MATCHES_HISTORY, dtype=np.int32)
        for user in progress_bar(range(n_users), desc="reasons", unit="buyer", mininterval=2, disable=n_users < 10_000):
            n = lengths[user]
            reason_ids[user, :n] = explainer.reason_ids(codes[user, :n], engine.bought(user),
                                                        int(engine.user_tiers[user]))
        tiers = np.arange(MAX_CITY_TIER + 1, dtype=np.int8)
        cold_codes, cold_scores = engine.recommend(np.full(len(tiers), UNKNOWN_CODE), depth, tiers=tiers)
        log.info("default lists of %d buyers (%d items each) computed in %.1f s", n_users, depth,
                 time.perf_counter() - start)
        return cls(codes.astype(np.int32), scores, lengths.astype(np.int32), reason_ids, cold_codes.astype(np.int32),
                   cold_scores, week)

    def top(self, user_code: int, k: int, tier: int | None = None) -> Listed | None:
        """The first ``k`` items of a training buyer's list (``tier`` None: the stored one), or of
        the cold-start list of ``tier`` for an unknown buyer (``UNKNOWN_CODE``); None when ``k``
        exceeds the depth, a known buyer's tier is overridden or the season's week has passed."""
        if k > self.depth or (self.week is not None and request_week() != self.week):
            return None
        if user_code == UNKNOWN_CODE:
            row = tier or 0
            return valid_prefix(self.cold_codes[row, :k].astype(np.int64), self.cold_scores[row, :k])
        if tier is not None:
            return None
        n = min(k, self.lengths[user_code])
        return Listed(self.codes[user_code, :n].astype(np.int64), self.scores[user_code, :n],
                      self.reason_ids[user_code, :n])
