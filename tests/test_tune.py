"""`training.tune` and `recommender tune`: the model search of train, test split excluded, saved as a config."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import training.tune as tune_module
from recommender.cli import main
from recommender.loaders import load_dataset
from training.config import TrainConfig
from training.search import SEARCHED, default_budget_seconds
from training.tune import TUNE_BUDGET_FACTOR, tune

pytestmark = pytest.mark.slow  # each test runs the model search


@pytest.fixture(scope="module")
def market(small_market):
    purchases, catalog = small_market
    return load_dataset(purchases, catalog)


@pytest.fixture(scope="module")
def tuned(market):
    """One tune run, with a spy on what the search saw."""
    seen = []
    real = tune_module.tune_on_validation

    def spy(dataset, config, progress):
        seen.append((dataset, config))
        return real(dataset, config, progress)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tune_module, "tune_on_validation", spy)
        result = tune(market, TrainConfig(niche_grid=(0.0, 0.5, 1.0)), test_days=30, show_progress=False)
    return result, seen


def test_tune_searches_only_the_days_before_the_test_split(tuned, market):
    result, seen = tuned
    (dataset, config), = seen
    cutoff = market.purchases.timestamp.max() - pd.Timedelta(days=30)
    assert dataset.purchases.timestamp.max() <= cutoff
    assert config.searches and config.budget_minutes == pytest.approx(
        TUNE_BUDGET_FACTOR * default_budget_seconds(len(dataset.purchases), config.validation_windows) / 60)


def test_tune_writes_a_config_naming_the_chosen_model(tuned):
    result, _ = tuned
    best = result.best_config
    assert not best.searches and best.budget_minutes is None
    family = result.validation["search"]["best"]["family"]
    assert family in SEARCHED and best.components[family] == result.validation["search"]["best"]["params"]
    assert set(best.components) == {family, "content", "popularity"}
    assert best.components[family] == result.validation["search"]["best"]["params"]
    assert best.weighting == result.validation["search"]["best"]["weighting"]
    assert best.niche_grid == (0.0, 0.5, 1.0)  # the rest of the base config is kept
    table = result.table()
    assert "* " in table and "test split) excluded" in table


def test_train_with_the_tuned_config_trains_that_model_without_searching(tuned, small_market, tmp_path):
    result, _ = tuned
    config = result.best_config.save(tmp_path / "best.json")
    purchases, catalog = small_market
    assert main(["train", "--purchases", str(purchases), "--catalog", str(catalog), "--config", str(config),
                 "--out", str(tmp_path / "model"), "--quiet"]) == 0
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["validation"]["search"] is None
    assert manifest["parameters"]["components"] == result.best_config.components


def test_tune_command_writes_the_config_and_refuses_a_bad_budget(small_market, tmp_path, capsys):
    purchases, catalog = small_market
    out = tmp_path / "best.json"
    assert main(["tune", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--budget", "0.2", "--quiet"]) == 0
    saved = TrainConfig.from_file(out)
    assert not saved.searches
    assert "written to" in capsys.readouterr().out
    assert main(["tune", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(tmp_path / "x.json"),
                 "--budget", "-1", "--quiet"]) == 2
    assert "budget_minutes" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
