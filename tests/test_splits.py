"""Temporal splits: boundaries, aligned categories, cold-start items, empty splits, no leakage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write

from recommender.features.encoders import IdEncoder
from recommender.loaders import load_dataset
from recommender.splits import (
    UNSEEN_BUYERS,
    check_time_order,
    new_items,
    relevance_matrix,
    temporal_split,
    validation_split,
)

CATALOG = """item_id,title,region,merchant_id,tags
I0,Palm-leaf fan,Fenghuang,M1,handmade;priority_region
I1,Tea bowl,Jingdezhen,M2,handmade
I2,Pomegranates,Huili,M3,seasonal;priority_region
I3,Wooden comb,Langqiao,M4,handmade
I4,Never sold,Yixing,M5,
I5,Lychee,Conghua,M6,seasonal
"""

# last purchase 2025-03-31T12:00; with test_days=30 the cutoff is 2025-03-01T12:00
PURCHASES = """user_id,item_id,timestamp,quantity
u3,I0,2025-01-01T09:00:00,1
u1,I0,2025-01-05T09:00:00,1
u2,I1,2025-01-20T09:00:00,2
u1,I2,2025-02-01T09:00:00,1
u4,I1,2025-02-10T09:00:00,1
u2,I0,2025-02-20T09:00:00,1
u4,I2,2025-03-01T12:00:00,1
u1,I5,2025-03-01T12:00:01,1
u2,I1,2025-03-10T09:00:00,1
u9,I3,2025-03-15T09:00:00,1
u2,I2,2025-03-31T12:00:00,3
"""


def purchase_rows(purchases):
    """The purchase lines as a set of (user_id, item_id, timestamp) strings."""
    return set(map(tuple, purchases[["user_id", "item_id", "timestamp"]].astype(str).to_numpy()))


@pytest.fixture
def dataset(tmp_path):
    return load_dataset(write(tmp_path / "purchases.csv", PURCHASES), write(tmp_path / "catalog.csv", CATALOG))


def ids(frame: pd.DataFrame, column: str) -> list[str]:
    return frame[column].astype(str).tolist()


def test_boundary_at_the_cutoff(dataset):
    train, test = temporal_split(dataset, test_days=30)
    cutoff = pd.Timestamp("2025-03-01T12:00:00")
    assert train.purchases.timestamp.max() == cutoff  # exactly at the cutoff: training
    assert test.purchases.timestamp.min() == cutoff + pd.Timedelta(seconds=1)
    assert len(train.purchases) == 7
    # u9 is new: dropped from the test split, and the report says so
    assert ids(test.purchases, "user_id") == ["u1", "u2", "u2"]
    assert test.reports[-1].dropped[UNSEEN_BUYERS] == 1
    assert test.reports[-1].rows_kept == 3
    assert "test split at 2025-03-01 12:00:00, test side: 11 rows read, 3 kept" in test.summary()
    check_time_order(train, test)


def test_explicit_cutoff(dataset):
    train, test = temporal_split(dataset, cutoff="2025-03-10T09:00:00Z")
    assert train.purchases.timestamp.max() == pd.Timestamp("2025-03-10T09:00:00")
    assert ids(test.purchases, "user_id") == ["u2"]


def test_categories_align(dataset):
    train, test = temporal_split(dataset, test_days=30)
    catalog_ids = list(dataset.catalog.item_id)
    for split in (train, test):
        assert list(split.purchases.item_id.cat.categories) == catalog_ids
        assert split.catalog is dataset.catalog
        assert split.purchases.timestamp.dtype == "datetime64[s]"
    # the buyers of the training split, and the same categories in test
    assert list(train.purchases.user_id.cat.categories) == ["u1", "u2", "u3", "u4"]
    assert test.purchases.user_id.cat.categories.equals(train.purchases.user_id.cat.categories)
    # codes decode to the same ids
    users = train.purchases.user_id.cat.categories
    assert list(users[test.purchases.user_id.cat.codes]) == ids(test.purchases, "user_id")


def test_all_buyers_keep_training_codes_as_prefix(dataset):
    train, test = temporal_split(dataset, test_days=30, known_buyers_only=False)
    categories = list(test.purchases.user_id.cat.categories)
    assert categories == ["u1", "u2", "u3", "u4", "u9"]
    assert "u9" in ids(test.purchases, "user_id")
    assert any("not seen in training" in note for note in test.reports[-1].notes)


def test_new_items(dataset):
    train, test = temporal_split(dataset, test_days=30)
    assert new_items(train, test).tolist() == [5]  # I5, first sold after the cutoff to u1
    _, everyone = temporal_split(dataset, test_days=30, known_buyers_only=False)
    assert new_items(train, everyone).tolist() == [3, 5]  # I3 bought only by the new buyer u9


@pytest.mark.filterwarnings("ignore:Feature 0 is constant")
def test_relevance_matrix(dataset):
    from recommender.features.training_data import build_training_data

    train, test = temporal_split(dataset, test_days=30)
    data = build_training_data(train)
    relevant = relevance_matrix(test, data.users)
    assert relevant.shape == (4, 6) and relevant.dtype == np.float32
    dense = relevant.toarray()
    assert dense[0].tolist() == [0, 0, 0, 0, 0, 1]  # u1 bought I5
    assert dense[1].tolist() == [0, 1, 1, 0, 0, 0]  # u2: I1 and I2 (quantity 3) -> binary
    assert dense[2:].sum() == 0
    # ids in code order work too, and unknown buyers are left out
    _, everyone = temporal_split(dataset, test_days=30, known_buyers_only=False)
    assert (relevance_matrix(everyone, ["u1", "u2", "u3", "u4"]).toarray() == dense).all()
    assert relevance_matrix(everyone, IdEncoder(["u9"])).toarray().tolist() == [[0, 0, 0, 1, 0, 0]]


@pytest.mark.parametrize("days", [0, -1, float("nan"), "30", True])
def test_bad_test_days(dataset, days):
    with pytest.raises(ValueError, match="test_days must be a positive number"):
        temporal_split(dataset, test_days=days)


def test_empty_training_split(dataset):
    with pytest.raises(ValueError, match="nothing to train on"):
        temporal_split(dataset, test_days=365)


def test_empty_test_split(dataset):
    with pytest.raises(ValueError, match="test split empty"):
        temporal_split(dataset, cutoff="2025-04-01")


def test_test_split_with_only_new_buyers(dataset):
    from recommender.loaders import Dataset

    # without u2, everything after 2025-03-12 is by u9, who never bought before
    purchases = dataset.purchases[dataset.purchases.user_id.astype(str) != "u2"].reset_index(drop=True)
    only_new = Dataset(purchases, dataset.catalog, dataset.reports)
    with pytest.raises(ValueError, match="buyer seen in training"):
        temporal_split(only_new, cutoff="2025-03-12T00:00:00")
    # keeping every buyer, the same cut is fine
    _, test = temporal_split(only_new, cutoff="2025-03-12T00:00:00", known_buyers_only=False)
    assert ids(test.purchases, "user_id") == ["u9"]


def test_validation_split_never_sees_test(dataset):
    train, test = temporal_split(dataset, test_days=30)
    fit, validation = validation_split(train, validation_days=20)
    # 2025-03-01T12:00 - 20 days = 2025-02-09T12:00
    assert fit.purchases.timestamp.max() < pd.Timestamp("2025-02-09T12:00:00")
    assert validation.purchases.timestamp.min() > pd.Timestamp("2025-02-09T12:00:00")
    assert validation.purchases.timestamp.max() <= train.purchases.timestamp.max()
    assert validation.purchases.timestamp.max() < test.purchases.timestamp.min()
    check_time_order(fit, validation)
    # every validation line is a training line
    validation_rows = purchase_rows(validation.purchases)
    assert validation_rows <= purchase_rows(train.purchases)
    assert not validation_rows & purchase_rows(test.purchases)
    assert validation.purchases.user_id.cat.categories.equals(fit.purchases.user_id.cat.categories)
    with pytest.raises(ValueError, match="validation_days"):
        validation_split(train, validation_days=0)
    with pytest.raises(ValueError, match="nothing to train on"):
        validation_split(train, validation_days=200)


def test_check_time_order_rejects_overlap(dataset):
    train, test = temporal_split(dataset, test_days=30)
    with pytest.raises(ValueError, match="overlap"):
        check_time_order(test, train)
