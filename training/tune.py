"""``recommender tune``: the model search of ``recommender train``, with a bigger budget, saved as a config.

:func:`tune` drops the last ``test_days`` days (the test split of ``recommender evaluate
--test-days``, cut by :func:`~recommender.splits.temporal_split`), so the search never sees a test
purchase, then runs exactly what ``train`` runs on what is left
(:func:`training.train.tune_on_validation`: its validation split, the model search of
:mod:`training.search`, the blend and the niche knob), with :data:`TUNE_BUDGET_FACTOR` times the
budget ``train`` would give the same data unless told otherwise. The result is a config naming the
chosen components, weighting and parameters: ``train --config`` and ``evaluate --config`` then
train exactly that model, without searching again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

from recommender.loaders import Dataset
from recommender.progress import progress_bar
from recommender.splits import temporal_split
from training.config import TrainConfig
from training.search import default_budget_seconds, scoreboard_table
from training.train import tune_on_validation

log = logging.getLogger(__name__)

TUNE_BUDGET_FACTOR = 4.0


@dataclass
class TuneResult:
    """What :func:`tune` found: the config to train, and the validation record (scoreboard,
    blend, niche curve) it was chosen by."""

    best_config: TrainConfig
    validation: dict
    test_days: float

    def to_dict(self) -> dict:
        return {"test_days_excluded": self.test_days, "best_config": self.best_config.to_dict(),
                "validation": self.validation}

    def table(self) -> str:
        """The scoreboard, and what was chosen."""
        key = f"blend_ndcg@{self.best_config.k}"
        return (scoreboard_table(self.validation["search"]) + "\n"
                f"blend of the chosen model with content and popularity: validation NDCG@{self.best_config.k} "
                f"{self.validation[key]['all']:.4f}, default niche knob {self.validation['niche']:g}; "
                f"the last {self.test_days:g} days (test split) excluded")


def tune(dataset: Dataset, base_config: TrainConfig | None = None, budget_minutes: float | None = None,
         test_days: float = 30, show_progress: bool = True) -> TuneResult:
    """The model search on ``dataset`` minus its last ``test_days`` days, within ``budget_minutes``
    (default: :data:`TUNE_BUDGET_FACTOR` times train's default for the data). ``base_config`` fixes
    everything else (validation days, niche settings, a weighting or families to search among)."""
    base_config = base_config or TrainConfig()
    train_part, _ = temporal_split(dataset, test_days)
    if budget_minutes is None:
        budget_minutes = TUNE_BUDGET_FACTOR * default_budget_seconds(len(train_part.purchases),
                                                               base_config.validation_windows) / 60.0
    config = base_config.replaced("tune config", components=None, budget_minutes=float(budget_minutes))
    log.info("tuning on %s purchase lines up to %s (the last %g days, the test split, are left out), "
             "budget %.1f minutes", f"{len(train_part.purchases):,}", train_part.purchases.timestamp.max(),
             test_days, budget_minutes)
    with (threadpool_limits(1, "blas"),
          progress_bar(total=4, disable=not show_progress, unit="step", desc="tune") as bar):
        validation = tune_on_validation(train_part, config, bar).record
    best = TrainConfig.from_dict({**validation["config"], "budget_minutes": None}, "tuned config")
    return TuneResult(best, validation, float(test_days))
