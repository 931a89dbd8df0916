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

The scores keep what the features are built from (:class:`RepeatClock`: the fitted numbers, the
per-item figures and each pair's purchase days), so :meth:`RepeatScores.buyer` scores one buyer's
pairs at any later time, with purchases made since training, without refitting.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import scipy.sparse as sp

from recommender.features.repeat import DECAY_HALF_LIFE_DAYS, SECONDS_PER_DAY, PairHistory
from recommender.ranking import cells_of, top_k_of_rows

FEATURES = ("log purchase days", "log decayed purchase days", "log days since last", "log expected interval",
            "log due ratio", "squared log due ratio", "chance within the horizon at that pace",
            "item repeat share", "buyer repeat share")


INTERVAL_FEATURE = FEATURES.index("log expected interval")


def day_end_us(day: date) -> int:
    """The end of ``day`` (the next midnight, UTC) in microseconds since the epoch: the time a
    request's or a command's ``date`` scores repeat timing at."""
    return int(datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC).timestamp() * 1_000_000)


def _group_means(values: np.ndarray, groups: np.ndarray, n_groups: int, prior_mean: np.ndarray | float,
                 prior: float) -> np.ndarray:
    """Per group, the mean of ``values`` shrunk towards ``prior_mean`` by ``prior`` pseudo-values."""
    sums = np.bincount(groups, weights=values, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    return np.asarray((sums + prior * prior_mean) / (counts + prior))


def _mean_interval(days: np.ndarray, first_age: np.ndarray, last_age: np.ndarray) -> np.ndarray:
    """Days between consecutive purchase days on average (NaN when bought on one day)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(days > 1, (first_age - last_age) / (days - 1), np.nan))


def _log_own(mean_interval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each pair was bought on several days, and the log of its own mean interval (0 if not)."""
    repeat = np.isfinite(mean_interval)
    return repeat, np.log(np.maximum(np.where(repeat, mean_interval, 1.0), 1.0))


def _pair_log_intervals(days: np.ndarray, mean_interval: np.ndarray, item_log: np.ndarray,
                        prior: float) -> np.ndarray:
    """Each pair's log expected interval: its own, shrunk to its item's (``item_log``, per pair)."""
    repeat, log_own = _log_own(mean_interval)
    gaps = np.where(repeat, days - 1.0, 0.0)
    return np.asarray((gaps * log_own + prior * item_log) / (gaps + prior))


def _logistic(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
              intercept: float) -> np.ndarray:
    """A fitted logistic regression's probability of each row of ``features`` (standardised first)."""
    logits = ((features - mean) / scale) @ coef + intercept
    return np.asarray(1.0 / (1.0 + np.exp(-logits)))


def _features(days: np.ndarray, decayed: np.ndarray, last_age: np.ndarray, mean_interval: np.ndarray,
              item_log: np.ndarray, item_share: np.ndarray, buyer_share: np.ndarray, prior: float,
              horizon_days: float) -> np.ndarray:
    """The columns :data:`FEATURES` of pairs given their history and their item's and buyer's figures."""
    log_interval = _pair_log_intervals(days, mean_interval, item_log, prior)
    log_since = np.log1p(last_age)
    due = log_since - log_interval
    return np.column_stack([np.log(days), np.log1p(decayed), log_since, log_interval, due, due ** 2,
                            -np.expm1(-horizon_days / np.exp(log_interval)), item_share, buyer_share])


@dataclass
class BuyerRepeat:
    """One buyer's earlier items (codes, ascending) with their probability of being bought again,
    expected days between purchases and days since the last purchase, as of one time."""

    items: np.ndarray
    probability: np.ndarray
    interval: np.ndarray
    last_age: np.ndarray

    def top(self, k: int, allowed: np.ndarray | None = None) -> BuyerRepeat:
        """The ``k`` likeliest of the items inside ``allowed`` (a boolean per item code), likeliest first."""
        keep = np.ones(len(self.items), dtype=bool) if allowed is None else allowed[self.items]
        cells = np.flatnonzero(keep)
        cells = cells[np.argsort(-self.probability[cells], kind="stable")[:k]]
        return BuyerRepeat(self.items[cells], self.probability[cells], self.interval[cells], self.last_age[cells])


@dataclass
class RepeatClock:
    """What scores a buyer's pairs at any time (:meth:`RepeatScores.buyer`): the fitted
    :class:`RepeatTiming`'s numbers, the training history's per-item figures (``item_log``: the
    typical log interval, ``item_share``: the share of its buyers who bought it again; ``overall_*``
    the catalog's, for items added later) and, per stored cell of the scores, the pair's purchase
    days, days from its first purchase to the reference time and decayed purchase days."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    prior_buyers: float
    half_life_days: float
    item_log: np.ndarray
    item_share: np.ndarray
    overall_log: float
    overall_share: float
    days: np.ndarray
    first_age: np.ndarray
    decayed: np.ndarray

    def widened(self, n_items: int) -> RepeatClock:
        """The same clock over a catalog of ``n_items`` (the added items get the catalog's figures)."""
        added = n_items - len(self.item_log)
        return RepeatClock(self.mean, self.scale, self.coef, self.intercept, self.prior_buyers, self.half_life_days,
                           np.pad(self.item_log, (0, added), constant_values=self.overall_log),
                           np.pad(self.item_share, (0, added), constant_values=self.overall_share),
                           self.overall_log, self.overall_share, self.days, self.first_age, self.decayed)

    def probability(self, features: np.ndarray) -> np.ndarray:
        """The fitted regression's probability of each row of ``features``."""
        return _logistic(features, self.mean, self.scale, self.coef, self.intercept)

    def later(self, elapsed: float) -> RepeatClock:
        """The same clock ``elapsed`` days after its reference time (no purchase made since)."""
        return RepeatClock(self.mean, self.scale, self.coef, self.intercept, self.prior_buyers, self.half_life_days,
                           self.item_log, self.item_share, self.overall_log, self.overall_share, self.days,
                           self.first_age + np.float32(elapsed),
                           self.decayed * 0.5 ** (elapsed / self.half_life_days))

    def score(self, items: np.ndarray, cells: slice, last_age: np.ndarray, elapsed: float, bought: np.ndarray,
              ages: np.ndarray, horizon_days: float) -> BuyerRepeat:
        """One buyer's pairs (item codes ``items``, stored ``cells`` with their ``last_age``) ``elapsed``
        days after the reference time, with purchases of items ``bought`` made ``ages`` days before it."""
        decay = 0.5 ** (elapsed / self.half_life_days)
        pairs = {item: [float(d), float(first) + elapsed, float(last) + elapsed, float(weight) * decay]
                 for item, d, first, last, weight in zip(items.tolist(), self.days[cells].tolist(),
                                                         self.first_age[cells].tolist(), last_age.tolist(),
                                                         self.decayed[cells].tolist())}
        for item, age in sorted(zip(bought.tolist(), np.floor(ages).tolist()), key=lambda pair: -pair[1]):
            pair = pairs.get(item)
            if pair is None:
                pairs[item] = [1.0, age, age, 0.5 ** (age / self.half_life_days)]
            elif min(abs(age - pair[1]), abs(age - pair[2])) >= 1.0:  # another purchase day
                pair[0] += 1.0
                pair[1], pair[2] = max(pair[1], age), min(pair[2], age)
                pair[3] += 0.5 ** (age / self.half_life_days)
        codes = np.array(sorted(pairs), dtype=np.int64)
        days, first, last, decayed = np.array([pairs[item] for item in codes.tolist()], dtype=np.float64
                                              ).reshape(-1, 4).T
        prior = self.prior_buyers
        buyer_share = (float((days > 1).sum()) + prior * self.overall_share) / (len(days) + prior)
        features = _features(days, decayed, last, _mean_interval(days, first, last), self.item_log[codes],
                             self.item_share[codes], np.full(len(codes), buyer_share), prior, horizon_days)
        return BuyerRepeat(codes, self.probability(features).astype(np.float32),
                           np.exp(features[:, INTERVAL_FEATURE]).astype(np.float32), last.astype(np.float32))


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
    clock: RepeatClock | None = None  # None: saved before buy-again followed the clock (stored figures only)

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
        return RepeatScores(widened, self.interval, self.last_age, self.reference_time, self.horizon_days,
                            None if self.clock is None else self.clock.widened(n_items))

    def at(self, at_us: int | None) -> RepeatScores:
        """These scores as of ``at_us`` (microseconds since the epoch, UTC; None, or a time before the
        reference time: the reference time): every pair's days since its purchases moved on and its
        probability worked out again, as :meth:`buyer` does one buyer's without purchases since
        training. Scores saved without a clock stay as they are."""
        elapsed = self._elapsed_days(at_us)
        if self.clock is None or elapsed == 0.0:
            return self
        clock = self.clock.later(elapsed)
        matrix = self.probability
        buyers, items = cells_of(matrix)
        last_age = self.last_age.astype(np.float64) + elapsed
        days = clock.days.astype(np.float64)
        prior = clock.prior_buyers
        repeat_buyer = _group_means((days > 1).astype(np.float64), buyers, matrix.shape[0], clock.overall_share, prior)
        features = _features(days, clock.decayed, last_age, _mean_interval(days, clock.first_age, last_age),
                             clock.item_log[items], clock.item_share[items], repeat_buyer[buyers], prior,
                             self.horizon_days)
        probability = sp.csr_matrix((clock.probability(features).astype(np.float32), items, matrix.indptr),
                                    shape=matrix.shape)
        return RepeatScores(probability, np.exp(features[:, INTERVAL_FEATURE]).astype(np.float32),
                            last_age.astype(np.float32), self.reference_time + np.timedelta64(
                                round(elapsed * SECONDS_PER_DAY * 1e6), "us"), self.horizon_days, clock)

    def _elapsed_days(self, at_us: int | None) -> float:
        """Days from the reference time to ``at_us`` (0 for None or an earlier time)."""
        if at_us is None:
            return 0.0
        reference_us = int(self.reference_time.astype("datetime64[us]").astype(np.int64))
        return max(int(at_us) - reference_us, 0) / (SECONDS_PER_DAY * 1e6)

    def buyer(self, user: int, at_us: int | None = None, bought: np.ndarray | None = None,
              bought_us: np.ndarray | None = None) -> BuyerRepeat:
        """Buyer ``user``'s pairs (a negative code: a buyer unknown at training) scored at ``at_us``
        (microseconds since the epoch, UTC; default and earliest: the reference time), with the
        purchases of item codes ``bought`` made at ``bought_us`` since the training data. Scores
        saved without a clock give the stored figures, as of the reference time, without those."""
        matrix = self.probability
        cells = slice(matrix.indptr[user], matrix.indptr[user + 1]) if user >= 0 else slice(0, 0)
        items = matrix.indices[cells].astype(np.int64)
        if self.clock is None:
            return BuyerRepeat(items, matrix.data[cells], self.interval[cells], self.last_age[cells])
        reference_us = int(self.reference_time.astype("datetime64[us]").astype(np.int64))
        at_us = reference_us if at_us is None else max(int(at_us), reference_us)
        bought = np.empty(0, dtype=np.int64) if bought is None else np.asarray(bought, dtype=np.int64)
        times = np.empty(0, dtype=np.int64) if bought_us is None else np.asarray(bought_us, dtype=np.int64)
        ages = np.maximum(at_us - times, 0) / (SECONDS_PER_DAY * 1e6)
        return self.clock.score(items, cells, self.last_age[cells], self._elapsed_days(at_us), bought, ages,
                                self.horizon_days)


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

    def _item_log_intervals(self, history: PairHistory, item_groups: np.ndarray) -> tuple[np.ndarray, float]:
        """Each item's typical log interval (shrunk to its category's), and the catalog's."""
        prior = self.prior_buyers
        repeat, log_own = _log_own(history.mean_interval)
        items, n_items = history.items, history.pattern.shape[1]
        overall = float(log_own[repeat].mean()) if repeat.any() else float(np.log(self.horizon_days))
        n_groups = int(item_groups.max()) + 1 if len(item_groups) else 1
        group_of_pair = item_groups[items]
        category = _group_means(log_own[repeat], group_of_pair[repeat], n_groups, overall, prior)
        return _group_means(log_own[repeat], items[repeat], n_items, category[item_groups], prior), overall

    def _log_intervals(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """Each pair's log expected interval."""
        item_log, _ = self._item_log_intervals(history, item_groups)
        return _pair_log_intervals(history.days, history.mean_interval, item_log[history.items], self.prior_buyers)

    def _shares(self, history: PairHistory) -> tuple[np.ndarray, np.ndarray, float]:
        """Per item and per buyer the share of pairs bought on several days (shrunk), and the overall share."""
        prior = self.prior_buyers
        repeated = (history.days > 1).astype(np.float64)
        overall = float(repeated.mean()) if len(repeated) else 0.0
        return (_group_means(repeated, history.items, history.pattern.shape[1], overall, prior),
                _group_means(repeated, history.buyers, history.pattern.shape[0], overall, prior), overall)

    def features(self, history: PairHistory, item_groups: np.ndarray) -> np.ndarray:
        """The model's inputs, one row per pair (columns :data:`FEATURES`)."""
        item_log, _ = self._item_log_intervals(history, item_groups)
        item_share, buyer_share, _ = self._shares(history)
        return self._pair_features(history, item_log, item_share, buyer_share)

    def _pair_features(self, history: PairHistory, item_log: np.ndarray, item_share: np.ndarray,
                       buyer_share: np.ndarray) -> np.ndarray:
        """:meth:`features` from the items' typical log intervals and the items' and buyers' repeat shares."""
        return _features(history.days, history.decayed, history.last_age, history.mean_interval,
                         item_log[history.items], item_share[history.items], buyer_share[history.buyers],
                         self.prior_buyers, self.horizon_days)

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
        return _logistic(features, self.mean_, self.scale_, self.coef_, self.intercept_)

    def scores(self, history: PairHistory, item_groups: np.ndarray) -> RepeatScores:
        """The :class:`RepeatScores` of every pair of ``history`` (its features built once), with the
        :class:`RepeatClock` that scores them at later times."""
        item_log, overall_log = self._item_log_intervals(history, item_groups)
        item_share, buyer_share, overall_share = self._shares(history)
        features = self._pair_features(history, item_log, item_share, buyer_share)
        clock = RepeatClock(self.mean_, self.scale_, self.coef_, self.intercept_, self.prior_buyers,
                            DECAY_HALF_LIFE_DAYS, item_log, item_share, overall_log, overall_share,
                            history.days.astype(np.float32), history.first_age.astype(np.float32), history.decayed)
        return RepeatScores(history.on_pattern(self._probability_of(features).astype(np.float32)),
                            np.exp(features[:, INTERVAL_FEATURE]).astype(np.float32),
                            history.last_age.astype(np.float32), history.reference_time, float(self.horizon_days),
                            clock)
