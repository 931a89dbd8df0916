"""Concurrent recommendation requests are scored together, with the answers they would get alone."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from recommender.artifacts import load_model_directory
from recommender.features.encoders import UNKNOWN_CODE
from serving.batching import RecommendationBatcher


@pytest.fixture(scope="module")
def engine(small_model):
    return load_model_directory(small_model)[0]


def test_concurrent_requests_share_engine_calls_and_get_their_own_answers(engine, monkeypatch):
    calls = []
    recommend = engine.recommend

    def counted(users, k, **options):
        calls.append(len(users))
        return recommend(users, k, **options)

    monkeypatch.setattr(engine, "recommend", counted)
    mask = engine.available & (np.arange(engine.n_items) % 2 == 0)
    requests = [(user, tier, key) for user in [0, 1, 2, UNKNOWN_CODE] for tier in [None, 2] for key in ["even", "all"]]

    async def ask_all():
        batcher = RecommendationBatcher()
        return await asyncio.gather(*[
            batcher.recommend(engine, key, user, tier, k=7, niche=0.4, mask=mask if key == "even" else None)
            for user, tier, key in requests])

    answers = asyncio.run(ask_all())
    assert sorted(calls) == [8, 8]  # one call per group of equal options
    monkeypatch.setattr(engine, "recommend", recommend)
    for (user, tier, key), (codes, scores) in zip(requests, answers):
        tiers = None if tier is None else np.array([tier], dtype=np.int8)
        alone_codes, alone_scores = engine.recommend(np.array([user]), 7, niche=0.4, tiers=tiers,
                                                     mask=mask if key == "even" else None)
        np.testing.assert_array_equal(codes, alone_codes[0])
        np.testing.assert_allclose(scores, alone_scores[0], rtol=1e-5)
        if key == "even":
            assert (codes[codes >= 0] % 2 == 0).all()


def test_an_engine_error_fails_every_request_of_its_batch(engine, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "recommend", broken)

    async def ask_two():
        batcher = RecommendationBatcher()
        return await asyncio.gather(*[batcher.recommend(engine, "key", user, None, k=3) for user in (0, 1)],
                                    return_exceptions=True)

    assert [str(error) for error in asyncio.run(ask_two())] == ["boom", "boom"]
