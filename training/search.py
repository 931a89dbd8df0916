"""Model search: which collaborative model, interaction weighting and parameters suit this data.

``recommender train`` runs it on the validation split it carves from the training data (the
test days of ``recommender evaluate`` are never seen), and ``recommender tune`` is the same search
with a bigger budget. Every candidate is fitted on the data before the validation days and judged
by NDCG@k of its lists for the validation buyers (their purchases of items new to them, as
``evaluate`` scores), with the long-tail share of those lists and the time it took.

The plan is deterministic; the time budget only decides how far down it gets:

1. **Leading families**: ALS and EASE (the first of :data:`FAMILIES`, the strongest on the data
   sets measured) with their default parameters on the first weighting of :data:`WEIGHTINGS` (the
   recency of each buyer's latest purchase of an item).
2. **Weightings**: the better of them on each other weighting (BM25, binary, log of decayed
   quantities).
3. **Other families**: RP3beta, item k-NN and BPR at their defaults, on the best weighting so far.
4. **Second family**: the second best family on the other weightings.
5. **Refinement**: coordinate moves (:data:`MOVES`: a parameter or the half-life up or down) from
   the best candidate of each of the two best families, in turn; a move that scores better
   becomes the new point, until no move helps or the budget is spent.

A short budget thus spends itself on the strongest families and the weighting first.

**The choice**: the most accurate candidate, unless others are within one standard error of its
NDCG (paired over the same validation buyers, :func:`niche_friendliest_tie`): those the split
cannot tell apart, and among them the one with the largest long-tail share is chosen, so that at
equal accuracy the engine leans to the niche goods it exists to surface. (A chosen candidate that is
not the one last fitted is refitted once at the end.)

Item-item models are scored once per fit for every popularity exponent of :data:`BETAS` (the
exponent is a column scaling, :meth:`~recommender.models.item_item.ItemItemRecommender.with_beta`),
and keep the best. Before each fit the family's :meth:`~recommender.models.base.Recommender.fit_cost`
(corrected by what the family's earlier fits took) is checked against the time left and against
:data:`MEMORY_SHARE` of this machine's memory: what cannot fit is skipped with the reason logged
and kept on the scoreboard. EASE, cubic in the items, is solved on as many of the most-bought
items as the time left allows (its ``max_items``).

The default budget grows with the data (:func:`default_budget_seconds`). The blend of the chosen
model with the content and popularity models, and the niche knob, are then settled by
:func:`training.train.tune_on_validation`.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.features.interactions import InteractionWeighting
from recommender.features.training_data import TrainingData
from recommender.metrics import long_tail_share, ndcg_at_k
from recommender.models import MODEL_CLASSES
from recommender.models.base import Recommender
from recommender.models.ease import SECONDS_PER_CUBED_ITEM
from recommender.models.item_item import ItemItemRecommender
from recommender.ranking import exclude, top_k

log = logging.getLogger(__name__)

FAMILIES = {  # the collaborative families searched, in the order tried, with their starting parameters
    "als": {"factors": 64, "regularization": 0.05, "alpha": 1.0, "iterations": 15},
    "ease": {"l2": 250.0},
    "rp3beta": {"alpha": 1.0, "neighbours": 200},
    "item_knn": {"neighbours": 100, "similarity": "cosine"},
    "bpr": {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
}
WEIGHTINGS = (
    {"scheme": "recency", "half_life_days": 90.0},
    {"scheme": "bm25", "half_life_days": 365.0},
    {"scheme": "binary", "half_life_days": None},
    {"scheme": "log", "half_life_days": 365.0},
)
BETAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # popularity exponents tried on every item-item fit
# coordinate moves of the refinement: (section, parameter, factors or values to try), per family
MOVES = {
    "ease": [("model", "l2", (0.4, 2.5))],
    "rp3beta": [("model", "alpha", (0.7, 1.3)), ("model", "neighbours", (0.5, 2.0))],
    "als": [("model", "factors", (2.0, 0.5)), ("model", "alpha", (4.0, 0.25)),
            ("model", "regularization", (10.0, 0.1))],
    "item_knn": [("model", "neighbours", (0.5, 2.0)), ("set", "similarity", ("bm25",))],
    "bpr": [("model", "factors", (2.0,)), ("model", "learning_rate", (0.4, 2.0))],
}
HALF_LIFE_MOVES = (0.5, 2.0)
LEADING_FAMILIES = 2  # the first families of FAMILIES, tried before the others
TOP_FAMILIES = 2  # families carried into the weighting and refinement rounds
MIN_BUDGET_SECONDS = 20.0
SECONDS_PER_LINE = 6e-6  # default budget per purchase line past the minimum (10M lines: 1 minute)
MAX_BUDGET_SECONDS = 10 * 60.0
MEMORY_SHARE = 0.6  # of this machine's memory, the most one fit may add
EASE_TIME_SHARE = 0.5  # of the time left, the most an EASE solve may take
EASE_MIN_ITEMS = 1_000  # below this many solved items, EASE is skipped instead
SCORING_CELLS = 1 << 25  # dense buyers x items scores at once while judging (128 MB of float32)
SECONDS_PER_SCORED_CELL = 1e-8  # scoring or ranking one buyer x item cell while judging
RANKING_POOL = 100  # items per buyer among which the popularity exponents are ranked (ranked_by_scales)
JUDGING_THREADS = 2


def default_budget_seconds(purchase_lines: int) -> float:
    """The search's time budget for a data set of ``purchase_lines`` lines, when none is given."""
    return float(min(MAX_BUDGET_SECONDS, max(MIN_BUDGET_SECONDS, SECONDS_PER_LINE * purchase_lines)))


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
    def of(cls, family: str, params: dict, weighting: dict) -> "Candidate":
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
    run: ``status`` is "ok", "skipped" or "failed")."""

    family: str
    params: dict
    weighting: dict
    status: str
    ndcg: float | None = None
    long_tail_share: float | None = None
    seconds: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    """The scoreboard, the winner (with its fitted model and the data it was fitted on) and the budget."""

    trials: list[Trial]
    best: Trial  # the chosen candidate (see niche_friendliest_tie)
    model: Recommender
    data: TrainingData
    budget_seconds: float
    seconds: float
    k: int
    buyers: int
    stopped_by: str = "plan"
    most_accurate: Trial | None = None

    def to_dict(self) -> dict:
        """What the manifest and the reports record."""
        return {"metric": f"validation ndcg@{self.k}", "buyers": self.buyers,
                "budget_seconds": round(self.budget_seconds, 1), "seconds": round(self.seconds, 1),
                "stopped_by": self.stopped_by, "best": self.best.to_dict(),
                "most_accurate": (self.most_accurate or self.best).to_dict(),
                "trials": [trial.to_dict() for trial in self.trials]}

    def table(self) -> str:
        """The scoreboard as text, best first; skipped and failed candidates last, with the reason."""
        return scoreboard_table(self.to_dict())


def scoreboard_table(search: dict) -> str:
    """A search record (:meth:`SearchResult.to_dict`, e.g. from a manifest) as an aligned table."""
    rows = sorted(search["trials"], key=lambda t: (t["status"] != "ok", -(t["ndcg"] or 0.0)))
    best = search["best"]
    header = ("", "model", "weighting", search["metric"].replace("validation ", ""), "long tail", "seconds")
    lines = []
    for trial in rows:
        mark = "*" if trial == best else "+" if trial == search.get("most_accurate") else ""
        score = f"{trial['ndcg']:.4f}" if trial["status"] == "ok" else trial["status"]
        tail = f"{trial['long_tail_share']:.3f}" if trial["status"] == "ok" else trial["reason"]
        lines.append((mark, describe_model(trial), describe_weighting(trial["weighting"]), score, tail,
                      f"{trial['seconds']:.1f}"))
    widths = [max(len(str(row[c])) for row in [header, *lines]) for c in range(len(header))]
    text = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *lines]]
    text.append(f"{len(search['trials'])} candidates in {search['seconds']:.0f} s of a "
                f"{search['budget_seconds']:.0f} s budget (stopped by the {search['stopped_by']}); * = chosen (the "
                f"most niche-friendly within one standard error of the most accurate, +)")
    return "\n".join(text)


class _Inputs(NamedTuple):
    """What judging on one weighting reads: the training data, the validation buyers, their relevant
    items and their purchases (CSR, one row per buyer), and each item's training buyers."""

    data: TrainingData
    buyers: np.ndarray
    relevant: sp.csr_matrix
    bought: sp.csr_matrix
    item_sales: np.ndarray


class _Judge:
    """Fits candidates on the data before the validation days and scores their validation lists."""

    def __init__(self, data_for: Callable[[dict], TrainingData], make: Callable[[str, dict], Recommender],
                 relevant_for: Callable[[TrainingData], tuple[np.ndarray, sp.csr_matrix]], k: int):
        self.data_for, self.make, self.relevant_for, self.k = data_for, make, relevant_for, k
        self.cache: dict[tuple, _Inputs] = {}
        self.buyers = 0  # validation buyers judged (the same for every weighting)

    def inputs(self, weighting: tuple) -> _Inputs:
        """The inputs of a weighting (built once)."""
        if weighting not in self.cache:
            self.cache.clear()  # one weighting's matrices at a time: the search visits them in runs
            data = self.data_for(dict(weighting))
            buyers, relevant = self.relevant_for(data)
            purchased = data.purchased
            self.cache[weighting] = _Inputs(data, buyers, relevant, purchased[buyers],
                                            np.asarray(purchased.sum(axis=0)).ravel())
            self.buyers = len(buyers)
        return self.cache[weighting]

    def lists(self, model: Recommender, inputs: _Inputs, scales: list[np.ndarray] | None) -> list[np.ndarray]:
        """Top-k lists of the validation buyers (purchases and unavailable items excluded): one list,
        or one per column scale of ``scales`` (see :func:`ranked_by_scales`). Batches of buyers run
        on two threads (the rankings release the GIL)."""
        data, buyers = inputs.data, inputs.buyers
        available = data.catalog.available.to_numpy(dtype=bool)
        step = max(1, SCORING_CELLS // max(data.n_items, 1))

        def batch(start: int) -> list[np.ndarray]:
            rows = slice(start, start + step)
            scores = exclude(model.score(data.batch(buyers[rows])), inputs.bought[rows], available)
            return [top_k(scores, self.k)[0]] if scales is None else ranked_by_scales(scores, scales, self.k)

        with ThreadPoolExecutor(max_workers=JUDGING_THREADS) as pool:
            parts = list(pool.map(batch, range(0, len(buyers), step)))
        return [np.vstack(lists) for lists in zip(*parts)]

    def judge(self, candidate: Candidate) -> tuple[Trial, Recommender, TrainingData, np.ndarray]:
        """Fit and score a candidate: its scoreboard row (with the best popularity exponent for an
        item-item model), the fitted model, its training data, and its NDCG of each validation buyer."""
        inputs = self.inputs(candidate.weighting)
        data = inputs.data
        start = time.perf_counter()
        model = self.make(candidate.family, candidate.param_dict).fit(data)
        betas, scales = (None,), None
        if isinstance(model, ItemItemRecommender):  # scores / buyers ** beta, relative to the fitted beta
            betas = BETAS
            scales = [model.column_scale(beta) / model.column_scale(float(model.beta)) for beta in betas]
        results = []
        for beta, recommended in zip(betas, self.lists(model, inputs, scales)):
            per_buyer = ndcg_at_k(recommended, inputs.relevant, self.k, average=False)
            results.append((float(np.nanmean(per_buyer)), float(long_tail_share(recommended, inputs.item_sales)),
                            beta, per_buyer))
        ndcg, tail, beta, per_buyer = max(results, key=lambda result: result[0])
        params = candidate.param_dict
        if beta is not None:
            params["beta"] = beta
            model = model.with_beta(beta)
        trial = Trial(candidate.family, params, candidate.weighting_dict, "ok", ndcg, tail,
                      round(time.perf_counter() - start, 2))
        return trial, model, data, per_buyer


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


def _moved(candidate: Candidate, section: str, name: str, change) -> Candidate | None:
    """``candidate`` with one parameter or the half-life moved (None when the move does not apply)."""
    params, weighting = candidate.param_dict, candidate.weighting_dict
    if section == "half_life":
        if weighting.get("half_life_days") is None:
            return None
        weighting["half_life_days"] = float(round(weighting["half_life_days"] * change))
    elif section == "set":
        if params.get(name) == change:
            return None
        params[name] = change
    else:
        value = params.get(name, MODEL_CLASSES[candidate.family]().get_params()[name])
        moved = value * change
        params[name] = max(1, int(round(moved))) if isinstance(value, int) else float(f"{moved:.3g}")
    params.pop("beta", None)  # searched again with every fit
    return Candidate.of(candidate.family, params, weighting)


def _moves(candidate: Candidate, weighting_fixed: bool) -> Iterator[Candidate]:
    """The refinement moves from ``candidate``, in order (the half-life too, unless the weighting
    is fixed)."""
    for section, name, changes in MOVES.get(candidate.family, []):
        for change in changes:
            if (moved := _moved(candidate, section, name, change)) is not None:
                yield moved
    for change in () if weighting_fixed else HALF_LIFE_MOVES:
        if (moved := _moved(candidate, "half_life", "", change)) is not None:
            yield moved


def search_models(data_for: Callable[[dict], TrainingData], make: Callable[[str, dict], Recommender],
                  relevant_for: Callable[[TrainingData], tuple[np.ndarray, sp.csr_matrix]], *,
                  budget_seconds: float, k: int = 10, weighting: dict | None = None,
                  families: tuple[str, ...] | None = None, on_trial: Callable[[Trial], None] | None = None,
                  memory_bytes: float | None = None) -> SearchResult:
    """Run the search (see the module notes).

    ``data_for(weighting)`` builds the training data of the fit part for a weighting (a dict of
    :class:`InteractionWeighting` fields); ``make(family, params)`` an unfitted model;
    ``relevant_for(data)`` the validation buyer codes and their relevant items (CSR, one row per
    buyer). ``weighting`` fixes the weighting (no weighting round); ``families`` restricts the
    families. At least one candidate always runs, whatever the budget.
    """
    families = tuple(families or FAMILIES)
    unknown = [family for family in families if family not in FAMILIES]
    if unknown:
        raise ValueError(f"model search: unknown famil{'ies' if len(unknown) > 1 else 'y'} "
                         f"{', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(FAMILIES)}")
    weightings = [InteractionWeighting(**weighting).to_dict()] if weighting else \
        [InteractionWeighting(**w).to_dict() for w in WEIGHTINGS]
    memory_limit = MEMORY_SHARE * (memory_bytes or machine_memory_bytes())
    judge = _Judge(data_for, make, relevant_for, k)
    start = time.perf_counter()
    trials: list[Trial] = []
    scored: dict[Candidate, float] = {}  # NDCG of every candidate that ran
    per_buyer_ndcg: dict[int, np.ndarray] = {}  # id(trial) -> its NDCG of each validation buyer
    seen: set[Candidate] = set()
    slowdown: dict[str, float] = {}  # measured / estimated seconds, per family
    best: list = []  # [trial, fitted model, its training data] of the best so far
    stopped_by = "plan"

    def left() -> float:
        return budget_seconds - (time.perf_counter() - start)

    first, buyers = judge.inputs(Candidate.of("als", {}, weightings[0]).weighting)[:2]
    shape = (first.n_users, first.n_items, first.user_items.nnz)  # the same for every weighting
    n_bought = int((np.diff(first.user_items.tocsc().indptr) > 0).sum())

    def scoring_seconds(family: str) -> float:
        """Judging lists: dense scores of every validation buyer, ranked once per popularity exponent."""
        rankings = 2 if issubclass(MODEL_CLASSES[family], ItemItemRecommender) else 1
        return SECONDS_PER_SCORED_CELL * len(buyers) * first.n_items * (1 + rankings)

    def record(trial: Trial) -> Trial:
        trials.append(trial)
        level = logging.INFO if trial.status == "ok" else logging.WARNING
        log.log(level, "model search: %s %s: %s", trial.family, trial.params,
                f"NDCG@{k} {trial.ndcg:.4f}, long tail {trial.long_tail_share:.3f}, {trial.seconds:.1f} s"
                if trial.status == "ok" else f"{trial.status} ({trial.reason})")
        if on_trial is not None:
            on_trial(trial)
        return trial

    def skip(candidate: Candidate, reason: str) -> Trial:
        return record(Trial(candidate.family, candidate.param_dict, candidate.weighting_dict, "skipped",
                            reason=reason))

    def run(candidate: Candidate, last_when_unaffordable: bool = True) -> float | None:
        """Judge ``candidate`` unless seen or unaffordable; its NDCG, or None. An unaffordable one
        is kept on the scoreboard with the reason and, when ``last_when_unaffordable``, ends the
        search (so the rest of the plan is not listed candidate by candidate)."""
        nonlocal stopped_by
        if stopped_by == "budget":
            return None
        if candidate in seen:
            return scored.get(candidate)
        seen.add(candidate)
        if candidate.family == "ease":
            affordable = _ease_within(candidate, n_bought, left(), slowdown.get("ease", 1.0))
            if affordable is None:
                skip(candidate, f"not even the {EASE_MIN_ITEMS:,} most-bought items fit the time left")
                stopped_by = "budget" if last_when_unaffordable else stopped_by
                return None
            candidate = affordable
        cost = MODEL_CLASSES[candidate.family].fit_cost(candidate.param_dict, *shape)
        expected = (cost.seconds + scoring_seconds(candidate.family)) * slowdown.get(candidate.family, 1.0)
        if cost.bytes > memory_limit:
            skip(candidate, f"needs about {cost.bytes / 1e9:.1f} GB, over {memory_limit / 1e9:.1f} GB")
            return None
        if best and expected > left():
            skip(candidate, f"about {expected:.0f} s, {max(left(), 0):.0f} s left")
            stopped_by = "budget" if last_when_unaffordable else stopped_by
            return None
        try:
            trial, model, used, per_buyer = judge.judge(candidate)
        except (ValueError, MemoryError, np.linalg.LinAlgError) as exc:
            record(Trial(candidate.family, candidate.param_dict, candidate.weighting_dict, "failed",
                         reason=f"{type(exc).__name__}: {exc}"))
            return None
        slowdown[candidate.family] = max(trial.seconds / max(cost.seconds + scoring_seconds(candidate.family), 1e-3),
                                         0.1)
        seen.add(candidate)
        scored[candidate] = trial.ndcg
        per_buyer_ndcg[id(trial)] = per_buyer
        if not best or trial.ndcg > best[0].ndcg:
            best[:] = [trial, model, used]
        record(trial)
        return trial.ndcg

    def best_of(family: str) -> Candidate | None:
        mine = [(ndcg, candidate) for candidate, ndcg in scored.items() if candidate.family == family]
        return max(mine, key=lambda pair: pair[0])[1] if mine else None

    def ranked() -> list[str]:
        return sorted({candidate.family for candidate in scored}, key=lambda f: -scored[best_of(f)])

    def best_weighting() -> dict:
        return best_of(ranked()[0]).weighting_dict if scored else weightings[0]

    ordered = [family for family in FAMILIES if family in families]
    leading, others = ordered[:LEADING_FAMILIES], ordered[LEADING_FAMILIES:]
    # 1. the leading families at their defaults on the first weighting
    for family in leading:
        run(Candidate.of(family, dict(FAMILIES[family]), weightings[0]), last_when_unaffordable=False)
    # 2. the best of them on the other weightings
    for family in ranked()[:1]:
        for other in weightings[1:]:
            run(Candidate.of(family, best_of(family).param_dict, other), last_when_unaffordable=False)
    # 3. the other families at their defaults, on the best weighting so far
    for family in others:
        run(Candidate.of(family, dict(FAMILIES[family]), best_weighting()), last_when_unaffordable=False)
    # 4. the second best family on the other weightings
    for family in ranked()[1:TOP_FAMILIES]:
        for other in weightings:
            run(Candidate.of(family, best_of(family).param_dict, other))
    # 5. coordinate moves from each top family's best, in turn, while they help
    points = {family: best_of(family) for family in ranked()[:TOP_FAMILIES]}
    exhausted: set[str] = set()
    while len(exhausted) < len(points) and left() > 0:
        for family in [family for family in points if family not in exhausted]:
            for moved in _moves(points[family], weighting_fixed=weighting is not None):
                if left() <= 0:
                    break
                ndcg = run(moved)
                if ndcg is not None and ndcg > scored[points[family]]:
                    points[family] = moved
                    break
            else:
                exhausted.add(family)
    if left() <= 0:
        stopped_by = "budget"
    if not best:
        raise ValueError("model search: no candidate could be fitted:\n"
                         + "\n".join(f"{t.family}: {t.status} ({t.reason})" for t in trials))
    chosen = niche_friendliest_tie([t for t in trials if t.status == "ok"], best[0], per_buyer_ndcg)
    if chosen is best[0]:
        model, used = best[1], best[2]
    else:  # refit the chosen candidate (its popularity exponent included) on its training data
        used = judge.inputs(Candidate.of(chosen.family, chosen.params, chosen.weighting).weighting)[0]
        model = make(chosen.family, chosen.params).fit(used)
    return SearchResult(trials, chosen, model, used, budget_seconds, time.perf_counter() - start, k, judge.buyers,
                        stopped_by, most_accurate=best[0])


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


def _ease_within(candidate: Candidate, bought: int, seconds_left: float, slowdown: float) -> Candidate | None:
    """The EASE candidate solved on as many of the most-bought items as ``EASE_TIME_SHARE`` of the
    time left allows (its ``max_items`` lowered to that, if the items bought are more), or None
    when fewer than ``EASE_MIN_ITEMS`` would be; ``bought`` is the number of items with buyers."""
    params = candidate.param_dict
    limit = int(params.get("max_items", MODEL_CLASSES["ease"]().max_items))
    affordable = int((EASE_TIME_SHARE * max(seconds_left, 0.0) / (SECONDS_PER_CUBED_ITEM * slowdown)) ** (1 / 3))
    if min(bought, limit, affordable) < min(EASE_MIN_ITEMS, bought):
        return None
    if affordable < min(bought, limit):
        params["max_items"] = affordable
    return Candidate.of("ease", params, candidate.weighting_dict)
