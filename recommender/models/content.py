"""Content-based recommender: items alike in text and attributes, buyers matched by what they bought.

Every catalog item has a sparse content row (TF-IDF text, category, region, merchant, tags,
price band: see :mod:`recommender.features.content`). The model compresses them with a truncated
SVD (latent semantic analysis) into dense unit vectors of ``dimensions`` numbers, so similar
words and attributes share directions and a dot product is a cosine. A buyer's *profile* is the
history-weighted sum of the vectors of the items bought, normalised; an item's score is the cosine
of its vector with the profile.

Because scores come from content alone, an item nobody has bought yet (it is in the catalog, so
it has a vector) is ranked like any other: this is the model that surfaces new produce and
handicrafts. Buyers with no history get a zero profile and all-zero scores; the popularity model
covers them. Being linear (profile . item vector), it blends and serves through one fused
product like the factor models.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import LinearRecommender
from recommender.models.checks import check_batch, check_items, check_non_negative_int, check_number, \
    check_positive_int, similar_from_rows, unit_rows

PROFILES = ("weighted_mean", "mean")


class ContentRecommender(LinearRecommender):
    """Recommend items whose content resembles what the buyer bought.

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
    dimensions : int, default 64
        Size of the SVD embedding (capped by the number of items and content features).
    random_state : int, default 0
        Seed of the randomised SVD.

    Learned attributes
    ------------------
    item_vectors_ : ndarray, float32, items x dimensions, unit rows
    svd_ : the fitted ``TruncatedSVD``
    n_items_ : int
    """

    def __init__(self, profile: str = "weighted_mean", recency: float = 1.0, dimensions: int = 64,
                 random_state: int = 0):
        self.profile = profile
        self.recency = recency
        self.dimensions = dimensions
        self.random_state = random_state

    def fit(self, data: TrainingData) -> "ContentRecommender":
        """Embed the catalog's content rows (every item, bought or not); no interactions needed."""
        who = "ContentRecommender.fit"
        if self.profile not in PROFILES:
            raise ValueError(f"ContentRecommender: profile must be one of {PROFILES}, got {self.profile!r}")
        check_number(self.recency, "recency", who)
        check_positive_int(self.dimensions, "dimensions", who)
        content = getattr(data, "item_content", None)
        if content is None or not sp.issparse(content):
            raise ValueError(f"{who}: data.item_content must be a sparse matrix (TrainingData)")
        if content.shape[0] != data.n_items:
            raise ValueError(f"{who}: item_content has {content.shape[0]} rows for {data.n_items} items")
        content = sp.csr_matrix(content, dtype=np.float32)
        dimensions = min(self.dimensions, content.shape[0] - 1, content.shape[1] - 1)
        if dimensions >= 1:
            self.svd_ = TruncatedSVD(n_components=dimensions, random_state=self.random_state)
            vectors = self.svd_.fit_transform(content)
        else:  # a catalog too small to compress: the content rows themselves
            self.svd_ = None
            vectors = content.toarray()
        self.item_vectors_ = np.ascontiguousarray(unit_rows(vectors))
        self.n_items_ = int(content.shape[0])
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

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items with the most similar content (cosine) to each of ``items``, the item
        itself excluded; works for items never bought. Availability is not filtered here."""
        self.check_fitted()
        who = "ContentRecommender.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)
        vectors = self.item_vectors_
        return similar_from_rows(lambda block: vectors[block] @ vectors.T, codes, self.n_items_, k)
