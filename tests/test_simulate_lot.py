"""`recommender simulate-lot`: a harvest lot replayed on the demo marketplace's last days, organic
and with its clearance campaign."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.cli import main
from training.simulate_lot import response_probability

pytestmark = pytest.mark.slow  # replays four weeks of the small marketplace


def test_a_shown_item_is_bought_more_often_the_more_of_the_buyers_tastes_it_matches():
    chances = [response_probability(top, favourites, "tea", "PL")
               for top, favourites in (("rice", set()), ("tea", set()), ("tea", {"PL"}))]
    assert chances[0] < chances[1] < chances[2] <= 1.0


@pytest.fixture(scope="module")
def model_before(small_market, tmp_path_factory):
    """A model trained on the small marketplace but its last 28 days (the replayed ones)."""
    purchases, catalog = small_market
    lines = pd.read_csv(purchases, dtype=str)
    times = pd.to_datetime(lines.timestamp)
    directory = tmp_path_factory.mktemp("before")
    lines[times <= times.max() - pd.Timedelta(days=28)].to_csv(directory / "purchases.csv", index=False)
    assert main(["train", "--purchases", str(directory / "purchases.csv"), "--catalog", str(catalog), "--out",
                 str(directory / "model"), "--quiet"]) == 0
    return directory / "model", lines[times > times.max() - pd.Timedelta(days=28)]


def test_the_clearance_sells_more_of_the_lot_than_organic_demand_at_a_measured_cost(model_before, small_market,
                                                                                     tmp_path, capsys):
    purchases, catalog = small_market
    small_model, recent = model_before
    items = recent.item_id.value_counts().index[10:13].tolist()
    lot = tmp_path / "lot.json"
    lot.write_text(json.dumps({"lot_id": "tea-2026", "items": items, "units": 500}))
    report = tmp_path / "lot.html"
    assert main(["simulate-lot", "--model", str(small_model), "--purchases", str(purchases), "--catalog",
                 str(catalog), "--buyers", str(purchases.parent / "buyers.csv"), "--lot", str(lot), "--days", "28",
                 "--out", str(report), "--quiet"]) == 0
    printed = capsys.readouterr().out
    organic, cleared = (float(share) for share in
                        pd.Series(printed).str.extract(r"organic \d+ \(([\d.]+)\); with the clearance \d+ \(([\d.]+)\)")
                        .iloc[0])
    assert cleared > organic and np.isfinite(float(pd.Series(printed).str.extract(r"with the clearance ([\d.]+),")
                                                  .iloc[0, 0]))
    assert "data:image/png;base64," in report.read_text()


def test_a_lot_file_without_units_is_refused_naming_it(small_model, small_market, tmp_path, capsys):
    purchases, catalog = small_market
    lot = tmp_path / "lot.json"
    lot.write_text(json.dumps({"lot_id": "x", "items": ["A"]}))
    assert main(["simulate-lot", "--model", str(small_model), "--purchases", str(purchases), "--catalog",
                 str(catalog), "--buyers", str(purchases.parent / "buyers.csv"), "--lot", str(lot), "--quiet"]) == 2
    assert "lot.json: missing field 'units'" in capsys.readouterr().err
