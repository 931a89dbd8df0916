"""Buy again, measured: repeat timing against personal purchase-frequency baselines.

The last ``test_days`` days are held out. A test buyer is a training buyer who, in those days,
bought again at least one item bought before the cutoff; those items are relevant, and every
method ranks the buyer's own earlier items (unavailable ones left out) by its score:

* ``personal top frequency``: days the buyer bought the item (ties: the later last purchase);
* ``personal recency``: the latest purchase first;
* ``decayed personal frequency``: purchase days weighted ``0.5 ** (age / half-life)``, the
  half-life chosen on the validation window among :data:`HALF_LIVES`;
* ``repeat timing``: :class:`~recommender.models.repeat.RepeatTiming`, fitted on the validation
  window (the last ``test_days`` days of the training part, labelled by what was bought again
  there), then applied to the whole training part's history.

Recall@k over the test buyers, the validation figures beside them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from recommender.features.encoders import IdEncoder
from recommender.features.repeat import PairHistory, bought_again, item_groups, pair_history
from recommender.loaders import Dataset
from recommender.metrics import ndcg_at_k, recall_at_k
from recommender.models.repeat import RepeatTiming
from recommender.progress import progress_bar
from recommender.ranking import top_k_of_rows
from recommender.splits import relevance_matrix, temporal_split, validation_split

HALF_LIVES = (7.0, 30.0, 90.0, 365.0)
METHODS = ("personal top frequency", "personal recency", "decayed personal frequency", "repeat timing")


@dataclass
class BuyAgainSplit:
    """One cut: the history before it, what was bought again after it, and the test buyers."""

    history: PairHistory
    bought_again: np.ndarray  # per pair of ``history``
    relevant: sp.csr_matrix  # test buyers x items: items bought again
    buyers: np.ndarray  # codes of the buyers with at least one item bought again


def buy_again_split(before: Dataset, after: Dataset) -> BuyAgainSplit:
    """The history of ``before`` and the pairs of it bought again in ``after`` (same buyer codes)."""
    users = IdEncoder(before.purchases.user_id.cat.categories)
    history = pair_history(before.purchases, users, len(before.catalog))
    again = sp.csr_matrix(relevance_matrix(after, users, len(before.catalog)).multiply(history.pattern))
    again.eliminate_zeros()
    buyers = np.flatnonzero(again.getnnz(axis=1) > 0)
    return BuyAgainSplit(history, bought_again(history, again), again[buyers], buyers)


def ranked_history(history: PairHistory, scores: np.ndarray, buyers: np.ndarray, available: np.ndarray,
                   k: int) -> np.ndarray:
    """The top-k of each buyer's earlier items by ``scores`` (one per pair of ``history``), unavailable
    items left out; -1 pads a short history."""
    return top_k_of_rows(history.on_pattern(scores.astype(np.float64)), buyers, k, available)[0]


def baseline_scores(history: PairHistory) -> dict[str, np.ndarray]:
    """The personal baselines' scores of each pair (larger is better; ties broken by recency)."""
    recency = -history.last_age
    return {"personal top frequency": history.days + 1e-6 * np.exp(recency / 365.0),
            "personal recency": recency}


@dataclass
class BuyAgainEvaluation:
    """Recall@k (and NDCG@k) of every method on the test days, and on the validation window."""

    k: int
    test_days: float
    buyers: int
    rows: pd.DataFrame
    decayed_half_life: float

    def table(self) -> str:
        return (self.rows.to_string(float_format=lambda x: f"{x:.4f}") +
                f"\n{self.buyers:,} test buyers bought again at least one earlier item in the last "
                f"{self.test_days:g} days; k={self.k}; decayed half-life {self.decayed_half_life:g} d (validation)")


def evaluate_buy_again(dataset: Dataset, test_days: float = 28, k: int = 10,
                       show_progress: bool = True) -> BuyAgainEvaluation:
    """Repeat timing and the personal baselines on the last ``test_days`` days (see the module notes)."""
    with progress_bar(total=2 + len(HALF_LIVES) + len(METHODS), disable=not show_progress, unit="step",
                      desc="buy again: histories") as progress:
        return _evaluate(dataset, test_days, k, progress)


def _evaluate(dataset: Dataset, test_days: float, k: int, progress: tqdm) -> BuyAgainEvaluation:
    train, test = temporal_split(dataset, test_days)
    fit_part, validation = validation_split(train, test_days)
    groups = item_groups(train.catalog)
    available = train.catalog.available.to_numpy(dtype=bool)
    splits = {"validation": buy_again_split(fit_part, validation), "test": buy_again_split(train, test)}
    progress.update()

    def measured(split: BuyAgainSplit, scores: np.ndarray) -> tuple[float, float]:
        lists = ranked_history(split.history, scores, split.buyers, available, k)
        return float(recall_at_k(lists, split.relevant, k)), float(ndcg_at_k(lists, split.relevant, k))

    def decayed(split: BuyAgainSplit, half_life: float) -> np.ndarray:
        before = fit_part if split is splits["validation"] else train
        users = IdEncoder(before.purchases.user_id.cat.categories)
        return pair_history(before.purchases, users, len(before.catalog), half_life).decayed

    def validation_recall(half_life: float) -> float:
        progress.update()
        return measured(splits["validation"], decayed(splits["validation"], half_life))[0]

    progress.set_description("buy again: decayed half-life")
    best_half_life = max(HALF_LIVES, key=validation_recall)
    progress.set_description("buy again: fit repeat timing")
    model = RepeatTiming(horizon_days=test_days).fit(splits["validation"].history, groups,
                                                     splits["validation"].bought_again)
    progress.update()
    rows = []
    for name in METHODS:
        progress.set_description(f"buy again: {name}")
        row: dict[str, str | float] = {"method": name}
        for part, split in splits.items():
            if name == "repeat timing":
                scores = model.probability(split.history, groups)
            elif name == "decayed personal frequency":
                scores = decayed(split, best_half_life)
            else:
                scores = baseline_scores(split.history)[name]
            row[f"{part} recall@{k}"], row[f"{part} ndcg@{k}"] = measured(split, scores)
        rows.append(row)
        progress.update()
    return BuyAgainEvaluation(k, float(test_days), len(splits["test"].buyers), pd.DataFrame(rows).set_index("method"),
                              best_half_life)
