"""Hyper-parameter search for the training config, on validation data only.

:func:`tune` first drops the last ``test_days`` days (the test split of ``recommender evaluate
--test-days``, cut by :func:`~recommender.splits.temporal_split`), so the search never sees a
test purchase. Each trial then runs :func:`training.train.tune_on_validation` on what is left,
which carves its own validation split (the config's ``validation_days``), fits the hybrid and
tunes its blend; the objective is the tuned blend's validation NDCG@k.

The search is random over the main knobs (see :func:`sample_params`): the interaction weighting
(scheme, half-life, BM25 ``K1``/``b``), ALS (factors, regularization, alpha, iterations),
popularity (smoothing, damping) and the content profile's recency exponent. Only the components
the base config has are tuned; the others keep their parameters. Trial 0 is the base config as
it is, so the best config is never worse than the base on validation. Trial ``i`` draws its
parameters from a generator seeded with ``(seed, i)``, so the same seed gives the same trials
whatever the budget.

For speed, trials measure only niche knob 0 (``niche_grid=(0.0,)``); the best config gets the
base config's niche settings back, and ``recommender train`` picks the knob from them.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from recommender.loaders import Dataset
from recommender.models import make_model
from recommender.splits import temporal_split
from training import train as train_module
from training.config import TrainConfig

log = logging.getLogger(__name__)

SCHEMES = ("bm25", "log", "raw")
NO_DECAY_SHARE = 0.2  # share of trials without time decay (half_life_days=None)

# Short column names for the table, in display order.
PARAM_LABELS = {
    "weighting.scheme": "scheme",
    "weighting.half_life_days": "half-life",
    "weighting.bm25_k1": "k1",
    "weighting.bm25_b": "b",
    "als.factors": "factors",
    "als.regularization": "reg",
    "als.alpha": "alpha",
    "als.iterations": "iters",
    "popularity.smoothing": "pop smooth",
    "popularity.damping": "pop damp",
    "content.recency": "recency",
}

# The model parameters the search tunes, per component.
TUNED_PARAMS = {
    "als": ("factors", "regularization", "alpha", "iterations"),
    "popularity": ("smoothing", "damping"),
    "content": ("recency",),
}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _round(value: float, digits: int = 3) -> float:
    """``value`` to ``digits`` significant digits (readable configs, no float noise)."""
    return float(f"{value:.{digits}g}")


def sample_params(rng: np.random.Generator, components: dict) -> dict:
    """One random point of the search space, as flat ``"section.name": value`` pairs.

    Model parameters are drawn only for the models named in ``components``.
    """
    params = {}
    scheme = SCHEMES[int(rng.integers(len(SCHEMES)))]
    params["weighting.scheme"] = scheme
    decay = rng.random() >= NO_DECAY_SHARE
    half_life = round(_log_uniform(rng, 90.0, 730.0))
    params["weighting.half_life_days"] = float(half_life) if decay else None
    k1, b = _round(_log_uniform(rng, 1.0, 300.0)), _round(float(rng.uniform(0.3, 1.0)))
    if scheme == "bm25":
        params["weighting.bm25_k1"], params["weighting.bm25_b"] = k1, b
    # every draw is made whether used or not, so later knobs do not shift with earlier choices
    als = {"factors": int(rng.integers(4, 17)) * 8,                     # 32..128, steps of 8
           "regularization": _round(_log_uniform(rng, 1e-3, 1.0)),
           "alpha": _round(_log_uniform(rng, 0.1, 20.0)),
           "iterations": int(rng.integers(10, 31))}
    popularity = {"smoothing": _round(_log_uniform(rng, 1.0, 1000.0)),
                  "damping": ("log", "none")[int(rng.integers(2))]}
    content = {"recency": _round(float(rng.uniform(0.0, 2.0)))}
    for name, values in (("als", als), ("popularity", popularity), ("content", content)):
        if name in components:
            params.update({f"{name}.{key}": value for key, value in values.items()})
    return params


def base_params(config: TrainConfig) -> dict:
    """The base config's values of the knobs :func:`sample_params` would draw (same keys)."""
    weighting = config.interaction_weighting.to_dict()
    params = {"weighting.scheme": weighting["scheme"], "weighting.half_life_days": weighting["half_life_days"]}
    if weighting["scheme"] == "bm25":
        params["weighting.bm25_k1"], params["weighting.bm25_b"] = weighting["bm25_k1"], weighting["bm25_b"]
    for name, keys in TUNED_PARAMS.items():
        if name in config.components:
            given = make_model(name, config.components[name]).get_params()  # the model's defaults filled in
            params.update({f"{name}.{key}": given[key] for key in keys})
    return params


def apply_params(config: TrainConfig, params: dict) -> TrainConfig:
    """A copy of ``config`` with the flat ``params`` written into its weighting and components."""
    values = copy.deepcopy(config.to_dict())
    for key, value in params.items():
        section, name = key.split(".", 1)
        if section == "weighting":
            values["weighting"][name] = value
        else:
            values["components"].setdefault(section, {})
            if values["components"][section] is None:
                values["components"][section] = {}
            values["components"][section][name] = value
    return TrainConfig.from_dict(values, "tuned config")


def _trial_config(config: TrainConfig) -> TrainConfig:
    """``config`` measured at niche knob 0 only (the knob is picked later by train)."""
    values = copy.deepcopy(config.to_dict())
    values["niche_grid"] = (0.0,)
    if values["niche"] != "auto":
        values["niche"] = 0.0
    return TrainConfig.from_dict(values, "trial config")


def _with_base_niche(config: TrainConfig, base: TrainConfig) -> TrainConfig:
    """``config``'s weighting and components with every other field from ``base``."""
    values = copy.deepcopy(base.to_dict())
    values["weighting"] = copy.deepcopy(config.weighting)
    values["components"] = copy.deepcopy(config.components)
    return TrainConfig.from_dict(values, "best config")


class _StageReporter:
    """Stands in for the progress bar ``tune_on_validation`` drives: shows its stage on ours."""

    def __init__(self, bar: tqdm, trial: int):
        self.bar, self.trial = bar, trial

    def set_description(self, description: str, refresh: bool = True) -> None:
        self.bar.set_postfix_str(f"trial {self.trial}: {description}", refresh=refresh)

    def update(self, n: int = 1) -> None:
        pass


@dataclass
class TuneResult:
    """What :func:`tune` found.

    ``trials`` holds one dict per trial run, in order: ``trial`` (0 = the base config),
    ``params`` (flat ``"section.name": value``), ``score`` (validation blend NDCG@k, ``None`` if
    the trial failed), ``seconds``, ``config`` (the trial's full config, as a dict) and, for a
    failed trial, ``error``.
    """

    best_config: TrainConfig
    trials: list[dict]
    best_index: int
    k: int = 10
    test_days: float = 30
    seconds: float = 0.0
    stopped_by: str = "trials"
    info: dict = field(default_factory=dict)

    @property
    def best(self) -> dict:
        return self.trials[self.best_index]

    @property
    def base_score(self) -> float | None:
        return self.trials[0]["score"]

    @property
    def best_score(self) -> float:
        return self.best["score"]

    def to_dict(self) -> dict:
        """A JSON-ready record of the search (e.g. to keep next to the best config)."""
        return {"metric": f"validation blend ndcg@{self.k}", "test_days_excluded": self.test_days,
                "best_trial": self.best["trial"], "best_score": self.best_score, "base_score": self.base_score,
                "seconds": round(self.seconds, 2), "stopped_by": self.stopped_by, **self.info,
                "best_config": self.best_config.to_dict(),
                "trials": [{key: value for key, value in trial.items() if key != "config"} for trial in self.trials]}

    def table(self) -> str:
        """The trials sorted by score (best first, failed last); ``*`` marks the best, ``base`` trial 0."""
        keys = [key for key in PARAM_LABELS if any(key in t["params"] for t in self.trials)]
        keys += sorted({key for t in self.trials for key in t["params"]} - set(keys))
        header = ["", "trial", f"ndcg@{self.k}", "seconds"] + [PARAM_LABELS.get(key, key) for key in keys]

        def cell(value) -> str:
            if value is None:
                return "-"
            if isinstance(value, float):
                return f"{value:g}"
            return str(value)

        order = sorted(range(len(self.trials)),
                       key=lambda i: (self.trials[i]["score"] is None, -(self.trials[i]["score"] or 0.0), i))
        rows = []
        for i in order:
            trial = self.trials[i]
            mark = "*" if i == self.best_index else ""
            name = f"{trial['trial']} base" if trial["trial"] == 0 else str(trial["trial"])
            score = "failed" if trial["score"] is None else f"{trial['score']:.4f}"
            rows.append([mark, name, score, f"{trial['seconds']:.1f}"]
                        + [cell(trial["params"].get(key)) for key in keys])
        widths = [max(len(row[c]) for row in [header] + rows) for c in range(len(header))]
        lines = ["  ".join(text.rjust(width) if c >= 2 else text.ljust(width)
                           for c, (text, width) in enumerate(zip(row, widths))).rstrip()
                 for row in [header] + rows]
        summary = (f"best: trial {self.best['trial']}, validation NDCG@{self.k} {self.best_score:.4f}"
                   + (f" (base {self.base_score:.4f}, {self.best_score - self.base_score:+.4f})"
                      if self.base_score is not None else " (base trial failed)")
                   + f"; {len(self.trials)} trials in {self.seconds:.0f} s, stopped by the {self.stopped_by} budget; "
                   f"last {self.test_days:g} days (test split) excluded")
        return "\n".join(lines + ["", summary])


def _describe(params: dict) -> str:
    return ", ".join(f"{PARAM_LABELS.get(key, key)}={value}" for key, value in params.items())


def tune(dataset: Dataset, base_config: TrainConfig | None = None, trials: int | None = 20,
         minutes: float | None = None, test_days: float = 30, seed: int = 0,
         show_progress: bool = True) -> TuneResult:
    """Random search over the training config by validation blend NDCG@k, test split excluded.

    ``trials`` caps the number of trials (trial 0 is ``base_config`` itself); ``minutes`` stops
    starting new trials once that much time has passed (the running trial finishes). Either may
    be ``None`` but not both; at least one trial always runs. Returns the best config (with the
    base config's niche settings) and every trial.
    """
    base_config = base_config or TrainConfig()
    if trials is None and minutes is None:
        raise ValueError("tune: give a budget in trials, minutes or both")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ValueError(f"tune: trials must be a positive integer, got {trials!r}")
    if minutes is not None and not (isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
                                    and math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"tune: minutes must be a positive number, got {minutes!r}")

    train_part, _ = temporal_split(dataset, test_days)
    cutoff = train_part.purchases.timestamp.max()
    log.info("tuning on %s purchase lines up to %s (the last %g days, the test split, are left out)",
             f"{len(train_part.purchases):,}", cutoff, test_days)
    key = f"blend_ndcg@{base_config.k}"
    budget_seconds = None if minutes is None else 60.0 * minutes
    results: list[dict] = []
    best_index = None
    stopped_by = "trials"
    start = time.perf_counter()
    with threadpool_limits(1, "blas"), tqdm(total=trials, disable=not show_progress, unit="trial",
                                           desc="tune") as bar:
        index = 0
        while trials is None or index < trials:
            elapsed = time.perf_counter() - start
            if index > 0 and budget_seconds is not None and elapsed >= budget_seconds:
                stopped_by = "minutes"
                break
            if index == 0:
                params = base_params(base_config)
                config = base_config
            else:
                params = sample_params(np.random.default_rng([seed, index]), base_config.components)
                config = apply_params(base_config, params)
            trial_start = time.perf_counter()
            record = {"trial": index, "params": params, "score": None, "seconds": 0.0, "config": config.to_dict()}
            try:
                validation = train_module.tune_on_validation(train_part, _trial_config(config),
                                                             _StageReporter(bar, index))
                record["score"] = float(validation[key]["all"])
            except Exception as exc:  # noqa: BLE001 - one bad point must not end the search
                if index == 0:
                    raise
                record["error"] = f"{type(exc).__name__}: {exc}"
                log.warning("trial %d failed (%s): %s", index, record["error"], _describe(params))
            record["seconds"] = round(time.perf_counter() - trial_start, 2)
            results.append(record)
            if record["score"] is not None and (best_index is None or record["score"] > results[best_index]["score"]):
                best_index = len(results) - 1
            best = results[best_index]
            if record["score"] is not None:
                log.info("trial %d: NDCG@%d %.4f in %.1f s (best %.4f, trial %d): %s", index, base_config.k,
                         record["score"], record["seconds"], best["score"], best["trial"], _describe(params))
            bar.update()
            bar.set_postfix_str(f"best {best['score']:.4f} (trial {best['trial']})")
            index += 1

    total = time.perf_counter() - start
    best_config = _with_base_niche(TrainConfig.from_dict(results[best_index]["config"], "best trial"), base_config)
    return TuneResult(best_config, results, best_index, k=base_config.k, test_days=test_days, seconds=total,
                      stopped_by=stopped_by,
                      info={"tuning_data_end": str(cutoff), "tuning_purchase_lines": int(len(train_part.purchases)),
                            "seed": seed})
