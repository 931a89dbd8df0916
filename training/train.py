"""The training job: validation windows, model search, tune the blend, pick the niche knob, refit, save.

1. The last ``validation_days`` of the training data become a validation window, and the
   ``validation_days`` before them a second one (``validation_windows``; see
   :func:`validation_windows`). Each window is judged by models fitted on the data before it; the
   test split of ``recommender evaluate`` is never seen here. Every step below pools the windows'
   buyers, so a window at a holiday or a season's start does not choose alone.
2. Unless the config names its components, the model search (:mod:`training.search`) chooses the
   collaborative model, its interaction weighting and parameters on those windows, within the
   config's planned budget; the hybrid is that model, the content model and tier popularity.
3. The hybrid's components are fitted before each window; their scores on the validation buyers
   tune the blend weights per history bucket (:func:`~recommender.models.hybrid.tune_blend_weights`).
4. With those weights, NDCG@k and long-tail share are measured for each niche knob in the grid;
   ``niche="auto"`` takes the largest knob that keeps NDCG@k within ``niche_max_ndcg_loss`` of
   pure relevance and at or above the best popularity candidate's.
5. On the latest validation window, repeat timing learns when buyers buy an item again
   (:func:`fit_repeat_timing`) and the first-time audience model who buys an item for the first
   time (:func:`training.audience.fit_first_time_audience`).
6. Everything is refitted on all the training data and wrapped in a
   :class:`~recommender.engine.RecommendationEngine`, with the buy-again scores and the audience
   model of the whole history.

Where the data comes from is a :class:`TrainingInput`: a loaded :class:`Dataset` in memory
(:class:`LocalInput`, ``--backend local``) or purchases in Spark
(:class:`training.spark_train.SparkInput`, ``--backend spark``); the steps are the same.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from recommender.artifacts import sha256_of
from recommender.engine import RecommendationEngine
from recommender.features.encoders import IdEncoder
from recommender.features.repeat import (
    AudienceSignals,
    BuyerHistory,
    PairHistory,
    audience_signals,
    bought_again,
    buyer_history,
    item_groups,
)
from recommender.features.seasons import MIN_SEASON_DAYS, SeasonalProfiles
from recommender.features.training_data import ITEM_SIDE, TrainingData
from recommender.loaders import Dataset
from recommender.metrics import long_tail_share, ndcg_at_k
from recommender.models import make_model
from recommender.models.audience import AudienceModel, FirstTimeAudience
from recommender.models.base import Recommender
from recommender.models.hybrid import (
    CandidatePool,
    HybridRecommender,
    candidate_pool,
    history_buckets,
    tune_blend_weights,
)
from recommender.models.repeat import FEATURES, RepeatScores, RepeatTiming
from recommender.progress import progress_bar
from recommender.splits import relevance_matrix, validation_split
from training.config import TrainConfig
from training.search import Window, default_budget_seconds, describe_trial, search_models

log = logging.getLogger(__name__)

VALIDATION_BUYERS = 5_000  # validation buyers sampled for tuning, over all windows (enough for stable NDCG, fast)
SCORING_BATCH = 1_024
MIN_HISTORY_SHARE = 0.5  # of a validation window's days, the least history an earlier window is fitted on
BLEND_POOL = 100  # each component's top items per validation buyer among which blends are ranked
AUDIENCE_ITEMS = 400  # items of the latest window the first-time audience model learns from
AUDIENCE_NEGATIVES = 400  # per item, buyers who did not buy it sampled (weighted up to all of them)


@dataclass
class LatestWindow:
    """The latest validation window: the engine fitted on the data before it (chosen model, tuned
    blend), the buyers' purchase history before it (coded as that engine's buyers) and the
    window's purchases (buyers x items). What buy-again and audiences learn from."""

    engine: RecommendationEngine
    history: PairHistory
    bought: sp.csr_matrix


@dataclass
class Tuned:
    """What :func:`tune_on_validation` found (``record``, for the manifest) and its latest window."""

    record: dict
    latest: LatestWindow


@dataclass
class TrainResult:
    """A trained engine and what the manifest records about it."""

    engine: RecommendationEngine
    validation: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)
    config: TrainConfig = field(kw_only=True)  # the config as trained: the components the search chose


class TrainingInput(Protocol):
    """Where the training job's data comes from, and what it runs on."""

    def validation_split(self, days: float) -> tuple[TrainingInput, Dataset]:
        """The input before the last ``days`` days, and the purchases after them (buyer and item
        ids suffice: they become the relevance matrix)."""

    def training_data(self, config: TrainConfig) -> TrainingData:
        """The model inputs, built as ``config`` says."""

    def days_covered(self) -> float:
        """Days from the first purchase to the last."""

    def buyer_history(self, users: IdEncoder) -> BuyerHistory:
        """Each (buyer, item) pair's purchase days and each buyer's place, buyers coded by ``users``."""

    def seasons(self) -> SeasonalProfiles:
        """Every catalog item's seasonal profile (:mod:`recommender.features.seasons`)."""

    def component(self, name: str, params: dict, seed: int) -> Recommender:
        """The unfitted hybrid component ``name`` (``seed``: its random state, if it has one)."""

    def counts(self) -> dict:
        """Purchase lines used and what the loading policies dropped, per file."""

    def describe(self) -> dict:
        """What the training ran on, for the manifest."""


@dataclass
class LocalInput:
    """A data set loaded in memory (``recommender train --backend local``). The item side of the
    training data (content features and embedding) depends only on the catalog, which the
    validation split shares: it is built once per content setting and reused (``items``)."""

    dataset: Dataset
    items: dict = field(default_factory=dict, repr=False)

    def validation_split(self, days: float) -> tuple[LocalInput, Dataset]:
        fit_part, validation = validation_split(self.dataset, days)
        return LocalInput(fit_part, self.items), validation

    def training_data(self, config: TrainConfig) -> TrainingData:
        key = (config.content_dimensions, config.seed)
        data = config.training_data(self.dataset, item_side=self.items.get(key))
        self.items.setdefault(key, {name: getattr(data, name) for name in ITEM_SIDE})
        return data

    def days_covered(self) -> float:
        times = self.dataset.purchases.timestamp
        return (times.max() - times.min()) / pd.Timedelta(days=1)

    def buyer_history(self, users: IdEncoder) -> BuyerHistory:
        return buyer_history(self.dataset.purchases, users, len(self.dataset.catalog))

    def seasons(self) -> SeasonalProfiles:
        return SeasonalProfiles.fit(self.dataset.purchases, self.dataset.catalog)

    def component(self, name: str, params: dict, seed: int) -> Recommender:
        return make_model(name, params, seed)

    def counts(self) -> dict:
        return {"purchase_lines": int(len(self.dataset.purchases)),
                "dropped": {report.path: report.dropped for report in self.dataset.reports}}

    def describe(self) -> dict:
        return {"backend": "local"}


def as_input(data: Dataset | TrainingInput) -> TrainingInput:
    """A training input: a loaded data set is wrapped in :class:`LocalInput`."""
    return LocalInput(data) if isinstance(data, Dataset) else data


def make_hybrid(config: TrainConfig, weights=None,
                make_component: Callable[[str, dict, int], Recommender] = make_model,
                fitted: dict[str, Recommender] | None = None) -> HybridRecommender:
    """The hybrid named by the config (which names its components); ``make_component(name, params,
    seed)`` builds each part with the config's seed, except those given ``fitted`` (kept as they are
    by ``fit(data, refit=False)``)."""
    if config.components is None:
        raise ValueError("the config names no components: the model search chooses them first")
    fitted = fitted or {}
    components = [(name, fitted[name] if name in fitted else make_component(name, params, config.seed))
                  for name, params in config.components.items()]
    return HybridRecommender(components, weights=weights, bucket_edges=config.bucket_edges)


def validation_relevance(data: TrainingData, validation: Dataset, seed: int, most: int
                         ) -> tuple[np.ndarray, sp.csr_matrix]:
    """The validation buyers and their relevant items (CSR, one row per buyer), as ``evaluate``
    judges its test days: training buyers who bought at least one item new to them in the
    validation days, those purchases relevant; a seeded sample of ``most`` of them when there are
    more."""
    relevant = relevance_matrix(validation, data.users, data.n_items, data.purchased)
    codes = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    if len(codes) > most:
        codes = np.sort(np.random.default_rng(seed).choice(codes, most, replace=False))
    return codes, relevant[codes]


def _in_batches(n: int):
    for start in range(0, n, SCORING_BATCH):
        yield slice(start, min(n, start + SCORING_BATCH))


def budget_seconds(config: TrainConfig, source: TrainingInput, windows: int) -> float:
    """The model search's planned seconds: the config's, else scaled to the purchase lines and the
    number of validation windows."""
    if config.budget_minutes is not None:
        return 60.0 * float(config.budget_minutes)
    return default_budget_seconds(source.counts()["purchase_lines"], windows)


def blend_candidates(hybrid: HybridRecommender, data: TrainingData, buyers: np.ndarray) -> CandidatePool:
    """Each of ``buyers``' pool of candidates for tuning the blend: the union of every component's
    top :data:`BLEND_POOL` items (purchases and unavailable items excluded), with every
    component's scores on them. Batches of buyers run on two threads (the rankings release the GIL)."""
    available = data.catalog.available.to_numpy(dtype=bool)
    bought = data.purchased[buyers]

    def pool_of(rows: slice) -> CandidatePool:  # one batch of dense scores at a time
        return candidate_pool(hybrid.component_scores(data.batch(buyers[rows]), bought[rows], available), BLEND_POOL)

    with ThreadPoolExecutor(max_workers=2) as threads:
        return CandidatePool.concat(list(threads.map(pool_of, _in_batches(len(buyers)))))


def validation_windows(source: TrainingInput, config: TrainConfig) -> list[tuple[TrainingInput, Dataset]]:
    """Up to ``config.validation_windows`` consecutive validation windows of ``validation_days``
    each, the latest first, as (the input before the window, the window's purchases). An earlier
    window is carved only when the data before it would still cover :data:`MIN_HISTORY_SHARE` of
    a window's days."""
    days = config.validation_days
    windows = [source.validation_split(days)]
    while len(windows) < config.validation_windows and \
            windows[-1][0].days_covered() >= (1 + MIN_HISTORY_SHARE) * days:
        windows.append(windows[-1][0].validation_split(days))
    return windows


def tune_on_validation(dataset: Dataset | TrainingInput, config: TrainConfig, progress: tqdm) -> Tuned:
    """Steps 1-4: the model, blend weights and niche knob from the validation windows of ``dataset``
    (every step pools the buyers of all windows). Returns what the manifest records, with
    ``config`` the config naming the chosen components, and the latest window."""
    source = as_input(dataset)
    windows = validation_windows(source, config)
    sample = VALIDATION_BUYERS // len(windows)  # buyers per window

    def relevant_in(validation: Dataset) -> Callable[[TrainingData], tuple[np.ndarray, sp.csr_matrix]]:
        return lambda data: validation_relevance(data, validation, config.seed, sample)

    def window(fit_part: TrainingInput, validation: Dataset) -> Window:
        return Window(lambda weighting: fit_part.training_data(config.replaced(weighting=weighting)),
                      relevant_in(validation))

    search = None
    if config.searches:
        progress.set_description("validation: model search")
        search = search_models([window(*pair) for pair in windows],
                               lambda name, params: source.component(name, params, config.seed),
                               budget_seconds=budget_seconds(config, source, len(windows)), k=config.k,
                               weighting=config.weighting, families=config.families,
                               on_trial=lambda trial: progress.set_postfix_str(
                                   f"{trial.family}: {trial.ndcg:.4f}" if trial.status == "ok" else trial.status))
        progress.set_postfix_str("")
        best = search.best
        config = config.with_model(best.family, best.params, best.weighting)
        fitted = [({best.family: model}, data) for model, data in search.fitted]
    else:
        progress.set_description("validation: features")
        fitted = [({}, fit_part.training_data(config)) for fit_part, _ in windows]
    progress.update()
    progress.set_description("validation: fit components")
    hybrids = [make_hybrid(config, make_component=source.component, fitted=models).fit(data, refit=False)
               for models, data in fitted]
    datas = [data for _, data in fitted]
    progress.update()

    progress.set_description("validation: tune blend")
    judged = [relevant_in(validation)(data) for data, (_, validation) in zip(datas, windows)]
    relevant = sp.vstack([window_relevant for _, window_relevant in judged], format="csr")
    pools = [blend_candidates(hybrid, data, buyers) for hybrid, data, (buyers, _) in zip(hybrids, datas, judged)]
    buckets = [history_buckets(data.batch(buyers), config.bucket_edges) for data, (buyers, _) in zip(datas, judged)]
    weights, quality = tune_blend_weights(CandidatePool.concat(pools), relevant, np.concatenate(buckets),
                                          len(config.bucket_edges) + 1, k=config.k, trials=config.blend_trials,
                                          seed=config.seed)
    alone = dict(zip((name for name, _ in hybrids[0].components), quality.pop("components")))
    progress.update()

    progress.set_description("validation: niche curve")
    per_window = []
    for hybrid, data, (buyers, _), (fit_part, _) in zip(hybrids, datas, judged, windows):
        hybrid.set_weights(weights)
        engine = RecommendationEngine.build(hybrid, data, distinct_products=config.distinct_products,
                                            seasons=fit_part.seasons())
        per_window.append((engine, engine.recommend_per_knob(buyers, config.k, config.niche_grid)))
    sizes = [len(buyers) for buyers, _ in judged]
    curve = []
    for niche in config.niche_grid:
        lists = [window_lists[niche] for _, window_lists in per_window]
        tails = [long_tail_share(window_list, engine.item_sales) for window_list, (engine, _) in zip(lists, per_window)]
        curve.append({"niche": niche, f"ndcg@{config.k}": float(ndcg_at_k(np.vstack(lists), relevant, config.k)),
                      "long_tail_share": float(np.average(tails, weights=sizes))})
    progress.update()
    floor = search.floor.ndcg if search is not None and search.floor is not None else None
    niche = choose_niche(curve, config, floor) if config.niche == "auto" else float(config.niche)
    progress.set_description("validation: variety cap")
    max_per_group, variety = choose_variety([engine for engine, _ in per_window],
                                            [buyers for buyers, _ in judged], relevant, niche, config)
    progress.set_description("validation: season")
    season_factor, season = choose_season([engine for engine, _ in per_window], [buyers for buyers, _ in judged],
                                          relevant, niche, max_per_group, config, source.days_covered())
    latest_engine, latest_data = per_window[0][0], datas[0]
    history = windows[0][0].buyer_history(latest_data.users).pairs
    latest = LatestWindow(latest_engine, history, relevance_matrix(windows[0][1], latest_data.users,
                                                                   latest_data.n_items))
    return Tuned({"config": config.to_dict(), "search": search.to_dict() if search is not None else None,
            "buyers": int(sum(sizes)), "window_buyers": sizes, "blend_weights": weights.round(4).tolist(),
            "components": [name for name, _ in hybrids[0].components], "bucket_edges": list(config.bucket_edges),
            f"blend_ndcg@{config.k}": {str(key): round(value, 5) for key, value in quality.items()},
            f"component_ndcg@{config.k}": {name: round(value, 5) for name, value in alone.items()},
            "niche_curve": curve, "niche": niche, "variety_curve": variety, "max_per_group": max_per_group,
            "season_curve": season, "season_factor": season_factor}, latest)


def fit_repeat_timing(latest: LatestWindow, config: TrainConfig, history: PairHistory, catalog: pd.DataFrame
                      ) -> tuple[RepeatScores | None, dict]:
    """Buy-again scores of ``history`` (the whole history): repeat timing fitted on the latest
    validation window (which earlier items its buyers bought again there, within
    ``validation_days``), and what the manifest records about it. None, with the reason, when the
    window cannot teach it (nothing, or everything, bought again)."""
    again = bought_again(latest.history, latest.bought)
    groups = item_groups(catalog)
    record = {"horizon_days": config.validation_days, "pairs": int(len(again)), "bought_again": int(again.sum())}
    try:
        model = RepeatTiming(horizon_days=config.validation_days).fit(latest.history, groups, again)
    except ValueError as exc:
        log.warning("no buy-again scores: %s", exc)
        return None, {**record, "skipped": str(exc)}
    return model.scores(history, groups), {**record, "weights": dict(zip(FEATURES, model.coef_.round(4).tolist()))}


def first_time_rows(latest: LatestWindow, signals: AudienceSignals, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the first-time audience model learns from, as ``(features, labels, weights)``: for a
    seeded sample of :data:`AUDIENCE_ITEMS` items bought before the latest window, every buyer who
    bought one there for the first time (weight 1) and :data:`AUDIENCE_NEGATIVES` of the buyers who
    had not bought it and did not (weighted up to all of them, so probabilities stay calibrated)."""
    rng = np.random.default_rng(seed)
    before = sp.csr_matrix(latest.history.pattern, dtype=bool)
    first_bought = sp.csr_matrix(latest.bought - latest.bought.multiply(before))
    first_bought.eliminate_zeros()
    first_bought = first_bought.T.tocsr()  # items x buyers: first purchases in the window
    before_by_item = before.T.tocsr()
    bought_items = np.flatnonzero(before.getnnz(axis=0) > 0)
    items = np.sort(rng.choice(bought_items, min(AUDIENCE_ITEMS, len(bought_items)), replace=False))
    n_buyers = before.shape[0]
    features, labels, weights = [], [], []
    for item, columns in latest.engine.audience_columns_of(items):
        item_features = FirstTimeAudience.features(columns, signals, item)
        positives = first_bought.indices[first_bought.indptr[item]:first_bought.indptr[item + 1]]
        others = np.ones(n_buyers, dtype=bool)
        others[before_by_item.indices[before_by_item.indptr[item]:before_by_item.indptr[item + 1]]] = False
        others[positives] = False
        pool = np.flatnonzero(others)
        negatives = rng.choice(pool, min(AUDIENCE_NEGATIVES, len(pool)), replace=False)
        features += [item_features[positives], item_features[negatives]]
        labels += [np.ones(len(positives), dtype=bool), np.zeros(len(negatives), dtype=bool)]
        weights += [np.ones(len(positives)), np.full(len(negatives), len(pool) / max(len(negatives), 1))]
    return np.vstack(features), np.concatenate(labels), np.concatenate(weights)


def fit_audiences(latest: LatestWindow, config: TrainConfig, history: BuyerHistory
                  ) -> tuple[AudienceModel | None, dict]:
    """The audience model of ``history`` (the whole history): the first-time model fitted on the
    latest validation window (:func:`first_time_rows`), with the signals and places of the whole
    history, and what the manifest records about it. None, with the reason, when the window cannot
    teach it."""
    horizon = config.validation_days
    features, labels, weights = first_time_rows(latest, audience_signals(latest.history, horizon), config.seed)
    record: dict[str, Any] = {"horizon_days": horizon, "rows": int(len(labels)), "first_purchases": int(labels.sum())}
    components = [name for name, _ in latest.engine.audience_components]
    try:
        first_time = FirstTimeAudience(horizon_days=horizon).fit(features, labels, weights, components)
    except ValueError as exc:
        log.warning("no audience model: %s", exc)
        return None, {**record, "skipped": str(exc)}
    record["weights"] = dict(zip(first_time.feature_names_, first_time.coef_.round(4).tolist()))
    return AudienceModel(first_time, audience_signals(history.pairs, horizon), history.places,
                         tuple(history.place_names)), record


def choose_niche(curve: list[dict], config: TrainConfig, floor: float | None = None) -> float:
    """The largest knob whose NDCG@k stays within ``niche_max_ndcg_loss`` (relative) of knob 0
    and, with a ``floor`` (the best simple baseline's validation NDCG@k), at or above it; knob 0
    when none is."""
    key = f"ndcg@{config.k}"
    base = next(point[key] for point in curve if point["niche"] == 0.0)
    bar = max((1.0 - config.niche_max_ndcg_loss) * base, floor if floor is not None else -np.inf)
    return max([0.0] + [point["niche"] for point in curve if point[key] >= bar])


def choose_variety(engines: list[RecommendationEngine], buyers: list[np.ndarray], relevant: sp.csr_matrix,
                   niche: float, config: TrainConfig) -> tuple[int, list[dict]]:
    """The variety cap (items of one category or region in a top 10) and the validation NDCG@k of
    each cap tried: with ``max_per_group`` "auto", the tightest of ``variety_grid`` (loosest first)
    whose NDCG@k at knob ``niche`` stays within ``variety_max_ndcg_loss`` (relative) of no cap, 0
    (no cap) when none does, or when the catalog names no category or region; else the config's
    own cap, untried."""
    if config.max_per_group != "auto":
        return int(config.max_per_group), []
    if all((engine.variety_labels < 0).all() for engine in engines):  # nothing to cap (e.g. UCI's catalog)
        return 0, []
    key = f"ndcg@{config.k}"

    def ndcg(cap: int) -> float:
        lists = [engine.recommend(window_buyers, config.k, niche=niche, max_per_group=cap)[0]
                 for engine, window_buyers in zip(engines, buyers)]
        return float(ndcg_at_k(np.vstack(lists), relevant, config.k))

    curve = [{"max_per_group": 0, key: ndcg(0)}]
    chosen = 0
    for cap in sorted(config.variety_grid, reverse=True):
        curve.append({"max_per_group": cap, key: ndcg(cap)})
        if curve[-1][key] < (1.0 - config.variety_max_ndcg_loss) * curve[0][key]:
            break
        chosen = cap
    return chosen, curve


def window_date(engine: RecommendationEngine, days: float) -> np.datetime64:
    """The day a validation (or test) window of ``days`` after an engine's data is ranked for: its
    middle, the season its purchases fall in."""
    if engine.seasons is None:
        raise ValueError("the engine has no seasonal profiles: train it again with this version")
    return engine.seasons.last_time + np.timedelta64(int(days * 86_400 / 2), "s")


def choose_season(engines: list[RecommendationEngine], buyers: list[np.ndarray], relevant: sp.csr_matrix,
                  niche: float, cap: int, config: TrainConfig, days: float) -> tuple[float, list[dict]]:
    """The seasonal weight (:meth:`RecommendationEngine.in_season`) and the validation NDCG@k of each
    factor tried, each window's lists ranked for its middle day: with ``season_factor`` "auto", the
    factor of ``season_grid`` of best NDCG@k at knob ``niche`` and variety cap ``cap`` when it beats no
    weight by more than ``season_min_ndcg_gain`` (relative), else 0; 0 untried on less than
    :data:`~recommender.features.seasons.MIN_SEASON_DAYS` of history (``days``: a window's weeks were
    not seen a year before); else the config's own factor, untried."""
    if config.season_factor != "auto":
        return float(config.season_factor), []
    if days < MIN_SEASON_DAYS:
        return 0.0, []
    key = f"ndcg@{config.k}"

    def ndcg(factor: float) -> float:
        lists = [engine.recommend(window_buyers, config.k, niche=niche, max_per_group=cap, season_factor=factor,
                                  date=window_date(engine, config.validation_days))[0]
                 for engine, window_buyers in zip(engines, buyers)]
        return float(ndcg_at_k(np.vstack(lists), relevant, config.k))

    curve = [{"season_factor": factor, key: ndcg(factor)} for factor in (0.0, *sorted(config.season_grid))]
    best = max(curve, key=lambda point: point[key])
    chosen = best["season_factor"] if best[key] > (1.0 + config.season_min_ndcg_gain) * curve[0][key] else 0.0
    return chosen, curve


def train(dataset: Dataset | TrainingInput, config: TrainConfig | None = None,
          show_progress: bool = True) -> TrainResult:
    """Run the whole training job on a loaded data set (or another :class:`TrainingInput`)."""
    config = config or TrainConfig()
    source = as_input(dataset)
    seconds = {}
    with threadpool_limits(1, "blas"), progress_bar(total=7, disable=not show_progress, unit="step") as progress:
        start = time.perf_counter()
        tuned = tune_on_validation(source, config, progress)
        validation = tuned.record
        seconds["validation"] = time.perf_counter() - start

        start = time.perf_counter()
        config = TrainConfig.from_dict(validation["config"], "chosen config")
        progress.set_description("final: features")
        data = source.training_data(config)
        progress.update()
        progress.set_description("final: fit")
        hybrid = make_hybrid(config, np.asarray(validation["blend_weights"]), source.component).fit(data)
        progress.update()
        progress.set_description("buy again and audiences")
        history = source.buyer_history(data.users)
        repeat, validation["repeat_timing"] = fit_repeat_timing(tuned.latest, config, history.pairs, data.catalog)
        audiences, validation["audiences"] = fit_audiences(tuned.latest, config, history)
        engine = RecommendationEngine.build(hybrid, data, niche=validation["niche"], repeat=repeat,
                                            audiences=audiences, distinct_products=config.distinct_products,
                                            max_per_group=validation["max_per_group"], seasons=source.seasons(),
                                            season_factor=validation["season_factor"])
        progress.update()
        seconds["final_fit"] = time.perf_counter() - start
    source_counts = source.counts()
    counts = {"purchase_lines": source_counts["purchase_lines"], "buyers": data.n_users, "items": data.n_items,
              "items_bought": int((engine.item_sales > 0).sum()), "interactions": int(data.confidence.nnz),
              "dropped": source_counts["dropped"]}
    return TrainResult(engine, validation, counts, {key: round(value, 2) for key, value in seconds.items()},
                       source.describe(), config=config)


def manifest_fields(result: TrainResult, config: TrainConfig, inputs: dict[str, Path | None],
                    store: dict | None = None) -> dict:
    """What ``manifest.json`` records about a training run (besides version, time and files).

    The data fingerprint is the SHA-256 of the input files when they are all local files (not
    for directories or remote locations Spark reads, nor for an event store, where it is None).
    With a ``store`` (``{"url": <without its password>, "last_seq": <the newest event when the
    training read the store>}``), ``data.store`` records it: a server replays the events after it.
    """
    paths = [path for path in inputs.values() if path is not None]
    local = all(Path(path).is_file() for path in paths) and store is None
    data = {"inputs": {name: str(path) for name, path in inputs.items() if path is not None},
            "fingerprint": sha256_of(*paths) if local else None, "counts": result.counts}
    if store is not None:
        data["store"] = store
    return {"data": data,
            "parameters": result.config.to_dict(), "default_niche": result.engine.default_niche,
            "example_buyer": result.engine.example_buyer(),
            "validation": result.validation, "timings_seconds": result.seconds, "training_backend": result.backend}


def summary_table(result: TrainResult, config: TrainConfig) -> str:
    """A short human summary of a training run."""
    v = result.validation
    key = f"ndcg@{config.k}"
    rows = [("buyers / items / purchase lines",
             f"{result.counts['buyers']:,} / {result.counts['items']:,} / {result.counts['purchase_lines']:,}"),
            ("validation buyers", f"{v['buyers']:,}")]
    if v.get("search"):
        search, best = v["search"], v["search"]["best"]
        ran = sum(trial["status"] == "ok" for trial in search["trials"])
        rows.append(("model (search)", f"{describe_trial(best)}: NDCG@{config.k} {best['ndcg']:.4f}; "
                                       f"{ran} of {len(search['trials'])} candidates in {search['seconds']:.0f} s"))
    rows.append((f"validation NDCG@{config.k} (blend)", f"{v[f'blend_{key}']['all']:.4f}"))
    edges = [0, *config.bucket_edges]
    for bucket, weights in enumerate(v["blend_weights"]):
        label = f"{edges[bucket]}+" if bucket == len(edges) - 1 else f"{edges[bucket]}-{edges[bucket + 1] - 1}"
        mix = ", ".join(f"{name} {w:.2f}" for name, w in zip(v["components"], weights))
        rows.append((f"blend, history {label} items", mix))
    chosen = next(point for point in v["niche_curve"] if point["niche"] == v["niche"])
    rows.append(("niche knob (default)", f"{v['niche']:g}: NDCG@{config.k} {chosen[key]:.4f}, "
                                         f"long-tail share {chosen['long_tail_share']:.3f}"))
    rows.append(("time (validation + final fit)",
                 f"{result.seconds['validation']:.1f} s + {result.seconds['final_fit']:.1f} s"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
