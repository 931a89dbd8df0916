"""serving.item_json: the joined pieces are the bytes orjson writes for the items as dicts."""
from __future__ import annotations

import numpy as np
import orjson
import pytest

from recommender.contract import MAX_CITY_TIER
from recommender.explain import FIXED_REASONS, popular_id, popular_text
from serving.item_json import ItemsJson

RECORDS = [
    {"item_id": "A-1", "title": 'Yixing "Zisha" Teapot \\ 200 ml', "region": "Yixing, Wuxi, Jiangsu",
     "merchant_id": "M-1", "category": "ceramics", "price": 398.0},
    {"item_id": "B-2", "title": "凤凰 palm-leaf fan\n", "region": None, "merchant_id": None, "category": None,
     "price": None},
    {"item_id": "C-3", "title": "Huili pomegranates, 5 kg", "region": "Huili, Liangshan, Sichuan",
     "merchant_id": "M-3", "category": "fruit", "price": 59.9},
]
REASONS = ["bought by buyers who bought A-1", 'similar to "B-2"', "popular with buyers", "you bought this before",
           "matches your purchase history"]
SUFFIXES = ["; from Yixing, Wuxi, Jiangsu", "", "; from Huili, Liangshan, Sichuan"]


def as_dicts(codes, scores, reasons, campaigns=None):
    texts = [reasons] * len(codes) if isinstance(reasons, str) else [REASONS[i] for i in reasons]
    shortest = [float(str(score)) for score in np.asarray(scores, dtype=np.float32)]  # float32's shortest decimal
    return [{**RECORDS[c], "score": s, "reason": t + SUFFIXES[c], "campaign": (campaigns or {}).get(position)}
            for position, (c, s, t) in enumerate(zip(codes, shortest, texts))]


@pytest.mark.parametrize("codes, scores, reasons, campaigns", [
    ([2, 0, 1], [7.0684851, 0.0000004, -1.5], [0, 1, -1], {}),
    ([0, 1], np.array([3.4e38, 123456.78], dtype=np.float32), [2, 3], {1: 'craft "2026"'}),
    ([1], np.array([1e-7], dtype=np.float32), [-2], {0: "c"}),
    ([0, 0, 2, 1], [3.25, 2.0, 1e9, 0.1], 'bought by the same buyers as "x" \\ y', {0: "a", 3: "b"}),
    ([], [], [], {}),
])
def test_items_are_the_bytes_of_encoding_the_dicts(codes, scores, reasons, campaigns):
    encoder = ItemsJson(RECORDS, REASONS, SUFFIXES)
    ids = reasons if isinstance(reasons, str) else np.asarray(reasons, dtype=np.int32)
    answer = orjson.dumps({"items": encoder.items(np.asarray(codes, dtype=np.int64), np.asarray(scores), ids,
                                                  campaigns)})
    assert answer == orjson.dumps({"items": as_dicts(codes, scores, reasons, campaigns)})


def test_popular_ids_index_the_popularity_texts():
    texts = ["named"] + [popular_text(tier) for tier in range(MAX_CITY_TIER + 1)] + list(FIXED_REASONS)
    assert [texts[popular_id(tier)] for tier in (None, 0, 1, 5)] == [
        "popular with buyers", "popular with buyers", "popular with tier-1 buyers", "popular with tier-5 buyers"]


def test_scores_need_not_be_contiguous():
    encoder = ItemsJson(RECORDS, REASONS, SUFFIXES)
    scores = np.array([[3.0, 9.0], [2.0, 9.0], [1.0, 9.0]], dtype=np.float32)[:, 0]  # a strided column
    answer = orjson.dumps({"items": encoder.items(np.array([0, 1, 2]), scores, np.array([0, 0, 0]))})
    assert answer == orjson.dumps({"items": as_dicts([0, 1, 2], scores, [0, 0, 0])})


@pytest.mark.parametrize("tier", [-1, MAX_CITY_TIER + 1])
def test_popular_ids_of_tiers_out_of_range_are_refused(tier):
    with pytest.raises(ValueError, match="city tier"):
        popular_id(tier)
