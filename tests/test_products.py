"""One listing per product (issue 32): which listings are one product, and lists, similar items and
reasons that show or name each product once."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.engine import RecommendationEngine
from recommender.explain import Explainer
from recommender.features.products import Products, build_products, product_codes
from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset
from recommender.models.als import ALSRecommender
from recommender.models.ease import EASERecommender
from recommender.models.item_knn import ItemKNNRecommender

PUER = ["Menghai Pu'er Tea Cake, 357 g Cake", "Smallholder Menghai Pu'er Tea Cake, 357 g Cake",
        "Menghai Pu'er Tea Cake, 357 g Cake", "Smallholder Menghai Pu'er Tea Cake, 357 g Cake",
        "Menghai Pu'er Tea Cake, 357 g Cake"]
TEAS = ["Anxi Tieguanyin Oolong, 250 g", "West Lake Longjing Green Tea, 100 g", "Wuyi Da Hong Pao Rock Tea, 125 g",
        "Keemun Black Tea, 200 g", "Junshan Silver Needle Yellow Tea, 50 g", "Fuding White Peony Tea, 300 g"]
BOWLS = ["Jingdezhen Celadon Bowl, Set of 2", "Longquan Celadon Plate, Large", "Yixing Zisha Teapot, 200 ml",
         "Dehua Blanc de Chine Cup, Set of 4"]


def catalog_frame(titles: list[str], categories: list[str], **columns) -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"I{i}" for i in range(len(titles))], "title": titles,
                         "category": categories, **columns})


def test_near_identical_titles_in_a_category_are_one_product():
    titles = ["Menghai Pu'er Tea Cake, 357 g Cake", "Smallholder Menghai Pu'er Tea Cake, 357 g Cake",
              "Menghai Pu'er Tea Cake, Mini Cakes, 200 g",  # another quantity: another product
              "Menghai Pu'er Tea Cake, 357 g Cake",  # the same title in another category
              "Anxi Tieguanyin Oolong, 357 g"]
    codes = product_codes(catalog_frame(titles, ["tea", "tea", "tea", "gifts", "tea"]))
    assert codes[0] == codes[1]
    assert len({codes[0], codes[2], codes[3], codes[4]}) == 4


def test_titles_are_not_chained_into_one_product_through_a_third():
    titles = ["Suzhou Embroidered Silk Fan, Standard", "Suzhou Embroidered Silk Fan, Pair",
              "Suzhou Embroidered Silk Scarf, Standard", "Suzhou Embroidered Silk Scarf, Large",
              "Suzhou Embroidered Silk Fan, Standard", "Suzhou Embroidered Silk Scarf, Standard"]
    codes = product_codes(catalog_frame(titles, ["textiles"] * 6))
    assert codes[0] == codes[4] and codes[2] == codes[5]
    assert codes[0] != codes[2]


def test_a_product_id_groups_listings_whatever_their_titles_and_titles_group_the_rest():
    titles = ["Dongning Black Fungus, 500 g", "Wood ear mushrooms from the north-east, half a kilo",
              "Jianhe Snow Fungus, 1 kg", "Jianhe Snow Fungus, 1 kg", "Jianhe Snow Fungus, 1 kg"]
    frame = catalog_frame(titles, ["fungi"] * 5, product_id=["P1", "P1", "P2", None, ""])
    codes = product_codes(frame)
    assert codes[0] == codes[1]
    assert codes[2] == codes[3] == codes[4]  # P2 joined by the near-identical titles without an id
    assert codes[0] != codes[2]
    with pytest.raises(ValueError, match="similarity"):
        product_codes(frame, similarity=0.0)


def test_the_likeliest_listing_is_kept_and_a_tie_goes_to_the_niche_one():
    products = Products(np.array([0, 0, 0, 1, 2]))
    codes = np.array([[1, 3, 0, 2, 4, -1], [0, 2, 1, 3, -1, -1]])
    scores = np.array([[0.9, 0.8, 0.7, 0.7, 0.1, -np.inf], [0.5, 0.5, 0.4, 0.3, -np.inf, -np.inf]])
    niche = np.array([[0, 0, 0, 0.5, 0, 0], [0, 1.0, 0, 0, 0, 0]])
    keep = products.first_listings(codes, scores, niche)
    assert keep.tolist() == [[True, True, False, False, True, False], [False, True, False, True, False, False]]


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """Tea buyers who buy the five listings of one Pu'er cake (five merchants, the last a small one
    from a priority region) and other teas; bowl buyers who buy bowls."""
    folder = tmp_path_factory.mktemp("products")
    titles = PUER + TEAS + BOWLS
    categories = ["tea"] * (len(PUER) + len(TEAS)) + ["ceramics"] * len(BOWLS)
    merchants = [f"M{i}" for i in range(len(titles))]
    tags = [""] * len(titles)
    tags[4] = "priority_region"
    frame = catalog_frame(titles, categories, region="Menghai", merchant_id=merchants, tags=tags)
    frame.loc[len(PUER):, "region"] = ""  # the other goods' regions are not known
    frame.to_csv(folder / "catalog.csv", index=False)
    rng = np.random.default_rng(5)
    lines = ["user_id,item_id,timestamp,city_tier"]
    tea_items = np.arange(len(PUER) + len(TEAS))
    bowl_items = np.arange(len(PUER) + len(TEAS), len(titles))
    for group, items in (("t", tea_items), ("b", bowl_items)):
        for buyer in range(60):
            for item in rng.choice(items, 3, replace=False):
                lines.append(f"{group}{buyer},I{item},2025-06-{int(rng.integers(1, 28)):02d},2")
    (folder / "purchases.csv").write_text("\n".join(lines) + "\n")
    data = build_training_data(load_dataset(folder / "purchases.csv", folder / "catalog.csv"), content_dimensions=4)
    return data, RecommendationEngine.build(ItemKNNRecommender().fit(data), data)


def puer_codes(engine) -> np.ndarray:
    return engine.items.encode([f"I{i}" for i in range(len(PUER))])


def test_a_list_holds_one_listing_of_a_product_and_the_parameter_turns_it_off(market):
    data, engine = market
    buyers = engine.users.encode([f"t{i}" for i in range(60)])
    puer = puer_codes(engine)
    assert len(np.unique(engine.products.of[puer])) == 1
    for niche in (0.0, 0.6):
        lists, _ = engine.recommend(buyers, 8, niche=niche)
        per_list = np.isin(lists, puer).sum(axis=1)
        assert per_list.max() == 1, niche
        every, _ = engine.recommend(buyers, 8, niche=niche, distinct_products=False)
        assert np.isin(every, puer).sum(axis=1).max() >= 2, niche  # the planted duplicates without it
    lists, _ = engine.recommend(buyers, 8)
    for buyer, row in zip(buyers.tolist(), lists):
        shown = row[np.isin(row, puer)]
        unbought = np.setdiff1d(puer, engine.bought(buyer))
        if len(shown):  # the listing shown is the one the model scores highest for this buyer
            scores = engine.score_items(buyer, unbought)
            assert shown[0] in unbought[scores == scores.max()]
    off = RecommendationEngine.build(engine.model, data, distinct_products=False)
    assert np.isin(off.recommend(buyers, 8)[0], puer).sum(axis=1).max() >= 2
    assert np.isin(off.recommend(buyers, 8, distinct_products=True)[0], puer).sum(axis=1).max() == 1


def test_similar_items_never_answer_a_listing_of_the_same_product(market):
    _, engine = market
    puer = puer_codes(engine)
    codes, _ = engine.similar_items(puer, 6)
    assert not np.isin(codes, puer).any()
    assert (codes >= 0).sum(axis=1).min() >= 5  # the other teas: the model links some of them to each cake
    before, _ = engine.similar_items(puer, 6, distinct_products=False)
    assert np.isin(before, puer).any()


def test_reasons_never_name_the_item_or_another_listing_of_its_product(market):
    _, engine = market
    explainer = Explainer.of(engine)
    puer = puer_codes(engine)
    titles = set(PUER)
    named = 0
    for buyer in range(len(engine.users)):
        bought = engine.bought(buyer)
        if not np.isin(bought, puer).any():
            continue
        codes = np.setdiff1d(puer, bought)
        for text in explainer.texts(codes, bought, 2):
            assert not any(title in text for title in titles), text
            named += "bought by buyers who bought" in text
    assert named > 0  # the Pu'er listings are explained, by the buyers' other teas


def test_no_reason_says_unknown_for_a_missing_region(market):
    _, engine = market
    explainer = Explainer.of(engine)
    assert "from Menghai" in explainer.suffix[puer_codes(engine)[4]]  # the priority-region listing
    assert not any("unknown" in suffix for suffix in explainer.suffix)
    texts = [text for buyer in range(len(engine.users))
             for text in explainer.texts(engine.recommend(np.array([buyer]), 10, niche=1.0)[0][0], engine.bought(buyer),
                                         2)]
    assert texts and not any("unknown" in text for text in texts)


def test_a_listing_added_after_training_joins_its_product(market):
    _, engine = market
    row = pd.DataFrame({"item_id": ["NEW-1", "NEW-2"], "title": ["Smallholder Menghai Pu'er Tea Cake, 357 g Cake",
                                                                   "Keemun Black Tea, 500 g"],
                        "category": ["tea", "tea"], "region": ["Menghai", ""], "merchant_id": ["M9", "M9"],
                        "tags": ["", ""], "available": [True, True], "price": [np.nan, np.nan], "description": ""})
    added = engine.with_items(row)
    new = added.items.encode(["NEW-1", "NEW-2"])
    assert added.products.of[new[0]] == engine.products.of[puer_codes(engine)[0]]
    assert added.products.of[new[1]] not in engine.products.of
    assert (added.products.of[:engine.n_items] == engine.products.of).all()


def test_build_products_on_a_catalog_without_titles_or_repeats():
    frame = catalog_frame(["A, 1 kg", "B, 2 kg"], ["x", "x"])
    products = build_products(frame)
    assert not products.shared
    assert products.listings(0).tolist() == [0]


def test_the_api_shows_one_listing_per_product_unless_asked_for_every_listing(small_model):
    from fastapi.testclient import TestClient

    from serving import create_app
    from serving.settings import ServingSettings
    from serving.state import state_of

    app = create_app(ServingSettings(model_dir=small_model))
    with TestClient(app) as client:
        engine = state_of(app).served.model.engine
        product = dict(zip(engine.items.ids.tolist(), engine.products.of.tolist()))
        repeated = {True: 0, False: 0}
        for buyer in engine.users.ids[:40].tolist():
            for distinct in (True, False):
                query = "" if distinct else "&distinct_products=false"
                answer = client.get(f"/v1/users/{buyer}/recommendations?k=20{query}")
                assert answer.status_code == 200
                products = [product[item["item_id"]] for item in answer.json()["items"]]
                repeated[distinct] += len(set(products)) < len(products)
        assert repeated[True] == 0 and repeated[False] > 0
        item = engine.items.ids[int(np.argmax(np.bincount(engine.products.of)[engine.products.of]))]
        similar = client.get(f"/v1/items/{item}/similar?k=10").json()["items"]
        assert similar and all(product[found["item_id"]] != product[item] for found in similar)
        assert client.get(f"/v1/users/{engine.users.ids[0]}/recommendations?distinct_products=maybe").status_code == 422


def test_product_level_metrics_count_a_product_once():
    from recommender.metrics import first_of_each, intra_list_diversity, repeated_group_share

    products = np.array([0, 0, 1, 2])
    lists = np.array([[0, 1, 2, -1], [2, 3, 0, -1]])
    assert first_of_each(lists, products).tolist() == [[0, -1, 1, -1], [1, 2, 0, -1]]
    assert repeated_group_share(lists, products) == 0.5
    categories = np.array(["tea", "tea", "tea", "bowls"])
    assert intra_list_diversity(lists, categories) == pytest.approx((0.0 + 2 / 3) / 2)


def test_a_catalog_files_product_id_column_reaches_the_products(tmp_path):
    from recommender.loaders import load_catalog

    path = tmp_path / "catalog.csv"
    path.write_text("item_id,title,category,product_id\nA,Dongning Black Fungus,fungi,P1\n"
                    "B,Wood ears from the north-east,fungi,P1\nC,Jianhe Snow Fungus,fungi,\n", encoding="utf-8")
    catalog, _ = load_catalog(path)
    assert catalog.product_id.tolist() == ["P1", "P1", ""]
    codes = product_codes(catalog)
    assert codes[0] == codes[1] != codes[2]


@pytest.mark.parametrize("family", [ItemKNNRecommender, EASERecommender, ALSRecommender])
def test_a_catalog_of_many_listings_per_product_still_fills_every_list(tmp_path, family):
    """Eight products of 25 listings each, bought far more than twelve products of one listing: the
    best listings are mostly of a few products, yet every list is full, because products, not
    listings, are ranked (each by its best listing), for models scored densely and linear ones."""
    big, single = 8, 12
    product_ids = [f"P{product}" for product in range(big) for _ in range(25)] + [f"S{i}" for i in range(single)]
    titles = [f"Lancang Potato Lot {product_id}, 5 kg" for product_id in product_ids]
    frame = catalog_frame(titles, ["produce"] * len(titles), product_id=product_ids)
    frame.to_csv(tmp_path / "catalog.csv", index=False)
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,timestamp,city_tier"]
    n_big = big * 25
    for buyer in range(80):
        bought = list(rng.choice(n_big, 6, replace=False)) + ([n_big + buyer % single] if buyer % 4 == 0 else [])
        lines += [f"u{buyer},I{item},2025-06-{int(rng.integers(1, 28)):02d},2" for item in bought]
    (tmp_path / "purchases.csv").write_text("\n".join(lines) + "\n")
    data = build_training_data(load_dataset(tmp_path / "purchases.csv", tmp_path / "catalog.csv"), content_dimensions=4)
    engine = RecommendationEngine.build(family().fit(data), data)
    buyers = np.arange(len(engine.users))
    k = big + single - 1  # at most one product a buyer could have bought every listing of: none here
    for niche in (0.0, 0.6):
        lists, _ = engine.recommend(buyers, k, niche=niche)
        products = engine.products.of[np.maximum(lists, 0)]
        assert (lists >= 0).all(), f"{int((lists < 0).any(axis=1).sum())} lists shorter than {k} at niche {niche}"
        assert all(len(set(row)) == k for row in products.tolist())  # one listing per product
    per_knob = engine.recommend_per_knob(buyers, k, [0.0, 0.6], batch=32)  # what validation and evaluate rank
    for niche, lists in per_knob.items():  # the same batches: BLAS may round a product of another size otherwise
        served = np.vstack([engine.recommend(buyers[start:start + 32], k, niche=niche)[0]
                            for start in range(0, len(buyers), 32)])
        assert np.array_equal(lists, served), niche
