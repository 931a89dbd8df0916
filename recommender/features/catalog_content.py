"""The content side a trained engine keeps: what embeds items listed after training.

Apart from :mod:`recommender.features.content` (the scikit-learn transformers themselves) so that a
saved engine loads without importing scikit-learn, which takes about 0.6 s: the fitted transformers
are kept pickled on their own and read back only when an item is added.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from recommender.features.content import ContentEmbedding, ItemContentFeatures


@dataclass(frozen=True)
class CatalogContent:
    """What embeds catalog items (the fitted features and embedding, pickled) and the vectors of the
    items so far, in item code order: what ranks an item listed after training by its content."""

    encoders: bytes  # pickled (ItemContentFeatures, ContentEmbedding), both fitted
    vectors: np.ndarray

    @classmethod
    def of(cls, features: ItemContentFeatures, embedding: ContentEmbedding,
           vectors: np.ndarray) -> CatalogContent:
        """The content of fitted transformers and the vectors they gave the catalog's items."""
        return cls(pickle.dumps((features, embedding), protocol=pickle.HIGHEST_PROTOCOL), vectors)

    def extended(self, catalog: pd.DataFrame) -> CatalogContent:
        """This content with the vectors of the catalog rows ``catalog`` appended."""
        features, embedding = pickle.loads(self.encoders)
        added = embedding.transform(features.transform(catalog))
        return CatalogContent(self.encoders, np.vstack([self.vectors, added]))
