"""Every known buyer's default recommendation list, computed once when a model is loaded.

A model and the purchase histories it holds never change while it is served, so the answer to
the most common request (a known buyer, no filters, the model's default niche knob, purchases
excluded, the stored city tier) is fixed: it is computed for every training buyer at load time,
to ``depth`` items (the re-ranker's candidate count), and a request slices it. This is exact, not
a cache that can go stale: the niche re-ranker is greedy, position by position, so the first
``k`` items of the ``depth``-item list are the ``k``-item list (``tests/test_serving_fast_path.py``
checks it against the engine). Other requests are computed as before.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from recommender.engine import RecommendationEngine

log = logging.getLogger(__name__)

MAX_BYTES = 512 << 20  # 100k buyers x 100 items take 80 MB


@dataclass(frozen=True)
class DefaultLists:
    """Item codes (int32, -1 padding) and scores (float32) of each training buyer's default list."""

    codes: np.ndarray
    scores: np.ndarray

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
        log.info("default lists of %d buyers (%d items each) computed in %.1f s", n_users, depth,
                 time.perf_counter() - start)
        return cls(codes.astype(np.int32), scores)

    def top(self, user_code: int, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The first ``k`` items of a training buyer's list, or None when ``k`` exceeds the depth."""
        if k > self.depth or user_code < 0:
            return None
        return self.codes[user_code, :k].astype(np.int64), self.scores[user_code, :k]
