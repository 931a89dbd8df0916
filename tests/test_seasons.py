"""Goods in season (issue 32, deliverable 3): seasonal profiles learnt from purchases and the catalog's
``season`` months, a seasonal weight chosen on validation, lists that follow the request's date."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recommender.cli import main
from recommender.contract import ContractError
from recommender.engine import RecommendationEngine
from recommender.features.seasons import SeasonalProfiles, in_season, request_week, week_of_year
from recommender.features.training_data import build_training_data
from recommender.loaders import load_catalog, load_dataset
from recommender.models.item_knn import ItemKNNRecommender
from serving import create_app, live
from serving.routes.events import INGEST_KEYS_ENV
from serving.settings import ServingSettings
from serving.state import state_of
from serving.watcher import Watcher
from training.config import TrainConfig
from training.train import train

TEAS = [f"TEA-{i}" for i in range(8)]
LYCHEES = [f"LYCHEE-{i}" for i in range(3)]  # bought in June and July only
ORANGES = [f"ORANGE-{i}" for i in range(3)]  # bought in December and January only
PERSIMMON = "PERSIMMON-0"  # never bought; the catalog says October and November
JUNE, DECEMBER = "2026-06-20", "2026-12-20"


def write_market(folder, first: str = "2024-01-01", last: str = "2025-12-31", buyers: int = 240, seed: int = 5):
    """Tea buyers who also buy lychee in its season (June, July) and oranges in theirs (December,
    January) in most years, between ``first`` and ``last``; a persimmon listed with its season."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(first, last, freq="D")
    rows = ["item_id,title,category,season"]
    rows += [f"{tea},Tea number {i} {i + 1}00 g,tea," for i, tea in enumerate(TEAS)]
    rows += [f"{item},Lychee crate {i} {i + 1} kg,fruit," for i, item in enumerate(LYCHEES)]
    rows += [f"{item},Orange crate {i} {i + 1} kg,fruit," for i, item in enumerate(ORANGES)]
    rows += [f"{PERSIMMON},Persimmon crate 1 kg,fruit,10-11"]
    (folder / "catalog.csv").write_text("\n".join(rows) + "\n")
    lines = ["user_id,item_id,timestamp"]
    for buyer in range(buyers):
        favourites = rng.choice(TEAS, 3, replace=False)
        for day in rng.choice(days, 10):
            lines.append(f"u{buyer},{rng.choice(favourites)},{pd.Timestamp(day).date()}")
        for fruit, months in ((LYCHEES, (6, 7)), (ORANGES, (12, 1))):
            in_season_days = days[days.month.isin(months)]
            for year in sorted(set(in_season_days.year)):
                if rng.random() < 0.7:
                    day = rng.choice(in_season_days[in_season_days.year == year])
                    lines.append(f"u{buyer},{rng.choice(fruit)},{pd.Timestamp(day).date()}")
    (folder / "purchases.csv").write_text("\n".join(lines) + "\n")
    return folder / "purchases.csv", folder / "catalog.csv"


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return write_market(tmp_path_factory.mktemp("seasons"))


@pytest.fixture(scope="module")
def engine(market):
    dataset = load_dataset(*market)
    data = build_training_data(dataset, content_dimensions=4)
    return RecommendationEngine.build(ItemKNNRecommender().fit(data), data,
                                      seasons=SeasonalProfiles.fit(dataset.purchases, dataset.catalog),
                                      season_factor=0.3)


def positions(engine: RecommendationEngine, items: list[str], date: str, **options) -> np.ndarray:
    """Each buyer's mean list position of ``items`` at ``date`` (every item ranked, bought ones too)."""
    users = np.arange(len(engine.users))
    lists, _ = engine.recommend(users, engine.n_items, include_purchased=True, niche=0.0, date=date, **options)
    codes = engine.items.encode(items)
    return np.array([[np.flatnonzero(row == code)[0] for code in codes] for row in lists]).mean(axis=1)


def test_profiles_lift_goods_in_their_season_and_lower_them_out_of_it(engine):
    seasons = engine.seasons
    code = dict(zip(engine.catalog.item_id, range(engine.n_items)))
    june, december, october = (seasons.at(day) for day in (JUNE, DECEMBER, "2026-10-20"))
    for lychee in LYCHEES:
        assert june[code[lychee]] > 1.0 and june[code[lychee]] - december[code[lychee]] > 1.5
    for orange in ORANGES:
        assert december[code[orange]] > 1.0 and december[code[orange]] - june[code[orange]] > 1.5
    for tea in TEAS:  # bought all year round: June and December alike (both weeks of much fruit)
        assert abs(june[code[tea]] - december[code[tea]]) < 0.5
    # nobody bought the persimmon: its declared season (October, November) says when it sells
    assert october[code[PERSIMMON]] > 0.5 and june[code[PERSIMMON]] < -0.5
    assert seasons.days == pytest.approx(730, abs=2)


def test_off_season_goods_fall_and_in_season_goods_rise_between_two_dates(engine):
    lychee_june, lychee_december = positions(engine, LYCHEES, JUNE), positions(engine, LYCHEES, DECEMBER)
    orange_june, orange_december = positions(engine, ORANGES, JUNE), positions(engine, ORANGES, DECEMBER)
    assert (lychee_june < lychee_december).mean() > 0.95  # lychee in season in June, over in December
    assert (orange_december < orange_june).mean() > 0.95  # oranges the other way round
    assert lychee_december.mean() - lychee_june.mean() > 3 and orange_june.mean() - orange_december.mean() > 3
    # without the seasonal weight the date changes nothing
    for fruit in (LYCHEES, ORANGES):
        assert (positions(engine, fruit, JUNE, season_factor=0) == positions(engine, fruit, DECEMBER,
                                                                               season_factor=0)).all()


def test_an_in_season_item_rises_into_the_top_k_from_deeper_candidates(engine):
    users = np.arange(len(engine.users))
    plain, _ = engine.recommend(users, 3, season_factor=0, niche=0.0)
    june, _ = engine.recommend(users, 3, date=JUNE, niche=0.0)
    lychees = engine.items.encode(LYCHEES)
    assert np.isin(june, lychees).sum() > np.isin(plain, lychees).sum()
    for niche in (0.0, 0.5):  # every knob ranks the same candidates in recommend and recommend_per_knob
        lists = engine.recommend_per_knob(users, 5, [niche], date=JUNE)[niche]
        assert (lists == engine.recommend(users, 5, niche=niche, date=JUNE)[0]).all()
    with pytest.raises(ValueError, match="season_factor"):
        engine.recommend(users, 3, season_factor=-1)


def test_in_season_keeps_one_copy_of_an_item_and_leaves_a_factor_of_zero_alone():
    codes = np.array([[4, 2, 7, 2, -1]])
    scores = np.array([[3.0, 2.0, 1.0, 2.0, -np.inf]], dtype=np.float32)
    lift = np.zeros(8, dtype=np.float32)
    lift[7] = 3.0
    ranked, adjusted = in_season(codes, scores, lift, 0.5)
    assert ranked[0].tolist() == [7, 4, 2, -1, -1]  # 1 + 0.5 * 2 * 3 = 4 beats 3
    assert adjusted[0, :3].tolist() == [4.0, 3.0, 2.0] and np.isneginf(adjusted[0, 3:]).all()
    assert in_season(codes[:, :3], scores[:, :3], lift, 0.0)[0][0].tolist() == [4, 2, 7]


def test_items_listed_after_training_follow_their_declared_season_or_category(engine):
    rows = pd.DataFrame({"item_id": ["LYCHEE-NEW", "PLAIN-NEW"], "title": ["Lychee crate new 4 kg", "Basket"],
                         "category": ["fruit", "baskets"], "season": [0b1100000, 0]})
    extended = engine.seasons.extended(pd.concat([engine.catalog, rows], ignore_index=True))
    june = extended.at(JUNE)
    assert june.shape == (engine.n_items + 2,)
    assert (june[:engine.n_items] == engine.seasons.at(JUNE)).all()
    assert june[-2] > 1.0 and extended.at(DECEMBER)[-2] < -1.0  # declared June-July
    assert june[-1] == 0.0  # an unknown category: no season known


def test_week_of_year_counts_from_the_first_of_january():
    weeks = week_of_year(["2025-01-01", "2025-01-07", "2025-01-08", "2025-12-30", "2024-12-31"])
    assert weeks.tolist() == [0, 0, 1, 51, 51]


@pytest.mark.parametrize("value, ok", [("6-8", True), ("6,7,8", True), ("11-2", True), ("", True),
                                       ("13", False), ("June", False), ("6-", False)])
def test_a_bad_season_names_the_file_line_and_column(tmp_path, value, ok):
    path = tmp_path / "catalog.csv"
    path.write_text(f'item_id,title,season\nA,Tea,\nB,Lychee,"{value}"\n')
    if ok:
        assert load_catalog(path)[0].season.iloc[1] >= 0
        return
    with pytest.raises(ContractError, match=r"catalog\.csv: row 2 \(line 3\), column 'season': is not a season"):
        load_catalog(path)


def test_validation_chooses_a_seasonal_weight_on_a_year_or_more_and_none_on_less(market, tmp_path):
    config = TrainConfig(components={"item_knn": {}}, blend_trials=5, niche=0.0, max_per_group=0)
    result = train(load_dataset(*market), config, show_progress=False)
    curve = result.validation["season_curve"]
    assert [point["season_factor"] for point in curve] == [0.0, *config.season_grid]
    chosen = result.validation["season_factor"]
    assert chosen in config.season_grid and result.engine.season_factor == chosen
    best = max(point["ndcg@10"] for point in curve)
    assert best > (1 + config.season_min_ndcg_gain) * curve[0]["ndcg@10"]
    assert next(point["ndcg@10"] for point in curve if point["season_factor"] == chosen) == best

    short = train(load_dataset(*write_market(tmp_path, first="2025-05-01")), config, show_progress=False)
    assert short.validation["season_factor"] == 0.0 and short.validation["season_curve"] == []
    assert short.engine.season_factor == 0.0


def test_the_api_ranks_for_the_season_of_the_date_asked(market, tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"components": {"item_knn": {}}, "blend_trials": 5, "niche": 0.0,
                                  "max_per_group": 0, "season_factor": 0.3}))
    model = tmp_path / "model"
    assert main(["train", "--purchases", str(market[0]), "--catalog", str(market[1]), "--config", str(config),
                 "--out", str(model), "--quiet"]) == 0
    with TestClient(create_app(ServingSettings(model_dir=model))) as client:
        def mean_rank(items: list[str], date: str) -> float:
            """The mean list position of ``items`` in ten buyers' lists of every item at ``date``."""
            ranks = []
            for buyer in range(10):
                answer = client.get(f"/v1/users/u{buyer}/recommendations?k=15&exclude_purchased=false&date={date}")
                assert answer.status_code == 200
                listed = [item["item_id"] for item in answer.json()["items"]]
                ranks += [listed.index(item) for item in items]
            return float(np.mean(ranks))

        assert mean_rank(LYCHEES, JUNE) + 3 < mean_rank(LYCHEES, DECEMBER)
        assert mean_rank(ORANGES, DECEMBER) + 3 < mean_rank(ORANGES, JUNE)
        bad = client.get("/v1/users/u1/recommendations?date=2026-13-01")
        assert bad.status_code == 422 and "date" in str(bad.json()["detail"])

    # a buyer's list rebuilt from purchases since training answers default requests in its week only
    monkeypatch.setenv(INGEST_KEYS_ENV, "season-key")
    app = create_app(ServingSettings(model_dir=model, store=f"sqlite:///{tmp_path / 'events.sqlite3'}"))
    with TestClient(app) as client:
        posted = client.post("/v1/events", headers={"X-API-Key": "season-key"}, json={"events": [
            {"event_id": "s-1", "user_id": "u1", "item_id": LYCHEES[0], "type": "purchase"}]})
        assert posted.status_code == 200, posted.text
        Watcher(state_of(app)).check()
        buyer = state_of(app).current()[1].buyers.get("u1")
        assert buyer is not None and buyer.week == request_week() and buyer.listed_for_now()
        monkeypatch.setattr(live, "request_week", lambda: (request_week() + 1) % 52)  # a week later
        assert not buyer.listed_for_now()
        assert client.get("/v1/users/u1/recommendations?k=5").status_code == 200  # scored for the new week
