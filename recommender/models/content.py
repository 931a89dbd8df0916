"""Content-based recommender: items alike in text and attributes, buyers matched by what they bought.

Every catalog item has a content vector: TF-IDF text, category, region, merchant, tags and price
band (:mod:`recommender.features.content`) compressed by a truncated SVD into dense unit vectors
(``TrainingData.item_embedding``), so similar words and attributes share directions and a dot
product is a cosine. A buyer's *profile* is the
history-weighted sum of the vectors of the items bought, normalised; an item's score is the cosine
of its vector with the profile.

Because scores come from content alone, an item nobody has bought yet (it is in the catalog, so
it has a vector) is ranked like any other: this is the model that surfaces new produce and
handicrafts. Buyers with no history get a zero profile and all-zero scores; the popularity model
covers them. Being linear (profile . item vector), it blends and serves through one fused
product like the factor models.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import LinearRecommender
from recommender.models.checks import (
    check_added_items,
    check_batch,
    check_items,
    check_non_negative_int,
    check_number,
    similar_from_rows,
    unit_rows,
)
from recommender.models.family import Family

PROFILES = ("weighted_mean", "mean")


class ContentRecommender(LinearRecommender):
    """Recommend items whose content resembles what the buyer bought (role ``"content"``).

    Parameters
    ----------
    profile : {"weighted_mean", "mean"}
        How a buyer's profile combines the vectors of the items bought. ``"weighted_mean"``
        weights each item by the buyer's history value (the interaction weighting of
        :class:`TrainingData`, built on time-decayed quantities, so recent and repeated purchases
        count more), raised to the power ``recency``; ``"mean"`` counts every item bought once.
        Negative history values, which some weightings can produce, count as 0.
    recency : float, default 1.0
        Exponent on the history values for ``"weighted_mean"``: above 1 sharpens the profile
        towards the most recent / most repeated purchases, 0 is the same as ``"mean"``.

    Learned attributes
    ------------------
    item_vectors_ : ndarray, float32, items x dimensions, unit rows (the training data's
        content embedding)
    n_items_ : int
    """

    role = "content"

    def __init__(self, profile: str = "weighted_mean", recency: float = 1.0):
        self.profile = profile
        self.recency = recency

    def fit(self, data: TrainingData) -> ContentRecommender:
        """Keep the catalog's content vectors (every item, bought or not); no interactions needed."""
        who = "ContentRecommender.fit"
        if self.profile not in PROFILES:
            raise ValueError(f"ContentRecommender: profile must be one of {PROFILES}, got {self.profile!r}")
        check_number(self.recency, "recency", who)
        vectors = getattr(data, "item_embedding", None)
        if vectors is None or np.ndim(vectors) != 2 or len(vectors) != data.n_items:
            raise ValueError(f"{who}: data.item_embedding must be an items x dimensions array (TrainingData)")
        self.item_vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        self.n_items_ = data.n_items
        return self

    def item_vectors(self) -> np.ndarray:
        return self.item_vectors_

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """Unit profiles (float32, buyers x dimensions) from the batch's weighted histories."""
        self.check_fitted()
        _, history = check_batch(batch, None, self.n_items_, "ContentRecommender.score")
        weights = history.copy()
        np.maximum(weights.data, 0.0, out=weights.data)
        if self.profile == "mean":
            weights.data[weights.data > 0] = 1.0
        elif self.recency != 1:
            weights.data = np.power(weights.data, np.float32(self.recency), dtype=np.float32)
        return unit_rows(np.asarray(weights @ self.item_vectors_, dtype=np.float32))

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> ContentRecommender:
        """A copy that also ranks the added items, by their content vectors."""
        self.check_fitted()
        added = check_added_items(catalog, embedding, self.n_items_, "ContentRecommender.with_items")
        other = copy.copy(self)
        other.item_vectors_ = np.vstack([self.item_vectors_, added])
        other.n_items_ = len(other.item_vectors_)
        return other

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items with the most similar content (cosine) to each of ``items``, the item
        itself excluded; works for items never bought. Availability is not filtered here."""
        self.check_fitted()
        who = "ContentRecommender.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)
        vectors = self.item_vectors_
        return similar_from_rows(lambda block: vectors[block] @ vectors.T, codes, self.n_items_, k)


FAMILY = Family("content", ContentRecommender, parts=("blended",))
