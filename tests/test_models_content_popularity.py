"""Content-based and popularity recommenders: shapes, new items, similar items, tiers, persistence."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import write

from recommender.features.training_data import UserBatch, build_training_data
from recommender.loaders import load_dataset
from recommender.models.base import ModelLoadError, NotFittedError
from recommender.models.content import ContentRecommender
from recommender.models.popularity import PopularityRecommender
from recommender.ranking import exclude, top_k

CATALOG = """item_id,title,description,category,region,merchant_id,price,tags,available
FAN-1,Palm-leaf fan,Hand-woven palm-leaf fan from Fenghuang,weaving,"Fenghuang County, Hunan",M1,35,handmade;fan,true
FAN-2,Bamboo fan,Hand-woven bamboo fan from Fenghuang,weaving,"Fenghuang County, Hunan",M1,40,handmade;fan,true
FAN-NEW,Silk embroidered fan,Hand-woven silk fan with Miao embroidery,weaving,"Fenghuang County, Hunan",M5,45,handmade;fan,true
BATIK-1,Miao batik scarf,Indigo batik cloth dyed by Miao artisans,textile,"Fenghuang County, Hunan",M6,80,handmade,true
BOWL-1,Celadon tea bowl,Jingdezhen kiln celadon porcelain,ceramics,"Jingdezhen, Jiangxi",M2,120,handmade;gift,true
BOWL-2,Blue and white teacup,Jingdezhen kiln porcelain cup,ceramics,"Jingdezhen, Jiangxi",M2,90,handmade;gift,true
POM-1,Huili pomegranates 5 kg,Soft-seed pomegranates,fruit,"Huili, Sichuan",M3,12,seasonal,true
ORANGE-1,Gannan navel oranges 5 kg,Sweet navel oranges,fruit,"Ganzhou, Jiangxi",M7,15,seasonal,true
TEA-1,Pu'er tea cake,Aged pu'er tea pressed cake,tea,"Pu'er, Yunnan",M8,60,gift,true
HONEY-1,Wild mountain honey,Raw honey from Qinling hives,honey,"Qinling, Shaanxi",M9,50,seasonal,true
COMB-1,Wooden comb,Langqiao carved comb,wood carving,"Langqiao, Anhui",M4,25,handmade,false
"""  # noqa: E501 (data rows)

# tier-1 buyers favour porcelain, tier-3 buyers fruit; f1 (tier 2) buys fans; z1 has no tier
PURCHASES = """user_id,item_id,timestamp,quantity,order_id,price,city,city_tier
a1,BOWL-1,2025-09-01,2,o1,120,Beijing,1
a1,BOWL-2,2025-09-02,1,o2,90,Beijing,1
a2,BOWL-1,2025-09-03,1,o3,120,Shanghai,1
a2,TEA-1,2025-09-03,1,o3,60,Shanghai,1
a3,BOWL-2,2025-09-05,1,o4,90,Shenzhen,1
a3,BOWL-1,2025-09-05,1,o4,120,Shenzhen,1
a4,POM-1,2025-09-06,1,o5,12,Guangzhou,1
c1,POM-1,2025-09-01,3,o6,12,Mianyang,3
c2,POM-1,2025-09-02,2,o7,12,Yibin,3
c2,ORANGE-1,2025-09-02,1,o7,15,Yibin,3
c3,ORANGE-1,2025-09-04,2,o8,15,Ganzhou,3
c4,POM-1,2025-09-05,1,o9,12,Zigong,3
c4,HONEY-1,2025-09-05,1,o9,50,Zigong,3
f1,FAN-1,2025-09-07,1,o10,35,Chengdu,2
f1,FAN-2,2025-09-08,1,o11,40,Chengdu,2
z1,TEA-1,2025-09-09,1,o12,60,,
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    dataset = load_dataset(write(root / "purchases.csv", PURCHASES), write(root / "catalog.csv", CATALOG))
    return build_training_data(dataset)


def code(data, item_id: str) -> int:
    return int(data.items.encode([item_id])[0])


def ids(data, codes) -> list[str]:
    return [str(i) for i in data.items.decode(np.asarray(codes))]


def user(data, user_id: str) -> int:
    return int(data.users.encode([user_id])[0])


@pytest.fixture(scope="module")
def content(data):
    return ContentRecommender().fit(data)


@pytest.fixture(scope="module")
def popularity(data):
    return PopularityRecommender(smoothing=1.0).fit(data)


# --- shapes, dtypes, fitting ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [ContentRecommender, PopularityRecommender])
def test_scores_are_float32_buyers_by_items(data, make):
    model = make().fit(data)
    everyone = data.batch(np.arange(data.n_users))
    scores = model.score(everyone)
    assert scores.shape == (data.n_users, data.n_items) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    cold = model.score(UserBatch.cold(np.array([0, 1, 3, 5]), data.n_items))
    assert cold.shape == (4, data.n_items) and cold.dtype == np.float32
    empty = model.score(data.batch(np.array([], dtype=np.int64)))
    assert empty.shape == (0, data.n_items)
    codes, best = model.similar_items(np.array([code(data, "FAN-1"), code(data, "POM-1")]), 3)
    assert codes.shape == best.shape == (2, 3)


@pytest.mark.parametrize("make", [ContentRecommender, PopularityRecommender])
def test_unfitted_model_refuses_to_score(data, make):
    with pytest.raises(NotFittedError):
        make().score(data.batch(np.arange(2)))


def test_bad_parameters_and_inputs_are_rejected(data, content, popularity):
    with pytest.raises(ValueError, match="profile"):
        ContentRecommender(profile="max").fit(data)
    with pytest.raises(ValueError, match="recency"):
        ContentRecommender(recency=-1).fit(data)
    with pytest.raises(ValueError, match="smoothing"):
        PopularityRecommender(smoothing=-1).fit(data)
    with pytest.raises(ValueError, match="damping"):
        PopularityRecommender(damping="sqrt").fit(data)
    wrong_width = UserBatch(np.array([-1]), sp.csr_matrix((1, data.n_items + 1), dtype="float32"), np.array([1]))
    for model in (content, popularity):
        with pytest.raises(ValueError, match="shape"):
            model.score(wrong_width)
        with pytest.raises(ValueError, match="out of range"):
            model.similar_items(np.array([data.n_items]), 2)
    with pytest.raises(ValueError, match="tier"):
        popularity.score(UserBatch.cold(np.array([7]), data.n_items))


# --- content --------------------------------------------------------------------------------------

def test_new_item_is_ranked_by_content_for_a_similar_buyer(data, content):
    new = code(data, "FAN-NEW")
    assert data.confidence[:, new].nnz == 0  # nobody has bought it
    batch = data.batch(np.array([user(data, "f1")]))  # bought the two other fans
    scores = exclude(content.score(batch), batch.history)
    best, _ = top_k(scores, 3)
    assert ids(data, best[0, :1]) == ["FAN-NEW"]
    # a buyer unseen in training with the same history is scored the same way
    unseen = UserBatch(np.array([-1]), batch.history.copy(), np.array([0], dtype=np.int8))
    np.testing.assert_array_equal(content.score(unseen), content.score(batch))
    # it is ranked for the fan buyer, not pushed to everyone: a porcelain buyer sees it lower
    bowl_buyer = data.batch(np.array([user(data, "a1")]))
    bowl_scores = exclude(content.score(bowl_buyer), bowl_buyer.history)
    assert ids(data, top_k(bowl_scores, 1)[0][0]) != ["FAN-NEW"]
    assert bowl_scores[0, new] < scores[0, new]


def test_similar_items_of_a_fan_are_fans_then_same_region(data, content):
    codes, scores = content.similar_items(np.array([code(data, "FAN-1")]), data.n_items - 1)
    ranked = ids(data, codes[0])
    assert "FAN-1" not in ranked
    assert set(ranked[:2]) == {"FAN-2", "FAN-NEW"}
    assert ranked[2] == "BATIK-1"  # same region (Fenghuang), different craft
    unrelated = [ranked.index(name) for name in ("POM-1", "ORANGE-1", "HONEY-1", "BOWL-1")]
    assert min(unrelated) > ranked.index("BATIK-1")
    assert (np.diff(scores[0]) <= 0).all()  # best first
    # a never-bought item has neighbours too
    codes, _ = content.similar_items(np.array([code(data, "FAN-NEW")]), 2)
    assert set(ids(data, codes[0])) == {"FAN-1", "FAN-2"}


def test_content_profile_options(data):
    batch = data.batch(np.arange(data.n_users))
    weighted = ContentRecommender().fit(data).score(batch)
    mean = ContentRecommender(profile="mean").fit(data).score(batch)
    flat = ContentRecommender(recency=0.0).fit(data).score(batch)
    np.testing.assert_allclose(mean, flat, rtol=1e-5, atol=1e-6)
    # a buyer with one item: every profile is that item's content row
    only = user(data, "z1")
    np.testing.assert_allclose(weighted[only], mean[only], rtol=1e-5, atol=1e-6)
    assert weighted[only, code(data, "TEA-1")] == pytest.approx(1.0, abs=1e-5)
    assert ((weighted >= -1 - 1e-5) & (weighted <= 1 + 1e-5)).all()  # cosines in the SVD embedding
    # negative history values (possible with some weightings) are ignored, not an error
    signed = batch.history[[only]] + sp.csr_matrix(([-0.5], ([0], [code(data, "POM-1")])), shape=(1, data.n_items))
    np.testing.assert_allclose(
        ContentRecommender().fit(data).score(UserBatch(np.array([-1]), signed, np.array([0]))), weighted[[only]],
        atol=1e-6)
    # buyers without history score zero everywhere
    assert not ContentRecommender().fit(data).score(UserBatch.cold(np.array([1]), data.n_items)).any()


def test_content_scores_match_a_dense_reference(data, content):
    batch = data.batch(np.arange(data.n_users))
    vectors = content.item_vectors_
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    profile = batch.history.toarray() @ vectors
    profile /= np.linalg.norm(profile, axis=1, keepdims=True)
    np.testing.assert_allclose(content.score(batch), profile @ vectors.T, rtol=1e-5, atol=1e-6)


# --- popularity -----------------------------------------------------------------------------------

def test_cold_buyers_get_their_tier_ranking(data, popularity):
    tier1, tier3, unknown = popularity.score(UserBatch.cold(np.array([1, 3, 0]), data.n_items))
    rank1 = ids(data, np.argsort(-tier1, kind="stable")[:2])
    rank3 = ids(data, np.argsort(-tier3, kind="stable")[:2])
    assert rank1[0] == "BOWL-1" and set(rank1) == {"BOWL-1", "BOWL-2"}
    assert rank3[0] == "POM-1" and set(rank3) == {"POM-1", "ORANGE-1"}
    assert not np.array_equal(tier1, tier3)
    np.testing.assert_array_equal(unknown, popularity.popularity_)
    np.testing.assert_array_equal(popularity.tier_popularity_[0], popularity.popularity_)
    # a tier without buyers (5) also falls back to global popularity
    np.testing.assert_array_equal(popularity.tier_popularity_[5], popularity.popularity_)
    # buyers with history are scored by their tier alone
    batch = data.batch(np.array([user(data, "a1"), user(data, "c1"), user(data, "z1")]))
    np.testing.assert_array_equal(popularity.score(batch), popularity.tier_popularity_[[1, 3, 0]])


def test_popularity_is_the_documented_blend(data):
    raw = PopularityRecommender(smoothing=0.0, damping="none").fit(data)
    mass = np.asarray(data.confidence.sum(axis=0)).reshape(-1)
    np.testing.assert_allclose(raw.popularity_, mass / mass.sum(), rtol=1e-6)
    tier1 = data.user_tiers == 1
    tier_mass = np.asarray(data.confidence[tier1].sum(axis=0)).reshape(-1)
    np.testing.assert_allclose(raw.tier_popularity_[1], tier_mass / tier_mass.sum(), rtol=1e-6)

    smoothing = 3.0
    blended = PopularityRecommender(smoothing=smoothing, damping="none").fit(data)
    n1 = int(tier1.sum())
    w = n1 / (n1 + smoothing)
    np.testing.assert_allclose(blended.tier_popularity_[1],
                               w * raw.tier_popularity_[1] + (1 - w) * raw.popularity_, rtol=1e-5)
    assert blended.tier_buyers_[1] == n1 and blended.tier_weight_[1] == pytest.approx(w)
    np.testing.assert_allclose(blended.tier_popularity_.sum(axis=1), 1.0, rtol=1e-5)
    # huge smoothing: every tier is (nearly) the global ranking
    flat = PopularityRecommender(smoothing=1e9).fit(data)
    np.testing.assert_allclose(flat.tier_popularity_, np.broadcast_to(flat.popularity_, flat.tier_popularity_.shape),
                               atol=1e-7)


def test_popularity_similar_items_are_popular_items_of_the_same_category(data, popularity):
    codes, scores = popularity.similar_items(np.array([code(data, "POM-1"), code(data, "FAN-1")]), 3)
    assert ids(data, codes[0, :1]) == ["ORANGE-1"]
    assert (codes[0, 1:] == -1).all() and np.isneginf(scores[0, 1:]).all()  # fruit has only 2 items
    assert set(ids(data, codes[1, :2])) == {"FAN-2", "FAN-NEW"}
    assert ids(data, codes[1, :1]) == ["FAN-2"]  # bought beats never bought


# --- persistence and determinism ------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: ContentRecommender(recency=0.5), lambda: PopularityRecommender(smoothing=2)])
def test_save_load_round_trip_and_determinism(data, tmp_path, make):
    model = make().fit(data)
    batch = data.batch(np.arange(data.n_users))
    path = model.save(tmp_path / "model.joblib")
    loaded = type(model).load(path)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    items = np.arange(data.n_items)
    for a, b in zip(loaded.similar_items(items, 4), model.similar_items(items, 4)):
        np.testing.assert_array_equal(a, b)
    again = make().fit(data)
    np.testing.assert_array_equal(again.score(batch), model.score(batch))
    other = PopularityRecommender if isinstance(model, ContentRecommender) else ContentRecommender
    with pytest.raises(ModelLoadError, match="expected"):
        other.load(path)
