"""Item-item models: scores are a buyer's history times an items x items weight matrix.

* :class:`EASERecommender`: EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse
  Data"), a closed-form ridge regression of every item on all the others. With ``X`` the weighted
  buyers x items matrix, ``P = (X^T X + l2 I)^-1`` and ``B_ij = -P_ij / P_jj`` (``B_jj = 0``).
  ``B`` is dense, items x items, so the model refuses catalogs above ``max_items``.
* :class:`ItemKNNRecommender`: implicit's item-item nearest neighbours (cosine or BM25), keeping
  the ``k`` most similar items of each item, a sparse items x items matrix.

Both score a batch as ``history @ weights`` in one product. Neither needs buyer factors, so a
buyer unseen in training is scored from the history like any other; no history, all zeros.
Neither gives an item a weight towards itself (EASE by construction, the k-NN by dropping
implicit's self-similarity), so an item's score says how strongly the buyer's *other* purchases
point to it; whether to offer already bought items again is the ranking's business
(:func:`recommender.ranking.exclude`).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.features.training_data import TrainingData, UserBatch
from recommender.models.checks import (
    check_batch,
    check_items,
    check_non_negative_int,
    check_number,
    check_positive_int,
    check_training_data,
    similar_from_rows,
)
from recommender.models.base import Recommender

SIMILARITIES = ("cosine", "bm25")
_SYMMETRISE_BLOCK = 2048  # rows copied at a time when mirroring the inverse's upper triangle


class EASERecommender(Recommender):
    """Closed-form linear item-item autoencoder (EASE).

    Parameters
    ----------
    l2 : float, default 500.0
        Ridge penalty added to the diagonal of the item Gram matrix; larger values shrink the
        weights (more popularity-like, less overfitting on sparse data). Must be > 0.
    max_items : int, default 20,000
        Largest catalog accepted. EASE holds a dense items x items float32 matrix (1.6 GB at
        20,000 items) and inverts it (cubic time); above this, ``fit`` raises ValueError. Use
        :class:`ItemKNNRecommender` or a factor model for larger catalogs, or raise it knowingly.

    Learned attributes
    ------------------
    weights_ : ndarray, float32, items x items
        ``B``: ``weights_[i, j]`` is how much buying item ``i`` raises item ``j``; zero diagonal.
    n_users_, n_items_ : int
    """

    def __init__(self, l2: float = 500.0, max_items: int = 20_000):
        self.l2 = l2
        self.max_items = max_items

    def fit(self, data: TrainingData) -> "EASERecommender":
        """Solve for the item-item weights of ``data.user_items`` (float32 throughout)."""
        who = "EASERecommender.fit"
        l2 = check_number(self.l2, "l2", who, strict=True)
        max_items = check_positive_int(self.max_items, "max_items", who)
        n_items = data.user_items.shape[1] if sp.issparse(getattr(data, "user_items", None)) else None
        if n_items is not None and n_items > max_items:
            gigabytes = 4 * n_items ** 2 / 1e9
            raise ValueError(
                f"{who}: the catalog has {n_items:,} items, above max_items={max_items:,}. EASE builds and inverts "
                f"a dense items x items matrix ({gigabytes:,.1f} GB in float32, cubic time); use ItemKNNRecommender "
                f"or ALSRecommender for a catalog this size, or raise max_items if the machine can take it")
        user_items = check_training_data(data, who)
        self.weights_ = ease_weights(user_items, l2)
        self.n_users_, self.n_items_ = user_items.shape
        return self

    def score(self, batch: UserBatch) -> np.ndarray:
        """``history @ weights_`` (float32, buyers x items)."""
        self.check_fitted()
        _, history = check_batch(batch, self.n_users_, self.n_items_, "EASERecommender.score")
        return np.asarray(history @ self.weights_, dtype=np.float32)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items each item raises most (largest ``weights_[item, j]``), itself excluded."""
        self.check_fitted()
        who = "EASERecommender.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)
        return similar_from_rows(lambda block: self.weights_[block], codes, self.n_items_, k)


def ease_weights(user_items: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE's ``B`` (float32, items x items, zero diagonal) for a buyers x items matrix.

    The Gram matrix ``X^T X + l2 I`` is symmetric positive definite, so it is inverted in place
    through its Cholesky factor (LAPACK ``potrf``/``potri``, float32): one dense items x items
    array plus LAPACK's workspace.
    """
    x = sp.csr_matrix(user_items, dtype=np.float32)
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float32, order="F")
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (gram,))
    factor, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ValueError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK potrf info={info}); "
                         f"raise l2")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError(f"EASE: inverting the regularised Gram matrix failed (LAPACK potri info={info}); raise l2")
    # potri fills only the upper triangle: mirror it into the lower, a block of rows at a time
    n = inverse.shape[0]
    for start in range(0, n, _SYMMETRISE_BLOCK):
        stop = min(start + _SYMMETRISE_BLOCK, n)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        block = inverse[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    weights = inverse.T  # symmetric now; the transpose of the Fortran array is C-ordered, no copy
    weights /= -np.diag(weights)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


class ItemKNNRecommender(Recommender):
    """Item-item nearest neighbours from implicit (``CosineRecommender`` / ``BM25Recommender``).

    Parameters
    ----------
    k : int, default 100
        Neighbours kept per item (the item itself not counted).
    similarity : {"cosine", "bm25"}, default "cosine"
        ``"cosine"``: cosine between the items' columns of ``TrainingData.user_items`` (the
        weighted matrix). ``"bm25"``: implicit's BM25 item-item similarity, computed from
        ``TrainingData.confidence`` (decayed quantities before weighting), since
        ``BM25Recommender`` applies its own BM25 weighting and the default interaction weighting
        is BM25 already.
    bm25_k1, bm25_b : float, default 1.2, 0.75
        BM25 parameters for ``similarity="bm25"`` (implicit's defaults).
    num_threads : int, default 0
        implicit's threads; 0 uses every core.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Learned attributes
    ------------------
    similarity_ : scipy.sparse.csr_matrix, float32, items x items
        Row ``i`` holds the ``k`` neighbours of item ``i`` and their similarities (no diagonal).
    n_users_, n_items_ : int
    """

    def __init__(self, k: int = 100, similarity: str = "cosine", bm25_k1: float = 1.2, bm25_b: float = 0.75,
                 num_threads: int = 0, show_progress: bool = False):
        self.k = k
        self.similarity = similarity
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads
        self.show_progress = show_progress

    def _implicit_model(self):
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        neighbours = int(self.k) + 1  # implicit counts the item itself among its neighbours
        if self.similarity == "bm25":
            return BM25Recommender(K=neighbours, K1=float(self.bm25_k1), B=float(self.bm25_b),
                                   num_threads=int(self.num_threads))
        return CosineRecommender(K=neighbours, num_threads=int(self.num_threads))

    def fit(self, data: TrainingData) -> "ItemKNNRecommender":
        """Compute each item's ``k`` nearest neighbours with implicit."""
        who = "ItemKNNRecommender.fit"
        check_positive_int(self.k, "k", who)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"{who}: similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        check_number(self.bm25_k1, "bm25_k1", who)
        check_number(self.bm25_b, "bm25_b", who)
        check_non_negative_int(self.num_threads, "num_threads", who)
        user_items = check_training_data(data, who)
        source = user_items
        if self.similarity == "bm25":
            confidence = getattr(data, "confidence", None)
            if confidence is not None and sp.issparse(confidence) and confidence.shape == user_items.shape:
                source = sp.csr_matrix(confidence, dtype=np.float32)
        from implicit.utils import ParameterWarning

        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # CosineRecommender hands its own normalised COO matrix on, which implicit then warns about
            warnings.simplefilter("ignore", ParameterWarning)
            model = self._implicit_model()
            model.fit(source, show_progress=bool(self.show_progress))
        similarity = sp.coo_matrix(model.similarity)
        keep = (similarity.row != similarity.col) & (similarity.data != 0)
        n_items = user_items.shape[1]
        self.similarity_ = sp.csr_matrix(
            (similarity.data[keep].astype(np.float32), (similarity.row[keep], similarity.col[keep])),
            shape=(n_items, n_items), dtype=np.float32)
        self.similarity_.sort_indices()
        self.n_users_, self.n_items_ = user_items.shape
        return self

    def score(self, batch: UserBatch) -> np.ndarray:
        """``history @ similarity_`` (float32, buyers x items)."""
        self.check_fitted()
        _, history = check_batch(batch, self.n_users_, self.n_items_, "ItemKNNRecommender.score")
        return np.asarray((history @ self.similarity_).toarray(), dtype=np.float32)

    def similar_items(self, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each item's stored neighbours, most similar first. An item with fewer than ``k``
        neighbours is padded with code -1 and score -inf (as :func:`recommender.ranking.top_k`)."""
        self.check_fitted()
        who = "ItemKNNRecommender.similar_items"
        codes = check_items(items, self.n_items_, who)
        k = check_non_negative_int(k, "k", who)

        def rows(block: np.ndarray) -> np.ndarray:
            sub = self.similarity_[block]
            dense = np.full(sub.shape, -np.inf, dtype=np.float32)
            dense[np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)), sub.indices] = sub.data
            return dense

        return similar_from_rows(rows, codes, self.n_items_, k)
