"""`training.tune`: random search over the training config on validation data, test split excluded."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import training.train
from recommender.loaders import load_dataset
from training.config import TrainConfig
from training.tune import apply_params, base_params, sample_params, tune


@pytest.fixture(scope="module")
def market(small_market):
    purchases, catalog = small_market
    return load_dataset(purchases, catalog)


@pytest.fixture
def fake_validation(monkeypatch):
    """Replace the (slow) validation run by a score computed from the config; record every call."""
    calls = []

    def fake(dataset, config, progress):
        progress.set_description("validation: fake")
        progress.update()
        als = config.components.get("als", {})
        score = 0.1 + als.get("factors", 64) / 1000 + 0.01 * (config.weighting["scheme"] == "log")
        calls.append({"dataset": dataset, "config": config})
        return {f"blend_ndcg@{config.k}": {"all": round(score, 5)}}

    monkeypatch.setattr(training.train, "tune_on_validation", fake)
    return calls


def test_real_search_best_is_the_top_trial_and_trial_0_is_the_base(market):
    base = TrainConfig(niche_grid=(0.0, 0.5, 1.0), niche_max_ndcg_loss=0.1)
    result = tune(market, base, trials=3, seed=1, show_progress=False)
    assert [t["trial"] for t in result.trials] == [0, 1, 2]
    assert result.trials[0]["config"] == base.to_dict()
    assert result.trials[0]["params"] == base_params(base)
    scores = [t["score"] for t in result.trials]
    assert all(0.0 < s <= 1.0 for s in scores)
    assert result.best_score == max(scores) == scores[result.best_index]
    best_trial = TrainConfig.from_dict(result.best["config"])
    assert result.best_config.weighting == best_trial.weighting
    assert result.best_config.components == best_trial.components
    # the niche knob is left to train: the base config's niche settings come back
    assert result.best_config.niche_grid == base.niche_grid
    assert result.best_config.niche == base.niche and result.best_config.niche_max_ndcg_loss == 0.1
    assert result.best_score >= result.base_score
    table = result.table()
    best_line = next(line for line in table.splitlines() if line.startswith("*"))
    assert f"{result.best_score:.4f}" in best_line
    assert "0 base" in table


def test_trial_budget_and_trial_0_is_the_base(market, fake_validation):
    base = TrainConfig(components={"als": {"factors": 16}, "popularity": {"smoothing": 5.0}})
    result = tune(market, base, trials=5, show_progress=False)
    assert len(result.trials) == len(fake_validation) == 5
    assert result.stopped_by == "trials"
    trial_0 = fake_validation[0]["config"]
    assert trial_0.weighting == base.weighting and trial_0.components == base.components
    assert result.trials[0]["config"] == base.to_dict()
    # only the base config's components are tuned
    for call in fake_validation:
        assert set(call["config"].components) == {"als", "popularity"}
    # trials run at niche knob 0 only
    assert all(call["config"].niche_grid == (0.0,) for call in fake_validation)


def test_best_config_has_the_max_score_and_is_one_of_the_trials(market, fake_validation):
    result = tune(market, TrainConfig(), trials=8, seed=3, show_progress=False)
    scores = [t["score"] for t in result.trials]
    assert result.best_score == max(scores)
    matching = [t for t in result.trials if t["config"]["weighting"] == result.best_config.weighting
                and t["config"]["components"] == result.best_config.components]
    assert matching and max(t["score"] for t in matching) == max(scores)
    lines = result.table().splitlines()
    assert lines[1].startswith("*") and sum(line.startswith("*") for line in lines) == 1


def test_base_is_kept_when_no_trial_beats_it(market, fake_validation):
    base = TrainConfig(components={"als": {"factors": 4096}, "content": {}, "popularity": {}},
                       weighting={"scheme": "log", "half_life_days": 200.0})
    result = tune(market, base, trials=4, show_progress=False)
    assert result.best_index == 0
    assert result.best_config.to_dict() == base.to_dict()


def test_minutes_budget_stops_early(market, fake_validation, monkeypatch):
    fake = training.train.tune_on_validation

    def slow(dataset, config, progress):
        time.sleep(0.05)
        return fake(dataset, config, progress)

    monkeypatch.setattr(training.train, "tune_on_validation", slow)
    result = tune(market, TrainConfig(), trials=None, minutes=0.3 / 60, show_progress=False)
    assert result.stopped_by == "minutes"
    assert 2 <= len(result.trials) < 20
    # with the trials cap hit first, the cap wins
    assert len(tune(market, TrainConfig(), trials=2, minutes=10, show_progress=False).trials) == 2


def test_at_least_one_trial_runs(market, fake_validation):
    result = tune(market, TrainConfig(), trials=None, minutes=1e-9, show_progress=False)
    assert len(result.trials) == 1 and result.best_index == 0


def test_the_test_days_are_never_seen(market, fake_validation):
    last = market.purchases.timestamp.max()
    cutoff = last - pd.Timedelta(days=45)
    tune(market, TrainConfig(), trials=3, test_days=45, show_progress=False)
    assert len(fake_validation) == 3
    for call in fake_validation:
        seen = call["dataset"].purchases
        assert seen.timestamp.max() <= cutoff
        assert len(seen) == int((market.purchases.timestamp <= cutoff).sum())
        assert len(seen) < len(market.purchases)


def test_best_config_round_trips_through_a_file(market, fake_validation, tmp_path):
    result = tune(market, TrainConfig(), trials=6, seed=2, show_progress=False)
    assert result.best_index != 0  # the fake objective prefers other configs than the base
    path = result.best_config.save(tmp_path / "best.json")
    loaded = TrainConfig.from_file(path)
    assert loaded.to_dict() == result.best_config.to_dict()
    assert loaded == result.best_config


def test_same_seed_same_trials(market, fake_validation):
    first = tune(market, TrainConfig(), trials=5, seed=7, show_progress=False)
    again = tune(market, TrainConfig(), trials=5, seed=7, show_progress=False)
    other = tune(market, TrainConfig(), trials=5, seed=8, show_progress=False)
    params = [[t["params"] for t in result.trials] for result in (first, again, other)]
    assert params[0] == params[1] and params[0] != params[2]
    # trial i does not depend on the budget
    shorter = tune(market, TrainConfig(), trials=3, seed=7, show_progress=False)
    assert [t["params"] for t in shorter.trials] == params[0][:3]


def test_sampled_params_are_in_range_and_valid():
    components = TrainConfig().components
    for i in range(200):
        params = sample_params(np.random.default_rng([0, i]), components)
        assert params["weighting.scheme"] in ("bm25", "log", "raw")
        half_life = params["weighting.half_life_days"]
        assert half_life is None or 90 <= half_life <= 730
        assert ("weighting.bm25_k1" in params) == (params["weighting.scheme"] == "bm25")
        assert 32 <= params["als.factors"] <= 128
        assert 1e-3 <= params["als.regularization"] <= 1.0
        assert 0.1 <= params["als.alpha"] <= 20
        assert 10 <= params["als.iterations"] <= 30
        assert 0 <= params["content.recency"] <= 2
        apply_params(TrainConfig(), params)  # a valid TrainConfig


def test_failed_trial_is_recorded_and_search_goes_on(market, fake_validation, monkeypatch):
    fake = training.train.tune_on_validation

    def flaky(dataset, config, progress):
        if len(fake_validation) == 1:
            fake_validation.append(None)
            raise ValueError("degenerate point")
        return fake(dataset, config, progress)

    monkeypatch.setattr(training.train, "tune_on_validation", flaky)
    result = tune(market, TrainConfig(), trials=4, show_progress=False)
    assert len(result.trials) == 4
    assert result.trials[1]["score"] is None and "degenerate point" in result.trials[1]["error"]
    assert result.best["score"] is not None
    assert "failed" in result.table()


def test_bad_budgets_are_refused(market):
    with pytest.raises(ValueError, match="budget"):
        tune(market, TrainConfig(), trials=None, minutes=None)
    with pytest.raises(ValueError, match="trials"):
        tune(market, TrainConfig(), trials=0)
    with pytest.raises(ValueError, match="minutes"):
        tune(market, TrainConfig(), minutes=-1)
