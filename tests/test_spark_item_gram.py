"""The item-item models' distributed products on Spark against the same computed on the driver:
the Gram matrix ``X^T X`` EASE solves (:meth:`recommender.spark.interactions.SparkTrainingData.item_gram`)
RP3beta's random walk (:class:`recommender.models.spark_rp3beta.SparkRP3betaRecommender`) and item
k-NN's cosine similarities (:class:`recommender.models.spark_item_knn.SparkItemKNNRecommender`).
Spark in local mode, as in tests/test_spark.py (pyspark and Java 17+ on the machine).
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.features.interactions import InteractionWeighting
from recommender.features.training_data import TrainingData
from recommender.models.item_knn import ItemKNNRecommender
from recommender.models.rp3beta import RP3betaRecommender
from recommender.models.spark_item_knn import SparkItemKNNRecommender
from recommender.models.spark_rp3beta import SparkRP3betaRecommender
from recommender.spark.interactions import spark_training_data
from training.spark_train import spark_input

ITEMS = 12  # the last two items nobody buys


@pytest.fixture(scope="module")
def purchase_lines(spark, tmp_path_factory):
    """40 buyers, 1 to 6 purchase lines each over the first 10 items (repeats included), and a catalog of 12."""
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,timestamp,quantity,city_tier"]
    for buyer in range(40):
        for item in rng.choice(ITEMS - 2, int(rng.integers(1, 7))):
            lines.append(f"b{buyer},I-{item},2025-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 28)):02d},"
                         f"{int(rng.integers(1, 4))},{1 + buyer % 3}")
    folder = tmp_path_factory.mktemp("item_gram")
    (folder / "purchases.csv").write_text("\n".join(lines) + "\n")
    (folder / "catalog.csv").write_text("item_id,title\n" + "".join(f"I-{i},Item {i}\n" for i in range(ITEMS)))
    return spark_input(spark, folder / "purchases.csv", folder / "catalog.csv")


@pytest.mark.parametrize("scheme", ["binary", "bm25"])
def test_the_gram_matrix_on_spark_is_the_one_of_the_collected_matrix(purchase_lines, scheme):
    data = spark_training_data(purchase_lines.lines, purchase_lines.catalog, InteractionWeighting(scheme=scheme),
                               content_dimensions=4)
    try:
        assert data.n_items == ITEMS and data.user_items.nnz > 0
        for items in (None, np.array([0, 3, 4, 7, 11]), np.array([10, 11]), np.array([], dtype=np.int64)):
            on_spark = data.item_gram(items)
            local = TrainingData.item_gram(data, items)
            size = ITEMS if items is None else len(items)
            assert on_spark.shape == local.shape == (size, size)
            assert on_spark.dtype == np.float32 and on_spark.flags.f_contiguous  # as EASE's solve takes it
            np.testing.assert_allclose(on_spark, local, rtol=1e-6, atol=1e-6)
        full = data.item_gram()
        np.testing.assert_array_equal(full, full.T)
        assert not full[-2:].any() and full[:-2].diagonal().all()  # unbought items: zero rows
        if scheme == "binary":  # diagonal: buyers of the item; off it: buyers of both
            bought = data.user_items.toarray() > 0
            np.testing.assert_array_equal(full, bought.T.astype(int) @ bought.astype(int))
    finally:
        data.unpersist()


def test_the_gram_matrix_of_a_hand_made_matrix():
    x = sp.csr_matrix(np.array([[1.0, 2.0, 0.0, 0.0],
                                [0.0, 3.0, 1.0, 0.0],
                                [0.5, 0.0, 0.0, 0.0]], dtype=np.float32))
    data = TrainingData.__new__(TrainingData)  # only user_items is read
    data.user_items = x
    expected = np.array([[1.25, 2.0, 0.0, 0.0],
                         [2.0, 13.0, 3.0, 0.0],
                         [0.0, 3.0, 1.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0]])
    gram = data.item_gram()
    assert gram.dtype == np.float32 and gram.flags.f_contiguous
    np.testing.assert_array_equal(gram, expected)
    np.testing.assert_array_equal(data.item_gram(np.array([1, 2])), [[13.0, 3.0], [3.0, 1.0]])
    np.testing.assert_array_equal(data.item_gram(np.array([0, 3])), [[1.25, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("local, on_spark, params", [
    (RP3betaRecommender, SparkRP3betaRecommender, {"alpha": 1.0, "beta": 0.3, "neighbours": 3}),
    (RP3betaRecommender, SparkRP3betaRecommender, {"alpha": 0.7, "neighbours": 20}),
    (ItemKNNRecommender, SparkItemKNNRecommender, {"neighbours": 3, "beta": 0.2}),
    (ItemKNNRecommender, SparkItemKNNRecommender, {"neighbours": 20}),
], ids=["rp3beta-3", "rp3beta-20", "knn-cosine-3", "knn-cosine-20"])
def test_item_item_models_on_spark_learn_the_weights_of_the_local_fit(purchase_lines, local, on_spark, params):
    data = spark_training_data(purchase_lines.lines, purchase_lines.catalog, InteractionWeighting(scheme="bm25"),
                               content_dimensions=4)
    try:
        distributed = on_spark(**params).fit(data)
        on_the_driver = local(**params).fit(data)  # the same collected matrix
        assert distributed.weights_.nnz == on_the_driver.weights_.nnz > 0
        np.testing.assert_allclose(distributed.weights_.toarray(), on_the_driver.weights_.toarray(),
                                   rtol=1e-4, atol=1e-6)
        collected = TrainingData(**{field.name: getattr(data, field.name) for field in fields(TrainingData)})
        with pytest.raises(ValueError, match="must be built by Spark"):
            on_spark(**params).fit(collected)
    finally:
        data.unpersist()
