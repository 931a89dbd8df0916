"""Audiences, measured: who buys an item in the test days, found by each part against its baselines.

The last ``test_days`` days are held out and the engine is trained on the days before them, as
``recommender train`` would (validation windows inside those days). The items bought by at least
``min_buyers`` known buyers in the test days are judged; for each, every method ranks buyers and
recall@k counts the test buyers it found, per part:

* **repeat** (buyers who bought the item before): repeat timing against the past buyers ranked by
  their decayed purchase days (half-life :data:`~recommender.features.repeat.DECAY_HALF_LIFE_DAYS`)
  and by their number of purchase days;
* **first time** (buyers who never bought it): the first-time audience model against EASE's item
  column (who EASE, fitted on the same days, thinks would like the item), the most active buyers
  (purchase days over all items), and the two summed after standardising each over the candidates.

The expected number of buyers of each part, summed over the items, is set against the number who
bought: how far a merchant can trust the audience's size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from recommender.loaders import Dataset
from recommender.metrics import recall_at_k
from recommender.models.audience import KINDS, standardised
from recommender.models.ease import EASERecommender
from recommender.progress import progress_bar
from recommender.ranking import top_k
from recommender.splits import relevance_matrix, temporal_split
from training.config import TrainConfig
from training.train import LocalInput, train

EASE_ITEMS = 8_000  # the EASE baseline's most-bought items: its dense solve fits in memory
METHODS = {"repeat": ("repeat timing", "decayed purchase days", "purchase days"),
           "first_time": ("first-time audience", "EASE item column", "most active buyers", "EASE + most active")}


@dataclass
class AudienceEvaluation:
    """Recall@k per part and method over the judged items, and expected against actual buyers."""

    k: int
    test_days: float
    items: dict[str, int]  # per part: judged items with at least one buyer of that part
    rows: pd.DataFrame
    expected: dict[str, float]
    actual: dict[str, int]

    def table(self) -> str:
        sizes = "; ".join(f"{kind}: {self.items[kind]:,} items, {self.expected[kind]:,.0f} buyers expected, "
                          f"{self.actual[kind]:,} bought" for kind in KINDS)
        return (self.rows.to_string(float_format=lambda x: f"{x:.4f}") +
                f"\nrecall@{self.k} of the buyers of items bought by known buyers in the last {self.test_days:g} "
                f"days; {sizes}")


def _ranked(candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best of ``candidates`` (buyer codes) by ``scores``, padded with -1."""
    positions, _ = top_k(np.asarray(scores, dtype=np.float64), k)
    positions = positions[0]
    return _padded(np.where(positions >= 0, candidates[np.maximum(positions, 0)], -1), k)


def _padded(codes: np.ndarray, k: int) -> np.ndarray:
    return np.pad(codes[:k], (0, k - min(k, len(codes))), constant_values=-1)


def evaluate_audiences(dataset: Dataset, config: TrainConfig | None = None, test_days: float = 28, k: int = 100,
                       min_buyers: int = 5, show_progress: bool = True) -> AudienceEvaluation:
    """Both parts of the audience and their baselines on the last ``test_days`` days (see the
    module notes)."""
    config = config or TrainConfig()
    train_part, test = temporal_split(dataset, test_days)
    source = LocalInput(train_part)
    engine = train(source, config, show_progress=show_progress).engine
    if engine.audiences is None or engine.repeat is None:
        raise ValueError("the trained engine has no audience model (see the manifest's reason)")
    history = source.buyer_history(engine.users).pairs
    bought = relevance_matrix(test, engine.users, engine.n_items)
    before = sp.csr_matrix(history.pattern, dtype=bool)
    repeat_bought = sp.csr_matrix(bought.multiply(before))
    relevant = {"repeat": repeat_bought, "first_time": sp.csr_matrix(bought - repeat_bought)}
    for matrix in relevant.values():
        matrix.eliminate_zeros()
    items = np.flatnonzero(bought.getnnz(axis=0) >= min_buyers)
    with progress_bar(total=len(items) + 1, disable=not show_progress, unit="item",
                      desc="audiences: EASE baseline") as progress:
        return _evaluate(engine, source, config, history, before, relevant, items, k, test_days, progress)


def _evaluate(engine, source, config, history, before, relevant, items, k, test_days, progress: tqdm
              ) -> AudienceEvaluation:
    data = source.training_data(config)
    ease = EASERecommender(max_items=EASE_ITEMS).fit(data)
    ease_columns = ease.score_items(data.batch(np.arange(data.n_users)), items)
    progress.update()
    progress.set_description("audiences: items")
    decayed = history.on_pattern(history.decayed).T.tocsr()
    days = history.on_pattern(history.days).T.tocsr()
    activity = np.bincount(history.buyers, weights=history.days, minlength=len(engine.users))
    past_buyers = before.T.tocsr()
    lists: dict[str, dict[str, list[np.ndarray]]] = {kind: {method: [] for method in METHODS[kind]} for kind in KINDS}
    expected = dict.fromkeys(KINDS, 0.0)
    for position, audience in enumerate(engine.audiences_of(items)):
        item = audience.item
        past = past_buyers.indices[past_buyers.indptr[item]:past_buyers.indptr[item + 1]]
        for kind in KINDS:
            lists[kind][METHODS[kind][0]].append(_padded(audience.top(kind, k)[0], k))
            expected[kind] += float(audience.part(kind)[1].sum())
        for method, matrix in (("decayed purchase days", decayed), ("purchase days", days)):
            row = matrix[item]
            lists["repeat"][method].append(_ranked(row.indices, row.data, k))
        others = np.setdiff1d(np.arange(len(engine.users)), past)
        scores = {"EASE item column": ease_columns[others, position], "most active buyers": activity[others]}
        scores["EASE + most active"] = standardised(np.column_stack(list(scores.values()))).sum(axis=1)
        for method, values in scores.items():
            lists["first_time"][method].append(_ranked(others, values, k))
        progress.update()
    rows, judged = {}, {}
    for kind in KINDS:
        wanted = relevant[kind].T.tocsr()[items]
        judged[kind] = int((wanted.getnnz(axis=1) > 0).sum())
        for method, method_lists in lists[kind].items():
            rows[(kind, method)] = float(recall_at_k(np.vstack(method_lists), wanted, k))
    table = pd.DataFrame({f"recall@{k}": rows}).rename_axis(["part", "method"])
    actual = {kind: int(relevant[kind][:, items].sum()) for kind in KINDS}
    return AudienceEvaluation(k, float(test_days), judged, table, expected, actual)
