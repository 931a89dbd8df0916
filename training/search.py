"""Model search: which model family, interaction weighting and parameters suit this data.

``recommender train`` runs it on the validation windows it carves from the training data (the
test days of ``recommender evaluate`` are never seen), and ``recommender tune`` is the same search
with a bigger budget. Every candidate is fitted on the data before each validation window and
judged by NDCG@k of its lists for the windows' validation buyers, pooled (their purchases of
items new to them, as ``evaluate`` scores), with the long-tail share of those lists and the time
it took.

The families and what the search knows of them (starting points, moves, popularity exponents,
cost model, how EASE is sized) come from the registry, :data:`recommender.models.FAMILIES`.

**A plan, not a clock.** The search is deterministic: the same data, configuration and seed give
the same candidates, scores and choice on any machine and under any load. Its budget is a number
of *planned* seconds: each candidate's cost is estimated before it runs from the data's size and
its parameters (the family's :meth:`~recommender.models.base.Recommender.fit_cost` plus judging
its lists, :func:`scoring_seconds`, in every window), and the search stops when the next
candidate's estimate no longer fits in what the plan has left. What each candidate really took
is recorded, never read.

1. **Floors**: the starting points of the families that play the ``floor`` part (popularity per
   city tier, by distinct buyers, trending over the last weeks): the bar the served model must
   clear, and candidates like any other.
2. **Leading families** (ALS and EASE) at their defaults on the first weighting of
   :data:`WEIGHTINGS` (the recency of each buyer's latest purchase of an item); the floors'
   starting points that have a weighting of their own run after them.
3. **Weightings**: the best family so far on each other weighting (BM25, binary, log of decayed
   quantities).
4. **Other families** (RP3beta, item k-NN, BPR) at their defaults, on the best weighting so far.
5. **Second family**: the second best family on the other weightings.
6. **Refinement**: coordinate moves (the family's moves: a parameter up or down; the half-life
   up or down) from the best candidate of each of the two best families, in turn; a move that
   scores better becomes the new point, until no move helps or the plan is spent.

**The choice**: the most accurate candidate, unless others are within one standard error of its
NDCG (paired over the same validation buyers, :func:`niche_friendliest_tie`): those the split
cannot tell apart, and among them the one with the largest long-tail share is chosen, so that at
equal accuracy the engine leans to the niche goods it exists to surface. (A chosen candidate that is
not the one last fitted is refitted once at the end.) The best floor candidate's NDCG is kept as
the floor the default niche knob may not push the blend below (:func:`training.train.choose_niche`).

Families with popularity exponents (the item-item models) are scored once per fit for each of them
(a column scaling, without refitting) and keep the best. A candidate whose estimated memory is over
:data:`MEMORY_SHARE` of this machine's memory is skipped with the reason logged and kept on the
scoreboard. EASE, cubic in the items, is solved on as many of the most-bought items as the plan
has left room for (its family's ``fit_to_plan``).

The default budget grows with the data and the number of windows
(:func:`default_budget_seconds`). The blend of the chosen model with the content and popularity
models, and the niche knob, are then settled by
:func:`training.train.tune_on_validation`.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.features.interactions import InteractionWeighting
from recommender.features.training_data import TrainingData
from recommender.metrics import long_tail_share, ndcg_at_k
from recommender.models import FAMILIES, Family
from recommender.models.base import Recommender
from recommender.models.item_item import ItemItemRecommender
from recommender.ranking import exclude, top_k

log = logging.getLogger(__name__)

SEARCHED = tuple(name for name, family in FAMILIES.items() if family.plays("searched"))  # in the order tried
WEIGHTINGS = (
    {"scheme": "recency", "half_life_days": 90.0},
    {"scheme": "bm25", "half_life_days": 365.0},
    {"scheme": "binary", "half_life_days": None},
    {"scheme": "log", "half_life_days": 365.0},
)
HALF_LIFE_MOVES = (0.5, 2.0)
TOP_FAMILIES = 2  # families carried into the weighting and refinement rounds
MIN_BUDGET_SECONDS = 20.0
SECONDS_PER_LINE = 6e-6  # default budget per purchase line past the minimum (10M lines: 1 minute)
MAX_BUDGET_SECONDS = 10 * 60.0
MEMORY_SHARE = 0.6  # of this machine's memory, the most one fit may add
SCORING_CELLS = 1 << 25  # dense buyers x items scores at once while judging (128 MB of float32)
SECONDS_PER_SCORED_CELL = 1e-8  # planned: scoring or ranking one buyer x item cell while judging
SECONDS_PER_INPUT_PAIR = 1e-6  # planned: building one weighting's training data, per buyer x item pair
RANKING_POOL = 100  # items per buyer among which the popularity exponents are ranked (ranked_by_scales)
JUDGING_THREADS = 2


def default_budget_seconds(purchase_lines: int, windows: int = 1) -> float:
    """The search's planned seconds for a data set of ``purchase_lines`` lines judged on ``windows``
    validation windows (every candidate is fitted once per window), when none is given."""
    return windows * float(min(MAX_BUDGET_SECONDS, max(MIN_BUDGET_SECONDS, SECONDS_PER_LINE * purchase_lines)))


def machine_memory_bytes() -> float:
    """Physical memory of this machine (bytes)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small machine
        return 8e9


@dataclass(frozen=True)
class Candidate:
    """One point of the search: a model family, its parameters and the interaction weighting."""

    family: str
    params: tuple  # sorted (name, value) pairs, so candidates compare and hash
    weighting: tuple

    @classmethod
    def of(cls, family: str, params: dict, weighting: dict) -> Candidate:
        return cls(family, tuple(sorted(params.items())), tuple(sorted(weighting.items())))

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def weighting_dict(self) -> dict:
        return dict(self.weighting)


def describe_model(trial: dict) -> str:
    """``family(name=value, ...)`` of a scoreboard row."""
    params = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in sorted(trial["params"].items()))
    return f"{trial['family']}({params})"


def describe_weighting(weighting: dict) -> str:
    """``scheme`` and its half-life in days (``recency 90d``)."""
    half_life = weighting.get("half_life_days")
    return weighting["scheme"] + (f" {half_life:g}d" if half_life else "")


def describe_trial(trial: dict) -> str:
    """``family(params) on weighting`` of a scoreboard row."""
    return f"{describe_model(trial)} on {describe_weighting(trial['weighting'])}"


@dataclass
class Trial:
    """A scoreboard row: a candidate and what it scored on the validation split (or why it did not
    run: ``status`` is "ok", "skipped" or "failed"), its planned seconds and those it took."""

    family: str
    params: dict
    weighting: dict
    status: str
    ndcg: float | None = None
    long_tail_share: float | None = None
    planned_seconds: float = 0.0
    seconds: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    """The scoreboard, the winner (with its model fitted before each validation window and the
    data it was fitted on), the best floor candidate and the plan."""

    trials: list[Trial]
    best: Trial  # the chosen candidate (see niche_friendliest_tie)
    fitted: list[tuple[Recommender, TrainingData]]  # per validation window, the latest first
    budget_seconds: float
    planned_seconds: float
    seconds: float
    k: int
    buyers: list[int]  # validation buyers per window
    stopped_by: str = "plan"
    most_accurate: Trial | None = None
    floor: Trial | None = None  # the most accurate candidate of a family playing "floor"

    def to_dict(self) -> dict:
        """What the manifest and the reports record."""
        return {"metric": f"validation ndcg@{self.k}", "buyers": sum(self.buyers), "window_buyers": self.buyers,
                "budget_seconds": round(self.budget_seconds, 1), "planned_seconds": round(self.planned_seconds, 1),
                "seconds": round(self.seconds, 1), "stopped_by": self.stopped_by, "best": self.best.to_dict(),
                "most_accurate": (self.most_accurate or self.best).to_dict(),
                "floor": self.floor.to_dict() if self.floor is not None else None,
                "trials": [trial.to_dict() for trial in self.trials]}

    def table(self) -> str:
        """The scoreboard as text, best first; skipped and failed candidates last, with the reason."""
        return scoreboard_table(self.to_dict())


def scoreboard_table(search: dict) -> str:
    """A search record (:meth:`SearchResult.to_dict`, e.g. from a manifest) as an aligned table."""
    rows = sorted(search["trials"], key=lambda t: (t["status"] != "ok", -(t["ndcg"] or 0.0)))
    best = search["best"]
    header = ("", "model", "weighting", search["metric"].replace("validation ", ""), "long tail", "planned s",
              "seconds")
    lines = []
    for trial in rows:
        mark = ("*" if trial == best else "+" if trial == search.get("most_accurate")
                else "f" if trial == search.get("floor") else "")
        score = f"{trial['ndcg']:.4f}" if trial["status"] == "ok" else trial["status"]
        tail = f"{trial['long_tail_share']:.3f}" if trial["status"] == "ok" else trial["reason"]
        lines.append((mark, describe_model(trial), describe_weighting(trial["weighting"]), score, tail,
                      f"{trial.get('planned_seconds', 0.0):.1f}", f"{trial['seconds']:.1f}"))
    widths = [max(len(str(row[c])) for row in [header, *lines]) for c in range(len(header))]
    text = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *lines]]
    text.append(f"{len(search['trials'])} candidates, {search.get('planned_seconds', 0.0):.0f} planned s of a "
                f"{search['budget_seconds']:.0f} s plan (stopped by the {search['stopped_by']}; took "
                f"{search['seconds']:.0f} s); * = chosen (the most niche-friendly within one standard error of the "
                f"most accurate, +); f = the best floor")
    return "\n".join(text)


class Window(NamedTuple):
    """One validation window: ``data_for(weighting)`` builds the training data of the data before
    it for a weighting (a dict of :class:`InteractionWeighting` fields), ``relevant_for(data)`` its
    validation buyer codes and their relevant items (CSR, one row per buyer)."""

    data_for: Callable[[dict], TrainingData]
    relevant_for: Callable[[TrainingData], tuple[np.ndarray, sp.csr_matrix]]


class _Inputs(NamedTuple):
    """What judging one window on one weighting reads: the training data, the validation buyers,
    their relevant items and their purchases (CSR, one row per buyer), and each item's training
    buyers."""

    data: TrainingData
    buyers: np.ndarray
    relevant: sp.csr_matrix
    bought: sp.csr_matrix
    item_sales: np.ndarray


class _Judge:
    """Fits candidates on the data before each validation window and scores their lists there."""

    def __init__(self, windows: Sequence[Window], make: Callable[[str, dict], Recommender], k: int):
        self.windows, self.make, self.k = list(windows), make, k
        self.cache: dict[tuple, list[_Inputs]] = {}
        self.buyers: list[int] = []  # validation buyers judged per window (the same for every weighting)

    def has(self, weighting: tuple) -> bool:
        """Whether the inputs of ``weighting`` are built."""
        return weighting in self.cache

    def inputs(self, weighting: tuple) -> list[_Inputs]:
        """The inputs of a weighting in each window (built once)."""
        if weighting not in self.cache:
            self.cache.clear()  # one weighting's matrices at a time: the search visits them in runs
            built = []
            for window in self.windows:
                data = window.data_for(dict(weighting))
                buyers, relevant = window.relevant_for(data)
                purchased = data.purchased
                built.append(_Inputs(data, buyers, relevant, purchased[buyers],
                                     np.asarray(purchased.sum(axis=0)).ravel()))
            self.cache[weighting] = built
            self.buyers = [len(inputs.buyers) for inputs in built]
        return self.cache[weighting]

    def lists(self, model: Recommender, inputs: _Inputs, scales: list[np.ndarray] | None) -> list[np.ndarray]:
        """Top-k lists of the validation buyers (purchases and unavailable items excluded): one list,
        or one per column scale of ``scales`` (see :func:`ranked_by_scales`). Batches of buyers run
        on two threads (the rankings release the GIL); the lists do not depend on the threads."""
        data, buyers = inputs.data, inputs.buyers
        available = data.catalog.available.to_numpy(dtype=bool)
        step = max(1, SCORING_CELLS // max(data.n_items, 1))

        def batch(start: int) -> list[np.ndarray]:
            rows = slice(start, start + step)
            scores = exclude(model.score(data.batch(buyers[rows])), inputs.bought[rows], available)
            return [top_k(scores, self.k)[0]] if scales is None else ranked_by_scales(scores, scales, self.k)

        with ThreadPoolExecutor(max_workers=JUDGING_THREADS) as pool:
            parts = list(pool.map(batch, range(0, len(buyers), step)))
        return [np.vstack(lists) for lists in zip(*parts)] if parts else \
            [np.empty((0, self.k), dtype=np.int64)] * (1 if scales is None else len(scales))

    def fit(self, candidate: Candidate) -> list[tuple[Recommender, TrainingData]]:
        """``candidate`` fitted on the data before each window."""
        return [(self.make(candidate.family, candidate.param_dict).fit(inputs.data), inputs.data)
                for inputs in self.inputs(candidate.weighting)]

    def judge(self, candidate: Candidate, planned: float
              ) -> tuple[Trial, list[tuple[Recommender, TrainingData]], np.ndarray]:
        """Fit and score a candidate in every window: its scoreboard row (with the best popularity
        exponent for a family that has them), its model fitted before each window with the data it
        was fitted on, and its NDCG of each validation buyer of every window (one array, the
        windows' buyers in turn: the windows are pooled buyer by buyer)."""
        start = time.perf_counter()
        exponents = FAMILIES[candidate.family].exponents
        betas: tuple[float | None, ...] = exponents or (None,)
        per_buyer: list[list[np.ndarray]] = [[] for _ in betas]  # per exponent, per window
        tails: list[list[float]] = [[] for _ in betas]
        fitted = self.fit(candidate)
        for inputs, (model, _) in zip(self.inputs(candidate.weighting), fitted):
            scales = None
            if exponents:
                scaled = _with_exponents(model)
                scales = [scaled.column_scale(beta) / scaled.column_scale(float(scaled.beta)) for beta in exponents]
            for index, recommended in enumerate(self.lists(model, inputs, scales)):
                per_buyer[index].append(ndcg_at_k(recommended, inputs.relevant, self.k, average=False))
                tails[index].append(float(long_tail_share(recommended, inputs.item_sales)) if len(recommended) else 0.0)
        weights = np.asarray(self.buyers, dtype=float)
        results = [(float(np.nanmean(np.concatenate(ndcgs))), float(np.average(tail, weights=weights)), beta,
                    np.concatenate(ndcgs)) for beta, ndcgs, tail in zip(betas, per_buyer, tails)]
        ndcg, tail, beta, pooled = max(results, key=lambda result: result[0])
        params = candidate.param_dict
        if beta is not None:
            params["beta"] = beta
            fitted = [(_with_exponents(model).with_beta(beta), data) for model, data in fitted]
        trial = Trial(candidate.family, params, candidate.weighting_dict, "ok", ndcg, tail, planned,
                      round(time.perf_counter() - start, 2))
        return trial, fitted, pooled


def ranked_by_scales(scores: np.ndarray, scales: list[np.ndarray], k: int, pool: int = RANKING_POOL
                     ) -> list[np.ndarray]:
    """The top-k item codes of ``scores * scale`` for each column scale of ``scales`` (ordered, e.g.
    by popularity exponent), ranked within each buyer's pool: the union of the ``pool`` best items
    under the first and under the last scale. Exact for those two; for the scales between, an item
    would have to rank below ``pool`` at both ends to be missed (on the UCI data and the 2M-line demo
    the NDCG@10 of all six exponents equals the full ranking's to five decimals), at a third of the
    cost of ranking every item once per scale."""
    width = scores.shape[1]
    if width <= 2 * pool:
        return [top_k(scores * scale, k)[0] for scale in scales]
    ends = [np.argpartition(-(scores * scale), pool - 1, axis=1)[:, :pool] for scale in (scales[0], scales[-1])]
    candidates = np.sort(np.hstack(ends), axis=1)
    repeated = np.zeros(candidates.shape, dtype=bool)
    repeated[:, 1:] = candidates[:, 1:] == candidates[:, :-1]
    values = np.take_along_axis(scores, candidates, axis=1)
    out = []
    for scale in scales:
        ranked = np.where(repeated, -np.inf, values * scale[candidates])
        positions, _ = top_k(ranked, k)
        out.append(np.where(positions >= 0, np.take_along_axis(candidates, np.maximum(positions, 0), axis=1), -1))
    return out


def scoring_seconds(family: Family, n_items: int, buyers: int) -> float:
    """The plan's estimate of judging a fitted candidate: scoring and ranking the lists of ``buyers``
    validation buyers over ``n_items`` items (once more per popularity exponent end)."""
    rankings = 2 if family.exponents else 1
    return SECONDS_PER_SCORED_CELL * buyers * n_items * (1 + rankings)


def _with_exponents(model: Recommender) -> ItemItemRecommender:
    """``model`` as what every family with popularity exponents fits: an item-item model."""
    if not isinstance(model, ItemItemRecommender):
        raise TypeError(f"{type(model).__name__} has no popularity exponent")
    return model


def _ndcg(trial: Trial) -> float:
    """The NDCG of a trial that ran (status "ok")."""
    if trial.ndcg is None:
        raise ValueError(f"{trial.family}: {trial.status}, no NDCG")
    return trial.ndcg


def _moves(candidate: Candidate, weighting_fixed: bool) -> Iterator[Candidate]:
    """The refinement moves from ``candidate``, in order: its family's, then the half-life (unless
    the weighting is fixed). The popularity exponent is searched again with every fit."""
    family = FAMILIES[candidate.family]
    params = candidate.param_dict
    params.pop("beta", None)
    for move in family.moves:
        for moved in move.applied(params, family.default(move.parameter)):
            yield Candidate.of(candidate.family, moved, candidate.weighting_dict)
    half_life = candidate.weighting_dict.get("half_life_days")
    if weighting_fixed or half_life is None:
        return
    for change in HALF_LIFE_MOVES:
        yield Candidate.of(candidate.family, params,
                           {**candidate.weighting_dict, "half_life_days": float(round(half_life * change))})


def search_models(windows: Sequence[Window], make: Callable[[str, dict], Recommender], *,
                  budget_seconds: float, k: int = 10, weighting: dict | None = None,
                  families: tuple[str, ...] | None = None, on_trial: Callable[[Trial], None] | None = None,
                  memory_bytes: float | None = None) -> SearchResult:
    """Run the search (see the module notes).

    ``windows`` are the validation windows (:class:`Window`, the latest first): every candidate is
    fitted on the data before each and judged on the buyers of all of them, pooled.
    ``make(family, params)`` builds an unfitted model. ``budget_seconds`` is the plan's size in
    estimated seconds; ``weighting`` fixes the
    weighting (no weighting round); ``families`` restricts the searched families. At least one
    candidate always runs, whatever the budget.
    """
    families = tuple(families or SEARCHED)
    unknown = [name for name in families if name not in SEARCHED]
    if unknown:
        raise ValueError(f"model search: unknown famil{'ies' if len(unknown) > 1 else 'y'} "
                         f"{', '.join(map(repr, unknown))}; known: {', '.join(SEARCHED)}")
    weightings = [InteractionWeighting(**weighting).to_dict()] if weighting else \
        [InteractionWeighting(**w).to_dict() for w in WEIGHTINGS]
    memory_limit = MEMORY_SHARE * (memory_bytes or machine_memory_bytes())
    if not windows:
        raise ValueError("model search: no validation window")
    judge = _Judge(windows, make, k)
    start = time.perf_counter()
    trials: list[Trial] = []
    scored: dict[Candidate, float] = {}  # NDCG of every candidate that ran
    per_buyer_ndcg: dict[int, np.ndarray] = {}  # id(trial) -> its NDCG of each validation buyer
    seen: set[Candidate] = set()
    best: list = []  # [trial, its fitted models and their training data] of the best so far
    spent, stopped_by = 0.0, "plan"  # planned seconds of the candidates run; what ended the search

    def left() -> float:
        return budget_seconds - spent

    first = judge.inputs(Candidate.of(families[0], {}, weightings[0]).weighting)
    # per window, the same for every weighting
    shapes = [(inputs.data.n_users, inputs.data.n_items, inputs.data.user_items.nnz) for inputs in first]
    n_bought = int((first[0].item_sales > 0).sum())

    def judging_seconds(family: Family) -> float:
        return sum(scoring_seconds(family, shape[1], buyers) for shape, buyers in zip(shapes, judge.buyers))

    def record(trial: Trial) -> Trial:
        trials.append(trial)
        level = logging.INFO if trial.status == "ok" else logging.WARNING
        log.log(level, "model search: %s %s: %s", trial.family, trial.params,
                f"NDCG@{k} {trial.ndcg:.4f}, long tail {trial.long_tail_share:.3f}, {trial.seconds:.1f} s"
                if trial.status == "ok" else f"{trial.status} ({trial.reason})")
        if on_trial is not None:
            on_trial(trial)
        return trial

    def skip(candidate: Candidate, reason: str, planned: float = 0.0) -> None:
        record(Trial(candidate.family, candidate.param_dict, candidate.weighting_dict, "skipped",
                     planned_seconds=planned, reason=reason))

    def run(candidate: Candidate, last_when_unaffordable: bool = True) -> float | None:
        """Judge ``candidate`` unless seen or over the plan; its NDCG, or None. A candidate over
        the plan is kept on the scoreboard with the reason and, when ``last_when_unaffordable``,
        ends the search (so the rest of the plan is not listed candidate by candidate)."""
        nonlocal spent, stopped_by
        if stopped_by == "budget":
            return None
        if candidate in seen:
            return scored.get(candidate)
        seen.add(candidate)
        family = FAMILIES[candidate.family]
        if family.fit_to_plan is not None:
            sized = family.fit_to_plan(candidate.param_dict, shapes, n_bought, left() - judging_seconds(family))
            if sized is None:
                skip(candidate, "too large for the plan left even at its smallest size")
                stopped_by = "budget" if last_when_unaffordable else stopped_by
                return None
            candidate = Candidate.of(candidate.family, sized, candidate.weighting_dict)
        costs = [family.fit_cost(candidate.param_dict, *shape) for shape in shapes]
        planned = sum(cost.seconds for cost in costs) + judging_seconds(family)
        if not judge.has(candidate.weighting):
            planned += SECONDS_PER_INPUT_PAIR * sum(shape[2] for shape in shapes)
        needed = sum(cost.bytes for cost in costs)  # the windows' models are held together
        if needed > memory_limit:
            skip(candidate, f"needs about {needed / 1e9:.1f} GB, over {memory_limit / 1e9:.1f} GB", planned)
            return None
        if best and planned > left():
            skip(candidate, f"planned {planned:.2f} s, {max(left(), 0):.2f} s of the plan left", planned)
            stopped_by = "budget" if last_when_unaffordable else stopped_by
            return None
        spent += planned
        try:
            trial, fitted, per_buyer = judge.judge(candidate, planned)
        except (ValueError, MemoryError, np.linalg.LinAlgError) as exc:
            record(Trial(candidate.family, candidate.param_dict, candidate.weighting_dict, "failed",
                         planned_seconds=planned, reason=f"{type(exc).__name__}: {exc}"))
            return None
        seen.add(candidate)
        scored[candidate] = _ndcg(trial)
        per_buyer_ndcg[id(trial)] = per_buyer
        if not best or trial.ndcg > best[0].ndcg:
            best[:] = [trial, fitted]
        record(trial)
        return trial.ndcg

    def start_of(name: str, index: int = 0, weighting_now: dict | None = None) -> Candidate:
        """Start ``index`` of family ``name``: on its own weighting, unless it has none or the
        weighting is fixed, then on ``weighting_now`` (default: the first)."""
        start_point = FAMILIES[name].starts[index]
        on = start_point.weighting if start_point.weighting is not None and weighting is None else \
            (weighting_now or weightings[0])
        return Candidate.of(name, dict(start_point.params), InteractionWeighting(**on).to_dict())

    def best_of(name: str) -> Candidate:
        """The best candidate of family ``name`` (one that was scored)."""
        mine = [(ndcg, candidate) for candidate, ndcg in scored.items() if candidate.family == name]
        return max(mine, key=lambda pair: pair[0])[1]

    def ranked() -> list[str]:
        return sorted({candidate.family for candidate in scored}, key=lambda name: (-scored[best_of(name)], name))

    def best_weighting() -> dict:
        return best_of(ranked()[0]).weighting_dict if scored else weightings[0]

    floors = [name for name in families if FAMILIES[name].plays("floor")]
    leading = [name for name in families if FAMILIES[name].leading and name not in floors]
    others = [name for name in families if name not in leading and name not in floors]
    floor_starts = [start_of(name, index) for name in floors for index in range(len(FAMILIES[name].starts))]
    # 1. the floors' starting points on the first weighting, 2. the leading families' defaults on it,
    # then the floors' starting points with a weighting of their own (one weighting at a time)
    for candidate in [c for c in floor_starts if c.weighting_dict == weightings[0]]:
        run(candidate, last_when_unaffordable=False)
    for name in leading:
        run(start_of(name), last_when_unaffordable=False)
    for candidate in [c for c in floor_starts if c.weighting_dict != weightings[0]]:
        run(candidate, last_when_unaffordable=False)
    # 3. the best family so far on the other weightings
    for name in ranked()[:1]:
        for other in weightings[1:]:
            run(Candidate.of(name, best_of(name).param_dict, other), last_when_unaffordable=False)
    # 4. the other families at their defaults, on the best weighting so far
    for name in others:
        run(start_of(name, weighting_now=best_weighting()), last_when_unaffordable=False)
    # 5. the second best family on the other weightings
    for name in ranked()[1:TOP_FAMILIES]:
        for other in weightings:
            run(Candidate.of(name, best_of(name).param_dict, other))
    # 6. coordinate moves from each top family's best, in turn, while they help
    points = {name: best_of(name) for name in ranked()[:TOP_FAMILIES]}
    exhausted: set[str] = set()
    while len(exhausted) < len(points) and stopped_by != "budget":
        for name in [name for name in points if name not in exhausted]:
            for moved in _moves(points[name], weighting_fixed=weighting is not None):
                ndcg = run(moved)
                if stopped_by == "budget":
                    break
                if ndcg is not None and ndcg > scored[points[name]]:
                    points[name] = moved
                    break
            else:
                exhausted.add(name)
    if not best:
        raise ValueError("model search: no candidate could be fitted:\n"
                         + "\n".join(f"{t.family}: {t.status} ({t.reason})" for t in trials))
    ran = [trial for trial in trials if trial.status == "ok"]
    chosen = niche_friendliest_tie(ran, best[0], per_buyer_ndcg)
    floor = max((trial for trial in ran if FAMILIES[trial.family].plays("floor")), key=_ndcg, default=None)
    # the chosen candidate, unless the last best, is refitted (its popularity exponent included)
    fitted = best[1] if chosen is best[0] else judge.fit(Candidate.of(chosen.family, chosen.params, chosen.weighting))
    return SearchResult(trials, chosen, fitted, budget_seconds, spent, time.perf_counter() - start, k,
                        judge.buyers, stopped_by, most_accurate=best[0], floor=floor)


def niche_friendliest_tie(trials: list[Trial], most_accurate: Trial, per_buyer: dict[int, np.ndarray]) -> Trial:
    """The candidate with the largest long-tail share among those whose NDCG is within one standard
    error of the most accurate one's (the standard error of the mean per-buyer difference, paired
    on the same validation buyers): differences that small are noise on this split, and among
    candidates the split cannot tell apart, the engine takes the one that shows more niche goods."""
    best = per_buyer[id(most_accurate)]
    tied = []
    for trial in trials:
        difference = best - per_buyer[id(trial)]
        difference = difference[~np.isnan(difference)]
        error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else 0.0
        if difference.mean() <= error:
            tied.append(trial)
    return max(tied, key=lambda trial: (trial.long_tail_share, trial.ndcg))
