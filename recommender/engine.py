"""The recommendation engine: a trained model plus what answering requests needs.

It holds the id encoders, each buyer's purchase history and city tier, the item metadata, and
the niche re-ranker, and turns buyer ids into filtered, re-ranked top-k lists. Batch scoring and
the HTTP API both call it; it is what a model directory stores.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from recommender.contract import MAX_CITY_TIER, UNKNOWN_LABEL
from recommender.features.catalog_content import CatalogContent
from recommender.features.encoders import UNKNOWN_CODE, IdEncoder
from recommender.features.products import Products, build_products
from recommender.features.seasons import SeasonalProfiles, in_season
from recommender.features.training_data import TrainingData, UserBatch
from recommender.loaders import appended_catalog
from recommender.models.audience import Audience, AudienceModel
from recommender.models.base import Recommender
from recommender.models.repeat import RepeatScores
from recommender.ranking import (
    GroupedColumns,
    RowIndices,
    cells_of,
    exclude,
    product_layout,
    top_k,
    top_k_of_product,
    top_k_of_subset,
)
from recommender.rerank import NicheReranker, capped, check_niche

TOPK_THREADS = 1  # per call: batch scoring and the API parallelise across calls instead
CHUNK = 2_048  # buyers per call in recommend_many (linear models: implicit's fused top-k batches inside)
DENSE_CHUNK_CELLS = 1 << 21  # scored densely (a model or products): buyers x items per call, near the CPU caches
MIN_DENSE_CHUNK = 16
USER_VECTOR_CACHE_BYTES = 512 << 20  # bound on precomputed buyer vectors (100k buyers x 134 dims: 54 MB)
CACHES = ("_item_matrix", "_item_rows", "_user_vectors", "_niche_split", "_component_vectors",  # rebuilt after
          "_repeat_as_of", "_repeat_by_item", "_variety_labels",  # loading, never saved
          "_product_layout", "_product_item_vectors")
AUDIENCE_BLOCK = 32  # items whose audience scores for every buyer are computed at once
NARROW_FILTER_SHARE = 0.2  # a filter keeping at most this share of the items: score only those
SIMILAR_DISTINCT_DEPTH = 4  # similar items fetched per answer, times this when other listings of a product drop out


class RecommendationEngine:
    """Answers "top k for these buyers" and "items like this one" from a fitted model."""

    repeat: RepeatScores | None = None  # an engine saved before buy-again loads without its scores
    audiences: AudienceModel | None = None  # nor one saved before audiences without their model
    products: Products | None = None  # nor one saved before products without them (every listing shown)
    distinct_products: bool = True  # one listing per product in a list, unless a request says otherwise
    max_per_group: int = 0  # at most this many items of a category or a region in a top 10 (0: no cap)
    seasons: SeasonalProfiles | None = None  # nor one saved before seasons without them (no seasonal weight)
    season_factor: float = 0.0  # how much the season weighs in a list (0: not at all; see in_season)

    def __init__(self, model: Recommender, users: IdEncoder, items: IdEncoder, history: sp.csr_matrix,
                 purchased: sp.csr_matrix, user_tiers: np.ndarray, catalog, reranker: NicheReranker,
                 item_sales: np.ndarray, content: CatalogContent, repeat: RepeatScores | None = None,
                 audiences: AudienceModel | None = None, products: Products | None = None,
                 distinct_products: bool = True, max_per_group: int = 0, seasons: SeasonalProfiles | None = None,
                 season_factor: float = 0.0):
        self.model = model
        self.users = users
        self.items = items
        self.history = history
        self.purchased = purchased
        self.user_tiers = user_tiers
        self.catalog = catalog
        self.reranker = reranker
        self.item_sales = item_sales
        self.content = content  # embeds items listed after training
        self.repeat = repeat  # buy-again scores of the items each buyer bought before
        self.audiences = audiences  # who will buy an item: the first-time model and its signals
        self.available = catalog.available.to_numpy(dtype=bool)  # a server ranks by its own (available=)
        self.products = products  # which listings are one product (recommender.features.products)
        self.distinct_products = distinct_products  # the default of recommend's distinct_products
        self.max_per_group = check_cap(max_per_group)  # the default of recommend's max_per_group
        self.seasons = seasons  # each item's lift per week of the year (recommender.features.seasons)
        self.season_factor = check_season_factor(season_factor)  # the default of recommend's season_factor

    @classmethod
    def build(cls, model: Recommender, data: TrainingData, niche: float = 0.0,
              candidates: int = NicheReranker.candidates, repeat: RepeatScores | None = None,
              audiences: AudienceModel | None = None, distinct_products: bool = True,
              max_per_group: int = 0, seasons: SeasonalProfiles | None = None,
              season_factor: float = 0.0) -> RecommendationEngine:
        """Wrap a model fitted on ``data``; ``niche`` is the default of the niche knob; ``repeat``
        the buy-again scores of the same buyers (:meth:`buy_again`), ``audiences`` what
        :meth:`audience` needs besides them; ``distinct_products`` the default of showing one
        listing per product (the catalog's products are found here either way), ``max_per_group``
        the default variety cap, ``seasons`` the items' seasonal profiles of the same purchases and
        ``season_factor`` the default weight of the season (:meth:`recommend`)."""
        purchased = data.purchased
        item_sales = np.asarray(purchased.sum(axis=0)).ravel().astype(np.int64)
        reranker = NicheReranker(niche=niche, candidates=candidates).fit(item_sales, data.catalog, data.confidence)
        return cls(model, data.users, data.items, data.user_items, purchased, data.user_tiers,
                   data.catalog, reranker, item_sales, data.content, repeat, audiences,
                   build_products(data.catalog), distinct_products, max_per_group, seasons, season_factor)

    def __getstate__(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in CACHES}

    def with_items(self, rows: pd.DataFrame) -> RecommendationEngine:
        """A copy that also ranks the catalog rows ``rows``: items listed after training, appended
        after the engine's items (available as ``rows`` say; the others as they are now). Nobody has
        bought them, so every model scores them by their content
        (:meth:`~recommender.models.base.Recommender.with_items`), the way it scores the catalog's
        never-bought items. Raises ValueError for an item the engine knows, and NotImplementedError
        for a model family that cannot add items."""
        known = self.items.encode(rows.item_id) >= 0
        if known.any():
            raise ValueError(f"with_items: item {rows.item_id[known].iloc[0]!r} is already in the catalog")
        catalog = appended_catalog(self.catalog, rows)
        content = self.content.extended(rows)
        n_items = len(catalog)
        item_sales = np.concatenate([self.item_sales, np.zeros(len(rows), dtype=self.item_sales.dtype)])

        def widened(matrix: sp.csr_matrix) -> sp.csr_matrix:  # the same rows, more (empty) columns
            return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], n_items))

        engine = RecommendationEngine(self.model.with_items(catalog, content.vectors), self.users,
                                      IdEncoder(catalog.item_id), widened(self.history), widened(self.purchased),
                                      self.user_tiers, catalog, self.reranker.with_items(item_sales, catalog),
                                      item_sales, content,
                                      None if self.repeat is None else self.repeat.widened(n_items),
                                      None if self.audiences is None else self.audiences.widened(n_items),
                                      None if self.products is None else self.products.extended(catalog),
                                      self.distinct_products, self.max_per_group,
                                      None if self.seasons is None else self.seasons.extended(catalog),
                                      self.season_factor)
        engine.available[:self.n_items] = self.available  # availability changed since loading carries over
        if "_component_vectors" in self.__dict__:  # buyers' vectors: nobody bought the added items
            engine._component_vectors = self._component_vectors
        if "_repeat_as_of" in self.__dict__:  # the buyers' repeat scores as of a day: nor bought again
            at_us, scores = self._repeat_as_of
            engine._repeat_as_of = (at_us, scores.widened(n_items))
            engine._repeat_by_item = self.__dict__.get("_repeat_by_item")
        return engine

    @property
    def item_matrix(self) -> np.ndarray:
        """The linear model's item vectors in the layout the fused top-k multiplies fastest
        (computed once; item vectors never change after fitting)."""
        if "_item_matrix" not in self.__dict__:
            self._item_matrix = product_layout(self.model.item_vectors())
        return self._item_matrix

    @property
    def item_rows(self) -> np.ndarray:
        """The linear model's item vectors in C order (float32), whose rows narrow filters gather
        (computed once)."""
        if "_item_rows" not in self.__dict__:
            self._item_rows = np.ascontiguousarray(self.item_matrix)
        return self._item_rows

    def tier_popularity(self) -> np.ndarray:
        """Each city tier's popularity of every item (float32, ``(MAX_CITY_TIER + 1) x items``; row 0:
        buyers of unknown tier): the popularity component's scores for a buyer of that tier without
        history, or, in a model without one, every item's share of the training buyers."""
        n_tiers = MAX_CITY_TIER + 1
        popular = self.model.component("popularity")
        if popular is not None:
            empty = UserBatch(np.full(n_tiers, UNKNOWN_CODE), sp.csr_matrix((n_tiers, self.n_items), dtype=np.float32),
                              np.arange(n_tiers, dtype=np.int8))
            return np.asarray(popular.score(empty), dtype=np.float32)
        sales = self.item_sales.astype(np.float64)
        share = sales / sales.sum() if sales.sum() > 0 else np.full(self.n_items, 1.0 / max(self.n_items, 1))
        return np.tile(share, (n_tiers, 1)).astype(np.float32)

    def precompute_for_serving(self, max_bytes: int = USER_VECTOR_CACHE_BYTES, batch: int = 4_096) -> bool:
        """Compute once what per-request scoring of a linear model reads: both layouts of the item
        vectors (:attr:`item_matrix`, :attr:`item_rows`), and the vectors of every training buyer,
        so that a request for a known buyer (in its stored city tier) costs a row lookup instead of
        the model's ``user_vectors``; and with an audience model, the audience components' buyer
        vectors (:attr:`component_vectors`). Returns whether the buyer vectors were computed: not
        for non-linear models, nor when they would take more than ``max_bytes``."""
        if self.audiences is not None:
            self.component_vectors  # noqa: B018 (built now rather than by the first audience request)
        if not self.model.is_linear:
            return False
        self.item_rows  # noqa: B018 (built now rather than by the first narrow-filter request)
        if "_user_vectors" in self.__dict__:  # computed already
            return True
        n_users = len(self.users)
        if n_users * self.item_matrix.shape[1] * 4 > max_bytes:
            return False
        vectors = np.empty((n_users, self.item_matrix.shape[1]), dtype=np.float32)
        for start in range(0, n_users, batch):
            users = np.arange(start, min(n_users, start + batch))
            vectors[users] = self.model.user_vectors(self.batch(users))
        self._user_vectors = vectors
        return True

    def user_vectors(self, users: np.ndarray, tiers: np.ndarray | None = None) -> np.ndarray:
        """The linear model's vectors of buyer codes ``users`` (tiers as in :meth:`batch`): the
        precomputed rows (see :meth:`precompute_for_serving`) when every buyer is a training
        buyer and no tier is overridden, else the model's ``user_vectors``."""
        cache = self.__dict__.get("_user_vectors")
        if cache is not None and tiers is None and (users >= 0).all():
            return cache[users]
        return self.model.user_vectors(self.batch(users, tiers))

    @property
    def n_items(self) -> int:
        return len(self.items)

    def bought(self, user_code: int) -> np.ndarray:
        """The item codes a buyer bought in the training data (none for ``UNKNOWN_CODE``)."""
        if user_code < 0:
            return self.purchased.indices[:0]
        return self.purchased.indices[self.purchased.indptr[user_code]:self.purchased.indptr[user_code + 1]]

    def example_buyer(self) -> str | None:
        """A buyer to show the model on: of the buyers with a history, the first (by code) whose number
        of items bought is nearest the median; None for a model without buyers."""
        counts = np.diff(self.purchased.indptr)
        known = np.flatnonzero(counts)
        if not len(known):
            return None
        nearest = np.argmin(np.abs(counts[known] - np.median(counts[known])))
        return str(self.users.decode([known[nearest]])[0])

    @property
    def default_niche(self) -> float:
        return self.reranker.niche

    def knob(self, niche: float | None) -> float:
        """The niche knob to use: ``niche`` checked, or the model's default for None."""
        return self.default_niche if niche is None else check_niche(niche)

    def batch(self, users: np.ndarray, tiers: np.ndarray | None = None) -> UserBatch:
        """A batch for training buyer codes (``UNKNOWN_CODE`` for buyers without history).

        ``tiers`` overrides the stored city tiers where given (> 0), and is the only context of
        unknown buyers.
        """
        users = np.asarray(users, dtype=np.int64)
        return UserBatch(users, rows_of(self.history, users), self._tiers(users, tiers))

    def live_batch(self, users: np.ndarray, tiers: np.ndarray | None, histories: Histories) -> UserBatch:
        """A batch of buyers scored from ``histories`` instead of their stored rows (the model sees
        them as new buyers and folds their histories in), in their stored or given tiers."""
        users = np.asarray(users, dtype=np.int64)
        return UserBatch(np.full(len(users), UNKNOWN_CODE), histories.weights, self._tiers(users, tiers))

    def _tiers(self, users: np.ndarray, tiers: np.ndarray | None) -> np.ndarray:
        """The stored city tiers of buyer codes ``users`` (0 for unknown ones), overridden by
        ``tiers`` where given (> 0)."""
        known = users >= 0
        stored = np.where(known, self.user_tiers[np.where(known, users, 0)], 0).astype(np.int8)
        if tiers is not None:
            tiers = np.asarray(tiers, dtype=np.int8)
            stored = np.where(tiers > 0, tiers, stored).astype(np.int8)
        return stored

    def recommend(self, users: np.ndarray, k: int, *, include_purchased: bool = False, niche: float | None = None,
                  mask: np.ndarray | None = None, tiers: np.ndarray | None = None,
                  histories: Histories | None = None, available: np.ndarray | None = None,
                  distinct_products: bool | None = None, max_per_group: int | None = None, date=None,
                  season_factor: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` item codes and scores per buyer, best first (-1 / -inf where fewer qualify); the
        scores are what the lists are ordered by: the model's at ``niche`` 0, else the re-ranker's
        (:mod:`recommender.rerank`).

        Unavailable items and items outside ``mask`` are never returned; items a buyer already
        bought are left out unless ``include_purchased``. ``niche`` (default: the model's) moves
        the ranking towards long-tail, priority-region and small-merchant items. ``histories``
        replace the buyers' stored histories (see :class:`Histories`). ``available`` (boolean per
        item) replaces the catalog's availability: a server's, which changes while it serves.
        ``distinct_products`` (default: the model's) shows one listing per product, the re-ranker
        choosing among products (:meth:`product_candidates`). ``max_per_group`` (default: the model's;
        0: none) caps the items of one category or one region in a list's first 10 slots
        (:func:`recommender.rerank.capped`), which then take the next items of the ranking that keep
        within it. ``season_factor`` (default: the model's; 0: none) weighs the season at ``date``
        (default: now) into the candidates' scores (:meth:`in_season`), which then come from as deep
        at every knob.
        """
        niche = self.knob(niche)
        cap = self.max_per_group if max_per_group is None else check_cap(max_per_group)
        factor = self.season_factor if season_factor is None else check_season_factor(season_factor)
        plain = niche == 0.0 and not (factor and self.seasons is not None)
        options = dict(include_purchased=include_purchased, mask=mask, tiers=tiers,
                       niche_depth=0 if plain else self.niche_depth, histories=histories, available=available)
        if self.distinct(distinct_products):  # as deep at every knob: products tied at the k-th get the same lists
            found = self.product_candidates(users, max(k, self.reranker.candidates), **options)
        else:
            found = self.candidates(users, k if plain and not cap else max(k, self.reranker.candidates), **options)
        return self.ranked(users, *self.in_season(*found, date, factor), k, niche, cap)

    def in_season(self, candidates: np.ndarray, scores: np.ndarray, date=None, season_factor: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates re-scored and re-sorted for the season at ``date`` (default: now), with weight
        ``season_factor`` (default: the model's; :func:`recommender.features.seasons.in_season`); as
        they are when it is 0 or the engine has no seasonal profiles."""
        factor = self.season_factor if season_factor is None else season_factor
        if not factor or self.seasons is None:
            return candidates, scores
        return in_season(candidates, scores, self.seasons.at(date), factor)

    def product_candidates(self, users: np.ndarray, depth: int, *, include_purchased: bool = False,
                           mask: np.ndarray | None = None, tiers: np.ndarray | None = None, niche_depth: int = 0,
                           histories: Histories | None = None, available: np.ndarray | None = None
                           ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`candidates` with one listing per product: the ``depth`` products whose listings the
        model scores highest, each as that listing (on a tie the re-ranker's most niche one), then
        with ``niche_depth`` the products with the best niche listings not among them, each as that
        listing. The model scores every listing, :data:`DENSE_CHUNK_CELLS` buyers x items at a
        time, in the catalog's product layout (:class:`~recommender.ranking.GroupedColumns`)."""
        users = np.asarray(users, dtype=np.int64)
        layout = self.product_layout
        allowed = self.available if available is None else available
        excluded = ~(allowed if mask is None else allowed & mask)[layout.order]
        step = max(1, DENSE_CHUNK_CELLS // max(self.n_items, 1))
        vectors = self.linear_vectors(users, tiers, histories)  # all at once: a bigger batch costs less a buyer
        codes, scores = [], []
        for start in range(0, len(users), step):
            rows = slice(start, start + step)
            batch_tiers = None if tiers is None else np.broadcast_to(tiers, users.shape)[rows]
            batch_histories = None if histories is None else Histories(histories.weights[rows],
                                                                       histories.purchased[rows])
            laid_out = (vectors[rows] @ self.product_item_vectors if vectors is not None
                        else self.dense_layout_scores(users[rows], batch_tiers, batch_histories))
            laid_out[:, excluded] = -np.inf
            if not include_purchased:
                seen_rows, seen_items = cells_of(self.purchased if histories is None else batch_histories.purchased,
                                                 users[rows] if histories is None else None)
                laid_out[seen_rows, layout.position[seen_items]] = -np.inf
            found = layout.best(laid_out, depth, niche_depth)
            codes.append(found[0])
            scores.append(found[1])
        return np.vstack(codes), np.vstack(scores)

    def linear_vectors(self, users: np.ndarray, tiers: np.ndarray | None, histories: Histories | None
                       ) -> np.ndarray | None:
        """A linear model's vectors (float32, C order) of buyer codes ``users``, tiers and histories as
        :meth:`candidates` takes them; None for a model that is not linear."""
        if not self.model.is_linear:
            return None
        vectors = (self.user_vectors(users, tiers) if histories is None
                   else self.model.user_vectors(self.live_batch(users, tiers, histories)))
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def dense_layout_scores(self, users: np.ndarray, tiers: np.ndarray | None, histories: Histories | None
                            ) -> np.ndarray:
        """A model's dense scores (float32) of every listing for buyer codes ``users``, in the
        catalog's product layout (:attr:`product_layout`); tiers and histories as :meth:`candidates`."""
        batch = self.batch(users, tiers) if histories is None else self.live_batch(users, tiers, histories)
        return np.asarray(self.model.score(batch), dtype=np.float32)[:, self.product_layout.order]

    @property
    def product_layout(self) -> GroupedColumns:
        """The catalog's listings grouped by product, each product's niche listings first, most niche
        first (computed once); without products every listing is a product of its own."""
        if "_product_layout" not in self.__dict__:
            products = self.products.of if self.products is not None else np.arange(self.n_items)
            self._product_layout = GroupedColumns.of(products, self.reranker.niche_items_)
        return self._product_layout

    @property
    def product_item_vectors(self) -> np.ndarray:
        """The linear model's item vectors as columns (float32, C order) in :attr:`product_layout`:
        one product with buyer vectors gives the scores in that layout (computed once)."""
        if "_product_item_vectors" not in self.__dict__:
            self._product_item_vectors = np.ascontiguousarray(self.item_rows[self.product_layout.order].T)
        return self._product_item_vectors

    def ranked(self, users: np.ndarray, candidates: np.ndarray, scores: np.ndarray, k: int, niche: float,
               cap: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rerank`'s top ``k``, with at most ``cap`` items of a category or a region in the first
        10 slots (0: no cap); an item the cap holds back past slot 10 shows at most the score of the
        item before it, so scores never rise down a list."""
        if not cap or candidates.shape[1] == 0:  # nothing to hold back (e.g. a filter no item passes)
            return self.rerank(users, candidates, scores, k, niche)
        propensity = self.reranker.propensity_of(np.asarray(users, dtype=np.int64))  # every candidate, ranked once
        codes, ranked_scores = self.reranker.rerank(candidates, scores, propensity, candidates.shape[1], niche)
        codes, ranked_scores = capped(codes, ranked_scores, self.variety_labels, cap, k)
        # an item held back by the cap shows at most the score of the item before it: scores never rise
        return codes, np.minimum.accumulate(ranked_scores, axis=1).astype(np.float32)

    @property
    def variety_labels(self) -> np.ndarray:
        """Each item's category and region code (2 x items, int64; -1 where the catalog has none),
        the labels the variety cap counts (computed once)."""
        if "_variety_labels" not in self.__dict__:
            rows = []
            for column in ("category", "region"):
                values = (self.catalog[column].astype(object).fillna("").astype(str).str.strip()
                          if column in self.catalog else pd.Series([""] * self.n_items))
                codes, _ = pd.factorize(values)
                rows.append(np.where(values.str.lower().isin(["", UNKNOWN_LABEL]).to_numpy(), -1, codes))
            self._variety_labels = np.vstack(rows).astype(np.int64)
        return self._variety_labels

    def distinct(self, distinct_products: bool | None = None) -> bool:
        """Whether lists show one listing per product: ``distinct_products``, or the model's default
        for None; never for an engine without products or whose products all have one listing."""
        wanted = self.distinct_products if distinct_products is None else bool(distinct_products)
        return wanted and self.products is not None and self.products.shared

    def buy_again(self, users: np.ndarray, k: int, available: np.ndarray | None = None, at_us: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Each buyer's ``k`` items bought before that they are likeliest to buy again soon, as
        ``(item codes, probabilities)`` (-1 / -inf pad a shorter history; a buyer without one gets
        only padding), as of ``at_us`` (microseconds since the epoch, UTC; default: the training
        data's end, see :meth:`repeat_as_of`); unavailable items are left out (``available``
        replaces the catalog's)."""
        if self.repeat is None:
            raise ValueError("this model has no buy-again scores: train it again with this version")
        return self.repeat_as_of(at_us).top(users, k, self.available if available is None else available)

    @property
    def audience_components(self) -> list[tuple[str, Recommender]]:
        """The models whose scores first-time audiences read: a blend's components, else the model."""
        return list(self.model.components) if self.model.role == "blend" else [("model", self.model)]

    def audience_columns(self, items: np.ndarray) -> np.ndarray:
        """Every audience component's raw scores of item codes ``items`` for every training buyer
        (float32, items x buyers x components, each item's buyers x components in column order:
        what standardising each component over the buyers reads fastest). Linear components' buyer
        vectors are computed once and kept; other components score just those columns."""
        items = np.asarray(items, dtype=np.int64)
        columns = [(vectors @ model.item_vectors()[items].T) if vectors is not None
                   else model.score_items(self.everyone, items)
                   for (_, model), vectors in zip(self.audience_components, self.component_vectors)]
        by_item = np.stack([np.asarray(column, dtype=np.float32).T for column in columns], axis=1)
        return by_item.transpose(0, 2, 1)  # items x components x buyers, seen as items x buyers x components

    @property
    def everyone(self) -> UserBatch:
        """Every training buyer, as a batch to score."""
        return UserBatch(np.arange(len(self.users)), self.history, self.user_tiers)

    @property
    def component_vectors(self) -> list[np.ndarray | None]:
        """Every training buyer's vectors of each linear audience component (None for the others),
        computed once: they do not change while the engine serves, items added or not."""
        if "_component_vectors" not in self.__dict__:
            self._component_vectors = [model.user_vectors(self.everyone) if model.is_linear else None
                                       for _, model in self.audience_components]
        return self._component_vectors

    def audience_columns_of(self, items: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Each item code of ``items`` with its :meth:`audience_columns` (buyers x components),
        computed :data:`AUDIENCE_BLOCK` items at a time."""
        items = np.asarray(items, dtype=np.int64)
        for start in range(0, len(items), AUDIENCE_BLOCK):
            block = items[start:start + AUDIENCE_BLOCK]
            yield from zip(block.tolist(), self.audience_columns(block))

    def audiences_of(self, items: np.ndarray, at_us: int | None = None) -> Iterator[Audience]:
        """The :meth:`audience` of each item code of ``items`` as of ``at_us``, in order."""
        for item, columns in self.audience_columns_of(items):
            yield self.audience(item, columns, at_us)

    def audience(self, item: int, columns: np.ndarray | None = None, at_us: int | None = None) -> Audience:
        """Who will buy item code ``item`` within the audience horizon: its past buyers by repeat
        timing as of ``at_us`` (as :meth:`buy_again` takes it), every other training buyer by the
        first-time model (see :mod:`recommender.models.audience`); ``columns`` (buyers x components)
        are its :meth:`audience_columns` when already computed."""
        if self.audiences is None or self.repeat is None:
            raise ValueError("this model has no audience model: train it again with this version")
        by_item = self.repeat_by_item(at_us)
        start, end = (by_item.indptr[item], by_item.indptr[item + 1]) if item < by_item.shape[0] else (0, 0)
        past, repeat = by_item.indices[start:end], by_item.data[start:end]
        columns = self.audience_columns(np.array([item]))[0] if columns is None else columns
        first_time, scores = self.audiences.first_time_scores(item, columns)
        first_time[past] = -1.0
        return Audience(int(item), past, repeat.astype(np.float64), first_time, scores,
                        self.audiences.signals.horizon_days)

    def repeat_as_of(self, at_us: int | None = None) -> RepeatScores:
        """The buy-again scores as of ``at_us`` (:meth:`RepeatScores.at`), kept for the last time
        asked (a server asks for one a day)."""
        kept = self.__dict__.get("_repeat_as_of")
        if kept is None or kept[0] != at_us:
            kept = self._repeat_as_of = (at_us, self.repeat.at(at_us))
        return kept[1]

    def repeat_by_item(self, at_us: int | None = None) -> sp.csr_matrix:
        """Every item's past buyers with their probability of buying it again (items x buyers) as of
        ``at_us``, kept as :meth:`repeat_as_of` is."""
        kept = self.__dict__.get("_repeat_by_item")
        if kept is None or kept[0] != at_us:
            kept = self._repeat_by_item = (at_us, sp.csr_matrix(self.repeat_as_of(at_us).probability.T))
        return kept[1]

    @property
    def niche_depth(self) -> int:
        """Niche items added to the re-ranker's candidates (see :meth:`candidates`)."""
        return self.reranker.niche_candidates

    def recommend_many(self, users: np.ndarray, k: int, *, threads: int = 2,
                       on_chunk: Callable[[int], None] | None = None, **options) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` for many buyer codes, in chunks on ``threads`` threads (each held to
        one BLAS thread, so the cores are not oversubscribed); ``on_chunk(buyers)`` is called
        as each chunk finishes (e.g. to move a progress bar)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.full((len(users), min(k, self.n_items)), -1, dtype=np.int64)
        scores = np.full(items.shape, -np.inf, dtype=np.float32)

        blas = ThreadpoolController()
        if self.model.is_linear and self.knob(options.get("niche")) > 0:
            self.niche_split  # noqa: B018 (built once here, not by every thread's first chunk at the same time)

        def score_chunk(rows: slice) -> int:
            with blas.limit(limits=1, user_api="blas"):
                items[rows], scores[rows] = self.recommend(users[rows], k, **options)
            return rows.stop - rows.start

        size = CHUNK if self.model.is_linear else max(MIN_DENSE_CHUNK, DENSE_CHUNK_CELLS // max(self.n_items, 1))
        chunks = [slice(start, min(len(users), start + size)) for start in range(0, len(users), size)]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for done in pool.map(score_chunk, chunks):
                if on_chunk is not None:
                    on_chunk(done)
        return items, scores

    def candidates(self, users: np.ndarray, depth: int, *, include_purchased: bool = False,
                   mask: np.ndarray | None = None, tiers: np.ndarray | None = None, niche_depth: int = 0,
                   histories: Histories | None = None, available: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The model's ``depth`` best items per buyer in relevance order, after exclusions; with
        ``niche_depth``, followed by its ``niche_depth`` best niche items (long-tail or promoted,
        the re-ranker's niche membership > 0), which may repeat items of the first part.

        The niche re-ranker can only promote what it is offered: a model that ranks popular goods
        first may have no niche item among its first fifty, so the knob would have nothing to
        bring up; the niche part gives it the niche goods this buyer is likeliest to want."""
        users = np.asarray(users, dtype=np.int64)
        available = self.available if available is None else available
        allowed = available if mask is None else available & mask
        narrow = mask is not None and np.count_nonzero(allowed) <= NARROW_FILTER_SHARE * self.n_items
        if not self.model.is_linear:
            return self._dense_candidates(users, depth, niche_depth, include_purchased, allowed, narrow, tiers,
                                          histories)
        niche = self.reranker.niche_items_ > 0
        vectors = self.linear_vectors(users, tiers, histories)
        if niche_depth and not narrow:
            return self._split_candidates(vectors, users, depth, niche_depth, include_purchased, allowed, histories)
        seen = None if include_purchased else (
            RowIndices(self.purchased, users) if histories is None else RowIndices(histories.purchased))

        def best(kept: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
            if narrow:  # a category, a region: score only the items kept
                return top_k_of_subset(vectors, self.item_rows, count, np.flatnonzero(kept), seen)
            return top_k_of_product(vectors, self.item_matrix, count, seen, kept, threads=TOPK_THREADS)

        found = [best(allowed, depth)] + ([best(allowed & niche, niche_depth)] if niche_depth else [])
        return tuple(np.hstack(parts) for parts in zip(*found)) if niche_depth else found[0]

    @property
    def niche_split(self) -> tuple[ItemGroup, ItemGroup]:
        """The catalog's non-niche and niche items, each with its item vectors (product layout) and
        purchases (columns renumbered): one product over each is one product over the catalog
        (computed once, for linear models)."""
        if "_niche_split" not in self.__dict__:
            niche = self.reranker.niche_items_ > 0
            self._niche_split = tuple(
                ItemGroup(codes, product_layout(self.item_rows[codes]), sp.csr_matrix(self.purchased[:, codes]))
                for codes in (np.flatnonzero(~niche), np.flatnonzero(niche)))
        return self._niche_split

    def _dense_candidates(self, users: np.ndarray, depth: int, niche_depth: int, include_purchased: bool,
                          allowed: np.ndarray, narrow: bool, tiers: np.ndarray | None, histories: Histories | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`candidates` for a model that is not linear, from its dense scores: of the ``allowed``
        items alone under a ``narrow`` filter (:meth:`Recommender.score_items`), else of the whole
        catalog. With a niche part, the non-niche and the niche items are ranked apart and merged as
        :meth:`_split_candidates` does, one pass over the scores instead of two."""
        seen = None if include_purchased else (
            rows_of(self.purchased, users) if histories is None else histories.purchased)
        batch = self.batch(users, tiers) if histories is None else self.live_batch(users, tiers, histories)
        if narrow:  # a category, a region: score only the items kept
            columns = np.flatnonzero(allowed)
            scores = exclude(self.model.score_items(batch, columns), None if seen is None else seen[:, columns])
        else:
            columns = np.arange(self.n_items)
            scores = exclude(self.model.score(batch), seen, allowed)
        if not niche_depth:
            return _item_codes(top_k(scores, depth), columns)
        niche = self.reranker.niche_items_[columns] > 0
        parts = [np.flatnonzero(part) for part in (~niche, niche)]
        return _merged_niche_parts(*(_item_codes(top_k(scores[:, part], count), columns[part])
                                     for part, count in zip(parts, (depth, max(depth, niche_depth)))),
                                   depth, niche_depth)

    def _split_candidates(self, vectors: np.ndarray, users: np.ndarray, depth: int, niche_depth: int,
                          include_purchased: bool, allowed: np.ndarray, histories: Histories | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`candidates` with a niche part among the ``allowed`` items (no narrow filter), at the
        cost of one product: the ``depth`` best are the best of the non-niche items' ``depth`` best and
        the niche items' ``max(depth, niche_depth)`` best, and the niche part is the first
        ``niche_depth`` of those."""
        found = []
        for group, count in zip(self.niche_split, (depth, max(depth, niche_depth))):
            seen = None if include_purchased else (RowIndices(group.purchased, users) if histories is None
                                                   else RowIndices(histories.purchased[:, group.codes]))
            codes, scores = top_k_of_product(vectors, group.vectors, count, seen, allowed[group.codes],
                                             threads=TOPK_THREADS)
            found.append(_item_codes((codes, scores), group.codes))
        return _merged_niche_parts(*found, depth, niche_depth)

    def rerank(self, users: np.ndarray, candidates: np.ndarray, scores: np.ndarray, k: int, niche: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` of :meth:`candidates` lists at niche knob ``niche`` (0: as they are)."""
        if niche == 0.0:
            return candidates[:, :k], scores[:, :k]
        propensity = self.reranker.propensity_of(np.asarray(users, dtype=np.int64))
        return self.reranker.rerank(candidates, scores, propensity, k, niche)

    def recommend_per_knob(self, users: np.ndarray, k: int, knobs, batch: int = 1_024,
                           distinct_products: bool | None = None, max_per_group: int | None = None, date=None,
                           season_factor: float | None = None) -> dict[float, np.ndarray]:
        """Top-k item codes of every buyer at each niche knob, the model scored once per batch (one
        listing per product, the variety cap and the season as ``distinct_products``,
        ``max_per_group``, ``date`` and ``season_factor``, default the model's, say), as
        :meth:`recommend` ranks them."""
        cap = self.max_per_group if max_per_group is None else check_cap(max_per_group)
        factor = self.season_factor if season_factor is None else check_season_factor(season_factor)
        candidates = self.product_candidates if self.distinct(distinct_products) else self.candidates
        lists = {knob: [] for knob in knobs}
        for start in range(0, len(users), batch):
            chunk = users[start:start + batch]
            found = self.in_season(*candidates(chunk, max(self.reranker.candidates, k), niche_depth=self.niche_depth),
                                   date, factor)
            for knob in knobs:
                lists[knob].append(self.ranked(chunk, *found, k, knob, cap)[0])
        return {knob: np.vstack(parts) for knob, parts in lists.items()}

    def score_items(self, user_code: int, item_codes: np.ndarray | None, tier: int | None = None,
                    histories: Histories | None = None) -> np.ndarray:
        """The model's scores (float32) of ``item_codes`` (None: every item) for one buyer, in the
        order given.

        ``user_code`` is a training buyer code or ``UNKNOWN_CODE`` (scored from ``tier`` alone,
        like the cold-start ranking); ``tier`` (> 0) overrides the stored city tier. No
        filtering, exclusion or niche re-ranking: the raw relevance the model would rank by.
        Only the given items are scored (:meth:`~recommender.models.base.Recommender.score_items`:
        for linear models one small product, for item-item models the columns of the buyer's
        history times the item-item matrix). ``histories`` (one row) replaces the
        buyer's stored history (see :class:`Histories`).
        """
        every = item_codes is None
        item_codes = None if every else np.asarray(item_codes, dtype=np.int64).reshape(-1)
        tiers = None if tier is None else np.array([tier], dtype=np.int8)
        users = np.array([user_code], dtype=np.int64)
        batch = None if histories is None else self.live_batch(users, tiers, histories)
        if self.model.is_linear:
            vectors = self.user_vectors(users, tiers) if batch is None else self.model.user_vectors(batch)
            item_vectors = self.item_rows if every else self.model.item_vectors()[item_codes]
            return np.asarray(vectors @ item_vectors.T, dtype=np.float32).reshape(-1)
        batch = self.batch(users, tiers) if batch is None else batch
        scores = self.model.score(batch) if every else self.model.score_items(batch, item_codes)
        return np.asarray(scores[0], dtype=np.float32)

    def similar_items(self, items: np.ndarray, k: int, mask: np.ndarray | None = None,
                      available: np.ndarray | None = None, distinct_products: bool | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most like each of ``items``, available (by ``available``, default the
        catalog's) and inside ``mask``; with ``distinct_products`` (default: the model's), never a
        listing of the item's own product, and one listing of each other product.

        Items with purchases use the model's own neighbours; items nobody has bought yet use
        the content model, which knows them by their text and attributes.
        """
        items = np.asarray(items, dtype=np.int64)
        available = self.available if available is None else available
        allowed = available if mask is None else available & mask
        distinct = self.distinct(distinct_products)
        fetch = min(self.n_items, max(4 * k, k + 50) * (SIMILAR_DISTINCT_DEPTH if distinct else 1))
        codes, scores = self.model.similar_items(items, fetch)
        content = self.model.component("content")
        cold = self.item_sales[items] == 0
        if content is not None and cold.any():
            cold_codes, cold_scores = content.similar_items(items[cold], fetch)
            codes, scores = _fill_rows(codes, scores, cold, cold_codes, cold_scores)
        keep = (codes >= 0) & allowed[np.maximum(codes, 0)]
        filtered = np.where(keep, scores, -np.inf)
        if distinct:
            same = self.products.of[np.maximum(codes, 0)] == self.products.of[items][:, None]
            filtered = np.where(same, -np.inf, filtered)
            filtered = np.where(self.products.first_listings(codes, filtered, self.reranker.niche_items_[
                np.maximum(codes, 0)]), filtered, -np.inf)
        order, best = top_k(filtered, k)
        picked = np.where(order >= 0, np.take_along_axis(codes, np.maximum(order, 0), axis=1), UNKNOWN_CODE)
        return picked, best


@dataclass(frozen=True)
class ItemGroup:
    """Some of the catalog's items (codes), their vectors and purchases (columns renumbered)."""

    codes: np.ndarray
    vectors: np.ndarray
    purchased: sp.csr_matrix


@dataclass(frozen=True)
class Histories:
    """Histories that replace the stored ones of a batch of buyers (one row each, catalog-wide
    columns): ``weights`` as the model learns them (weighted confidences), ``purchased`` the items
    to leave out. Buyers whose purchases arrived after training are scored from these: the model
    folds them in as it does for buyers it has not seen."""

    weights: sp.csr_matrix
    purchased: sp.csr_matrix


def _padded(values: np.ndarray, width: int, fill: float) -> np.ndarray:
    """``values`` (rows of item codes or scores) widened to ``width`` columns with ``fill``."""
    return np.pad(values, ((0, 0), (0, width - values.shape[1])), constant_values=fill)


def _item_codes(found: tuple[np.ndarray, np.ndarray], codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A top-k's ``(positions, scores)`` among some items, their positions turned into the item
    ``codes`` at them (-1 padding kept)."""
    positions, scores = found
    return np.where(positions >= 0, codes[np.maximum(positions, 0)], -1), scores


def _merged_niche_parts(head: tuple[np.ndarray, np.ndarray], niche: tuple[np.ndarray, np.ndarray], depth: int,
                        niche_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from the best non-niche items (``head``, at least ``depth``) and the best niche
    items (``niche``, at least ``max(depth, niche_depth)``), each ``(codes, scores)``: the ``depth``
    best of both, then the first ``niche_depth`` niche items."""
    (head_codes, head_scores), (niche_codes, niche_scores) = head, niche
    both_codes, both_scores = np.hstack([head_codes, niche_codes]), np.hstack([head_scores, niche_scores])
    positions, scores = top_k(both_scores, depth)
    codes = np.where(positions >= 0, np.take_along_axis(both_codes, np.maximum(positions, 0), axis=1), -1)
    return (np.hstack([codes, niche_codes[:, :niche_depth]]),
            np.hstack([scores, niche_scores[:, :niche_depth]]).astype(np.float32))


def check_cap(max_per_group) -> int:
    """``max_per_group`` as an int >= 0 (0: no variety cap), or a ``ValueError`` saying why not."""
    if isinstance(max_per_group, bool) or not isinstance(max_per_group, (int, np.integer)) or max_per_group < 0:
        raise ValueError(f"max_per_group must be a whole number >= 0 (0: no cap), got {max_per_group!r}")
    return int(max_per_group)


def check_season_factor(season_factor) -> float:
    """``season_factor`` as a float >= 0 (0: no seasonal weight), or a ``ValueError`` saying why not."""
    if isinstance(season_factor, bool) or not isinstance(season_factor, (int, float, np.integer, np.floating)) \
            or not np.isfinite(season_factor) or season_factor < 0:
        raise ValueError(f"season_factor must be a number >= 0 (0: no seasonal weight), got {season_factor!r}")
    return float(season_factor)


def rows_of(matrix: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """The rows of ``matrix`` for buyer codes ``users``; unknown buyers (code < 0) get empty rows."""
    known = users >= 0
    rows = matrix[np.where(known, users, 0)]
    if not known.all():
        rows.data[np.repeat(~known, np.diff(rows.indptr))] = 0
        rows.eliminate_zeros()
    return rows


def _fill_rows(codes, scores, rows, new_codes, new_scores):
    """Replace the ``rows`` (a mask) of two equally wide arrays with new values, padding as needed."""
    width = max(codes.shape[1], new_codes.shape[1])
    codes, scores = _padded(codes, width, -1), _padded(scores.astype(np.float32), width, -np.inf)
    codes[rows], scores[rows] = _padded(new_codes, width, -1), _padded(new_scores.astype(np.float32), width, -np.inf)
    return codes, scores
