"""Features: id encoders, interaction confidences and weightings, buyer tiers, item content."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.features.content import ItemContentFeatures
from recommender.features.context import buyer_tiers
from recommender.features.encoders import UNKNOWN_CODE, IdEncoder
from recommender.features.interactions import (
    InteractionWeighting,
    apply_weighting,
    confidence_matrix,
    interaction_weights,
    recency_matrix,
)
from recommender.features.training_data import UserBatch, build_training_data
from recommender.loaders import load_dataset


def purchases_frame(users, items, days, quantity=None, tiers=None):
    n = len(users)
    return pd.DataFrame({
        "user_id": pd.Categorical(users), "item_id": pd.Categorical(items),
        "timestamp": (np.datetime64("2025-01-01T00:00:00")
                      + np.asarray(days) * np.timedelta64(1, "D")).astype("datetime64[s]"),
        "quantity": np.asarray(quantity if quantity is not None else np.ones(n), dtype="float32"),
        "city_tier": np.asarray(tiers if tiers is not None else np.zeros(n), dtype="int8"),
    })


def test_id_encoder_round_trip(tmp_path):
    encoder = IdEncoder(["u-1", "ü-2", "3"])
    codes = encoder.encode(["3", "u-1", "missing"])
    assert codes.tolist() == [2, 0, UNKNOWN_CODE]
    assert encoder.decode([2, 0]).tolist() == ["3", "u-1"]
    assert [encoder.code_of(i) for i in ["3", "u-1", "missing", ""]] == [2, 0, UNKNOWN_CODE, UNKNOWN_CODE]
    encoder.save(tmp_path / "ids.json")
    loaded = IdEncoder.load(tmp_path / "ids.json")
    assert loaded.ids.tolist() == encoder.ids.tolist()
    with pytest.raises(ValueError, match="duplicate ids"):
        IdEncoder(["a", "a"])


def test_confidence_sums_quantities_and_decays_with_age():
    frame = purchases_frame(["a", "a", "b"], ["x", "x", "y"], [0, 100, 100], quantity=[2, 1, 1])
    plain = confidence_matrix(frame, (2, 2))
    assert plain.toarray().tolist() == [[3.0, 0.0], [0.0, 1.0]]
    decayed = confidence_matrix(frame, (2, 2), half_life_days=100)
    assert decayed[0, 0] == pytest.approx(2 * 0.5 + 1)  # 100 days old at half-life 100: halved
    assert decayed.dtype == np.float32


@pytest.mark.parametrize("scheme", ["raw", "log", "bm25", "tfidf", "binary"])
def test_weightings_keep_shape_and_pattern(scheme):
    frame = purchases_frame(["a", "a", "b", "c"], ["x", "y", "y", "y"], [0, 0, 0, 0], quantity=[5, 1, 1, 1])
    confidence = confidence_matrix(frame, (3, 2))
    weighted = apply_weighting(confidence, InteractionWeighting(scheme=scheme, half_life_days=None))
    assert weighted.shape == (3, 2) and weighted.dtype == np.float32
    assert (weighted.toarray() > 0).tolist() == (confidence.toarray() > 0).tolist()  # a purchase stays positive


def test_binary_weighting_ignores_quantities_and_age():
    frame = purchases_frame(["a", "a", "b"], ["x", "y", "y"], [0, 300, 0], quantity=[7, 1, 2])
    confidence, weights = interaction_weights(frame, (2, 2), InteractionWeighting("binary", 30.0))
    assert weights.toarray().tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert confidence[0, 0] < 7  # the confidence still decays (the niche re-ranker reads it)


def test_recency_weighting_decays_the_latest_purchase_and_ignores_quantity():
    # pair (a, x) bought 100 and 0 days before the last purchase: its latest purchase counts, so 1
    frame = purchases_frame(["a", "a", "a", "b"], ["x", "x", "y", "x"], [0, 100, 0, 100], quantity=[9, 1, 3, 1])
    weights = recency_matrix(frame, (2, 2), half_life_days=100)
    assert weights[0, 0] == pytest.approx(1.0)  # latest purchase of (a, x) is the last day
    assert weights[0, 1] == pytest.approx(0.5)  # (a, y) last bought 100 days earlier, quantity 3 ignored
    assert weights[1, 0] == pytest.approx(1.0)
    assert weights.dtype == np.float32
    _, via_config = interaction_weights(frame, (2, 2), InteractionWeighting("recency", 100.0))
    assert (via_config != weights).nnz == 0
    assert recency_matrix(frame, (2, 2)).toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]  # no half-life: binary
    with pytest.raises(ValueError, match="purchase times"):
        apply_weighting(confidence_matrix(frame, (2, 2)), InteractionWeighting("recency", 100.0))


def test_log_weighting_damps_large_quantities():
    frame = purchases_frame(["a", "b"], ["x", "x"], [0, 0], quantity=[100, 1])
    weighted = apply_weighting(confidence_matrix(frame, (2, 1)), InteractionWeighting("log", None))
    assert weighted[0, 0] == pytest.approx(np.log1p(100))


def test_bad_weighting_is_refused():
    with pytest.raises(ValueError, match="weighting scheme must be one of"):
        InteractionWeighting(scheme="squared")
    with pytest.raises(ValueError, match="half_life_days must be positive"):
        InteractionWeighting(half_life_days=0)


def test_buyer_tiers_take_the_most_frequent_known_tier_for_many_buyers():
    n = 300  # more buyers than an int8 category code can hold
    users = [f"u{i:03d}" for i in range(n) for _ in range(3)]
    tiers = [t for i in range(n) for t in ((1, 1, 2) if i % 2 else (0, 0, 3))]
    frame = purchases_frame(users, ["x"] * len(users), [0] * len(users), tiers=tiers)
    result = buyer_tiers(frame, n)
    assert result.dtype == np.int8
    assert result[1] == 1 and result[0] == 3  # unknown tiers do not count
    assert (result[1::2] == 1).all() and (result[::2] == 3).all()


def test_content_features_rank_a_new_item_by_its_text(contract_files):
    data = load_dataset(*contract_files)
    features = ItemContentFeatures().fit(data.catalog)
    matrix = features.transform(data.catalog)
    assert matrix.shape[0] == len(data.catalog)
    assert np.allclose(np.sqrt(matrix.multiply(matrix).sum(axis=1)), 1.0)
    new = data.catalog.iloc[[0]].assign(item_id="NEW", title="Hand-woven palm-leaf fan, large")
    similarity = (features.transform(new) @ matrix.T).toarray().ravel()
    assert similarity.argmax() == 0  # the other palm-leaf fan


def test_content_embedding_keeps_the_content_neighbourhoods(small_market):
    data = build_training_data(load_dataset(*small_market), content_dimensions=64)
    assert data.item_embedding.shape == (data.n_items, 64) and data.item_embedding.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.item_embedding, axis=1), 1.0, rtol=1e-5)
    exact = (data.item_content @ data.item_content.T).toarray()
    np.fill_diagonal(exact, -np.inf)
    embedded = data.item_embedding @ data.item_embedding.T
    np.fill_diagonal(embedded, -np.inf)
    exact_top5 = np.argsort(-exact, axis=1)[:, :5]
    kept = (exact_top5 == embedded.argmax(axis=1)[:, None]).any(axis=1).mean()
    assert kept >= 0.9, f"only {kept:.0%} of items keep a nearest neighbour from their exact top 5"


def test_training_data_aligns_codes_and_builds_batches(contract_files):
    data = build_training_data(load_dataset(*contract_files))
    assert data.user_items.shape == (4, 4) and data.item_content.shape[0] == 4
    assert data.users.ids.tolist() == ["u1", "u2", "u3", "u4"]
    assert data.items.ids.tolist() == ["FH-1", "JDZ-2", "HL-3", "XX-4"]
    assert data.user_tiers.tolist() == [1, 2, 3, 0]
    batch = data.batch(np.array([2, 0]))
    assert batch.history.shape == (2, 4) and batch.tiers.tolist() == [3, 1]
    cold = UserBatch.cold([1, 2, 0], data.n_items)
    assert cold.history.nnz == 0 and cold.users.tolist() == [UNKNOWN_CODE] * 3
