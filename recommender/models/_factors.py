"""The matrix-factorisation base shared by ALS and BPR.

:class:`FactorModel` is the mixin. A subclass says how to build and fit the
  implicit model and how to fold in unseen buyers; the mixin fits it with BLAS limited to one
  thread (implicit's advice; implicit runs its own threads), keeps the factors as numpy float32
  arrays, scores a batch with one matrix product, and finds similar items by the cosine of item
  factors.
"""
from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.base import LinearRecommender, closest_by_cosine
from recommender.models.checks import (
    check_added_items,
    check_batch,
    check_items,
    check_non_negative_int,
    check_training_data,
    similar_from_rows,
    unit_rows,
)

COLD_ITEM_RIDGE = 1.0  # ridge penalty of the content-to-factor mapping for never-bought items


class ImplicitFactors(Protocol):
    """What fitting uses of an implicit matrix-factorisation model (implicit ships no types)."""

    user_factors: np.ndarray
    item_factors: np.ndarray

    def fit(self, user_items: sp.csr_matrix, show_progress: bool = True) -> None: ...


class FactorModel(LinearRecommender):
    """Mixin for implicit's matrix-factorisation models (ALS, BPR).

    Subclasses take a ``map_cold_items`` parameter (True: items nobody bought get factors mapped
    from their content; False: implicit's own factors, zero for ALS) and implement
    :meth:`_implicit_model` (the unfitted ``implicit.cpu`` model built from the parameters) and
    :meth:`_fold_in` (factors for buyers unseen in training, from their histories); they may
    override :meth:`_item_embedding` (the item vectors compared by ``similar_items``),
    :meth:`_after_fit` (extra learned attributes) and :meth:`_learn_factors` (how the factors are
    learned: implicit by default, Spark for
    :class:`~recommender.models.spark_als.SparkALSRecommender`). :meth:`_after_fit` runs again when
    items are added (:meth:`with_items`), so it must derive its attributes from the factors alone.

    Learned attributes
    ------------------
    user_factors_ : ndarray, float32, buyers x factors
    item_factors_ : ndarray, float32, items x factors
        Items nobody bought get factors mapped from their content (``content_mapping_``).
        Scores are ``user_factors_ @ item_factors_.T`` (for BPR the last column holds the item
        biases, with a constant 1 in the buyer factors).
    content_mapping_ : ContentToFactors or None
        Content vectors to factors, fitted on the bought items (:func:`content_to_factors`); None
        without ``map_cold_items``.
    n_users_, n_items_ : int
    """

    map_cold_items: bool  # parameters every subclass takes
    show_progress: bool

    @abstractmethod
    def _implicit_model(self) -> ImplicitFactors:
        """The unfitted implicit CPU model configured from this estimator's parameters."""

    @abstractmethod
    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Factors (float32, rows x factors) for unseen buyers with these non-empty histories."""

    def _check_params(self) -> None:
        """Raise ValueError on a bad parameter (called by fit)."""

    def _after_fit(self) -> None:
        """Hook for extra learned attributes derived from the factors (end of fit, and with_items)."""

    def _item_embedding(self) -> np.ndarray:
        """The item vectors whose cosine is ``similar_items``' score."""
        return self.item_factors_

    def item_vectors(self) -> np.ndarray:
        return self.item_factors_

    def fit(self, data: TrainingData) -> FactorModel:
        """Factorise ``data.user_items`` (buyers x items, implicit's convention)."""
        who = f"{type(self).__name__}.fit"
        self._check_params()
        user_items = check_training_data(data, who)
        user_factors, item_factors = self._learn_factors(data, user_items)
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        embedding = getattr(data, "item_embedding", None)
        bought = np.diff(user_items.tocsc().indptr) > 0
        self.content_mapping_ = content_to_factors(item_factors, bought, embedding) if self.map_cold_items else None
        if self.content_mapping_ is not None and embedding is not None and not bought.all():
            item_factors[~bought] = self.content_mapping_.factors(embedding[~bought])
        self.item_factors_ = item_factors
        self.n_users_, self.n_items_ = user_items.shape
        self._after_fit()
        return self

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> FactorModel:
        """A copy that also ranks the added items, with factors mapped from their content (zeros
        without ``map_cold_items``)."""
        self.check_fitted()
        added = check_added_items(catalog, embedding, self.n_items_, f"{type(self).__name__}.with_items")
        mapping = getattr(self, "content_mapping_", None)
        factors = (mapping.factors(added) if mapping is not None and len(added)
                   else np.zeros((len(added), self.item_factors_.shape[1]), dtype=np.float32))
        other = copy.copy(self)
        other.item_factors_ = np.ascontiguousarray(np.vstack([self.item_factors_, factors]), dtype=np.float32)
        other.n_items_ = len(other.item_factors_)
        other._after_fit()
        return other

    def _learn_factors(self, data: TrainingData, user_items: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Buyer and item factors learned from ``user_items``: implicit's model, by default."""
        # implicit checks the BLAS thread pool when a model is built and runs its own threads
        # (num_threads); BLAS threads on top of them slow it down badly, so BLAS gets one.
        with threadpool_limits(1, "blas"):
            model = self._implicit_model()
            model.fit(user_items, show_progress=bool(self.show_progress))
        return _to_numpy(model.user_factors), _to_numpy(model.item_factors)

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """Factors of the batch's buyers (float32): trained factors for training buyers, folded in
        from the history for unseen buyers, zeros for unseen buyers without history."""
        self.check_fitted()
        users, history = check_batch(batch, self.n_users_, self.n_items_, f"{type(self).__name__}.score")
        vectors = np.zeros((len(users), self.user_factors_.shape[1]), dtype=np.float32)
        known = users != UNKNOWN_CODE
        vectors[known] = self.user_factors_[users[known]]
        fold = np.flatnonzero(~known & (np.diff(history.indptr) > 0))
        if len(fold):
            vectors[fold] = self._fold_in(history[fold])
        return vectors

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        """The purchase whose factors are closest to each item's (cosine at least MIN_SIMILARITY),
        of the pairs not ``excluded``."""
        return closest_by_cosine(self._item_embedding(), items, bought, excluded)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose factors have the highest cosine with each item's, itself excluded."""
        self.check_fitted()
        who = f"{type(self).__name__}.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)
        unit = unit_rows(self._item_embedding())
        return similar_from_rows(lambda block: unit[block] @ unit.T, codes, self.n_items_, k)


@dataclass(frozen=True)
class ContentToFactors:
    """A fitted linear map from content vectors to item factors: a ridge regression's coefficients
    (``factors x content dimensions``) and intercept, kept as arrays so that a saved model holds no
    scikit-learn object (see :mod:`recommender.models.base`)."""

    coefficients: np.ndarray
    intercept: np.ndarray

    def factors(self, embedding: np.ndarray) -> np.ndarray:
        """Item factors (float32) for content vectors, as the ridge regression predicts them."""
        return np.asarray(embedding @ self.coefficients.T + self.intercept, dtype=np.float32)


def content_to_factors(item_factors: np.ndarray, bought: np.ndarray, embedding: np.ndarray | None,
                       alpha: float = COLD_ITEM_RIDGE) -> ContentToFactors | None:
    """A ridge regression from content vectors to item factors, fitted on the ``bought`` items
    (attribute-to-factor mapping, Gantner et al. 2010): it gives an item nobody bought the factors
    of the bought items it resembles, so it is scored like them instead of not at all. None
    without an embedding or with fewer than two bought items."""
    if embedding is None or np.count_nonzero(bought) < 2:
        return None
    from sklearn.linear_model import Ridge  # fitting only: loading a model must not import scikit-learn

    ridge = Ridge(alpha=alpha).fit(embedding[bought], item_factors[bought])
    return ContentToFactors(ridge.coef_, np.asarray(ridge.intercept_))


def _to_numpy(factors: object) -> np.ndarray:
    """implicit's factors as numpy (CPU models give ndarrays; GPU matrices have ``to_numpy``)."""
    return factors.to_numpy() if hasattr(factors, "to_numpy") else np.asarray(factors)
