"""Offline evaluation on a temporal test split: the hybrid against baselines, accuracy and beyond.

:func:`evaluate` cuts the data with :func:`~recommender.splits.temporal_split` (the last
``test_days`` days test, everything before trains), trains the hybrid on the training part with
:func:`training.train.train` exactly as ``recommender train`` does (it carves its own validation
split out of the training part; the test split is never used for tuning), and scores every model
on the same test buyers with the same ``k``.

Rows (one per model, in this order)
-----------------------------------
* ``popularity``: :class:`~recommender.models.PopularityRecommender` alone (recent popularity per
  city tier), fitted on the hybrid's features with the config's ``popularity`` parameters (when
  the hybrid has a popularity component, this row *is* that component).
* ``popularity (distinct buyers)``, ``popularity (trending, 14-day half-life)``: the other
  popularity baselines the model search starts from (the labelled starting points of the families
  playing the ``floor`` part): items by how many buyers ever bought them, and recent popularity
  per city tier with a two-week half-life.
* ``implicit ALS (library defaults)``: implicit's ``AlternatingLeastSquares()`` with its defaults
  (factors=100, regularization=0.01, alpha=1.0, iterations=15; seeded) and its confidence
  convention (``alpha * quantity``, not our ``1 + alpha * weight``), fitted on the raw summed
  quantities (no time decay, no BM25): what one gets by pointing the library at the data.
* ``EASE (l2 250, binary)``: textbook EASE (Steck 2019) on the binary buyer x item matrix, solved
  exactly and kept dense (no pruning), up to :data:`EASE_MAX_ITEMS` items: the strong simple
  baseline of the literature.
* ``RP3beta (alpha 1, beta 0.5, binary)``: RP3beta with common parameters on the binary matrix.
* ``<name> (hybrid component)``: each of the hybrid's other components alone, the very models
  fitted inside the hybrid (same features, same parameters): the collaborative model the search
  chose, and the content model.
* ``hybrid (default niche X, every listing)``: the default model with every listing of a product
  (``distinct_products`` off; only when the catalog has products of several listings), against which
  the other rows' one listing per product (:mod:`recommender.features.products`) is judged.
* ``hybrid (default niche X, no variety cap)``: the default model without its cap on the items of
  one category or region in a top 10 (only when validation chose one).
* ``hybrid (default niche X, no seasonal weight)``: the default model without its weight on goods in
  season (only when validation chose one).
* ``hybrid (niche 0)``: the trained hybrid in pure relevance order.
* ``hybrid (default niche X)``: the model ``recommender recommend`` serves by default (the niche
  knob chosen on the validation windows).

Test buyers and relevance
-------------------------
Relevant items are a buyer's test purchases of items they had not bought in training
(:func:`~recommender.splits.relevance_matrix` with ``already_bought``): recommendations leave
items already bought out, so those cannot be hit. The evaluated buyers are the training buyers
with at least one such purchase (optionally a seeded sample of ``max_buyers`` of them); every row
recommends to exactly these buyers, scored in batches of :data:`SCORING_BATCH`.

Metrics (per row)
-----------------
``recall@k``, ``ndcg@k``, ``map@k``, ``recall@20``
    Binary relevance, means over the evaluated buyers (:mod:`recommender.metrics`); lists are
    scored at ``k`` and, for recall, at :data:`RECALL_DEPTH` too (the first ``k`` of a longer list
    *are* the ``k``-item list, for every model and the niche re-ranker alike).
``long_tail_recall@k``
    Recall@k on the relevant items outside the most popular 20%: the long-tail goods found.
``coverage``
    Share of the available catalog recommended to at least one evaluated buyer.
``long_tail_share``
    Share of recommended slots holding items outside the most popular 20% of the catalog, where
    popularity is the number of training buyers of an item (the engine's ``item_sales``, the same
    notion the niche re-ranker uses).
``avg_popularity`` (and ``avg_popularity_norm``, divided by the top item's)
    Mean popularity (training buyers) of the recommended items, over slots.
``gini_region``, ``gini_merchant``
    Gini coefficient of the recommended slots across the catalog's regions / merchants (groups
    that get no slot count, ``unknown`` is a group like any other); ``nan`` (shown ``n/a``) when
    the catalog has fewer than two distinct labels, e.g. a catalog without regions.
``least_fifth_region``, ``least_fifth_merchant``
    Share of the slots going to the least-exposed fifth of the regions / merchants (0.2 when all
    are shown alike, 0 when the bottom fifth never appears); ``nan`` as for the Gini.
``priority_exposure``
    The priority-region items' (tagged ``priority_region``: goods of the counties the platform
    promotes) share of the recommended slots, divided by their share of the test purchases: 1 when
    they are shown as much as they are bought, below 1 when lists under-expose them; ``nan``
    when the test split holds no purchase of them.
``cold_recall@k`` (cold-start accuracy)
    New items are the items bought in the test split that nobody bought in the training split
    (:func:`~recommender.splits.new_items`). Cold-start buyers are the evaluated buyers who bought
    at least one new item in the test split. For each of them, the share of the new items they
    bought that appear in their top-``k`` list (the same list the other metrics score, no special
    list or mask); the mean over cold-start buyers (``nan`` when there are none). A pure
    collaborative model cannot place an item without purchases, so it scores near 0; the content
    model ranks new items by their text and attributes.

``ild_category``, ``ild_region`` (intra-list diversity)
    Over the top-``k`` lists, the mean share of their pairs of items of different categories /
    regions (:func:`~recommender.metrics.intra_list_diversity`): 0 when a list holds one category.
``repeated_product_lists``
    Share of the top-``k`` lists holding two listings of one product (the trained engine's products).
``product_ndcg@k``
    NDCG@k with products in place of listings: a list's products (a product's later listings
    dropped, :func:`~recommender.metrics.first_of_each`) against the products of the buyer's
    relevant listings. Listing-level NDCG rewards a list showing three listings of the product a
    buyer goes on to buy from one merchant; this does not.

Besides the rows, the hybrid's trade-off curve on the test split (every metric for each niche
knob of ``config.niche_grid``, default 0..1 step 0.05, plus the default knob) and, per row, the
share of recommended slots per region and per training-popularity decile (with the same shares
for the relevant test purchases) are kept for :func:`training.report.write_report`.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.engine import RecommendationEngine
from recommender.features.interactions import InteractionWeighting
from recommender.features.seasons import MIN_SEASON_DAYS
from recommender.features.training_data import TrainingData
from recommender.loaders import Dataset
from recommender.metrics import (
    evaluate_rankings,
    first_of_each,
    group_codes,
    intra_list_diversity,
    ndcg_at_k,
    recall_at_k,
    repeated_group_share,
)
from recommender.models import FAMILIES, make_model
from recommender.models.base import Recommender
from recommender.models.ease import ExactEASE
from recommender.models.family import Start
from recommender.models.hybrid import HybridRecommender
from recommender.progress import progress_bar
from recommender.rerank import item_groups
from recommender.splits import new_items, relevance_matrix, temporal_split
from training.config import TrainConfig
from training.train import train, window_date

log = logging.getLogger(__name__)

SCORING_BATCH = 1_000
EASE_MAX_ITEMS = 25_000  # the exact EASE baseline holds a dense items x items matrix (2.5 GB at 25,000)
RECALL_DEPTH = 20
POPULARITY_BUCKETS = 10
GROUPS = ("region", "merchant_id")

POPULARITY_ROW = "popularity"
PLAIN_ALS_ROW = "implicit ALS (library defaults)"
EASE_ROW = "EASE (l2 250, binary)"
RP3BETA_ROW = "RP3beta (alpha 1, beta 0.5, binary)"
HYBRID_ZERO_ROW = "hybrid (niche 0)"
# implicit.cpu.als.AlternatingLeastSquares() defaults (implicit 0.7)
IMPLICIT_ALS_DEFAULTS = {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15}

# (key, header, format) of the table columns; {k} is filled in
COLUMNS = (("ndcg@{k}", "NDCG@{k}", "{:.4f}"), ("product_ndcg@{k}", "product NDCG@{k}", "{:.4f}"),
           ("recall@{k}", "Recall@{k}", "{:.4f}"),
           (f"recall@{RECALL_DEPTH}", f"Recall@{RECALL_DEPTH}", "{:.4f}"), ("map@{k}", "MAP@{k}", "{:.4f}"),
           ("coverage", "coverage", "{:.3f}"), ("long_tail_share", "long tail", "{:.3f}"),
           ("long_tail_recall@{k}", "tail Recall@{k}", "{:.4f}"), ("avg_popularity", "avg pop", "{:.1f}"),
           ("gini_region", "Gini region", "{:.3f}"), ("gini_merchant", "Gini merchant", "{:.3f}"),
           ("least_fifth_merchant", "least 5th merch.", "{:.3f}"),
           ("priority_exposure", "priority exp./buys", "{:.2f}"),
           ("cold_recall@{k}", "cold Recall@{k}", "{:.4f}"),
           ("ild_category", "ILD category", "{:.3f}"), ("ild_region", "ILD region", "{:.3f}"),
           ("repeated_product_lists", "lists w/ a product twice", "{:.3f}"))


def hybrid_default_row(niche: float) -> str:
    """Row name of the default model of ``recommender recommend``."""
    return f"hybrid (default niche {niche:g})"


def every_listing_row(niche: float) -> str:
    """Row name of the default model showing every listing of a product (``distinct_products`` off)."""
    return f"hybrid (default niche {niche:g}, every listing)"


def no_cap_row(niche: float) -> str:
    """Row name of the default model without its variety cap (``max_per_group`` 0)."""
    return f"hybrid (default niche {niche:g}, no variety cap)"


def no_season_row(niche: float) -> str:
    """Row name of the default model without its seasonal weight (``season_factor`` 0)."""
    return f"hybrid (default niche {niche:g}, no seasonal weight)"


def without_list_rules(engine: RecommendationEngine, niche: float) -> list[tuple[str, dict[str, Any]]]:
    """The rows of the default model without each rule its lists follow (one listing per product, the
    variety cap, the seasonal weight), with the ``recommend`` options that turn it off; none for a rule
    not in force."""
    rules: list[tuple[str, dict[str, Any], bool]] = [
        (every_listing_row(niche), {"distinct_products": False}, engine.distinct()),
        (no_cap_row(niche), {"max_per_group": 0}, engine.max_per_group > 0),
        (no_season_row(niche), {"season_factor": 0.0}, engine.season_factor > 0)]
    return [(name, options) for name, options, on in rules if on]


@dataclass
class RowResult:
    """One model's results: metrics, and what the report plots about its lists."""

    name: str
    metrics: dict
    popularity_deciles: list  # share of recommended slots per training-popularity decile (top first)
    region_exposure: list  # share of recommended slots per region (Evaluation.regions order)
    seconds: dict = field(default_factory=dict)


@dataclass
class Evaluation:
    """Everything :func:`evaluate` measured; :meth:`table` prints it, :meth:`to_dict` stores it."""

    k: int
    test_days: float
    cutoff: str
    counts: dict
    rows: list[RowResult]
    niche_curve: list[dict]  # one dict per knob: {"niche": x, <metric>: value, ...}
    default_niche: float
    regions: list[str]
    test_region_share: list  # share of relevant test purchases per region
    test_popularity_deciles: list  # share of relevant test purchases per training-popularity decile
    validation: dict
    config: dict
    seconds: dict
    season_curve: list[dict] = field(default_factory=list)  # one dict per seasonal factor, on a year or more

    @property
    def names(self) -> list[str]:
        return [row.name for row in self.rows]

    def row(self, name: str) -> RowResult:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; rows: {', '.join(self.names)}")

    @property
    def default_row(self) -> RowResult:
        return self.row(hybrid_default_row(self.default_niche))

    def metric(self, name: str, key: str) -> float:
        """One metric of one row; ``key`` may use ``{k}`` (e.g. ``"ndcg@{k}"``)."""
        return self.row(name).metrics[key.format(k=self.k)]

    def table(self) -> str:
        """An aligned text table, one row per model, one column per metric."""
        headers = ["model"] + [header.format(k=self.k) for _, header, _ in COLUMNS]
        lines = [[row.name] + [_fmt(row.metrics.get(key.format(k=self.k)), fmt) for key, _, fmt in COLUMNS]
                 for row in self.rows]
        widths = [max(len(text) for text in column) for column in zip(headers, *lines)]

        def join(cells):
            return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

        c = self.counts
        out = [join(headers), "  ".join("-" * w for w in widths)] + [join(line) for line in lines]
        out.append(f"test split: last {self.test_days:g} days (after {self.cutoff}); {c['test_buyers']:,} buyers "
                   f"with new-to-them purchases, k={self.k}; {c['new_items']:,} items first sold after the cutoff, "
                   f"bought by {c['cold_start_buyers']:,} of them (cold Recall@{self.k}); "
                   f"long tail = outside the top 20% of items by training buyers")
        if self.season_curve:
            key = f"ndcg@{self.k}"
            chosen = self.validation.get("season_factor", 0.0)
            out.append(f"seasonal weight (chosen on validation: {chosen:g}), NDCG@{self.k} of the default model on "
                       f"the test days at each factor: " + ", ".join(
                           f"{point['season_factor']:g}: {point[key]:.4f}" for point in self.season_curve))
        return "\n".join(out)

    def to_dict(self) -> dict:
        """JSON-ready (``nan`` becomes ``None``)."""
        rows = [{"model": row.name, "metrics": row.metrics, "popularity_deciles": row.popularity_deciles,
                 "region_exposure": dict(zip(self.regions, row.region_exposure)), "seconds": row.seconds}
                for row in self.rows]
        return _clean({"k": self.k, "test_days": self.test_days, "cutoff": self.cutoff, "counts": self.counts,
                       "default_niche": self.default_niche, "default_model": self.default_row.name, "rows": rows,
                       "niche_curve": self.niche_curve, "season_curve": self.season_curve,
                       "test_purchases": {"region_share": dict(zip(self.regions, self.test_region_share)),
                                          "popularity_deciles": self.test_popularity_deciles},
                       "validation": self.validation, "config": self.config, "seconds": self.seconds})


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def _clean(value):
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


# --- scoring ------------------------------------------------------------------------------------------

class _Scorer:
    """The test buyers, their relevant items and the item groups: turns top-k lists into a row."""

    def __init__(self, buyers: np.ndarray, relevant: sp.csr_matrix, new: np.ndarray, popularity: np.ndarray,
                 catalog: pd.DataFrame, k: int, products: np.ndarray | None = None):
        self.buyers, self.relevant, self.k = buyers, relevant, k
        self.catalog = catalog
        self.products = np.arange(len(catalog)) if products is None else products  # product code per item
        by_product = sp.csr_matrix((np.ones(len(self.products)), (np.arange(len(self.products)), self.products)))
        self.relevant_products = sp.csr_matrix((relevant @ by_product) > 0, dtype=np.float32)
        self.popularity = popularity.astype(np.float64)
        n_items = relevant.shape[1]
        is_new = np.zeros(n_items, dtype=bool)
        is_new[new] = True
        cold = sp.csr_matrix(relevant.multiply(is_new[None, :].astype(np.float32)))
        cold.eliminate_zeros()
        self.cold_rows = np.flatnonzero(cold.getnnz(axis=1) > 0)
        self.cold = cold[self.cold_rows]
        self.available = catalog.available.to_numpy(dtype=bool)
        self.groups = {}  # metric name -> (item -> group mapping, number of groups)
        for column in GROUPS:
            if column in catalog:
                self.groups[column.removesuffix("_id")] = (catalog[column], group_codes(catalog[column])[1])
        self.region_codes, self.regions = self._regions(catalog)
        # popularity decile of every item: rank by training buyers (ties by item code), 10% of items per decile
        rank = np.empty(n_items, dtype=np.int64)
        rank[np.argsort(-self.popularity, kind="stable")] = np.arange(n_items)
        self.decile = rank * POPULARITY_BUCKETS // max(n_items, 1)
        _, bought_items = relevant.nonzero()
        self.test_deciles = self._shares(self.decile[bought_items], POPULARITY_BUCKETS)
        self.test_regions = self._shares(self.region_codes[bought_items], len(self.regions))
        self.priority = item_groups(self.popularity, catalog).priority_region
        self.priority_bought = float(self.priority[bought_items].mean()) if len(bought_items) else math.nan

    @staticmethod
    def _regions(catalog: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        if "region" not in catalog:
            return np.zeros(len(catalog), dtype=np.int64), ["unknown"]
        values = pd.Categorical(catalog.region)
        codes = values.codes.astype(np.int64)
        names = [str(name) for name in values.categories]
        if (codes < 0).any():
            codes = np.where(codes < 0, len(names), codes)
            names.append("unknown")
        return codes, names

    @staticmethod
    def _shares(codes: np.ndarray, n: int) -> list:
        counts = np.bincount(codes, minlength=n).astype(np.float64)
        return (counts / counts.sum() if counts.sum() > 0 else counts).tolist()

    def batches(self):
        for start in range(0, len(self.buyers), SCORING_BATCH):
            yield self.buyers[start:start + SCORING_BATCH]

    @property
    def depth(self) -> int:
        """Length of the lists scored: ``k``, or :data:`RECALL_DEPTH` for recall there."""
        return max(self.k, RECALL_DEPTH)

    def row(self, name: str, recommended: np.ndarray, seconds: dict | None = None) -> RowResult:
        """A row from lists of :attr:`depth` items (the first ``k`` are the ``k``-item lists)."""
        k = self.k
        metrics = evaluate_rankings(recommended, self.relevant, self.popularity, items=self.available, k=k,
                                    groups={group: mapping for group, (mapping, _) in self.groups.items()})
        metrics[f"recall@{RECALL_DEPTH}"] = float(recall_at_k(recommended, self.relevant, RECALL_DEPTH))
        recommended = recommended[:, :k]
        for group in ("region", "merchant"):
            n_groups = self.groups[group][1] if group in self.groups else 0
            if n_groups < 2:
                metrics[f"gini_{group}"] = metrics[f"least_fifth_{group}"] = math.nan
        cold = recall_at_k(recommended[self.cold_rows], self.cold, k) if len(self.cold_rows) else math.nan
        metrics[f"cold_recall@{k}"] = float(cold)
        metrics["cold_users"] = float(len(self.cold_rows))
        for column in ("category", "region"):
            metrics[f"ild_{column}"] = (intra_list_diversity(recommended, self.catalog[column])
                                        if column in self.catalog else math.nan)
        metrics["repeated_product_lists"] = repeated_group_share(recommended, self.products)
        metrics[f"product_ndcg@{k}"] = float(ndcg_at_k(first_of_each(recommended, self.products),
                                                       self.relevant_products, k))
        filled = recommended[recommended >= 0]
        shown = float(self.priority[filled].mean()) if len(filled) else math.nan
        metrics["priority_exposure"] = shown / self.priority_bought if self.priority_bought > 0 else math.nan
        return RowResult(name, {key: float(value) for key, value in metrics.items()},
                         self._shares(self.decile[filled], POPULARITY_BUCKETS),
                         self._shares(self.region_codes[filled], len(self.regions)), dict(seconds or {}))


def _recommend_all(engine: RecommendationEngine, scorer: _Scorer) -> np.ndarray:
    """Lists of one model in relevance order (niche 0), :attr:`_Scorer.depth` items, buyers in batches."""
    return np.vstack([engine.recommend(users, scorer.depth, niche=0.0)[0] for users in scorer.batches()])


# --- the job ------------------------------------------------------------------------------------------

def floor_baselines() -> list[tuple[str, Start]]:
    """The labelled starting points of the families that play the ``floor`` part (popularity by
    distinct buyers, trending): a row each, as simple baselines the served model must beat."""
    return [(name, start) for name, declared in FAMILIES.items() if declared.plays("floor")
            for start in declared.starts if start.label]


def plain(name: str, params: dict, seed: int) -> Recommender:
    """A baseline row's model: family ``name`` with ``params``, its never-bought items not mapped
    from content (the family's ``cold_item_parameter`` off), as the library alone would rank them."""
    switch = FAMILIES[name].cold_item_parameter
    return make_model(name, {**params, **({switch: False} if switch else {})}, seed)


def evaluate(dataset: Dataset, config: TrainConfig | None = None, test_days: float = 30, k: int = 10,
             show_progress: bool = True, max_buyers: int | None = None) -> Evaluation:
    """Train on all but the last ``test_days`` days, score every model on the test buyers.

    ``config`` is the hybrid's training config (default :class:`TrainConfig`: the model search
    chooses); ``k`` the list length scored; ``max_buyers`` caps the evaluated buyers with a seeded
    sample (``config.seed``; default: all). See the module docstring for rows and metrics.
    """
    config = config or TrainConfig()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    started = time.perf_counter()
    train_part, test = temporal_split(dataset, test_days)
    cutoff = dataset.purchases.timestamp.max() - pd.Timedelta(days=float(test_days))
    seconds: dict = {}
    rows: list[RowResult] = []

    with threadpool_limits(1, "blas"), progress_bar(total=None, disable=not show_progress, unit="model") as progress:
        def step(description: str):
            progress.set_description(description)

        step("hybrid: train (validation windows, model search, tuning, fit)")
        clock = time.perf_counter()
        result = train(train_part, config, show_progress=False)
        engine, chosen = result.engine, result.config
        hybrid = engine.model
        assert isinstance(hybrid, HybridRecommender)  # what train fits
        seconds["hybrid_train"] = time.perf_counter() - clock
        # training, features, popularity, plain ALS, EASE (if the catalog allows), RP3beta, the
        # components that are not popularity, the niche curve
        times = dataset.purchases.timestamp
        a_year = (times.max() - times.min()) / pd.Timedelta(days=1) >= MIN_SEASON_DAYS  # the seasonal weights' curve
        progress.total = 6 + a_year + len(without_list_rules(engine, 0.0)) + len(floor_baselines()) + (
            engine.n_items <= EASE_MAX_ITEMS) + sum(model.role != "popularity" for _, model in hybrid.components)
        progress.update()

        step("features and test buyers")
        clock = time.perf_counter()
        data = chosen.training_data(train_part)
        if len(data.users) != len(engine.users) or data.n_items != engine.n_items:
            raise RuntimeError("evaluation features do not match the trained engine's buyers and items")
        relevance = relevance_matrix(test, data.users, data.n_items, data.purchased)
        buyers = np.flatnonzero(relevance.getnnz(axis=1) > 0)
        if len(buyers) == 0:
            raise ValueError(f"no buyer in the last {test_days} days bought an item they had not bought before; "
                             f"nothing to evaluate (try more test days)")
        n_candidates = len(buyers)
        if max_buyers is not None and len(buyers) > max_buyers:
            buyers = np.sort(np.random.default_rng(config.seed).choice(buyers, int(max_buyers), replace=False))
        new = new_items(train_part, test)
        scorer = _Scorer(buyers, relevance[buyers], new, engine.item_sales, data.catalog, k,
                         None if engine.products is None else engine.products.of)
        seconds["features"] = time.perf_counter() - clock
        progress.update()

        def single(name: str, model, fit_seconds: float | None, features=data):
            step(name)
            clock = time.perf_counter()
            recommended = _recommend_all(RecommendationEngine.build(model, features), scorer)
            timing = {"score": round(time.perf_counter() - clock, 2)}
            if fit_seconds is not None:
                timing["fit"] = round(fit_seconds, 2)
            rows.append(scorer.row(name, recommended, timing))
            progress.update()

        def fitted(model: Recommender, features: TrainingData) -> tuple[Recommender, float]:
            clock = time.perf_counter()
            return model.fit(features), time.perf_counter() - clock

        popularity = engine.model.component("popularity")
        if popularity is not None:
            single(POPULARITY_ROW, popularity, None)
        else:
            single(POPULARITY_ROW, *fitted(make_model("popularity"), data))
        for name, start in floor_baselines():
            features = chosen.training_data(train_part, InteractionWeighting(**start.weighting)) \
                if start.weighting is not None else data
            single(f"{name} ({start.label})", *fitted(make_model(name, start.params, config.seed), features),
                   features=features)

        raw = chosen.training_data(train_part, InteractionWeighting("raw", None))
        single(PLAIN_ALS_ROW, *fitted(plain("als", {**IMPLICIT_ALS_DEFAULTS, "confidence": "implicit"}, config.seed),
                                      raw), features=raw)
        del raw

        binary = chosen.training_data(train_part, InteractionWeighting("binary", None))
        if engine.n_items <= EASE_MAX_ITEMS:
            single(EASE_ROW, *fitted(ExactEASE(l2=250.0), binary), features=binary)
        else:
            log.info("%s skipped: %d items > %d (a dense items x items matrix)", EASE_ROW, data.n_items, EASE_MAX_ITEMS)
        single(RP3BETA_ROW, *fitted(plain("rp3beta", {"alpha": 1.0, "beta": 0.5}, config.seed), binary),
               features=binary)
        del binary

        for name, model in hybrid.components:
            if model.role != "popularity":
                single(f"{name} (hybrid component)", model, None)

        default = float(engine.default_niche)
        when = window_date(engine, float(test_days))  # the season the test days fall in
        for name, options in without_list_rules(engine, default):
            step(name)
            clock = time.perf_counter()
            lists = engine.recommend_per_knob(scorer.buyers, scorer.depth, [default], SCORING_BATCH, date=when,
                                              **options)
            rows.append(scorer.row(name, lists[default], {"score": round(time.perf_counter() - clock, 2)}))
            progress.update()

        season_curve = []
        if a_year:
            step("hybrid: seasonal weights")
            for factor in sorted({0.0, engine.season_factor, *config.season_grid}):
                lists = engine.recommend_per_knob(scorer.buyers, scorer.depth, [default], SCORING_BATCH, date=when,
                                                  season_factor=factor)
                season_curve.append({"season_factor": factor, **scorer.row("", lists[default]).metrics})
            progress.update()

        step("hybrid: niche curve")
        knobs = sorted(set(float(x) for x in config.niche_grid) | {0.0, default})
        clock = time.perf_counter()
        lists = engine.recommend_per_knob(scorer.buyers, scorer.depth, knobs, SCORING_BATCH, date=when)
        timing = {"fit": round(seconds["hybrid_train"], 2), "score": round(time.perf_counter() - clock, 2)}
        curve = []
        for knob in knobs:
            row = scorer.row(f"hybrid (niche {knob:g})", lists[knob])
            curve.append({"niche": knob, **row.metrics})
            if knob == 0.0:
                rows.append(RowResult(HYBRID_ZERO_ROW, row.metrics, row.popularity_deciles, row.region_exposure,
                                      timing))
            if knob == default:
                rows.append(RowResult(hybrid_default_row(default), row.metrics, row.popularity_deciles,
                                      row.region_exposure, timing))
        progress.update()

    seconds["total"] = time.perf_counter() - started
    counts = {"train_lines": int(len(train_part.purchases)), "test_lines": int(len(test.purchases)),
              "train_buyers": int(data.n_users), "items": int(data.n_items),
              "test_buyers_with_new_purchases": int(n_candidates), "test_buyers": int(len(buyers)),
              "relevant_pairs": int(scorer.relevant.nnz), "new_items": int(len(new)),
              "cold_start_buyers": int(len(scorer.cold_rows))}
    return Evaluation(k=k, test_days=float(test_days), cutoff=str(cutoff), counts=counts, rows=rows,
                      niche_curve=curve, default_niche=default, regions=scorer.regions,
                      test_region_share=scorer.test_regions, test_popularity_deciles=scorer.test_deciles,
                      validation=result.validation, config=chosen.to_dict(),
                      seconds={key: round(value, 2) for key, value in seconds.items()}, season_curve=season_curve)
