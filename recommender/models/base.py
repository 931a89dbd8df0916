"""The interface every recommendation model shares, in the style of implicit and scikit-learn.

Parameters go to ``__init__``; ``fit`` learns from :class:`TrainingData` and sets attributes with
a trailing underscore; ``score`` rates every item for a batch of buyers (the fast path: one
matrix product per batch); ``similar_items`` finds neighbours of items; ``save``/``load`` write
and read one file atomically.

What the engine, serving and evaluation need to know of a model is declared here, so a new family
plugs in without touching them:

* :attr:`Recommender.role`: ``"collaborative"`` (learns from who bought what), ``"content"``
  (knows items by their text and attributes, so it can rank items nobody bought yet),
  ``"popularity"`` (what buyers without history are shown) or ``"blend"`` (several of these);
  :meth:`Recommender.component` finds the model playing a role inside a blend.
* :attr:`Recommender.is_linear`: scores are dot products of buyer and item vectors
  (:class:`LinearRecommender`), which serving multiplies and ranks in one fused step.
* :meth:`Recommender.score_items`: the scores of some items only (a filtered request), and
  :meth:`Recommender.scores_and_spread`: scores with each buyer's spread across the catalog (what a
  blend divides by); a family that can compute these without the full scores overrides them.
* :meth:`Recommender.explaining_purchases`: which of a buyer's purchases makes the model offer an
  item (the "bought by buyers who bought X" reasons).
* :meth:`Recommender.with_items`: a copy that also ranks items listed after fitting, nobody has
  bought them, by their content (what ``PUT /v1/items`` needs to rank a new listing at once).
* :meth:`Recommender.fit_cost`: a rough time and memory of ``fit`` for a data size, so the model
  search skips a family the data is too large for instead of running out of time or memory.

The models follow scikit-learn's estimator protocol (``get_params``/``set_params``, so
``sklearn.base.clone`` copies them) without subclassing its ``BaseEstimator``: importing scikit-learn
takes about 0.6 s, and a saved model must load without it (``recommender recommend`` and every
server worker start by loading one). Nothing a fitted model keeps is a scikit-learn object.
"""
from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import joblib
import numpy as np
import pandas as pd

from recommender.atomic import atomic_file
from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.checks import unit_rows

ROLES = ("collaborative", "content", "popularity", "blend")
MIN_SIMILARITY = 0.2  # below this cosine a purchase does not explain an item (vector models)


class ModelLoadError(ValueError):
    """A saved model file is missing, unreadable or not the model expected."""


class NotFittedError(ValueError, AttributeError):
    """A model used before ``fit`` (the bases of scikit-learn's exception of that name)."""


class FitCost(NamedTuple):
    """A rough estimate of fitting a model: seconds on two cores, and peak bytes it adds."""

    seconds: float
    bytes: float


class Recommender(ABC):
    """Base class: fit, score a batch of buyers, similar items, save and load."""

    role: ClassVar[str] = "collaborative"

    @property
    def is_linear(self) -> bool:
        """Whether scores are dot products of buyer and item vectors (see :func:`vectors_of`)."""
        return False

    @classmethod
    def parameter_names(cls) -> list[str]:
        """The parameters of ``__init__``, each kept as an attribute of the same name."""
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The model's parameters by name (scikit-learn's protocol; ``deep`` is accepted for it, and
        components of a blend are not expanded)."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def set_params(self, **params: Any) -> Recommender:
        """Set parameters by name; refuses a name ``__init__`` does not take. Returns self."""
        unknown = sorted(set(params) - set(self.parameter_names()))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter {unknown[0]!r}; it takes "
                             f"{', '.join(self.parameter_names())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    @abstractmethod
    def fit(self, data: TrainingData) -> Recommender:
        """Learn from the training data; returns self."""

    @abstractmethod
    def score(self, batch: UserBatch) -> np.ndarray:
        """Scores (float32, ``len(batch)`` x items), higher is better; not filtered or sorted."""

    @abstractmethod
    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar items to each of ``items`` (codes, excluding the item itself)
        as ``(codes, scores)`` arrays of shape ``len(items) x k``, best first."""

    def score_items(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        """The scores of the item codes ``items`` only (float32, ``len(batch) x len(items)``):
        ``score(batch)[:, items]``. Families that can compute just those columns do (linear and
        item-item models): what a request filtered to a category or a price band costs."""
        return self.score(batch)[:, items]

    def scores_and_spread(self, batch: UserBatch, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The scores at the item codes ``items`` (None: every item) and each buyer's standard
        deviation of scores across all items (float64), which puts a blend's components on one
        scale; item-item models compute both from one sparse product."""
        scores = self.score(batch)
        return (scores if items is None else scores[:, items]), scores.std(axis=1, dtype=np.float64)

    def component(self, role: str) -> Recommender | None:
        """The model playing ``role`` (see :data:`ROLES`) here: this model if it has that role,
        else None (a blend looks among its components)."""
        return self if self.role == role else None

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        """For each item code of ``items``, the position in ``bought`` (a buyer's purchased item
        codes) of the purchase that most leads this model to the item, or -1 where none does
        (int64), never a pair ``excluded`` marks (boolean, items x bought). The base model names none."""
        return np.full(len(items), -1, dtype=np.int64)

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> Recommender:
        """A copy that also ranks the items appended after the fitted ones, which nobody has bought:
        ``catalog`` and ``embedding`` (content vectors, ``TrainingData.item_embedding``'s kind) cover
        every item, the fitted ones first. A family that cannot raises NotImplementedError (its
        new items are ranked after the next training)."""
        raise NotImplementedError(f"{type(self).__name__} cannot rank items added after fitting; retrain it")

    @classmethod
    def fit_cost(cls, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        """Rough seconds (two cores) and peak bytes of fitting with ``params`` on a buyers x items
        matrix with ``n_pairs`` bought pairs; the base estimate is linear in the data."""
        return FitCost(1e-6 * n_pairs, 16.0 * (n_pairs + n_users + n_items))

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless ``fit`` has set learned attributes (``name_``)."""
        if not any(name.endswith("_") and not name.startswith("__") for name in vars(self)):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit first")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to one file, atomically."""
        self.check_fitted()
        with atomic_file(path) as tmp:
            joblib.dump(self, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
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


@runtime_checkable
class VectorModel(Protocol):
    """A model with buyer and item vectors: a :class:`LinearRecommender`, or a blend of linear ones."""

    def user_vectors(self, batch: UserBatch) -> np.ndarray: ...

    def item_vectors(self) -> np.ndarray: ...


def vectors_of(model: Recommender) -> VectorModel:
    """``model``'s buyer and item vectors; TypeError when it is not linear."""
    if not (model.is_linear and isinstance(model, VectorModel)):
        raise TypeError(f"{type(model).__name__} is not linear: it has no buyer and item vectors")
    return model


class LinearRecommender(Recommender):
    """A model whose scores are dot products of a buyer vector and an item vector.

    A purchase explains an item when their item vectors are close (cosine at least
    :data:`MIN_SIMILARITY`); a model whose vectors do not mean closeness (popularity) overrides
    :meth:`explaining_purchases`.

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

    @property
    def is_linear(self) -> bool:
        return True

    def score(self, batch: UserBatch) -> np.ndarray:
        return np.asarray(self.user_vectors(batch) @ self.item_vectors().T, dtype=np.float32)

    def score_items(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_vectors(batch) @ self.item_vectors()[items].T, dtype=np.float32)

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        return closest_by_cosine(self.item_vectors(), items, bought, excluded)


def closest_by_cosine(vectors: np.ndarray, items: np.ndarray, bought: np.ndarray, excluded: np.ndarray | None = None,
                      threshold: float = MIN_SIMILARITY) -> np.ndarray:
    """For each of ``items``, the position in ``bought`` of the purchase whose row of ``vectors`` is
    closest by cosine, if at least ``threshold``, among the pairs not ``excluded`` (boolean, items x
    bought); else -1. One small ``items x bought`` product."""
    items, bought = np.asarray(items, dtype=np.int64), np.asarray(bought, dtype=np.int64)
    out = np.full(len(items), -1, dtype=np.int64)
    if len(items) == 0 or len(bought) == 0 or np.ndim(vectors) != 2 or np.shape(vectors)[1] == 0:
        return out
    similarity = unit_rows(np.asarray(vectors[items], dtype=np.float32)) @ unit_rows(
        np.asarray(vectors[bought], dtype=np.float32)).T
    if excluded is not None:
        similarity[excluded] = -np.inf
    best = similarity.argmax(axis=1)
    close = similarity[np.arange(len(items)), best] >= threshold
    out[close] = best[close]
    return out
