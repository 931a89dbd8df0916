"""A hybrid that blends component models, with weights that depend on how much a buyer has bought.

Each component's scores are divided by their per-buyer standard deviation across items, so that
models on different scales mix fairly (subtracting the per-buyer mean would not change any
buyer's ranking, so it is skipped). The blend weights form a table: one row per history-length
bucket (``bucket_edges=(1, 3, 10)`` makes buckets 0, 1-2, 3-9 and 10+ items bought), one column
per component. They are learned by :func:`tune_blend_weights` on a validation split, so buyers
with little history lean on content and tier popularity and buyers with much history on
collaborative filtering as far as the data says so, not by a hard-coded rule.

When every component is linear (:class:`~recommender.models.base.LinearRecommender`), so is the
blend: a component's per-buyer standard deviation across items is ``sqrt(u' C u)`` with ``C`` the
covariance of its item vectors, so the blend is one product of concatenated, scaled buyer
vectors with concatenated item vectors, and serving never builds the full score matrix.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recommender.features.training_data import TrainingData, UserBatch
from recommender.metrics import ndcg_at_k
from recommender.models.base import NotFittedError, Recommender, vectors_of
from recommender.ranking import exclude, top_k, top_k_of_product

NEIGHBOUR_ROLES = ("collaborative", "content", "popularity")  # who gives a blend's similar items, in order
GATHER_ROWS = 256  # buyers per block when reading a linear component's scores at given items


def history_buckets(batch: UserBatch, edges: tuple[int, ...]) -> np.ndarray:
    """Bucket of each buyer by the number of distinct items in their history."""
    return np.asarray(np.searchsorted(np.asarray(edges), np.diff(batch.history.indptr), side="right"))


def scaled_scores(model: Recommender, batch: UserBatch, items: np.ndarray | None = None) -> np.ndarray:
    """A component's scores at item codes ``items`` (None: every item) divided by their per-buyer
    standard deviation across all items (0 where constant)."""
    scores, spread = model.scores_and_spread(batch, items)
    spread = spread.astype(scores.dtype)[:, None]  # one dtype: numpy divides float32 by float32 fastest
    np.divide(scores, spread, out=scores, where=spread > 0)
    scores[spread[:, 0] == 0] = 0.0
    return scores


def spread_scale(user_vectors: np.ndarray, covariance: np.ndarray, numerator: float | np.ndarray = 1.0) -> np.ndarray:
    """``numerator`` (one value, or one per buyer) over each buyer's standard deviation of
    ``user_vectors @ item_vectors.T`` across items, computed from the item vectors' covariance
    ``covariance`` (``sqrt(u' C u)``) without the scores; 0 where the scores are constant."""
    spread = np.sqrt(np.maximum(((user_vectors @ covariance) * user_vectors).sum(axis=1), 0))
    return np.asarray(np.divide(numerator, spread, out=np.zeros(len(user_vectors)), where=spread > 1e-12))


def scaled_user_vectors(model: Recommender, covariance: np.ndarray, batch: UserBatch) -> np.ndarray:
    """A linear component's buyer vectors over each buyer's score spread (from the item vectors'
    ``covariance``): times its item vectors, its scaled scores (see :func:`scaled_scores`)."""
    vectors = vectors_of(model).user_vectors(batch)
    return np.ascontiguousarray(vectors * spread_scale(vectors, covariance)[:, None], dtype=np.float32)


@dataclass(frozen=True)
class LinearScores:
    """A linear component's scaled scores for a batch (see :func:`scaled_scores`), kept as the two
    factors of their product (buyer vectors already divided by their spread) with the items left
    out: ranked by a fused product and top-k, never materialised (see
    :meth:`HybridRecommender.component_scores`)."""

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    seen: sp.csr_matrix | None
    available: np.ndarray | None

    def top(self, k: int) -> np.ndarray:
        """The ``k`` best item codes per buyer (-1 padding), as :func:`top_k` gives them."""
        return top_k_of_product(self.user_vectors, self.item_vectors, k, self.seen, self.available)[0]

    def at(self, codes: np.ndarray) -> np.ndarray:
        """The scores of item ``codes`` (buyers x codes, valid codes), block by block of buyers."""
        values = np.empty(codes.shape, dtype=np.float32)
        for start in range(0, len(codes), GATHER_ROWS):
            rows = slice(start, start + GATHER_ROWS)
            values[rows] = np.einsum("nd,ncd->nc", self.user_vectors[rows], self.item_vectors[codes[rows]])
        return values


class HybridRecommender(Recommender):
    """Weighted blend of ``components`` (a list of ``(name, model)``), weights per history bucket.

    ``weights`` is an array of shape ``(len(bucket_edges) + 1, len(components))``; ``None`` means
    equal weights until :func:`tune_blend_weights` sets them.
    """

    role = "blend"

    def __init__(self, components: list[tuple[str, Recommender]], weights: npt.ArrayLike | None = None,
                 bucket_edges: tuple[int, ...] = (1, 3, 10)):
        self.components = components
        self.weights = weights
        self.bucket_edges = bucket_edges

    def _check_weights(self) -> np.ndarray:
        shape = (len(self.bucket_edges) + 1, len(self.components))
        weights = np.full(shape, 1.0 / shape[1]) if self.weights is None else np.asarray(self.weights, dtype=float)
        if weights.shape != shape:
            raise ValueError(f"hybrid weights must have shape {shape} (buckets x components), got {weights.shape}")
        if (weights < 0).any():
            raise ValueError("hybrid weights must be non-negative")
        return weights

    def fit(self, data: TrainingData, refit: bool = True) -> HybridRecommender:
        """Fit every component on ``data`` (with ``refit=False``, components already fitted, on
        this very data, are kept as they are)."""
        if not self.components:
            raise ValueError("HybridRecommender needs at least one component")
        self.weights_ = self._check_weights()
        for _, model in self.components:
            if refit or not _is_fitted(model):
                model.fit(data)
        self.n_items_ = data.n_items
        self.covariances_ = self._item_covariances()
        if self.is_linear:
            self.item_vectors_ = np.ascontiguousarray(
                np.hstack([vectors_of(model).item_vectors() for _, model in self.components]), dtype=np.float32)
        return self

    def _item_covariances(self) -> list[np.ndarray | None]:
        """Each linear component's item covariance (None for the others): its buyers' score spreads
        without the scores (see :func:`spread_scale`)."""
        return [np.atleast_2d(np.cov(vectors_of(model).item_vectors(), rowvar=False, bias=True)).astype(np.float32)
                if model.is_linear else None for _, model in self.components]

    def with_items(self, catalog: pd.DataFrame, embedding: np.ndarray) -> HybridRecommender:
        """A copy whose every component also ranks the added items, blended with the weights as
        fitted and the score spreads of the catalog they join (as if they had been listed)."""
        self.check_fitted()
        other = copy.copy(self)
        other.components = [(name, model.with_items(catalog, embedding)) for name, model in self.components]
        other.n_items_ = len(embedding)
        other.covariances_ = other._item_covariances()
        if self.is_linear:
            other.item_vectors_ = np.ascontiguousarray(
                np.hstack([vectors_of(model).item_vectors() for _, model in other.components]), dtype=np.float32)
        return other

    @property
    def is_linear(self) -> bool:
        """True when every component is linear, and so the blend is too."""
        return all(model.is_linear for _, model in self.components)

    def component(self, role: str) -> Recommender | None:
        """The first component playing ``role`` (the blend itself for ``"blend"``)."""
        if role == self.role:
            return self
        return next((found for _, model in self.components if (found := model.component(role)) is not None), None)

    def _explainer(self) -> Recommender:
        """The component whose neighbours and reasons speak for the blend: the first of the
        collaborative, content and popularity roles the blend has."""
        return next(model for role in NEIGHBOUR_ROLES if (model := self.component(role)) is not None)

    def explaining_purchases(self, items: np.ndarray, bought: np.ndarray,
                             excluded: np.ndarray | None = None) -> np.ndarray:
        """The collaborative component's explanations (see :meth:`Recommender.explaining_purchases`)."""
        return self._explainer().explaining_purchases(items, bought, excluded)

    def item_vectors(self) -> np.ndarray:
        """The components' item vectors side by side (linear blends only)."""
        return self.item_vectors_

    def user_vectors(self, batch: UserBatch) -> np.ndarray:
        """The components' buyer vectors side by side, each scaled by its blend weight over its
        per-buyer score spread (linear blends only): ``user_vectors @ item_vectors.T`` equals
        :meth:`score` up to a per-buyer constant, which no ranking depends on."""
        buckets = history_buckets(batch, self.bucket_edges)
        blocks = []
        for column, (_, model) in enumerate(self.components):
            vectors, covariance = vectors_of(model).user_vectors(batch), self.covariances_[column]
            assert covariance is not None  # a linear component has one
            scale = spread_scale(vectors, covariance, self.weights_[buckets, column])
            blocks.append(vectors * scale[:, None].astype(np.float32))
        return np.hstack(blocks).astype(np.float32)

    def component_scores(self, batch: UserBatch, seen: sp.csr_matrix | None = None,
                         available: np.ndarray | None = None) -> list[np.ndarray | LinearScores]:
        """Each component's scaled scores for ``batch`` (see :func:`scaled_scores`) with each buyer's
        ``seen`` items and unavailable items left out, for :func:`candidate_pool`: a linear
        component's as :class:`LinearScores` (the spread from its item covariance, as
        :meth:`user_vectors` scales them), any other's as the dense matrix (-inf where left out)."""
        scores: list[np.ndarray | LinearScores] = []
        for (_, model), covariance in zip(self.components, self.covariances_):
            if covariance is None:
                scores.append(exclude(scaled_scores(model, batch), seen, available))
            else:
                scores.append(LinearScores(scaled_user_vectors(model, covariance, batch),
                                           vectors_of(model).item_vectors(), seen, available))
        return scores

    def set_weights(self, weights: npt.ArrayLike) -> HybridRecommender:
        """Use new blend weights without refitting the components (item vectors do not change)."""
        self.weights = weights
        self.weights_ = self._check_weights()
        return self

    def score(self, batch: UserBatch) -> np.ndarray:
        return self._blend(batch, None)

    def score_items(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        """The blend at ``items`` only: each component's scores there, over its spread across all
        items (a linear component's from its item covariance, an item-item one's from its sparse
        product), so a filter's items cost what they are, not what the catalog is."""
        return self._blend(batch, np.asarray(items, dtype=np.int64))

    def _blend(self, batch: UserBatch, items: np.ndarray | None) -> np.ndarray:
        """The weighted sum of the components' scaled scores at ``items`` (None: every item)."""
        if self.is_linear:
            item_vectors = self.item_vectors_ if items is None else self.item_vectors_[items]
            return self.user_vectors(batch) @ item_vectors.T
        buckets = history_buckets(batch, self.bucket_edges)
        total = np.zeros((len(batch), self.n_items_ if items is None else len(items)), dtype=np.float32)
        for column in range(len(self.components)):
            weight = self.weights_[buckets, column].astype(np.float32)
            if weight.any():
                total += weight[:, None] * self._scaled_scores(column, batch, items)
        return total

    def _scaled_scores(self, column: int, batch: UserBatch, items: np.ndarray | None) -> np.ndarray:
        """Component ``column``'s scores at ``items`` (None: every item) over each buyer's spread of
        its scores across all items (see :func:`scaled_scores`)."""
        model, covariance = self.components[column][1], self.covariances_[column]
        if covariance is None:
            return scaled_scores(model, batch, items)
        item_vectors = vectors_of(model).item_vectors()
        item_vectors = item_vectors if items is None else item_vectors[items]
        return np.asarray(scaled_user_vectors(model, covariance, batch) @ item_vectors.T)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similar items by the collaborative component (else content, else popularity)."""
        return self._explainer().similar_items(items, k)


def _is_fitted(model: Recommender) -> bool:
    try:
        model.check_fitted()
    except NotFittedError:
        return False
    return True


@dataclass
class CandidatePool:
    """Each buyer's pooled candidates: item codes (buyers x candidates), each component's scores on
    them (finite, 0 where not valid) and a mask of invalid slots (duplicates, excluded items)."""

    candidates: np.ndarray
    scores: list[np.ndarray]
    invalid: np.ndarray

    @classmethod
    def concat(cls, pools: list[CandidatePool]) -> CandidatePool:
        """Pools of consecutive batches of buyers as one (candidate lists padded to one width)."""
        width = max(pool.candidates.shape[1] for pool in pools)

        def pad(array: np.ndarray, fill: float) -> np.ndarray:
            return np.pad(array, ((0, 0), (0, width - array.shape[1])), constant_values=fill)

        return cls(np.vstack([pad(p.candidates, -1) for p in pools]),
                   [np.vstack([pad(p.scores[c], 0) for p in pools]) for c in range(len(pools[0].scores))],
                   np.vstack([pad(p.invalid, True) for p in pools]))


def candidate_pool(scores_of_components: list[np.ndarray | LinearScores], pool: int) -> CandidatePool:
    """Each buyer's union of every component's top ``pool`` items, from each component's scores:
    a full score matrix (-inf where left out) or :class:`LinearScores` (see
    :meth:`HybridRecommender.component_scores`)."""
    tops = [scores.top(pool) if isinstance(scores, LinearScores) else top_k(scores, pool)[0]
            for scores in scores_of_components]
    candidates = np.sort(np.hstack(tops), axis=1)
    invalid = candidates < 0
    invalid[:, 1:] |= candidates[:, 1:] == candidates[:, :-1]
    safe = np.where(invalid, 0, candidates)
    gathered = []
    for scores in scores_of_components:
        values = scores.at(safe) if isinstance(scores, LinearScores) else np.take_along_axis(scores, safe, axis=1)
        invalid |= ~np.isfinite(values)
        gathered.append(values)
    gathered = [np.where(invalid, 0.0, values).astype(np.float32) for values in gathered]
    return CandidatePool(candidates, gathered, invalid)


def tune_blend_weights(pool: CandidatePool, relevant: sp.csr_matrix, buckets: np.ndarray, n_buckets: int,
                       k: int = 10, trials: int = 120, min_buyers: int = 50, seed: int = 0
                       ) -> tuple[np.ndarray, dict[str | int, Any]]:
    """Choose blend weights per history bucket by NDCG@k on validation buyers.

    ``pool`` holds the validation buyers' candidates (:func:`candidate_pool` of each component's
    :meth:`HybridRecommender.component_scores`, already-bought items left out); ``relevant`` their held-out
    purchases (CSR) and ``buckets`` their history buckets. Blends are ranked over each buyer's
    pool, which gives the same top k as the full blend whenever the blend's top k lies in it. Each
    bucket tries the single components, the equal blend and ``trials`` random points of the simplex (Dirichlet) and
    keeps the best; buckets with fewer than ``min_buyers`` validation buyers take the overall
    best, so that no bucket's weights are fitted to noise. Returns the weight
    table and the validation NDCG@k overall (``"all"``), per bucket and of each component alone
    (``"components"``, in order: the baselines the blend is judged against).
    """
    rng = np.random.default_rng(seed)
    n_components = len(pool.scores)
    options = np.vstack([np.eye(n_components), np.full((1, n_components), 1.0 / n_components),
                         rng.dirichlet(np.ones(n_components), size=trials)])
    judged = sp.csr_matrix(relevant).getnnz(axis=1) > 0  # buyers with something new to find
    candidates, invalid, relevant = pool.candidates[judged], pool.invalid[judged], sp.csr_matrix(relevant)[judged]
    gathered, buckets = [values[judged] for values in pool.scores], np.asarray(buckets)[judged]

    def per_buyer_ndcg(weights: np.ndarray) -> np.ndarray:
        blended = sum(w * values for w, values in zip(weights, gathered))
        blended[invalid] = -np.inf
        positions, _ = top_k(blended, k)
        recommended = np.where(positions >= 0, np.take_along_axis(candidates, np.maximum(positions, 0), 1), -1)
        return np.asarray(ndcg_at_k(recommended, relevant, k, average=False))

    scored = np.vstack([per_buyer_ndcg(w) for w in options])  # options x buyers: one ranking per option
    overall = scored.mean(axis=1)
    table = np.tile(options[int(np.argmax(overall))], (n_buckets, 1))
    quality: dict[str | int, Any] = {"all": float(overall.max()), "components": overall[:n_components].tolist()}
    for bucket in range(n_buckets):
        rows = np.flatnonzero(buckets == bucket)
        if len(rows) >= min_buyers:
            results = scored[:, rows].mean(axis=1)
            table[bucket] = options[int(np.argmax(results))]
            quality[bucket] = float(results.max())
    return table, quality
