"""The interface every recommendation model shares, in the style of implicit and scikit-learn.

Parameters go to ``__init__``; ``fit`` learns from :class:`TrainingData` and sets attributes with
a trailing underscore; ``score`` rates every item for a batch of buyers (the fast path: one
matrix product per batch); ``similar_items`` finds neighbours of items; ``save``/``load`` write
and read one file atomically.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator

from recommender.atomic import atomic_file
from recommender.features.training_data import TrainingData, UserBatch


class ModelLoadError(ValueError):
    """A saved model file is missing, unreadable or not the model expected."""


class Recommender(BaseEstimator, ABC):
    """Base class: fit, score a batch of buyers, similar items, save and load."""

    @abstractmethod
    def fit(self, data: TrainingData) -> "Recommender":
        """Learn from the training data; returns self."""

    @abstractmethod
    def score(self, batch: UserBatch) -> np.ndarray:
        """Scores (float32, ``len(batch)`` x items), higher is better; not filtered or sorted."""

    @abstractmethod
    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar items to each of ``items`` (codes, excluding the item itself)
        as ``(codes, scores)`` arrays of shape ``len(items) x k``, best first."""

    def check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one file, atomically."""
        self.check_fitted()
        with atomic_file(path) as tmp:
            joblib.dump(self, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recommender":
        """Read a model written by :meth:`save`; refuses anything else with a clear message."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: model file is missing")
        try:
            model = joblib.load(path)
        except Exception as exc:  # joblib/pickle raise many types on a damaged file
            raise ModelLoadError(f"{path}: cannot read the model file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(model, cls):
            raise ModelLoadError(f"{path}: holds a {type(model).__name__}, expected a {cls.__name__}")
        return model


class LinearRecommender(Recommender):
    """A model whose scores are dot products of a buyer vector and an item vector.

    ``score(batch) == user_vectors(batch) @ item_vectors().T``. Linear models blend into one
    linear model (see :class:`~recommender.models.hybrid.HybridRecommender`) and are served by a
    fused product and top-k (:func:`recommender.ranking.top_k_of_product`) without ever
    materialising the full buyers x items score matrix.
    """

    @abstractmethod
    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """Buyer vectors (float32, ``len(batch)`` x dimensions)."""

    @abstractmethod
    def item_vectors(self) -> np.ndarray:
        """Item vectors (float32, C-contiguous, items x dimensions)."""

    def score(self, batch: UserBatch) -> np.ndarray:
        return (self.user_vectors(batch) @ self.item_vectors().T).astype(np.float32, copy=False)
