"""Niche-aware re-ranking: surface long-tail and promoted goods, as much as each buyer wants them.

Ranking by predicted relevance buries niche regional goods under the popular ones. This module
re-ranks each buyer's candidate list (e.g. a model's top 50) greedily, in the spirit of
personalised xQuAD (Abdollahpouri, Burke & Mobasher 2019, "Managing popularity bias in recommender
systems with personalized re-ranking") and of calibrated recommendations (Steck 2018).

Every item has a **niche membership** ``m`` in {0, 0.5, 1}: half for being in the long tail (outside
the most popular ``tail_share`` = 20% of the catalog by training purchases), half for being
**promoted** (from a priority region, tag ``priority_region``, or a small merchant, one whose
training sales are below the ``small_merchant_quantile`` of merchants). A long-tail item of a
priority county counts fully, a popular one of a priority county or an unpromoted long-tail item
half, a popular item of a big merchant not at all.

A buyer's niche propensity ``p`` is the membership-weighted share of their past purchases
(:func:`niche_propensity`); buyers without history get the population mean. At each of the ``k``
positions the next item is the unselected candidate maximising the **re-ranked score**::

    (1 - niche) * relevance + niche * p * m(item) * max(0, 1 - niche(S) / COVERAGE_SLOTS)

with ``relevance`` the model score min-max normalised over the buyer's candidates and
``niche(S)`` the summed membership of the items selected so far: xQuAD's "not yet covered" term
for the niche aspect, so the bonus fades as niche goods fill the first :data:`COVERAGE_SLOTS`
slots' worth. Only the niche aspect earns a bonus (xQuAD's mainstream aspect would pull lists back
to the buyer's own mix, so that the knob could never raise niche exposure above it): the knob only
ever moves lists towards niche goods, and by how much is personal: a buyer who never buys niche
goods (``p = 0``) keeps the relevance order, one who mostly does sees niche goods climb. At
``niche = 0`` the order is the relevance order, exactly. Ties go to the more relevant candidate.

The re-ranked score is what a re-ranked list returns as each item's score, in [0, 1], and it
never rises down the list: the coverage term only shrinks as items are picked (its denominator is
fixed, not the list's length so far), so each pick's score is at most the previous one's. Each
pick depends only on the picks before it, so lists are prefix-consistent: the top 5 is the first
5 of the top 10.

``niche`` is the one knob, in [0, 1]. Batches are vectorised: the greedy loop runs over the ``k``
positions, never over buyers. Batches of at most :data:`SMALL_BATCH` rows (served requests) run
the same greedy per row in plain Python instead, with exactly the same picks and scores (tested,
as is the vectorised loop against the definition): numpy's fixed cost per call made a one-row
batch cost several hundred microseconds.
"""
from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.columns import TEXT
from recommender.metrics import head_items

PRIORITY_TAG = "priority_region"
SMALL_BATCH = 4  # up to this many rows, the greedy loop runs per row in plain Python (_merge_by_membership)
COVERAGE_SLOTS = 10  # the niche bonus is gone once the list holds this much niche membership
UNKNOWN_MERCHANT = "unknown"


def check_niche(niche) -> float:
    """``niche`` as a float, or a ``ValueError`` saying why it is not a number in [0, 1]."""
    if isinstance(niche, bool) or not isinstance(niche, numbers.Real) or not 0.0 <= float(niche) <= 1.0:
        raise ValueError(f"niche must be a number in [0, 1] (0 = pure relevance order, 1 = strongest "
                         f"niche re-ranking), got {niche!r}")
    return float(niche)


def _check_share(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


# --- item groups ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemGroups:
    """Boolean flags per item code (catalog row)."""

    tail: np.ndarray  # outside the most popular tail_share of items
    priority_region: np.ndarray  # tagged priority_region
    small_merchant: np.ndarray  # sold by a merchant below the sales quantile

    @property
    def promoted(self) -> np.ndarray:
        return self.priority_region | self.small_merchant

    @property
    def niche(self) -> np.ndarray:
        """Niche membership per item: half for the long tail, half for being promoted."""
        return 0.5 * self.tail + 0.5 * self.promoted


def item_groups(popularity, catalog: pd.DataFrame, tail_share: float = 0.2,
                small_merchant_quantile: float = 0.5) -> ItemGroups:
    """Long-tail, priority-region and small-merchant flags for every catalog row.

    ``popularity`` is the training purchases per item code (``len(catalog)`` values). A merchant's
    sales are the summed popularity of its items; merchants strictly below the
    ``small_merchant_quantile`` quantile of those sales (over named merchants, not ``unknown``)
    are small.
    """
    pop = np.asarray(popularity, dtype=np.float64)
    if pop.shape != (len(catalog),):
        raise ValueError(f"popularity has shape {pop.shape} but the catalog has {len(catalog)} items")
    tail_share = _check_share(tail_share, "tail_share")
    small_merchant_quantile = _check_share(small_merchant_quantile, "small_merchant_quantile")
    tail = ~head_items(pop, tail_share)

    if "tags" in catalog:
        priority = catalog.tags.fillna("").astype(TEXT).str.contains(
            rf"(?:^|;)\s*{PRIORITY_TAG}\s*(?:;|$)", case=False, regex=True).to_numpy(dtype=bool)
    else:
        priority = np.zeros(len(catalog), dtype=bool)

    small = np.zeros(len(catalog), dtype=bool)
    if "merchant_id" in catalog and len(catalog):
        merchants = pd.Categorical(catalog.merchant_id)
        codes = merchants.codes.astype(np.int64)
        named = np.asarray(merchants.categories.astype(TEXT) != UNKNOWN_MERCHANT)
        sales = np.bincount(codes[codes >= 0], weights=pop[codes >= 0], minlength=len(merchants.categories))
        if named.any():
            threshold = np.quantile(sales[named], small_merchant_quantile)
            small_merchants = named & (sales < threshold)
            small = (codes >= 0) & small_merchants[np.maximum(codes, 0)]
    return ItemGroups(tail=tail, priority_region=priority, small_merchant=small)


def niche_propensity(history, niche_items, prior_strength: float = 0.0, prior: float | None = None) -> np.ndarray:
    """Each buyer's share of past purchases that were niche items, from a buyers x items matrix of
    purchase weights (counts, quantities or decayed confidence, e.g. ``TrainingData.confidence``).

    With ``prior_strength = a > 0`` the share is shrunk towards ``prior`` (default: the niche share
    of all purchases) as ``(niche + a * prior) / (total + a)``, which steadies buyers with one or
    two purchases. Buyers without purchases get ``nan`` (the re-ranker then uses the population
    mean) unless a prior is in force.
    """
    matrix = sp.csr_matrix(history, dtype=np.float64)
    flags = np.asarray(niche_items, dtype=np.float64)
    if matrix.shape[1] != len(flags):
        raise ValueError(f"history has {matrix.shape[1]} item columns but niche_items has {len(flags)} items")
    total = np.asarray(matrix.sum(axis=1)).ravel()
    niche = matrix @ flags
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be >= 0, got {prior_strength!r}")
    if prior_strength > 0:
        if prior is None:
            prior = float(niche.sum() / total.sum()) if total.sum() > 0 else float(flags.mean())
        return (niche + prior_strength * prior) / (total + prior_strength)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, niche / np.where(total > 0, total, 1.0), np.nan)
    return np.clip(share, 0.0, 1.0)  # the two sums add in different orders: an all-niche buyer may get 1 + 1 ulp


# --- the greedy re-ranker -----------------------------------------------------------------------------

def _normalised_relevance(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Min-max over each buyer's valid candidates; 1 when they all score the same."""
    low = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    high = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    spread = high - low
    ok = np.isfinite(spread) & (spread > 0)
    with np.errstate(invalid="ignore"):
        rel = np.where(ok, (scores - low) / np.where(ok, spread, 1.0), 1.0)
    return np.where(valid, rel, 0.0)


def niche_rerank(candidates, scores, propensity, niche_items, niche: float, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each row of ``candidates`` (item codes, ``-1`` padding) with model ``scores`` (same
    shape; ``-inf`` or ``nan`` marks an unusable slot) and return the top ``k`` as
    ``(codes, scores)``: int64 codes padded with ``-1`` and each pick's score (``-inf`` for
    padding), never rising along a row: at ``niche = 0`` the model's own scores, else the
    re-ranked score in [0, 1] (see the module's docstring).

    ``propensity`` holds one niche propensity in [0, 1] per row (``nan`` = unknown; it must then be
    filled by the caller, see :meth:`NicheReranker.rerank`); ``niche_items`` is the niche membership
    (0 to 1, or a boolean flag) of every item code.
    Repeated candidates are shown once.
    """
    niche = check_niche(niche)
    cand = np.atleast_2d(np.asarray(candidates))
    raw = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if cand.shape != raw.shape:
        raise ValueError(f"candidates {cand.shape} and scores {raw.shape} must have the same shape")
    if cand.size and not np.issubdtype(cand.dtype, np.integer):
        raise ValueError(f"candidates must be integer item codes, got dtype {cand.dtype}")
    cand = cand.astype(np.int64, copy=False)
    if not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    flags = np.asarray(niche_items, dtype=np.float64)
    if cand.size and (cand.max() >= len(flags) or cand.min() < -1):
        raise ValueError(f"candidates hold codes outside -1..{len(flags) - 1}")
    p = np.asarray(propensity, dtype=np.float64).reshape(-1)
    if p.shape != (cand.shape[0],):
        raise ValueError(f"propensity has {p.size} values for {cand.shape[0]} buyers")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("propensity must be in [0, 1] for every buyer (fill unknown buyers first)")

    n_cand = cand.shape[1]
    valid = (cand >= 0) & ~np.isnan(raw) & ~np.isneginf(raw)
    # candidates in relevance order, so ties (and niche = 0) follow the model's order
    cand, raw, valid = _reorder(np.argsort(np.where(valid, -raw, np.inf), axis=1, kind="stable"), cand, raw, valid)
    # the same item twice in one row: keep the first (most relevant) copy only; unusable slots last
    valid &= _first_copies(cand)
    cand, raw, valid = _reorder(np.argsort(~valid, axis=1, kind="stable"), cand, raw, valid)

    width = min(k, n_cand)
    if niche == 0.0 or width == 0:
        codes = np.where(valid[:, :width], cand[:, :width], -1)
        best = np.where(valid[:, :width], raw[:, :width], -np.inf)
        return _pad(codes, best, k)

    relevance = _normalised_relevance(raw, valid)
    membership = np.where(valid, flags[np.maximum(cand, 0)], 0.0)
    bonus = niche * p[:, None] * membership
    base = (1.0 - niche) * relevance
    merge = _merge_by_membership if cand.shape[0] <= SMALL_BATCH else _greedy_vectorised
    codes, best = merge(cand, valid, base, bonus, membership, width)
    return _pad(codes, best, k)


def _greedy_vectorised(cand, valid, base, bonus, membership, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The greedy loop of :func:`niche_rerank` over a batch: one argmax over every row's candidates
    per position."""
    n_users = cand.shape[0]
    available = valid.copy()
    rows = np.arange(n_users)
    codes = np.full((n_users, width), -1, dtype=np.int64)
    best = np.full((n_users, width), -np.inf)
    niche_picked = np.zeros(n_users)
    for j in range(width):
        uncovered = np.maximum(0.0, 1.0 - niche_picked / COVERAGE_SLOTS)[:, None]
        objective = np.where(available, base + bonus * uncovered, -np.inf)
        pick = objective.argmax(axis=1)
        ok = available[rows, pick]
        codes[:, j] = np.where(ok, cand[rows, pick], -1)
        best[:, j] = objective[rows, pick]
        niche_picked += np.where(ok, membership[rows, pick], 0.0)
        available[rows, pick] = False
    return codes, best


def _merge_by_membership(cand, valid, base, bonus, membership, width: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_greedy_vectorised` for a few rows, in plain Python: exactly its picks and scores.

    Candidates of equal membership get equal bonuses, so the greedy takes each membership class
    in relevance order, and each step only compares the head of every class (ties to the more
    relevant, as ``argmax`` over the relevance-ordered row does). Numpy pays a fixed cost per call,
    about 1 us, which the vectorised loop pays some 200 times per batch (k steps of array
    operations): a 1-row batch costs several hundred microseconds there, tens here."""
    n_users = cand.shape[0]
    codes = np.full((n_users, width), -1, dtype=np.int64)
    best = np.full((n_users, width), -np.inf)
    for row in range(n_users):
        queues: dict[float, list[int]] = {}
        row_membership = membership[row].tolist()  # Python floats: numpy scalars cost ~100 ns per access
        for position in np.flatnonzero(valid[row]).tolist():
            queues.setdefault(row_membership[position], []).append(position)
        heads = {value: 0 for value in queues}
        row_base, row_bonus = base[row].tolist(), bonus[row].tolist()
        niche_picked = 0.0
        picks, picked_scores = [], []
        for _ in range(width):
            uncovered = max(0.0, 1.0 - niche_picked / COVERAGE_SLOTS)
            pick, top = -1, -np.inf
            for value, queue in queues.items():
                if heads[value] < len(queue):
                    position = queue[heads[value]]
                    objective = row_base[position] + row_bonus[position] * uncovered
                    if objective > top or (objective == top and position < pick):
                        pick, top, chosen = position, objective, value
            if pick < 0:
                break
            heads[chosen] += 1
            picks.append(pick)
            picked_scores.append(top)
            niche_picked += chosen
        codes[row, :len(picks)], best[row, :len(picks)] = cand[row, picks], picked_scores
    return codes, best


def _reorder(order: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.take_along_axis(array, order, axis=1) for array in arrays]


def _first_copies(cand: np.ndarray) -> np.ndarray:
    """True at the first occurrence of each code in its row (padding counts as unique)."""
    if cand.size == 0:
        return np.ones(cand.shape, dtype=bool)
    order = np.argsort(cand, axis=1, kind="stable")
    sorted_codes = np.take_along_axis(cand, order, axis=1)
    first_sorted = np.ones(cand.shape, dtype=bool)
    first_sorted[:, 1:] = sorted_codes[:, 1:] != sorted_codes[:, :-1]
    first_sorted |= sorted_codes < 0
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first


def _pad(codes: np.ndarray, best: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Move padding to the end of each row and widen to ``k`` columns."""
    filled = codes >= 0
    order = np.argsort(~filled, axis=1, kind="stable")
    codes = np.take_along_axis(codes, order, axis=1)
    best = np.take_along_axis(best, order, axis=1)
    missing = k - codes.shape[1]
    if missing > 0:
        codes = np.pad(codes, ((0, 0), (0, missing)), constant_values=-1)
        best = np.pad(best, ((0, 0), (0, missing)), constant_values=-np.inf)
    return codes.astype(np.int64), best


# --- variety -------------------------------------------------------------------------------------------

VARIETY_WINDOW = 10  # the variety cap holds in a list's first this many slots


def capped(codes: np.ndarray, scores: np.ndarray, labels: np.ndarray, cap: int, k: int,
           window: int = VARIETY_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of ranked lists ``codes`` (best first, -1 padding) with ``scores``, where no label
    of any row of ``labels`` (kinds x items, e.g. each item's category and region code; -1 for none)
    holds more than ``cap`` of the first ``window`` slots: each slot takes the next ranked item that
    keeps within the cap; past the window, and when too few do, the items passed over follow in their
    order. A list's first ``j`` items are the same whatever ``k`` (prefix-consistent); scores are the
    ranked ones, so an item passed over may come after lower scores."""
    codes = np.atleast_2d(codes)
    out_codes = np.full((codes.shape[0], k), -1, dtype=np.int64)
    out_scores = np.full((codes.shape[0], k), -np.inf)
    for row in range(codes.shape[0]):
        ranked = [position for position, code in enumerate(codes[row].tolist()) if code >= 0]
        keys = labels[:, codes[row, ranked]].T.tolist() if ranked else []
        counts: list[dict[int, int]] = [{} for _ in range(len(labels))]
        picked: list[int] = []
        passed: list[int] = []
        for position, item_keys in zip(ranked, keys):
            if len(picked) >= min(k, window):
                break
            if any(key >= 0 and count.get(key, 0) >= cap for key, count in zip(item_keys, counts)):
                passed.append(position)
                continue
            picked.append(position)
            for key, count in zip(item_keys, counts):
                count[key] = count.get(key, 0) + 1
        chosen = set(picked)
        picked += [position for position in ranked if position not in chosen][:k - len(picked)]
        out_codes[row, :len(picked)] = codes[row, picked]
        out_scores[row, :len(picked)] = np.asarray(scores)[row, picked]
    return out_codes, out_scores


# --- the estimator ------------------------------------------------------------------------------------

@dataclass
class NicheReranker:
    """Niche-aware re-ranking with one knob, ``niche`` in [0, 1] (0 = the model's order).

    ``candidates`` is how many of a model's best items per buyer are re-ranked, and
    ``niche_candidates`` how many of its best niche items join them (see
    :meth:`recommender.engine.RecommendationEngine.candidates`);
    ``tail_share`` the share of the catalog, by popularity, that counts as the short head (the
    long tail is the rest); ``small_merchant_quantile`` the sales quantile under which a merchant is
    small. Typical use::

        reranker = NicheReranker(niche=0.4).fit(popularity, catalog, data.confidence)
        candidates, scores = top_k(exclude(model.score(batch), seen, available), reranker.candidates)
        codes, scores = reranker.rerank(candidates, scores, reranker.propensity_of(batch.users), k=10)

    (:class:`~recommender.engine.RecommendationEngine` does this for served and batch-scored buyers.)
    """

    niche: float = 0.0
    candidates: int = 50
    niche_candidates: int = 50
    tail_share: float = 0.2
    small_merchant_quantile: float = 0.5

    def __post_init__(self):
        self.niche = check_niche(self.niche)
        if not isinstance(self.candidates, numbers.Integral) or self.candidates < 1:
            raise ValueError(f"candidates must be a positive integer, got {self.candidates!r}")
        if not isinstance(self.niche_candidates, numbers.Integral) or self.niche_candidates < 0:
            raise ValueError(f"niche_candidates must be a non-negative integer, got {self.niche_candidates!r}")
        _check_share(self.tail_share, "tail_share")
        _check_share(self.small_merchant_quantile, "small_merchant_quantile")

    def fit(self, popularity, catalog: pd.DataFrame, user_tail_propensity=None) -> NicheReranker:
        """Flag the items and learn the buyers' niche propensities.

        ``popularity``: training purchases per item code (see ``metrics.item_popularity``).
        ``user_tail_propensity``: one propensity per training buyer (``nan`` = no history), or a
        buyers x items purchase matrix to compute them from (:func:`niche_propensity`), or None.
        The population mean (used for buyers without history) is the mean over buyers with a
        known propensity, or without any, the niche share of all training purchases.
        """
        self.groups_ = item_groups(popularity, catalog, self.tail_share, self.small_merchant_quantile)
        self.niche_items_ = self.groups_.niche
        if user_tail_propensity is None:
            propensity = np.empty(0)
        elif sp.issparse(user_tail_propensity) or np.ndim(user_tail_propensity) == 2:
            propensity = niche_propensity(user_tail_propensity, self.niche_items_)
        else:
            propensity = np.asarray(user_tail_propensity, dtype=np.float64).reshape(-1)
        known = ~np.isnan(propensity)
        if ((propensity[known] < 0) | (propensity[known] > 1)).any():
            raise ValueError("user_tail_propensity must be in [0, 1] (nan for buyers without history)")
        if known.any():
            population = float(propensity[known].mean())
        else:
            pop = np.asarray(popularity, dtype=np.float64)
            population = (float(pop @ self.niche_items_ / pop.sum()) if pop.sum() > 0
                          else float(self.niche_items_.mean()) if len(pop) else 0.0)
        self.population_propensity_ = population
        self.propensity_ = np.where(known, propensity, population)
        return self

    def with_items(self, popularity, catalog: pd.DataFrame) -> NicheReranker:
        """A copy whose item flags cover ``catalog`` (the fitted items first, then items added
        since, with ``popularity``: training purchases, 0 for the added ones); the buyers'
        propensities are kept."""
        self._check_fitted()
        other = copy.copy(self)
        other.groups_ = item_groups(popularity, catalog, self.tail_share, self.small_merchant_quantile)
        other.niche_items_ = other.groups_.niche
        return other

    def _check_fitted(self) -> None:
        if not hasattr(self, "niche_items_"):
            raise RuntimeError("NicheReranker is not fitted: call fit(popularity, catalog, ...) first")

    def propensity_of(self, users) -> np.ndarray:
        """Propensities of training buyer codes; unknown codes (-1, or past the fitted buyers) get
        the population mean."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        known = (users >= 0) & (users < len(self.propensity_))
        return np.where(known, self.propensity_[np.where(known, users, 0)] if len(self.propensity_) else 0.0,
                        self.population_propensity_)

    def rerank(self, candidates, scores, users_propensity=None, k: int = 10, niche: float | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Re-rank a batch of candidate lists; returns the top ``k`` ``(codes, scores)`` (see
        :func:`niche_rerank`). ``users_propensity``: one value per row, ``nan`` (or None for
        all rows) meaning unknown, which gets the population mean. ``niche`` overrides the
        knob for this call."""
        self._check_fitted()
        cand = np.atleast_2d(np.asarray(candidates))
        if users_propensity is None:
            p = np.full(cand.shape[0], self.population_propensity_)
        else:
            p = np.asarray(users_propensity, dtype=np.float64).reshape(-1)
            p = np.where(np.isnan(p), self.population_propensity_, p)
        knob = self.niche if niche is None else check_niche(niche)
        return niche_rerank(cand, scores, p, self.niche_items_, knob, k)
