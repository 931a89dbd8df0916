"""Item content features from the catalog: text, attributes, tags and price, as sparse rows.

Built from scikit-learn parts: TF-IDF over the item's words, one-hot category, region and
merchant, binary tags and a quantile price band. Each block has a weight; rows are L2-normalised
so a dot product is a cosine similarity. ``transform`` works on items never seen by ``fit``,
which is what ranks a new item that nobody has bought yet.

:class:`ContentEmbedding` compresses the sparse rows into dense unit vectors with a truncated SVD
(latent semantic analysis): similar words and attributes share directions, and models can use
them cheaply (the content model scores with them; the factor models map them to factors for
items nobody has bought yet).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OneHotEncoder, normalize

from recommender.columns import TEXT

LABEL_COLUMNS = ("category", "region", "merchant_id")


def _item_text(catalog: pd.DataFrame) -> pd.Series:
    parts = [catalog[name].astype(TEXT) for name in ("title", "description", "category", "region")]
    return parts[0].str.cat(parts[1:], sep=" ").str.cat(catalog.tags.str.replace(";", " "), sep=" ")


class ItemContentFeatures(TransformerMixin, BaseEstimator):
    """Catalog rows to L2-normalised sparse content vectors.

    Parameters are the block weights (0 removes a block) and the text vocabulary size. Blocks
    the catalog leaves empty (no tags at all, no prices at all) are left out.
    """

    def __init__(self, text_weight: float = 1.0, category_weight: float = 0.8, region_weight: float = 0.8,
                 merchant_weight: float = 0.4, tags_weight: float = 0.5, price_weight: float = 0.3,
                 max_text_features: int = 50_000, price_bands: int = 5):
        self.text_weight = text_weight
        self.category_weight = category_weight
        self.region_weight = region_weight
        self.merchant_weight = merchant_weight
        self.tags_weight = tags_weight
        self.price_weight = price_weight
        self.max_text_features = max_text_features
        self.price_bands = price_bands

    def _columns(self, catalog: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame({"text": _item_text(catalog), "tags": catalog.tags.astype(TEXT),
                              "price": catalog.price.astype("float64")})
        for name in LABEL_COLUMNS:
            frame[name] = catalog[name].astype(TEXT)
        return frame

    def fit(self, catalog: pd.DataFrame, y=None) -> ItemContentFeatures:
        frame = self._columns(catalog)
        distinct_prices = frame.price.nunique()
        bands = min(self.price_bands, distinct_prices)
        blocks = [
            ("text", TfidfVectorizer(sublinear_tf=True, max_features=self.max_text_features,
                                     ngram_range=(1, 2), min_df=1, strip_accents="unicode"), "text",
             self.text_weight),
            ("tags", CountVectorizer(token_pattern=r"[^;]+", binary=True, lowercase=False), "tags", self.tags_weight),
            ("price", make_pipeline(FunctionTransformer(np.log1p), SimpleImputer(strategy="median"),
                                    KBinsDiscretizer(n_bins=max(bands, 2), encode="onehot",
                                                     strategy="quantile", quantile_method="averaged_inverted_cdf")),
             ["price"], self.price_weight),
        ] + [(name, OneHotEncoder(handle_unknown="ignore"), [name], getattr(self, f"{name.removesuffix('_id')}_weight"))
             for name in LABEL_COLUMNS]
        empty = {"tags": not frame.tags.str.len().any(), "price": distinct_prices < 2}
        used = [(name, transformer, columns, weight) for name, transformer, columns, weight in blocks
                if weight > 0 and not empty.get(name, False)]
        if not used:
            raise ValueError("ItemContentFeatures: every block weight is 0")
        self.transformer_ = ColumnTransformer(
            [(name, transformer, columns) for name, transformer, columns, _ in used], sparse_threshold=1.0,
            transformer_weights={name: weight for name, _, _, weight in used})
        with warnings.catch_warnings():
            # quantile bands of a catalog with few distinct prices can coincide; sklearn drops the
            # empty ones, which is what we want
            warnings.filterwarnings("ignore", message="Bins whose width are too small", category=UserWarning)
            self.transformer_.fit(frame)
        return self

    def transform(self, catalog: pd.DataFrame) -> sp.csr_matrix:
        """Sparse float32 rows, one per catalog row, L2-normalised."""
        frame = self._columns(catalog)
        features = sp.csr_matrix(self.transformer_.transform(frame), dtype="float32")
        return normalize(features, norm="l2", copy=False)


class ContentEmbedding(TransformerMixin, BaseEstimator):
    """Sparse content rows (:class:`ItemContentFeatures`) to dense unit vectors (float32, at most
    ``dimensions``) by a truncated SVD, latent semantic analysis; a catalog too small to compress
    keeps its rows as they are. ``transform`` embeds rows never seen by ``fit`` (new listings)
    exactly as it embeds the ones it was fitted on.
    """

    def __init__(self, dimensions: int = 64, random_state: int = 0):
        self.dimensions = dimensions
        self.random_state = random_state

    def fit(self, item_content: sp.spmatrix, y=None) -> ContentEmbedding:
        if isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int) or self.dimensions < 1:
            raise ValueError(f"content dimensions must be a positive integer, got {self.dimensions!r}")
        dimensions = min(self.dimensions, item_content.shape[0] - 1, item_content.shape[1] - 1)
        self.svd_ = (TruncatedSVD(n_components=dimensions, random_state=self.random_state).fit(item_content)
                     if dimensions >= 1 else None)
        self.n_features_in_ = item_content.shape[1]
        return self

    def transform(self, item_content: sp.spmatrix) -> np.ndarray:
        vectors = item_content.toarray() if self.svd_ is None else self.svd_.transform(item_content)
        return np.ascontiguousarray(normalize(vectors), dtype=np.float32)
