"""Variety a buyer can see (issue 32, deliverable 2): at most a few items of one category or one
region in a top 10, the cap chosen on validation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engine import RecommendationEngine
from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset
from recommender.models.item_knn import ItemKNNRecommender
from recommender.rerank import capped
from training.config import TrainConfig
from training.train import choose_variety

CATEGORIES = np.array([0, 0, 0, 0, 1, 1, 2, -1, -1, -1])  # -1: no category, never capped
REGIONS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])


def test_a_category_holds_at_most_the_cap_and_the_next_items_move_up():
    ranked = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    labels = np.vstack([CATEGORIES, REGIONS])
    codes, scores = capped(ranked, -np.arange(10.0)[None, :], labels, cap=2, k=10, window=6)
    assert codes[0, :6].tolist() == [0, 1, 4, 5, 6, 7]  # two of category 0, then the others
    assert codes[0, 6:].tolist() == [2, 3, 8, 9]  # past the window: the passed-over items, in order
    assert scores[0].tolist() == [-c for c in codes[0].tolist()]
    assert capped(ranked, -np.arange(10.0)[None, :], labels, cap=2, k=4, window=6)[0][0].tolist() == [0, 1, 4, 5]


def test_too_few_items_within_the_cap_fill_the_list_with_the_others():
    ranked = np.array([[0, 1, 2, 3, -1]])
    codes, _ = capped(ranked, np.zeros((1, 5)), np.vstack([CATEGORIES]), cap=1, k=5)
    assert codes[0].tolist() == [0, 1, 2, 3, -1]


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """Tea buyers who buy teas of four kinds from five regions, and a bowl; one region (Jingdezhen)
    and one category (ceramics) hold every bowl."""
    folder = tmp_path_factory.mktemp("variety")
    teas = [(f"TEA-{i}", f"Tea number {i} {i + 1}00 g", ("green", "black", "oolong", "white")[i % 4],
             f"Region {i % 5}") for i in range(16)]
    bowls = [(f"BOWL-{i}", f"Bowl number {i} {i + 1} cm", "ceramics", "Jingdezhen") for i in range(6)]
    rows = ["item_id,title,category,region"] + [",".join(row) for row in teas + bowls]
    (folder / "catalog.csv").write_text("\n".join(rows) + "\n")
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,timestamp"]
    for buyer in range(80):
        items = list(rng.choice([t[0] for t in teas], 4, replace=False)) + [bowls[buyer % 6][0]]
        for day, item in enumerate(items):
            lines.append(f"u{buyer},{item},2025-06-{day + 1:02d}")
    (folder / "purchases.csv").write_text("\n".join(lines) + "\n")
    data = build_training_data(load_dataset(folder / "purchases.csv", folder / "catalog.csv"), content_dimensions=4)
    return data, RecommendationEngine.build(ItemKNNRecommender().fit(data), data)


def test_the_cap_holds_in_every_list_and_zero_turns_it_off(market):
    data, engine = market
    users = np.arange(len(engine.users))
    free, _ = engine.recommend(users, 10)
    assert max(np.bincount(kind[row[row >= 0]]).max() for kind in engine.variety_labels for row in free) > 3
    for niche in (0.0, 0.5):
        lists, _ = engine.recommend(users, 10, niche=niche, max_per_group=3)
        for row in lists:
            shown = row[row >= 0]
            assert len(shown) == 10
            for kind in engine.variety_labels:
                assert np.bincount(kind[shown]).max() <= 3
    capped_engine = RecommendationEngine.build(engine.model, data, max_per_group=3)
    assert (capped_engine.recommend(users, 10)[0] == engine.recommend(users, 10, max_per_group=3)[0]).all()
    assert (capped_engine.recommend(users, 10, max_per_group=0)[0] == free).all()
    with pytest.raises(ValueError, match="max_per_group"):
        engine.recommend(users, 10, max_per_group=-1)


def test_validation_picks_the_tightest_cap_within_the_allowed_loss(market):
    _, engine = market
    users = np.arange(len(engine.users))
    rng = np.random.default_rng(1)
    relevant = sp.csr_matrix((rng.random((len(users), engine.n_items)) < 0.1).astype(np.float32))
    lenient = TrainConfig(variety_max_ndcg_loss=0.99)
    cap, curve = choose_variety([engine], [users], relevant, 0.0, lenient)
    assert cap == min(lenient.variety_grid)
    assert [point["max_per_group"] for point in curve] == [0] + sorted(lenient.variety_grid, reverse=True)
    strict = TrainConfig(variety_max_ndcg_loss=0.0)
    cap, curve = choose_variety([engine], [users], relevant, 0.0, strict)
    key = f"ndcg@{strict.k}"
    kept = [point for point in curve[1:] if point["max_per_group"] >= cap] if cap else []
    assert all(point[key] >= curve[0][key] for point in kept)
    assert TrainConfig(max_per_group=4).max_per_group == 4
    assert choose_variety([engine], [users], relevant, 0.0, TrainConfig(max_per_group=4)) == (4, [])
    with pytest.raises(ValueError, match="max_per_group"):
        TrainConfig(max_per_group=-2)
    unlabelled = RecommendationEngine.build(engine.model, market[0])
    unlabelled._variety_labels = np.full_like(engine.variety_labels, -1)  # a catalog without categories or regions
    assert choose_variety([unlabelled], [users], relevant, 0.0, lenient) == (0, [])


def test_a_filter_that_no_item_passes_gives_an_empty_capped_list(market):
    _, engine = market
    for niche in (0.0, 0.5):
        codes, scores = engine.recommend(np.arange(3), 10, niche=niche, max_per_group=2,
                                         mask=np.zeros(engine.n_items, dtype=bool))
        assert (codes == -1).all() and np.isneginf(scores).all()


def test_the_api_caps_a_category_and_a_region_when_asked(small_model):
    from fastapi.testclient import TestClient

    from serving import create_app
    from serving.settings import ServingSettings
    from serving.state import state_of

    app = create_app(ServingSettings(model_dir=small_model))
    with TestClient(app) as client:
        engine = state_of(app).served.model.engine
        most = {0: 0, 1: 0}
        for buyer in engine.users.ids[:30].tolist():
            for cap in (0, 1):
                items = client.get(f"/v1/users/{buyer}/recommendations?k=10&max_per_group={cap}").json()["items"]
                assert len(items) == 10
                for field in ("category", "region"):
                    labels = [item[field] for item in items if item[field] not in (None, "unknown")]
                    most[cap] = max([most[cap]] + [labels.count(label) for label in labels])
        assert most[1] == 1 and most[0] > 1
        assert client.get(f"/v1/users/{engine.users.ids[0]}/recommendations?max_per_group=-1").status_code == 422
