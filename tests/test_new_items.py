"""Items listed after training (``with_items``): every model family ranks them by their content, as
it ranks the catalog's never-bought items, and the engine carries them to every route."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engine import RecommendationEngine
from recommender.features.training_data import TrainingData
from recommender.models.als import ALSRecommender
from recommender.models.bpr import BPRRecommender
from recommender.models.content import ContentRecommender
from recommender.models.ease import EASERecommender
from recommender.models.hybrid import HybridRecommender
from recommender.models.item_knn import ItemKNNRecommender
from recommender.models.popularity import PopularityRecommender
from recommender.models.rp3beta import RP3betaRecommender

ITEM_ITEM = {"ease": lambda: EASERecommender(l2=10.0), "rp3beta": lambda: RP3betaRecommender(),
             "knn-cosine": lambda: ItemKNNRecommender(similarity="cosine")}
FACTOR = {"als": lambda: ALSRecommender(factors=8, iterations=10, random_state=0),
          "bpr": lambda: BPRRecommender(factors=8, iterations=200, num_threads=1, random_state=0)}


def without_last_item(data: TrainingData) -> TrainingData:
    """The same data as if the last catalog item had not been listed yet (same content embedding)."""
    n = data.n_items - 1
    return dataclasses.replace(data, items=type(data.items)(data.items.ids[:n]), catalog=data.catalog.iloc[:n],
                               user_items=sp.csr_matrix(data.user_items[:, :n]),
                               confidence=sp.csr_matrix(data.confidence[:, :n]),
                               item_content=data.item_content[:n], item_embedding=data.item_embedding[:n])


def tea_buyers(data: TrainingData) -> np.ndarray:
    return np.array([user.startswith("t") for user in data.users.ids])


@pytest.mark.parametrize("name", sorted(ITEM_ITEM))
def test_an_item_item_model_adds_an_item_as_if_it_had_been_listed_unbought(teas_and_bowls, name):
    data = teas_and_bowls
    listed = ITEM_ITEM[name]().fit(data)
    added = ITEM_ITEM[name]().fit(without_last_item(data)).with_items(data.catalog, data.item_embedding)
    assert added.weights_.shape == listed.weights_.shape and added.weights_[:, -1].nnz > 0
    np.testing.assert_allclose(added.weights_.toarray(), listed.weights_.toarray(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(FACTOR))
def test_a_factor_model_maps_an_added_item_from_its_content(teas_and_bowls, name):
    data = teas_and_bowls
    smaller = without_last_item(data)
    fitted = FACTOR[name]().fit(smaller)
    added = fitted.with_items(data.catalog, data.item_embedding)
    everyone = np.arange(data.n_users)
    scores = added.user_vectors(data.batch(everyone)) @ added.item_vectors().T
    np.testing.assert_allclose(scores[:, :-1], fitted.score(smaller.batch(everyone)), rtol=1e-5, atol=1e-6)
    teas = tea_buyers(data)
    assert np.median(scores[teas, -1]) > np.median(scores[~teas, -1])
    unmapped = FACTOR[name]().set_params(map_cold_items=False).fit(without_last_item(data))
    assert not unmapped.with_items(data.catalog, data.item_embedding).item_factors_[-1].any()


def test_content_and_popularity_add_an_item_as_if_it_had_been_listed_unbought(teas_and_bowls):
    data = teas_and_bowls
    for model in (ContentRecommender(), PopularityRecommender()):
        listed = type(model)().fit(data)
        added = model.fit(without_last_item(data)).with_items(data.catalog, data.item_embedding)
        np.testing.assert_allclose(added.item_vectors(), listed.item_vectors(), rtol=1e-5, atol=1e-7)
    assert (PopularityRecommender().fit(data).similar_items(np.array([data.n_items - 1]), 1)[0] >= 0).all()


def test_with_items_refuses_an_embedding_that_does_not_cover_every_item(teas_and_bowls):
    data = teas_and_bowls
    model = ContentRecommender().fit(without_last_item(data))
    with pytest.raises(ValueError, match="cover"):
        model.with_items(data.catalog.iloc[:-1], data.item_embedding)


def test_the_engine_ranks_an_added_item_as_if_it_had_been_listed_unbought(teas_and_bowls):
    data = teas_and_bowls
    smaller = without_last_item(data)

    def hybrid():
        return HybridRecommender([("ease", ITEM_ITEM["ease"]()), ("content", ContentRecommender()),
                                  ("popularity", PopularityRecommender())])

    engine = RecommendationEngine.build(hybrid().fit(smaller), smaller, niche=0.3)
    engine.available[0] = False  # hidden since loading: stays hidden
    added = engine.with_items(data.catalog.iloc[[-1]])
    new = added.items.code_of("TEA-NEW")
    assert new == smaller.n_items and added.n_items == data.n_items and not added.available[0]
    listed = RecommendationEngine.build(hybrid().fit(data), data, niche=0.3)
    listed.available[0] = False
    everyone = np.arange(data.n_users)
    np.testing.assert_array_equal(added.recommend(everyone, 5)[0], listed.recommend(everyone, 5)[0])
    np.testing.assert_array_equal(added.reranker.niche_items_, listed.reranker.niche_items_)
    similar, _ = added.similar_items(np.array([new]), 3)
    assert all(item.startswith("TEA-") for item in added.items.decode(similar[0]))
    with pytest.raises(ValueError, match="already in the catalog"):
        added.with_items(data.catalog.iloc[[-1]])


def test_the_content_model_offers_an_added_item_to_the_buyers_of_items_like_it(teas_and_bowls):
    data = teas_and_bowls
    smaller = without_last_item(data)
    added = RecommendationEngine.build(ContentRecommender().fit(smaller), smaller).with_items(data.catalog.iloc[[-1]])
    codes, _ = added.recommend(np.arange(data.n_users), added.n_items)
    position = np.argmax(codes == added.items.code_of("TEA-NEW"), axis=1)  # every list holds every item not bought
    teas = tea_buyers(data)
    assert position[teas].max() <= 3 and position[~teas].min() >= 3  # with the unbought teas, after the unbought bowls
