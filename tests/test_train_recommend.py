"""`recommender train` and `recommender recommend`: model directories, manifests, batch scoring."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recommender.artifacts import ENGINE_FILE, MANIFEST, ModelDirectoryError, load_model_directory
from recommender.cli import main
from recommender.engine import RecommendationEngine
from recommender.loaders import load_dataset
from training.config import TrainConfig
from training.train import choose_niche


def test_model_directory_has_engine_and_complete_manifest(small_model, small_market):
    manifest = json.loads((small_model / MANIFEST).read_text())
    for field in ("model_version", "created_at", "data", "parameters", "validation", "libraries", "files",
                  "default_niche"):
        assert field in manifest, field
    assert len(manifest["data"]["fingerprint"]) == 64
    assert manifest["data"]["counts"]["buyers"] > 0 and manifest["data"]["counts"]["purchase_lines"] > 0
    assert manifest["libraries"]["implicit"] != "not installed"
    assert 0.0 <= manifest["default_niche"] <= 1.0
    assert [point["niche"] for point in manifest["validation"]["niche_curve"]] == list(TrainConfig().niche_grid)
    engine, loaded = load_model_directory(small_model, RecommendationEngine)
    assert loaded["model_version"] == manifest["model_version"]
    assert manifest["example_buyer"] == engine.example_buyer() is not None  # the buyer `make demo` shows
    assert not list(small_model.parent.glob(".*.tmp")), "no temporary directory is left behind"


def test_recommend_writes_ranked_lists_without_purchases(small_model, small_market, tmp_path, capsys):
    purchases, catalog = small_market
    data = load_dataset(purchases, catalog)
    buyers = list(data.purchases.user_id.cat.categories[:50])
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": buyers + ["NEW-BUYER"]}).to_csv(users, index=False)
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--k", "10",
                 "--out", str(out), "--quiet"]) == 0
    assert "1 unknown" in capsys.readouterr().out
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert set(recs.user_id) == set(buyers) | {"NEW-BUYER"}
    for _, group in recs.groupby("user_id"):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert group.item_id.is_unique
        assert group.score.is_monotonic_decreasing  # the re-ranked score, which the ranks follow
    bought = data.purchases.groupby("user_id", observed=True).item_id.agg(lambda s: set(s.astype(str)))
    for user, group in recs[recs.user_id != "NEW-BUYER"].groupby("user_id"):
        assert not (set(group.item_id) & bought[user]), f"{user} was recommended an item already bought"
    unavailable = set(data.catalog.item_id[~data.catalog.available])
    assert not (set(recs.item_id) & unavailable)


def test_include_purchased_and_niche_options(small_model, small_market, tmp_path):
    purchases, catalog = small_market
    data = load_dataset(purchases, catalog)
    heavy = data.purchases.user_id.value_counts().index[0]
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": [heavy]}).to_csv(users, index=False)
    with_bought, plain = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--k", "20", "--out",
                 str(with_bought), "--include-purchased", "--niche", "0", "--quiet"]) == 0
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--k", "20", "--out",
                 str(plain), "--niche", "0", "--quiet"]) == 0
    bought = set(data.purchases.item_id[data.purchases.user_id == heavy].astype(str))
    assert set(pd.read_csv(with_bought, dtype=str).item_id) & bought
    pure_relevance = pd.read_csv(plain, dtype={"item_id": str})
    assert not set(pure_relevance.item_id) & bought
    assert pure_relevance.score.is_monotonic_decreasing  # niche 0: the model's own order


def test_unknown_buyers_get_the_cold_start_ranking(small_model):
    engine, _ = load_model_directory(small_model, RecommendationEngine)
    codes, scores = engine.recommend(np.array([-1, -1]), 10, tiers=np.array([1, 1]), niche=0.0)
    assert (codes >= 0).all()
    assert codes[0].tolist() == codes[1].tolist()  # same context, same ranking


def test_a_model_directory_loads_and_recommends_without_importing_scikit_learn(small_model):
    """The engine keeps its content transformers pickled apart (read when an item is added), so
    `recommender recommend` does not spend ~0.6 s importing scikit-learn."""
    script = f"""
import sys
import numpy as np
from recommender.artifacts import load_model_directory
engine, _ = load_model_directory({str(small_model)!r})
engine.recommend(np.arange(3), 5)
engine.similar_items(np.arange(3), 5)
print(sorted(name for name in sys.modules if name.partition(".")[0] == "sklearn"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("damage, message", [
    ("no manifest", "manifest.json is missing"),
    ("bad json", "not valid JSON"),
    ("engine changed", "checksum does not match"),
    ("engine missing", "engine.joblib is missing"),
    ("old format", "format_version 0 is not supported"),
])
def test_broken_model_directory_is_refused(small_model, tmp_path, damage, message):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(small_model, broken)
    manifest = broken / MANIFEST
    if damage == "no manifest":
        manifest.unlink()
    elif damage == "bad json":
        manifest.write_text("{not json")
    elif damage == "engine changed":
        with open(broken / ENGINE_FILE, "ab") as handle:
            handle.write(b"x")
    elif damage == "engine missing":
        (broken / ENGINE_FILE).unlink()
    else:
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 0}))
    with pytest.raises(ModelDirectoryError, match=message):
        load_model_directory(broken, RecommendationEngine)


def test_recommend_cli_reports_a_broken_model_clearly(tmp_path, capsys):
    users = tmp_path / "users.csv"
    users.write_text("user_id\nu1\n")
    assert main(["recommend", "--model", str(tmp_path / "nope"), "--users", str(users), "--out",
                 str(tmp_path / "r.csv")]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_recommend_rejects_a_users_file_without_user_id(small_model, tmp_path, capsys):
    users = tmp_path / "users.csv"
    users.write_text("buyer\nu1\n")
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--out",
                 str(tmp_path / "r.csv")]) == 2
    assert f"error: {users}: missing required column 'user_id' (found: buyer)" in capsys.readouterr().err


@pytest.mark.parametrize("config, message", [
    ({"components": {"als": {"factors": 8}, "magic": {}}}, "unknown component 'magic'"),
    ({"niche": 2}, "'niche' must be 'auto' or a number from 0 to 1"),
    ({"weighting": {"scheme": "cubic"}}, "weighting scheme must be one of"),
    ({"learning_rate": 1}, "unknown field 'learning_rate'"),
    ({"validation_windows": 0}, "'validation_windows' must be a positive integer"),
])
def test_bad_config_is_refused_before_training(small_market, tmp_path, capsys, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    purchases, catalog = small_market
    out = tmp_path / "model"
    assert main(["train", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--config", str(path), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_train_with_a_toml_config(small_market, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('niche = 0.3\nvalidation_days = 45\n[weighting]\nscheme = "log"\nhalf_life_days = 180\n'
                    '[components.als]\nfactors = 16\n[components.popularity]\n')
    purchases, catalog = small_market
    out = tmp_path / "model"
    assert main(["train", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--config", str(path), "--quiet"]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["default_niche"] == 0.3
    assert manifest["parameters"]["weighting"]["scheme"] == "log"
    assert list(manifest["parameters"]["components"]) == ["als", "popularity"]


def test_recommend_with_reasons_writes_the_apis_reasons(small_model, small_market, tmp_path):
    from fastapi.testclient import TestClient

    from serving import create_app
    from serving.settings import ServingSettings

    purchases, catalog = small_market
    buyers = list(load_dataset(purchases, catalog).purchases.user_id.cat.categories[:15])
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": buyers + ["NEW-BUYER"]}).to_csv(users, index=False)
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--k", "8", "--reasons",
                 "--out", str(out), "--quiet"]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str, "reason": str})
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "reason"]
    assert recs.reason.notna().all()
    assert recs.reason.str.startswith("bought by buyers who bought").any()
    with TestClient(create_app(ServingSettings(model_dir=small_model))) as client:
        for user in buyers[:5] + ["NEW-BUYER"]:
            answer = client.get(f"/v1/users/{user}/recommendations?k=8").json()
            mine = recs[recs.user_id == user]
            assert mine.item_id.tolist() == [item["item_id"] for item in answer["items"]]
            assert mine.reason.tolist() == [item["reason"] for item in answer["items"]]


def test_recommend_writes_parquet_with_text_ids(small_model, tmp_path):
    import pyarrow.parquet as pq

    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": ["NEW-1", "NEW-2"]}).to_csv(users, index=False)
    assert main(["recommend", "--model", str(small_model), "--users", str(users), "--k", "3",
                 "--out", str(tmp_path / "recs.parquet"), "--quiet"]) == 0
    recs = pq.read_table(tmp_path / "recs.parquet").to_pandas()
    assert recs.user_id.astype(str).tolist() == ["NEW-1"] * 3 + ["NEW-2"] * 3
    assert recs["rank"].tolist() == [1, 2, 3] * 2


def test_the_default_knob_never_takes_the_blend_below_the_popularity_floor():
    curve = [{"niche": knob, "ndcg@10": ndcg} for knob, ndcg in
             ((0.0, 0.100), (0.25, 0.099), (0.5, 0.097), (0.75, 0.096), (1.0, 0.080))]
    config = TrainConfig()
    assert choose_niche(curve, config) == 0.75  # within 5% of pure relevance
    assert choose_niche(curve, config, floor=0.0975) == 0.25  # the best popularity candidate is the bar
    assert choose_niche(curve, config, floor=0.2) == 0.0  # a blend below its floor gets no niche knob


def test_validation_windows_are_consecutive_latest_first_and_stop_when_history_runs_short(small_market):
    from training.train import LocalInput, validation_windows

    source = LocalInput(load_dataset(*small_market))
    span = source.days_covered()
    windows = validation_windows(source, TrainConfig(validation_days=30, validation_windows=3))
    assert len(windows) == 3 and span >= 4 * 30
    for (fit_part, validation), (earlier_fit, earlier) in zip(windows, windows[1:]):
        # the earlier window is the last 30 days of the data before the later one, and is fitted before it
        assert earlier.purchases.timestamp.max() == fit_part.dataset.purchases.timestamp.max()
        assert earlier.purchases.timestamp.max() < validation.purchases.timestamp.min()
        assert earlier_fit.dataset.purchases.timestamp.max() < earlier.purchases.timestamp.min()
    # a second window of 45% of the span would leave 10% before it: less than half a window
    assert len(validation_windows(source, TrainConfig(validation_days=int(0.45 * span), validation_windows=2))) == 1
    assert len(validation_windows(source, TrainConfig(validation_days=30, validation_windows=1))) == 1


def test_training_pools_the_buyers_of_both_validation_windows(small_model):
    manifest = json.loads((small_model / MANIFEST).read_text())
    validation = manifest["validation"]
    assert len(validation["window_buyers"]) == 2 and all(n > 0 for n in validation["window_buyers"])
    assert validation["buyers"] == sum(validation["window_buyers"]) == validation["search"]["buyers"]
