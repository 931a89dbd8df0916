"""`recommender forecast-publish`, `recommender merchant-token` and `serve --forecasts`: real files, real errors."""
from __future__ import annotations

import hashlib
import json
import logging

import pandas as pd
import pytest
from conftest import PUBLISHED_HORIZON
from fastapi.testclient import TestClient

from recommender import progress
from recommender.cli import main
from recommender.forecasting.hierarchy import RECONCILERS
from recommender.forecasting.published import ForecastDirectoryError, PublishedForecasts
from recommender.forecasting.spec import EXPLAINED
from recommender.forecasting.views import forecast
from recommender.loaders import load_dataset
from recommender.merchant_tokens import issue_token
from serving.app import create_app, create_app_from_environment
from serving.settings import ServingSettings, env_name


def test_publish_writes_every_level_and_the_merchants_history(published_forecasts):
    manifest = json.loads((published_forecasts / "manifest.json").read_text())
    assert (manifest["horizon"], manifest["freq"], len(manifest["period_starts"])) == (PUBLISHED_HORIZON, "W", 8)
    assert len(manifest["data"]["sha256"]) == 64
    assert {level: entry["series"] for level, entry in manifest["levels"].items()} == {
        "item": 5, "item,city_tier": 10, "merchant": 2}
    assert manifest["merchants"]["M3"] == {"catalog_items": 1, "items_sold": 0, "units": 0.0,
                                           "first_sale_period": None, "last_sale_period": None}
    assert manifest["merchants"]["M1"]["items_sold"] == 2 and manifest["merchants"]["M1"]["units"] > 0
    totals = manifest["totals"]  # the merchant totals are the reconciled hierarchy's, the validation winner's
    assert totals["coherent"] is True and set(totals["validation_wape"]) == set(RECONCILERS)
    scores = {method: [wape for level, wape in row.items() if level != "item"]
              for method, row in totals["validation_wape"].items()}
    assert totals["method"] == min(scores, key=lambda method: sum(scores[method]) / len(scores[method]))
    merchants = pd.read_parquet(published_forecasts / "merchant.parquet")
    assert merchants.model.eq(f"reconciled mean forecasts ({totals['method']})").all()
    items = pd.read_parquet(published_forecasts / "item.parquet")
    assert list(items.columns) == ["merchant_id", "item_id", "period_start", "p10", "p50", "p90", *EXPLAINED]
    assert set(items.merchant_id) == {"M1", "M2"} and len(items) == 5 * PUBLISHED_HORIZON
    assert sorted(p.name for p in published_forecasts.parent.iterdir()) == ["forecasts"]  # no temporary left


def test_publish_failure_leaves_the_previous_directory_untouched(published_forecasts, contract_files, tmp_path,
                                                                 capsys):
    out = tmp_path / "forecasts"
    (out).mkdir()
    (out / "manifest.json").write_text("previous")
    purchases, catalog = contract_files  # four months of sales: too short for 26 weeks
    assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--horizon", "26", "--quiet"]) == 2
    assert "too short for a 26-week horizon" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["forecasts", purchases.name, catalog.name])


@pytest.mark.parametrize("extra, message", [
    (["--freq", "M"], "freq must be W"),
    (["--horizon", "27"], "horizon must be 1..26"),
    (["--horizon", "0"], "horizon must be 1..26"),
])
def test_publish_refuses_a_bad_request(forecast_market, tmp_path, capsys, extra, message):
    purchases, catalog = forecast_market
    out = tmp_path / "forecasts"
    assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_damaged_forecast_directory_is_refused_by_name(published_forecasts, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in published_forecasts.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    PublishedForecasts.load(copy)
    (copy / "merchant.parquet").write_bytes(b"damaged")
    with pytest.raises(ForecastDirectoryError, match="merchant.parquet: checksum does not match"):
        PublishedForecasts.load(copy)
    with pytest.raises(ForecastDirectoryError, match="manifest.json is missing"):
        PublishedForecasts.load(tmp_path)


def test_merchant_token_stores_only_hashes_and_reissue_replaces(tmp_path, capsys):
    path = tmp_path / "tokens.json"
    tokens = {}
    for merchant in ("M1", "M2", "M1"):
        assert main(["merchant-token", "--tokens", str(path), "--merchant", merchant]) == 0
        tokens[merchant] = capsys.readouterr().out.strip().splitlines()[-1]
    text = path.read_text()
    stored = json.loads(text)["merchants"]
    assert sorted(stored) == ["M1", "M2"]
    for merchant, token in tokens.items():
        assert len(token) >= 43 and token not in text
        assert stored[merchant]["sha256"] == hashlib.sha256(token.encode()).hexdigest()


@pytest.mark.parametrize("merchant, message", [("", "merchant id must be"), ("unknown", "not a merchant")])
def test_merchant_token_refuses_a_bad_merchant_id(tmp_path, capsys, merchant, message):
    path = tmp_path / "tokens.json"
    assert main(["merchant-token", "--tokens", str(path), "--merchant", merchant]) == 2
    assert message in capsys.readouterr().err and not path.exists()


def test_merchant_token_refuses_a_foreign_file_without_touching_it(tmp_path, capsys):
    path = tmp_path / "tokens.json"
    path.write_text('{"M1": "plain-text-token"}')
    assert main(["merchant-token", "--tokens", str(path), "--merchant", "M1"]) == 2
    assert "not a merchant token file" in capsys.readouterr().err
    assert path.read_text() == '{"M1": "plain-text-token"}'


def test_serve_refuses_a_bad_forecast_directory_before_starting(small_model, tmp_path, capsys, monkeypatch):
    for field in ("forecasts_dir", "merchant_tokens", "model_dir"):
        monkeypatch.setenv(env_name(field), "")  # the flags alone (an empty variable is unset)
    assert main(["serve", "--model", str(small_model), "--forecasts", str(tmp_path)]) == 2
    assert "not a forecast directory" in capsys.readouterr().err


@pytest.mark.slow
def test_published_tables_are_the_forecast_commands_numbers(published_forecasts, forecast_market):
    dataset = load_dataset(*forecast_market)
    items, merchants = (forecast(dataset, PUBLISHED_HORIZON, "W", by) for by in ("item", "merchant"))
    for file, table, keys in (("item.parquet", items.series_table(), ["item_id"]),
                              ("merchant.parquet", merchants.table(), ["merchant_id"])):
        published = pd.read_parquet(published_forecasts / file)
        merged = published.merge(table, on=[*keys, "period_start"], suffixes=("", "_direct"))
        assert len(merged) == len(published) == len(table)
        for column in ("p10", "p50", "p90"):
            assert (merged[column] - merged[f"{column}_direct"]).abs().max() <= 0.005  # rounded to 0.01
        assert (merged.model == merged.model_direct).all()


def test_app_factory_reads_forecasts_and_tokens_from_the_environment(small_model, published_forecasts, tmp_path,
                                                                     monkeypatch):
    token = issue_token(tmp_path / "tokens.json", "M1")
    monkeypatch.setenv(env_name("model_dir"), str(small_model))
    monkeypatch.setenv(env_name("forecasts_dir"), str(published_forecasts))
    monkeypatch.setenv(env_name("merchant_tokens"), str(tmp_path / "tokens.json"))
    client = TestClient(create_app_from_environment())
    answer = client.get("/v1/merchants/M1/forecast", params={"horizon": 2},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 2 * 2


@pytest.mark.slow
@pytest.mark.parametrize("days_cut", range(7))
def test_a_forecast_published_on_any_weekday_starts_at_the_next_whole_week(forecast_market, tmp_path, days_cut):
    """The market ends on a Sunday; cut to end on each weekday: the forecast starts the next Monday,
    the week the data stops inside is its sales so far plus the forecast of the remaining days."""
    purchases, catalog = forecast_market
    lines = pd.read_csv(purchases)
    day = pd.to_datetime(lines.timestamp).dt.tz_localize(None).dt.normalize()
    last_day = day.max() - pd.Timedelta(days=days_cut)
    lines[day <= last_day].to_csv(tmp_path / "purchases.csv", index=False)
    out = tmp_path / "forecasts"
    assert main(["forecast-publish", "--purchases", str(tmp_path / "purchases.csv"), "--catalog", str(catalog),
                 "--out", str(out), "--horizon", "4", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    monday = last_day - pd.Timedelta(days=last_day.day_of_week)
    assert manifest["period_starts"][0] == str((monday + pd.Timedelta(days=7)).date())  # the next whole week
    published = PublishedForecasts.load(out)
    if days_cut == 0:  # the data ends on a Sunday: no current week
        assert manifest["current_period"] is None and published.current("M1", "item") is None
        return
    this_week = lines[(day >= monday) & (day <= last_day)]
    current = manifest["current_period"]
    assert (current["period_start"], current["days_observed"], current["days"]) == (str(monday.date()),
                                                                                    7 - days_cut, 7)
    tokens = tmp_path / "tokens.json"
    token = issue_token(tokens, "M1")
    client = TestClient(create_app(ServingSettings(forecasts_dir=out, merchant_tokens=tokens)))
    for by in ("item", "item,city_tier", "merchant"):
        answer = client.get("/v1/merchants/M1/forecast", params={"by": by},
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["rows"][0]["period_start"] == manifest["period_starts"][0]
        period = body["current_period"]
        assert period["label"].startswith(f"sales so far ({7 - days_cut} of 7 days) plus the forecast of the "
                                          f"remaining {days_cut} day")
        rows = pd.DataFrame(period["rows"])
        mine = this_week[this_week.item_id.isin(["FAN-1", "FAN-2"])]
        keys = {"item": ["item_id"], "item,city_tier": ["item_id", "city_tier"], "merchant": []}[by]
        if keys:  # a series that sold nothing in these days has a row with 0 sold so far
            sold = rows.merge(mine.groupby(keys, as_index=False).quantity.sum(), on=keys, how="left").quantity
            assert rows.sold_so_far.tolist() == pytest.approx(sold.fillna(0).tolist())
            assert rows.sold_so_far.sum() == mine.quantity.sum()
        else:
            assert rows.sold_so_far.tolist() == [mine.quantity.sum()]
        assert (rows.p10 >= rows.sold_so_far).all() and (rows.p10 <= rows.p50).all() and (rows.p50 <= rows.p90).all()
        assert (rows.p50 > rows.sold_so_far).any()  # the rest of the week is expected to sell something


def test_a_quiet_publish_off_a_terminal_still_logs_a_line_every_period(forecast_market, tmp_path, caplog,
                                                                        monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.2)  # 30 s in production
    purchases, catalog = forecast_market
    with caplog.at_level(logging.INFO, logger="recommender.progress"):
        assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog), "--out",
                     str(tmp_path / "forecasts"), "--horizon", "4", "--quiet"]) == 0  # stderr captured: no terminal
    beats = [record.getMessage() for record in caplog.records if record.getMessage().startswith("forecast-publish: ")]
    assert any("fitting 5 items," in line for line in beats)  # the tiers' split takes milliseconds: no beat
