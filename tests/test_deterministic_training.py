"""The same data, configuration and seed give the same model and lists, however busy the machine.

The model search plans its budget in estimated seconds from the data's size (never a clock), so a
training run with both cores kept busy by other processes makes the same choices as one on a
quiet machine, including when the budget is small enough to stop the search early.
"""
from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from recommender.loaders import load_dataset
from training.config import TrainConfig
from training.train import train


def spin(stop: multiprocessing.Event) -> None:
    """Keep one core busy until ``stop`` is set."""
    while not stop.is_set():
        sum(range(10_000))


class BusyCores:
    """Two processes that keep both cores busy while the block runs."""

    def __enter__(self):
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.workers = [context.Process(target=spin, args=(self.stop,), daemon=True) for _ in range(2)]
        for worker in self.workers:
            worker.start()
        time.sleep(0.5)  # let them start spinning
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()


def without_timings(value):
    """A manifest record with the measured seconds left out (what varies with the machine's load)."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key != "seconds"}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def trained(dataset, config: TrainConfig) -> tuple[dict, np.ndarray]:
    """What a training run chose (its validation record without timings, the default knob) and
    the top-20 lists of every buyer."""
    result = train(dataset, config, show_progress=False)
    record = {"validation": without_timings(result.validation), "config": result.config.to_dict(),
              "niche": result.engine.default_niche}
    lists, _ = result.engine.recommend(np.arange(len(result.engine.users)), 20)
    return record, lists


@pytest.fixture(scope="module")
def market(small_market):
    return load_dataset(*small_market)


@pytest.mark.slow
@pytest.mark.parametrize("budget_minutes", [None, 0.002], ids=["default budget", "budget that stops the search"])
def test_training_under_load_chooses_the_same_model_and_lists(market, budget_minutes):
    config = TrainConfig(budget_minutes=budget_minutes)
    quiet, quiet_lists = trained(market, config)
    with BusyCores():
        busy, busy_lists = trained(market, config)
    search = quiet["validation"]["search"]
    if budget_minutes is not None:
        assert search["stopped_by"] == "budget"  # the small budget cut the plan short
    assert busy == quiet
    np.testing.assert_array_equal(busy_lists, quiet_lists)


def test_the_configs_seed_seeds_the_models(market):
    config = TrainConfig(components={"als": {"factors": 8, "iterations": 2}, "content": {}, "popularity": {}},
                         niche=0.0, blend_trials=2, seed=5)
    result = train(market, config, show_progress=False)
    assert result.engine.model.component("collaborative").random_state == 5
