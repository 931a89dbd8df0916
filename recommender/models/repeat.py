"""Repeat timing: the probability that a buyer buys an item they bought before again soon.

Farm produce is bought again (tea, rice, honey, fruit in season), each item at its own pace. For
every (buyer, item) pair of a :class:`~recommender.features.repeat.PairHistory` the model
estimates how long the buyer takes between purchases of the item:

* the item's **typical interval** is the geometric mean of its repeat buyers' mean intervals,
  shrunk towards its category's (and the category's towards the whole catalog's) by
  ``prior_buyers`` pseudo-buyers, so an item with two repeat buyers leans on its category;
* the pair's **expected interval** is the buyer's own mean interval for the item, shrunk towards
  the item's typical one by ``prior_buyers`` pseudo-intervals (a buyer seen once gets the item's).

From these and the purchase counts it builds a few features (purchase days, decayed purchase
days, days since the last purchase, the expected interval, how due the pair is: days since the
last purchase over the expected interval, the item's and the buyer's share of repeat purchases)
and a logistic regression of "bought again within ``horizon_days``", fitted on a validation
window (the pairs before it, labelled by what the window's buyers bought again), turns them into a
probability. The fitted model keeps numbers only (no scikit-learn object), so a saved engine
loads without scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.features.repeat import PairHistory
from recommender.ranking import top_k_of_rows

FEATURES = ("log purchase days", "log decayed purchase days", "log days since last", "log expected interval",
            "log due ratio", "squared log due ratio", "chance within the horizon at that pace",
            "item repeat share", "buyer repeat share")


INTERVAL_FEATURE = FEATURES.index("log expected interval")


def _group_means(values: np.ndarray, groups: np.ndarray, n_groups: int, prior_mean: np.ndarray | float,
                 prior: float) -> np.ndarray:
    """Per group, the mean of ``values`` shrunk towards ``prior_mean`` by ``prior`` pseudo-values."""
    sums = np.bincount(groups, weights=values, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    return (sums + prior * prior_mean) / (counts + prior)


@dataclass
class RepeatScores:
    """What buy-again lists are ranked by: each buyer's earlier items with their probability of
    being bought again within ``horizon_days`` of ``reference_time`` (``probability``, buyers x
    items, a stored cell per pair bought before), and per stored cell the expected days between
    purchases and the days from the last purchase to ``reference_time`` (the reasons' figures)."""

    probability: sp.csr_matrix
    interval: np.ndarray
    last_age: np.ndarray
    reference_time: np.datetime64
    horizon_days: float

    def top(self, users: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each buyer's ``k`` likeliest items to buy again as ``(item codes, probabilities)``,
        items outside ``allowed`` left out (-1 / -inf pad a shorter history; a negative code, an
        unknown buyer, gets padding only)."""
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        found = top_k_of_rows(self.probability, users[known], k, allowed)
        codes = np.full((len(users), found[0].shape[1]), -1, dtype=np.int64)
        scores = np.full(codes.shape, -np.inf)
        codes[known], scores[known] = found
        return codes, scores

    def timing(self, user: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The expected interval and the days since the last purchase of ``items`` (codes the buyer
        bought before) at the reference time."""
        start, end = self.probability.indptr[user], self.probability.indptr[user + 1]
        cells = start + np.searchsorted(self.probability.indices[start:end], items)
        return self.interval[cells], self.last_age[cells]

    def widened(self, n_items: int) -> RepeatScores:
        """The same scores over a catalog of ``n_items`` (items appended after training)."""
        matrix = self.probability
        widened = sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], n_items))
        return RepeatScores(widened, self.interval, self.last_age, self.reference_time, self.horizon_days)


class RepeatTiming:
    """Probability of buying an item again within ``horizon_days``, per (buyer, item) pair bought
    before (see the module notes). ``prior_buyers`` is the shrinkage strength of the intervals and
    repeat shares; ``regularization`` the logistic regression's inverse strength ``C``."""

    def __init__(self, horizon_days: float = 28.0, prior_buyers: float = 5.0, regularization: float = 1.0):
        self.horizon_days = horizon_days
        self.prior_buyers = prior_buyers
        self.regularization = regularization

    def expected_interval(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """Each pair's expected days between purchases (the buyer's own, shrunk to the item's)."""
        return np.asarray(np.exp(self._log_intervals(history, item_groups)))

    def _log_intervals(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """Each pair's log expected interval."""
        prior = self.prior_buyers
        interval = history.mean_interval
        repeat = np.isfinite(interval)
        log_own = np.log(np.maximum(np.where(repeat, interval, 1.0), 1.0))
        items, n_items = history.items, history.pattern.shape[1]
        overall = float(log_own[repeat].mean()) if repeat.any() else np.log(self.horizon_days)
        n_groups = int(item_groups.max()) + 1 if len(item_groups) else 1
        group_of_pair = item_groups[items]
        category = _group_means(log_own[repeat], group_of_pair[repeat], n_groups, overall, prior)
        item_log = _group_means(log_own[repeat], items[repeat], n_items, category[item_groups], prior)
        gaps = np.where(repeat, history.days - 1.0, 0.0)
        return np.asarray((gaps * log_own + prior * item_log[items]) / (gaps + prior))

    def features(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """The model's inputs, one row per pair (columns :data:`FEATURES`)."""
        prior = self.prior_buyers
        log_interval = self._log_intervals(history, item_groups)
        log_since = np.log1p(history.last_age)
        due = log_since - log_interval
        repeated = (history.days > 1).astype(np.float64)
        overall = float(repeated.mean()) if len(repeated) else 0.0
        item_share = _group_means(repeated, history.items, history.pattern.shape[1], overall, prior)
        buyer_share = _group_means(repeated, history.buyers, history.pattern.shape[0], overall, prior)
        return np.column_stack([np.log(history.days), np.log1p(history.decayed), log_since, log_interval, due,
                                due ** 2, -np.expm1(-self.horizon_days / np.exp(log_interval)),
                                item_share[history.items], buyer_share[history.buyers]])

    def fit(self, history: PairHistory, item_groups: np.ndarray, bought_again: np.ndarray) -> RepeatTiming:
        """Learn the weights of the features from ``bought_again`` (per pair of ``history``: bought
        within the ``horizon_days`` after its reference time)."""
        from sklearn.linear_model import LogisticRegression

        features = self.features(history, item_groups)
        self.mean_ = features.mean(axis=0)
        spread = features.std(axis=0)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        labels = np.asarray(bought_again, dtype=bool)
        if labels.all() or not labels.any():
            raise ValueError("repeat timing needs pairs bought again and pairs not bought again in the validation "
                             f"window; got {int(labels.sum()):,} of {len(labels):,} bought again")
        regression = LogisticRegression(C=self.regularization, max_iter=1_000)
        regression.fit((features - self.mean_) / self.scale_, labels)
        self.coef_ = regression.coef_.ravel().copy()
        self.intercept_ = float(regression.intercept_[0])
        return self

    def probability(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """Each pair's probability of being bought again within ``horizon_days``."""
        return self._probability_of(self.features(history, item_groups))

    def _probability_of(self, features: np.ndarray) -> np.ndarray:
        logits = ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def scores(self, history: PairHistory, item_groups: np.ndarray) -> RepeatScores:
        """The :class:`RepeatScores` of every pair of ``history`` (its features built once)."""
        features = self.features(history, item_groups)
        return RepeatScores(history.on_pattern(self._probability_of(features).astype(np.float32)),
                            np.exp(features[:, INTERVAL_FEATURE]).astype(np.float32),
                            history.last_age.astype(np.float32), history.reference_time, float(self.horizon_days))
