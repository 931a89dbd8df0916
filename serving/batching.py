"""Coalescing concurrent recommendation requests into one engine call.

A request the precomputed lists cannot answer (a filter, another niche knob, ...) costs a
product with the item vectors, a top-k and a re-ranking. Scored together, buyers share the
re-ranker's numpy steps and the calls' fixed costs (on the 100k x 20k demo model, with a wide
filter: about 590 us of CPU for one buyer alone, 260 us each in a batch of 16). So such requests
do not call the engine themselves: they queue in a :class:`RecommendationBatcher`, which runs
once per turn of the event loop (the requests parsed in one turn reach it together) and answers
every queued request with one ``engine.recommend`` call per group of identical options. Under light load a batch is one
request and nothing waits; under load the batches grow on their own.
"""
from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import numpy as np

from recommender.engine import RecommendationEngine

Row = tuple[np.ndarray, np.ndarray]  # one buyer's codes and scores
Queued = tuple[int, int | None, asyncio.Future[Row]]  # a buyer's code, tier override and answer


class RecommendationBatcher:
    """Queues ``engine.recommend`` calls for single buyers and runs them in batches."""

    def __init__(self) -> None:
        # by (engine, availability, options' key): the engine, the options and the requests queued
        self._pending: dict[tuple[int, int, Hashable], tuple[RecommendationEngine, dict[str, Any], list[Queued]]] = {}
        self._scheduled = False

    async def recommend(self, engine: RecommendationEngine, key: Hashable, user_code: int, tier: int | None,
                        available: np.ndarray | None = None, **options: Any) -> Row:
        """One buyer's ``engine.recommend(..., available=available, **options)`` row (codes,
        scores); ``key`` identifies ``options`` (requests with equal keys, engines and
        availabilities are batched together), ``tier`` overrides the buyer's city tier."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Row] = loop.create_future()
        group = self._pending.setdefault((id(engine), id(available), key),
                                         (engine, {**options, "available": available}, []))
        group[2].append((user_code, tier, answer))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)
        return await answer

    def _run(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for engine, options, requests in pending.values():
            users = np.array([user for user, _, _ in requests], dtype=np.int64)
            tiers = None
            if any(tier is not None for _, tier, _ in requests):  # 0: keep the stored tier
                tiers = np.array([tier or 0 for _, tier, _ in requests], dtype=np.int8)
            try:
                codes, scores = engine.recommend(users, tiers=tiers, **options)
            except Exception as exc:  # every request of the batch fails the same way
                for _, _, answer in requests:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for row, (_, _, answer) in enumerate(requests):
                if not answer.done():  # not cancelled by a client that went away
                    answer.set_result((codes[row], scores[row]))
