"""Shared test helpers: small contract files written on the fly."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

# the event store fixtures (postgres_server, store_url) for every test module
pytest_plugins = ["tests.postgres_server"]

PURCHASES = """user_id,item_id,timestamp,quantity,order_id,price,city,city_tier
u1,FH-1,2025-06-01T10:00:00Z,1,o1,35.0,Beijing,1
u1,JDZ-2,2025-06-01T10:00:00Z,2,o1,120.5,Beijing,1
u2,FH-1,1748772000,1,o2,35.0,Chengdu,2
u3,HL-3,2025-09-01 08:30:00,3,o3,,Mianyang,tier 3
u3,HL-3,2025-09-02,-1,o4,12,Mianyang,3
u4,JDZ-2,2025-10-01T12:00:00+08:00,,o5,118,,
"""

CATALOG = """item_id,title,description,category,region,merchant_id,price,tags,available
FH-1,Palm-leaf fan,"Hand-woven in Fenghuang, Hunan",weaving,"Fenghuang County, Hunan",M1,35,handmade;priority_region,true
JDZ-2,Celadon tea bowl,Jingdezhen kiln,ceramics,"Jingdezhen, Jiangxi",M2,120,handmade;gift,yes
HL-3,Huili pomegranates 5 kg,Soft-seed pomegranates,fruit,"Huili, Sichuan",M3,12,seasonal;priority_region,1
XX-4,Wooden comb,Langqiao comb,wood carving,"Langqiao, Anhui",M4,,handmade,false
"""  # noqa: E501 (a data row)


def write(path: Path, text: str) -> Path:
    """Write text to a file, gzip-compressed when the name ends in .gz."""
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def contract_files(tmp_path: Path) -> tuple[Path, Path]:
    """A small valid purchases file and catalog."""
    return write(tmp_path / "purchases.csv", PURCHASES), write(tmp_path / "catalog.csv", CATALOG)


@pytest.fixture(scope="session")
def small_market(tmp_path_factory) -> tuple[Path, Path]:
    """A small demo marketplace (purchases.csv, catalog.csv), generated once per test session."""
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(tmp_path_factory.mktemp("market"), buyers=600, items=150, seed=3)
    return paths["purchases"], paths["catalog"]


FORECAST_ITEMS = {"FAN-1": ("M1", "weaving", 0), "FAN-2": ("M1", "weaving", 1), "POM-1": ("M2", "fruit", 2),
                  "TEA-1": ("M2", "tea", 3), "TEA-2": ("M2", "tea", 4), "COMB-1": ("M3", "wood", 5)}


@pytest.fixture(scope="session")
def forecast_market(tmp_path_factory) -> tuple[Path, Path]:
    """70 weeks of sales: seasonal fans, pomegranates from August, intermittent tea; merchant M3 never sold."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=70 * 7, freq="D")
    season = 1 + 0.8 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 100) / 365)
    rates = {"FAN-1": 3 * season, "FAN-2": 1.5 * season, "POM-1": 4.0 * (days.month.to_numpy() >= 8),
             "TEA-1": np.full(len(days), 0.15), "TEA-2": np.full(len(days), 0.6)}
    rows = []
    for item, rate in rates.items():
        counts = rng.poisson(rate)
        for day in np.flatnonzero(counts):
            rows.append((f"u{rng.integers(50)}", item, days[day].strftime("%Y-%m-%dT12:00:00Z"), int(counts[day]),
                         int(rng.integers(1, 3))))
    folder = tmp_path_factory.mktemp("forecast_market")
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "quantity", "city_tier"]).to_csv(
        folder / "purchases.csv", index=False)
    pd.DataFrame([{"item_id": item, "title": f"{c} no. {k}", "merchant_id": m, "category": c, "price": 10 + k}
                  for item, (m, c, k) in FORECAST_ITEMS.items()]).to_csv(folder / "catalog.csv", index=False)
    return folder / "purchases.csv", folder / "catalog.csv"


PUBLISHED_HORIZON = 8


@pytest.fixture(scope="session")
def published_forecasts(forecast_market, tmp_path_factory) -> Path:
    """The forecast market's forecasts published by the CLI (8 weeks ahead), once per test session."""
    from recommender.cli import main

    out = tmp_path_factory.mktemp("published") / "forecasts"
    purchases, catalog = forecast_market
    assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--horizon", str(PUBLISHED_HORIZON), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def small_forecasts(small_market, tmp_path_factory) -> Path:
    """The small marketplace's forecasts published by the CLI (26 weeks ahead), once per test session:
    the same catalog as small_model's, so its merchants' lots have projections."""
    from recommender.cli import main

    out = tmp_path_factory.mktemp("small_forecasts") / "forecasts"
    purchases, catalog = small_market
    assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--horizon", "26", "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def small_model(small_market, tmp_path_factory) -> Path:
    """A model directory trained by the CLI on the small marketplace, once per test session."""
    from recommender.cli import main

    out = tmp_path_factory.mktemp("model") / "model"
    purchases, catalog = small_market
    assert main(["train", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out), "--quiet"]) == 0
    return out


SECOND_CONFIG = {"components": {"als": {"factors": 16, "regularization": 0.1, "iterations": 5}, "content": {},
                                "popularity": {}},
                 "blend_trials": 10, "niche": 0.2}


@pytest.fixture(scope="session")
def second_model(small_market, tmp_path_factory):
    """Another model directory on the same marketplace, trained with a different config."""
    from recommender.cli import main

    root = tmp_path_factory.mktemp("second")
    config = root / "config.json"
    config.write_text(json.dumps(SECOND_CONFIG), encoding="utf-8")
    out = root / "model"
    purchases, catalog = small_market
    assert main(["train", "--purchases", str(purchases), "--catalog", str(catalog), "--config", str(config),
                 "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def versions(small_model, second_model) -> tuple[str, str]:
    first, second = (json.loads((d / "manifest.json").read_text())["model_version"]
                     for d in (small_model, second_model))
    assert first != second
    return first, second


@pytest.fixture(scope="session")
def teas_and_bowls(tmp_path_factory):
    """Training data of tea buyers and bowl buyers; the last catalog item, a new tea, nobody bought."""
    import numpy as np

    from recommender.features.training_data import build_training_data
    from recommender.loaders import load_dataset

    folder = tmp_path_factory.mktemp("teas_and_bowls")
    rng = np.random.default_rng(3)
    lines = ["user_id,item_id,timestamp,city_tier"]
    for group, items in (("t", [f"TEA-{i}" for i in range(6)]), ("c", [f"BOWL-{i}" for i in range(6)])):
        for buyer in range(30):
            for item in rng.choice(items, 3, replace=False):
                lines.append(f"{group}{buyer},{item},2025-06-{int(rng.integers(1, 28)):02d},{1 + buyer % 3}")
    catalog = ["item_id,title,category,region"] \
        + [f"TEA-{i},Anxi oolong tea {i},tea,Anxi" for i in range(6)] \
        + [f"BOWL-{i},Jingdezhen celadon bowl {i},ceramics,Jingdezhen" for i in range(6)] \
        + ["TEA-NEW,Anxi oolong tea new harvest,tea,Anxi"]
    (folder / "p.csv").write_text("\n".join(lines) + "\n")
    (folder / "c.csv").write_text("\n".join(catalog) + "\n")
    return build_training_data(load_dataset(folder / "p.csv", folder / "c.csv"), content_dimensions=4)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local[2] Spark session for every Spark test of the run."""
    from recommender.spark import spark_session

    with spark_session("local[2]", checkpoint_dir=str(tmp_path_factory.mktemp("checkpoints")),
                       conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"}) as session:
        session.sparkContext.setLogLevel("ERROR")
        yield session


# --- markers (registered in pyproject.toml; `make test-fast` leaves out all four) ---------------------

# A test using one of these fixtures, directly or through another fixture, gets the marker, so a new
# Spark or PostgreSQL test is marked without anyone remembering to. store_url reaches PostgreSQL
# only at run time (getfixturevalue): its "postgresql" parameter carries the marker itself.
MARKER_OF_FIXTURE = {"spark": "spark", "postgres_server": "postgres"}

# Slow tests marked here rather than in their module: the full model searches of test_search.py.
SLOW_TESTS = {"test_search.py": {"test_plan_runs_floors_every_family_then_weightings_then_moves_and_picks_the_best",
                                 "test_families_that_need_more_memory_than_the_machine_are_skipped_with_the_reason",
                                 "test_a_failing_candidate_is_recorded_and_the_search_goes_on",
                                 "test_several_windows_fit_each_candidate_before_each_and_pool_their_buyers"}}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
        slow = SLOW_TESTS.get(item.path.name, set())
        if missing := sorted(name for name in slow if not hasattr(item.module, name)):
            raise pytest.UsageError(f"conftest.py's SLOW_TESTS names tests {item.path.name} no longer has: {missing}")
        if item.originalname in slow:
            item.add_marker("slow")
