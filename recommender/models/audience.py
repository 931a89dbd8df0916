"""Audiences: the buyers likeliest to buy an item within a horizon, in two parts.

* **repeat**: buyers who bought the item before, ranked by repeat timing's probability of buying it
  again (:class:`~recommender.models.repeat.RepeatScores`, one column of it);
* **first time**: buyers who never bought it, ranked by :class:`FirstTimeAudience`, a logistic
  regression over what each of the served model's components thinks of the item for every buyer
  (its raw score, standardised over all buyers, so one weight fits every item), the buyer's
  activity and recency, and how many newcomers the item drew lately. Its weights are the blend of
  the collaborative, content and popularity signals, learned on a validation window (which
  buyers bought the item for the first time there) like every other weight of the engine.

Both parts give probabilities, so the expected number of buyers of each part, and of each city
tier within it, is their sum. The fitted model keeps numbers only (no scikit-learn object).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from recommender.features.repeat import AudienceSignals
from recommender.ranking import top_k

SIGNAL_FEATURES = ("buyer activity", "buyer recency", "item newcomers")
MAKE_UP_PLACES = 10  # places a merchant's make-up names; the others are gathered
KINDS = ("repeat", "first_time")


def standardised(columns: np.ndarray) -> np.ndarray:
    """Each column of ``columns`` (buyers x columns) standardised over the buyers and compressed
    (``sign(z) * log1p(|z|)``: a score far above the rest stays first without dwarfing the other
    features); 0 for a constant column. Float32 columns stay float32 (what serving computes)."""
    columns = np.asarray(columns)
    columns = columns if columns.dtype in (np.float32, np.float64) else columns.astype(np.float64)
    mean, spread = columns.mean(axis=0), columns.std(axis=0)
    z = np.divide(columns - mean, spread, out=np.zeros_like(columns), where=spread > 0)
    return np.asarray(np.copysign(np.log1p(np.abs(z)), z))


class FirstTimeAudience:
    """Probability that a buyer who never bought an item buys it within ``horizon_days`` (see the
    module notes); ``regularization`` is the logistic regression's inverse strength ``C``."""

    def __init__(self, horizon_days: float = 28.0, regularization: float = 1.0):
        self.horizon_days = horizon_days
        self.regularization = regularization

    @staticmethod
    def features(columns: np.ndarray, signals: AudienceSignals, item: int) -> np.ndarray:
        """The inputs for one item, one row per training buyer: ``columns`` (buyers x components)
        are the components' raw scores of the item."""
        n_buyers = columns.shape[0]
        return np.column_stack([standardised(columns), signals.activity, signals.recency,
                                np.full(n_buyers, signals.newcomers[item])])

    def fit(self, features: np.ndarray, labels: np.ndarray, weights: np.ndarray,
            components: list[str]) -> FirstTimeAudience:
        """Learn the weights from rows of :meth:`features` (buyers who had not bought the item),
        ``labels`` (bought it in the validation window) and ``weights`` (each row's inverse
        sampling rate, so the probabilities stay calibrated when negatives are sampled)."""
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels, dtype=bool)
        if labels.all() or not labels.any():
            raise ValueError("first-time audiences need buyers who bought a sampled item for the first time in the "
                             f"validation window and buyers who did not; got {int(labels.sum()):,} of "
                             f"{len(labels):,} rows bought")
        self.mean_ = np.average(features, axis=0, weights=weights)
        spread = np.sqrt(np.average((features - self.mean_) ** 2, axis=0, weights=weights))
        self.scale_ = np.where(spread > 0, spread, 1.0)
        regression = LogisticRegression(C=self.regularization, max_iter=1_000)
        regression.fit((features - self.mean_) / self.scale_, labels, sample_weight=weights / weights.mean())
        self.coef_ = regression.coef_.ravel().copy()
        self.intercept_ = float(regression.intercept_[0])
        self.feature_names_ = [f"{name} score" for name in components] + list(SIGNAL_FEATURES)
        return self

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Each row's probability of a first purchase within ``horizon_days``."""
        logits = ((features - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    def strongest(self, features: np.ndarray) -> np.ndarray:
        """Each row's feature that raises its probability most above the average row's (the
        reason it is in the audience), as a column index of :meth:`features`."""
        return np.asarray(np.argmax(((features - self.mean_) / self.scale_) * self.coef_, axis=1))


@dataclass
class Audience:
    """One item's audience over the training buyers: ``repeat_buyers`` (codes of its past buyers)
    with their ``repeat_probability``, and every buyer's ``first_time_probability`` (-1 for past
    buyers: not part of it), each of buying the item within ``horizon_days``;
    ``first_time_scores`` are the components' standardised scores that gave them (buyers x
    components, what the reasons read)."""

    item: int
    repeat_buyers: np.ndarray
    repeat_probability: np.ndarray
    first_time_probability: np.ndarray
    first_time_scores: np.ndarray
    horizon_days: float

    def part(self, kind: str, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The buyer codes and probabilities of part ``kind`` (see :data:`KINDS`), buyers outside
        ``keep`` (boolean per training buyer) left out."""
        if kind == "repeat":
            codes, probability = self.repeat_buyers, self.repeat_probability
        elif kind == "first_time":
            codes = np.flatnonzero(self.first_time_probability >= 0)
            probability = self.first_time_probability[codes]
        else:
            raise ValueError(f"audience kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if keep is not None:
            kept = keep[codes]
            codes, probability = codes[kept], probability[kept]
        return codes, probability

    def top(self, kind: str, k: int, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` likeliest buyers of part ``kind`` as ``(codes, probabilities)``, best first."""
        if kind == "first_time":  # ranked where it is, every buyer's place kept (-1 outside the part)
            probability = self.first_time_probability
            values = probability if keep is None else np.where(keep, probability, -1.0)
            codes, best = (found[0] for found in top_k(values, k))
            member = best >= 0
            return codes[member], best[member]
        codes, probability = self.part(kind, keep)
        positions, best = (found[0] for found in top_k(probability, k))
        member = positions >= 0
        return codes[positions[member]], best[member]

    def expected(self, kind: str, groups: np.ndarray, n_groups: int, keep: np.ndarray | None = None) -> np.ndarray:
        """The expected number of buyers of part ``kind`` in each group (``groups``: a group code
        per training buyer, e.g. the city tier), buyers outside ``keep`` left out."""
        codes, probability = self.part(kind, keep)
        return np.bincount(groups[codes], weights=probability, minlength=n_groups)


@dataclass(frozen=True)
class AudienceModel:
    """What an engine's audiences need besides its repeat scores: the first-time model, the
    buyers' and items' signals, and each buyer's place (``places``: a code into ``place_names``,
    -1 when unknown), what an audience's make-up is counted by."""

    first_time: FirstTimeAudience
    signals: AudienceSignals
    places: np.ndarray
    place_names: tuple[str, ...]

    def widened(self, n_items: int) -> AudienceModel:
        """The same over a catalog of ``n_items`` (items appended after training)."""
        return AudienceModel(self.first_time, self.signals.widened(n_items), self.places, self.place_names)

    @cached_property
    def _weights(self) -> np.ndarray:
        """The first-time model's weights of its raw inputs (its coefficients over their scales)."""
        return np.asarray(self.first_time.coef_ / self.first_time.scale_)

    @cached_property
    def _buyer_logits(self) -> np.ndarray:
        """Each buyer's part of the first-time logit that does not depend on the item (float32):
        the intercept, the buyer's signals' terms, and every input's centring."""
        model, weights = self.first_time, self._weights
        activity, recency = (len(weights) - len(SIGNAL_FEATURES) + offset for offset in (0, 1))
        logits = (model.intercept_ - weights @ model.mean_ + weights[activity] * self.signals.activity
                  + weights[recency] * self.signals.recency)
        return np.asarray(logits, dtype=np.float32)

    def first_time_scores(self, item: int, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every buyer's probability of buying ``item`` for the first time (float32) from its
        components' raw scores ``columns`` (buyers x components), and their standardised scores:
        :meth:`FirstTimeAudience.probability` of :meth:`FirstTimeAudience.features`, computed as one
        product with the buyers' precomputed part (what an audience request costs)."""
        scores = standardised(np.asarray(columns, dtype=np.float32))
        weights = self._weights.astype(np.float32)
        logits = self._buyer_logits + scores @ weights[:scores.shape[1]] + weights[-1] * self.signals.newcomers[item]
        return 1.0 / (1.0 + np.exp(-logits)), scores

    def first_time_features(self, audience: Audience, buyers: np.ndarray) -> np.ndarray:
        """The first-time model's inputs of ``buyers`` (codes) for ``audience``'s item (the rows of
        :meth:`FirstTimeAudience.features`)."""
        return np.column_stack([audience.first_time_scores[buyers], self.signals.activity[buyers],
                                self.signals.recency[buyers],
                                np.full(len(buyers), self.signals.newcomers[audience.item])])

    def make_up(self, audience: Audience, tiers: np.ndarray, n_places: int = MAKE_UP_PLACES) -> dict[str, Any]:
        """The size and make-up of ``audience`` without a buyer in it (what its merchant may read):
        expected buyers of each part and expected units in all, and the same per city tier
        (``tiers``: each buyer's, 0 unknown) and for the ``n_places`` places with the most expected
        buyers (``None`` gathers the other and unknown places)."""
        units = float(self.signals.units[audience.item])

        def groups(codes: np.ndarray, n_groups: int) -> np.ndarray:  # groups x parts
            return np.column_stack([audience.expected(kind, codes, n_groups) for kind in KINDS])

        def expected(counts: np.ndarray) -> dict[str, float]:
            return {**{f"expected_{kind}_buyers": float(count) for kind, count in zip(KINDS, counts)},
                    "expected_units": float(counts.sum() * units)}

        by_tier = groups(np.asarray(tiers, dtype=np.int64), int(np.max(tiers, initial=0)) + 1)
        by_place = groups(self.places.astype(np.int64) + 1, len(self.place_names) + 1)  # row 0: unknown
        named = by_place[1:]
        shown = [place for place in np.argsort(-named.sum(axis=1), kind="stable")[:n_places] if named[place].sum() > 0]
        rest = by_place.sum(axis=0) - named[shown].sum(axis=0)
        total = by_tier.sum(axis=0)
        return {"horizon_days": audience.horizon_days, **expected(total),
                "repeat_share": float(total[0] / total.sum()) if total.sum() > 0 else 0.0,
                "by_city_tier": [{"city_tier": tier, **expected(counts)} for tier, counts in enumerate(by_tier)
                                 if counts.sum() > 0],
                "by_region": [{"region": self.place_names[place], **expected(named[place])} for place in shown]
                + ([{"region": None, **expected(rest)}] if rest.sum() > 0 else [])}
