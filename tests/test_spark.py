"""`recommender train --backend spark`: Spark in local mode on small generated data, for real.

One SparkSession (local[2]) serves the whole module; the CLI reuses it (an active session is
used as it is). pyspark comes with `make test` (`.[dev,spark]`), Java 17+ is on the machine.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import CATALOG, PURCHASES, write
from fastapi.testclient import TestClient

from recommender.artifacts import load_model_directory
from recommender.cli import main
from recommender.contract import ContractError
from recommender.engine import RecommendationEngine
from recommender.features.encoders import IdEncoder
from recommender.features.interactions import InteractionWeighting
from recommender.loaders import UNKNOWN_ITEM_OUTCOMES, load_dataset
from recommender.models.als import als_fold_in
from recommender.models.spark_als import SparkALSRecommender
from recommender.spark import SparkUnavailable, require_spark
from serving import create_app
from serving.settings import ServingSettings
from training.config import TrainConfig
from training.spark_train import spark_input

SMALL_ALS = {"als": {"factors": 16, "regularization": 0.05, "iterations": 5}, "content": {}, "popularity": {}}


@pytest.fixture(scope="module")
def spark_model(spark, small_market, tmp_path_factory) -> tuple:
    """A model directory written by `train --backend spark` on the small marketplace."""
    purchases, catalog = small_market
    config = tmp_path_factory.mktemp("spark_config") / "config.json"
    config.write_text(json.dumps({"components": SMALL_ALS, "blend_trials": 30}))
    out = tmp_path_factory.mktemp("spark_model") / "model"
    assert main(["train", "--backend", "spark", "--spark-master", "local[2]", "--purchases", str(purchases),
                 "--catalog", str(catalog), "--config", str(config), "--out", str(out), "--quiet"]) == 0
    return out, load_dataset(purchases, catalog)


def assert_same_inputs(local, spark_built) -> None:
    assert list(spark_built.users.ids) == list(local.users.ids)
    assert list(spark_built.items.ids) == list(local.items.ids)
    assert spark_built.reference_time == local.reference_time
    np.testing.assert_array_equal(spark_built.user_tiers, local.user_tiers)
    for name in ("confidence", "user_items"):
        a, b = getattr(local, name), getattr(spark_built, name)
        assert a.shape == b.shape and a.nnz == b.nnz, name
        np.testing.assert_allclose(b.toarray(), a.toarray(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.fixture(scope="module")
def small_input(spark, small_market):
    return spark_input(spark, *small_market)


@pytest.mark.parametrize("weighting", [{}, {"scheme": "tfidf", "half_life_days": None}, {"scheme": "recency"},
                                       {"scheme": "binary"}], ids=["bm25-decay", "tfidf", "recency", "binary"])
def test_spark_builds_the_same_interactions_as_the_local_pipeline(small_input, small_market, weighting):
    config = TrainConfig(weighting={**InteractionWeighting().to_dict(), **weighting})
    local = config.training_data(load_dataset(*small_market))
    built = small_input.training_data(config)
    assert_same_inputs(local, built)


def test_spark_als_uses_the_confidences_of_the_local_als(small_input):
    """Spark solves the buyers last, exactly, against its final item factors: the local ALS's fold-in
    of each buyer's history (confidence 1 + alpha * weight) must give Spark's buyer factors back.
    Spark's ridge penalty on a buyer is regParam times the buyer's number of ratings (ALS-WR)."""
    data = small_input.training_data(TrainConfig())
    model = SparkALSRecommender(factors=8, alpha=0.5, regularization=0.05, iterations=3, map_cold_items=False,
                                checkpoint_interval=0).fit(data)
    items = model.item_factors_.astype(np.float64)
    counts = data.user_items.getnnz(axis=1)
    for convention, close in (("paper", True), ("implicit", False)):
        folded = np.zeros_like(model.user_factors_)
        for count in np.unique(counts):
            rows = np.flatnonzero(counts == count)
            folded[rows] = als_fold_in(data.user_items[rows], items, items.T @ items,
                                       model.spark_reg_param_ * count, model.alpha, convention)
        difference = np.abs(folded - model.user_factors_).max() / np.abs(model.user_factors_).max()
        assert (difference < 1e-3) == close, (convention, difference)


def test_spark_applies_the_contract_policies_like_the_loader(spark, tmp_path):
    """Returns dropped, an unknown item dropped (or added), epoch/offset/date times, `tier 3`, empty quantity."""
    text = PURCHASES + "u5,NOT-IN-CATALOG,2025-10-02,1,o6,5,Xian,2\n"
    purchases, catalog = write(tmp_path / "purchases.csv.gz", text), write(tmp_path / "catalog.csv", CATALOG)
    for policy in ("drop", "add"):
        dataset = load_dataset(purchases, catalog, unknown_items=policy)
        source = spark_input(spark, purchases, catalog, unknown_items=policy)
        assert source.reports[0].dropped == dataset.reports[0].dropped
        # the loader's hint, without the row: Spark reads the lines in no particular order
        assert source.reports[0].notes == ["1 item not in the catalog ('NOT-IN-CATALOG') in 1 purchase line: "
                                           + UNKNOWN_ITEM_OUTCOMES[policy]]
        assert source.counts()["purchase_lines"] == len(dataset.purchases)
        assert list(source.catalog.item_id) == list(dataset.catalog.item_id)
        assert_same_inputs(TrainConfig().training_data(dataset), source.training_data(TrainConfig()))


def test_a_purchases_file_without_a_column_is_named_in_the_error(spark, tmp_path, capsys):
    purchases = write(tmp_path / "purchases.csv", "user_id,item_id,quantity\nu1,FH-1,1\n")
    catalog = write(tmp_path / "catalog.csv", CATALOG)
    assert main(["train", "--backend", "spark", "--purchases", str(purchases), "--catalog", str(catalog),
                 "--out", str(tmp_path / "model"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{purchases}: missing required column 'timestamp'" in err
    assert not (tmp_path / "model").exists()


def test_a_broken_value_is_named_with_file_column_and_value(spark, tmp_path):
    purchases = write(tmp_path / "purchases.csv", PURCHASES + "u9,FH-1,2025-13-01,1,o9,1,Xian,2\n"
                                                              "u9,FH-1,someday,1,o9,1,Xian,2\n")
    catalog = write(tmp_path / "catalog.csv", CATALOG)
    with pytest.raises(ContractError, match=r"purchases\.csv: column 'timestamp': .*ISO 8601.*value '2025-13-01'.*"
                                            r"2 rows in all"):
        spark_input(spark, purchases, catalog)


def test_spark_model_directory_serves_and_excludes_purchases(spark_model):
    out, dataset = spark_model
    engine, manifest = load_model_directory(out, RecommendationEngine)
    assert manifest["training_backend"]["backend"] == "spark"
    assert isinstance(dict(engine.model.components)["als"], SparkALSRecommender)
    # string ids round-trip: the buyers of the file, in the single-machine encoder's order
    buyers = dataset.purchases.user_id.cat.categories
    assert list(engine.users.ids) == list(buyers)
    np.testing.assert_array_equal(engine.users.decode(engine.users.encode(buyers)), np.asarray(buyers, dtype=object))
    assert list(engine.items.ids) == list(dataset.catalog.item_id)
    bought = dataset.purchases.groupby("user_id", observed=True).item_id.agg(lambda s: set(s.astype(str)))
    with TestClient(create_app(ServingSettings(model_dir=out))) as client:
        for user in buyers[:20]:
            response = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["user_id"] == user and body["personalized"]
            items = [item["item_id"] for item in body["items"]]
            assert len(items) == 10 and not set(items) & bought[user]
            assert set(items) <= set(dataset.catalog.item_id)
        assert client.get("/v1/model").json()["model_version"] == manifest["model_version"]


def test_spark_trained_model_recommends_from_the_cli(spark_model, tmp_path):
    out, dataset = spark_model
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": list(dataset.purchases.user_id.cat.categories[:5]) + ["NEW"]}).to_csv(users, index=False)
    assert main(["recommend", "--model", str(out), "--users", str(users), "--k", "5", "--out",
                 str(tmp_path / "recs.csv"), "--quiet"]) == 0
    recs = pd.read_csv(tmp_path / "recs.csv", dtype={"user_id": str, "item_id": str})
    assert recs.groupby("user_id").size().eq(5).all() and recs.user_id.nunique() == 6


def test_serving_a_spark_model_does_not_need_pyspark(spark_model):
    out, dataset = spark_model
    user = str(dataset.purchases.user_id.cat.categories[0])
    script = ("import sys; sys.modules['pyspark'] = None\n"  # any import of pyspark now fails
              "from recommender.artifacts import load_model_directory\n"
              f"engine, _ = load_model_directory({str(out)!r})\n"
              f"codes, _ = engine.recommend(engine.users.encode([{user!r}]), 5)\n"
              "print((codes >= 0).sum())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"


def test_spark_als_needs_training_data_built_by_spark(small_market):
    data = TrainConfig().training_data(load_dataset(*small_market))
    with pytest.raises(ValueError, match="no Spark ratings.*--backend spark"):
        SparkALSRecommender(factors=4, iterations=1).fit(data)


def test_missing_pyspark_says_what_to_install(monkeypatch, contract_files, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    purchases, catalog = contract_files
    assert main(["train", "--backend", "spark", "--purchases", str(purchases), "--catalog", str(catalog),
                 "--out", str(tmp_path / "model"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "needs pyspark, which is not installed" in err and "pip install 'recommender[spark]'" in err


def test_missing_or_old_java_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(SparkUnavailable, match=r"needs Java 17\+.*no-jdk has no bin/java.*JAVA_HOME"):
        require_spark()
    old = tmp_path / "jdk8"
    (old / "bin").mkdir(parents=True)
    java = old / "bin" / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "1.8.0_392"\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(old))
    with pytest.raises(SparkUnavailable, match=r"needs Java 17\+, but .*jdk8/bin/java is Java 8.*openjdk-17"):
        require_spark()


def test_spark_options_need_the_spark_backend(contract_files, tmp_path, capsys):
    purchases, catalog = contract_files
    assert main(["train", "--spark-master", "local[2]", "--purchases", str(purchases), "--catalog", str(catalog),
                 "--out", str(tmp_path / "model"), "--quiet"]) == 2
    assert "need --backend spark" in capsys.readouterr().err


def test_the_model_search_runs_on_spark_and_keeps_its_scoreboard(spark, small_market, tmp_path):
    """train --backend spark with the default search (two families, a budget planning five
    candidates on two validation windows): ALS candidates fit on Spark, RP3beta's item-item weights
    computed there, and the manifest keeps the scoreboard."""
    purchases, catalog = small_market
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"families": ["als", "rp3beta"], "budget_minutes": 0.004, "blend_trials": 10,
                                  "components": None}))
    out = tmp_path / "model"
    assert main(["train", "--backend", "spark", "--spark-master", "local[2]", "--purchases", str(purchases),
                 "--catalog", str(catalog), "--config", str(config), "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    search = manifest["validation"]["search"]
    assert {trial["family"] for trial in search["trials"] if trial["status"] == "ok"} == {"als", "rp3beta"}
    assert next(iter(manifest["parameters"]["components"])) == search["best"]["family"]
    assert manifest["training_backend"]["backend"] == "spark"


def test_forecast_on_spark_matches_the_local_backend(spark, forecast_market, tmp_path):
    purchases, catalog = forecast_market
    common = ["forecast", "--purchases", str(purchases), "--catalog", str(catalog), "--horizon", "6", "--by",
              "item,city_tier", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "local.csv")]) == 0
    spark_out = str(tmp_path / "spark.csv")
    assert main([*common, "--backend", "spark", "--spark-master", "local[2]", "--out", spark_out]) == 0
    local, on_spark = pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "spark.csv")
    assert list(on_spark.columns) == list(local.columns) and len(on_spark) == len(local) == 10 * 6
    assert (on_spark.model == local.model).all()
    for column in ("p10", "p50", "p90"):  # statsforecast on Spark computes in float32: equal to 0.01 units
        assert (on_spark[column] - local[column]).abs().max() <= 0.01 + 1e-9
    with pytest.raises(SystemExit):
        main([*common[:-1], "--backend", "mapreduce", "--out", str(tmp_path / "x.csv")])


def test_spark_collects_the_same_purchase_days_as_the_local_input(small_input, small_market):
    from training.train import LocalInput

    local = LocalInput(load_dataset(*small_market))
    users = IdEncoder(local.dataset.purchases.user_id.cat.categories)
    spark_history, driver_history = small_input.buyer_history(users), local.buyer_history(users)
    on_spark, on_driver = spark_history.pairs, driver_history.pairs
    assert (on_spark.pattern != on_driver.pattern).nnz == 0
    for field in ("days", "first_age", "last_age", "decayed", "units"):
        np.testing.assert_allclose(getattr(on_spark, field), getattr(on_driver, field), rtol=1e-6, err_msg=field)
    assert spark_history.place_names == driver_history.place_names and len(driver_history.place_names) > 1
    agree = spark_history.places == driver_history.places
    assert agree.mean() > 0.95  # a tie between two cities may be broken apart: Spark counts days, not lines
