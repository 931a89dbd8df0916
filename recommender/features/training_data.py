"""Everything the models learn from, built once from a loaded :class:`~recommender.loaders.Dataset`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.contract import UNKNOWN_TIER
from recommender.features.catalog_content import CatalogContent
from recommender.features.context import buyer_tiers
from recommender.features.encoders import UNKNOWN_CODE, IdEncoder
from recommender.features.interactions import InteractionWeighting, interaction_weights, with_signals
from recommender.loaders import Dataset

if TYPE_CHECKING:  # scikit-learn's transformers: imported when content is fitted, not when a model loads
    from recommender.features.content import ContentEmbedding, ItemContentFeatures

GRAM_BLOCK_CELLS = 1 << 24  # dense Gram cells computed at once (64 MB of float32)


@dataclass
class UserBatch:
    """A batch of buyers to score: training codes (``UNKNOWN_CODE`` for buyers unseen in training),
    their weighted purchase histories (rows x items) and their city tiers."""

    users: np.ndarray
    history: sp.csr_matrix
    tiers: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def cold(cls, tiers: np.ndarray, n_items: int) -> UserBatch:
        """Buyers with no history, known only by their city tier."""
        tiers = np.asarray(tiers, dtype=np.int8)
        return cls(np.full(len(tiers), UNKNOWN_CODE), sp.csr_matrix((len(tiers), n_items), dtype="float32"), tiers)


@dataclass
class TrainingData:
    """Buyer x item interactions, buyer context and item content, with their id encoders."""

    users: IdEncoder
    items: IdEncoder
    user_items: sp.csr_matrix  # weighted confidence, buyers x items (float32 CSR)
    confidence: sp.csr_matrix  # decayed quantities before weighting
    user_tiers: np.ndarray  # int8 per buyer
    catalog: pd.DataFrame  # item metadata, row i = item code i
    item_content: sp.csr_matrix  # L2-normalised content rows, item code order
    item_embedding: np.ndarray  # dense unit content vectors (SVD of item_content), item code order
    content_features: ItemContentFeatures
    content_embedding: ContentEmbedding  # fitted: item_content -> item_embedding
    weighting: InteractionWeighting
    reference_time: np.datetime64

    @property
    def n_users(self) -> int:
        return self.user_items.shape[0]

    @property
    def n_items(self) -> int:
        return self.user_items.shape[1]

    @property
    def content(self) -> CatalogContent:
        """What embeds the catalog's items, new ones included."""
        return CatalogContent.of(self.content_features, self.content_embedding, self.item_embedding)

    @property
    def purchased(self) -> sp.csr_matrix:
        """Which items each buyer bought (boolean CSR)."""
        return sp.csr_matrix(self.confidence > 0, dtype=bool)

    def batch(self, users: np.ndarray) -> UserBatch:
        """The training buyers with these codes, as a batch to score."""
        users = np.asarray(users, dtype=np.int64)
        return UserBatch(users, self.user_items[users], self.user_tiers[users])

    def item_gram(self, items: np.ndarray | None = None) -> np.ndarray:
        """The Gram matrix ``X^T X`` of ``user_items`` on the columns ``items`` (sorted item codes,
        in their order; None: all items), as :func:`gram_matrix` gives it (EASE solves it)."""
        return gram_matrix(self.user_items if items is None else self.user_items[:, np.asarray(items, dtype=np.int64)])


def gram_matrix(weights: sp.spmatrix) -> np.ndarray:
    """``X^T X`` of a buyers x items matrix: dense float32, Fortran-ordered (what LAPACK's Cholesky
    factorises in place), built a block of columns at a time so no sparse items x items copy exists."""
    x = sp.csc_matrix(weights, dtype=np.float32)
    n = x.shape[1]
    gram = np.empty((n, n), dtype=np.float32, order="F")
    transposed = x.T.tocsr()
    step = max(1, GRAM_BLOCK_CELLS // max(n, 1))
    for start in range(0, n, step):
        gram[:, start:start + step] = (transposed @ x[:, start:start + step]).toarray()
    return gram


def build_training_data(dataset: Dataset, weighting: InteractionWeighting | None = None,
                        content_features: ItemContentFeatures | None = None,
                        reference_time: np.datetime64 | None = None, content_dimensions: int = 64,
                        seed: int = 0, item_side: dict | None = None,
                        event_weights: dict[str, float] | None = None) -> TrainingData:
    """Build the interaction matrix, buyer tiers and item content features of a data set.
    ``item_side`` is the item side already built for this catalog (:func:`item_inputs`), to reuse;
    ``event_weights`` weigh the data set's views and carts into the models' input
    (:func:`~recommender.features.interactions.with_signals`; None or zeros: purchases only)."""
    weighting = weighting or InteractionWeighting()
    purchases, catalog = dataset.purchases, dataset.catalog
    users = IdEncoder(purchases.user_id.cat.categories)
    items = IdEncoder(catalog.item_id)
    if reference_time is None:
        reference_time = purchases.timestamp.max().to_datetime64()
    shape = (len(users), len(items))
    confidence, weights = interaction_weights(purchases, shape, weighting, reference_time)
    if dataset.signals is not None and event_weights and any(event_weights.values()):
        weights = with_signals(weights, dataset.signals, users.index_, items.index_, event_weights,
                               weighting.half_life_days, reference_time)
    return TrainingData(users=users, items=items, user_items=weights,
                        confidence=confidence, user_tiers=buyer_tiers(purchases, len(users)),
                        weighting=weighting, reference_time=reference_time.astype("datetime64[s]"),
                        **(item_side or item_inputs(catalog, content_features, content_dimensions, seed)))


# what item_inputs builds
ITEM_SIDE = ("catalog", "item_content", "item_embedding", "content_features", "content_embedding")


def item_inputs(catalog: pd.DataFrame, content_features: ItemContentFeatures | None = None,
                content_dimensions: int = 64, seed: int = 0) -> dict:
    """The item side of :class:`TrainingData` (catalog, content rows and embedding, fitted features),
    as keyword arguments; shared by the in-memory and the Spark builders."""
    from recommender.features.content import ContentEmbedding, ItemContentFeatures

    content_features = content_features or ItemContentFeatures()
    item_content = content_features.fit(catalog).transform(catalog)
    embedding = ContentEmbedding(content_dimensions, seed).fit(item_content)
    return {"catalog": catalog.reset_index(drop=True), "item_content": item_content,
            "item_embedding": embedding.transform(item_content), "content_features": content_features,
            "content_embedding": embedding}


__all__ = ["ITEM_SIDE", "TrainingData", "UserBatch", "build_training_data", "item_inputs", "UNKNOWN_TIER"]
