"""The merchant forecast route through FastAPI's TestClient, on forecasts published from a small market."""
from __future__ import annotations

import json
import re
import shutil
import time

import pandas as pd
import pytest
from conftest import FORECAST_ITEMS, PUBLISHED_HORIZON
from fastapi.testclient import TestClient

from recommender.cli import main
from recommender.merchant_tokens import issue_token
from serving import watcher
from serving.app import create_app
from serving.schemas import MerchantForecastResponse, MerchantSalesResponse
from serving.settings import ServingSettings
from training.forecast_report import units

# M1 sells two items, M2 three, M3 is in the catalog but never sold, M9 is not in the catalog.
MERCHANTS = ("M1", "M2", "M3", "M9")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> tuple[object, dict[str, str]]:
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    return path, {merchant: issue_token(path, merchant) for merchant in MERCHANTS}


@pytest.fixture(scope="module")
def client(published_forecasts, tokens) -> TestClient:
    return TestClient(create_app(ServingSettings(forecasts_dir=published_forecasts, merchant_tokens=tokens[0])))


def get(client: TestClient, merchant: str, token: str | None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get(f"/v1/merchants/{merchant}/forecast", params=params, headers=headers)


def published_rows(directory, file: str, merchant: str) -> pd.DataFrame:
    table = pd.read_parquet(directory / file)
    return table[table.merchant_id == merchant]


def test_own_token_reads_own_items_sliced_to_the_horizon(client, tokens, published_forecasts):
    answer = get(client, "M1", tokens[1]["M1"], horizon=3, by="item")
    assert answer.status_code == 200
    body = answer.json()
    assert MerchantForecastResponse.model_validate(body).model_dump(mode="json", exclude_none=True) == body
    manifest = json.loads((published_forecasts / "manifest.json").read_text())
    assert (body["merchant_id"], body["freq"], body["horizon"], body["by"]) == ("M1", "W", 3, "item")
    assert body["generated_at"] == manifest["created_at"] and body["data_sha256"] == manifest["data"]["sha256"]
    rows = pd.DataFrame(body["rows"])
    assert sorted(rows.item_id.unique()) == ["FAN-1", "FAN-2"] and len(rows) == 2 * 3
    assert body["titles"] == {item: f"{category} no. {k}" for item, (merchant, category, k) in FORECAST_ITEMS.items()
                              if merchant == "M1"}  # the catalog's, of the merchant's items only
    assert sorted(rows.period_start.unique()) == manifest["period_starts"][:3]
    assert "city_tier" not in rows
    expected = published_rows(published_forecasts, "item.parquet", "M1")
    expected = expected[expected.period_start.astype(str).isin(manifest["period_starts"][:3])]
    merged = rows.merge(expected.assign(period_start=expected.period_start.astype(str)),
                        on=["item_id", "period_start"], suffixes=("", "_file"))
    assert len(merged) == 6
    for column in ("p10", "p50", "p90", "model"):
        assert (merged[column] == merged[f"{column}_file"]).all()
    assert (rows.p10 <= rows.p50).all() and (rows.p50 <= rows.p90).all()


def test_tiers_and_merchant_total_default_to_the_published_horizon(client, tokens):
    token = tokens[1]["M2"]
    tiers = pd.DataFrame(get(client, "M2", token, by="item,city_tier").json()["rows"])
    assert set(tiers.item_id) == {"POM-1", "TEA-1", "TEA-2"} and set(tiers.city_tier) <= {1, 2}
    assert tiers.period_start.nunique() == PUBLISHED_HORIZON
    items = pd.DataFrame(get(client, "M2", token).json()["rows"])
    total = get(client, "M2", token, by="merchant", horizon=4).json()
    for body in (total, get(client, "M2", token, by="item,city_tier").json()):  # answered by orjson: the contract
        assert MerchantForecastResponse.model_validate(body).model_dump(mode="json", exclude_none=True) == body
    totals = pd.DataFrame(total["rows"]).set_index("period_start")
    assert total["horizon"] == 4 and len(totals) == 4 and "item_id" not in totals
    assert (totals.p10 <= totals.p50).all() and (totals.p50 <= totals.p90).all()
    assert set(items.period_start) >= set(totals.index)


@pytest.mark.slow
def test_api_every_cli_scope_and_the_report_give_the_same_forecast(client, tokens, forecast_market, tmp_path):
    purchases, catalog = forecast_market
    common = ["--purchases", str(purchases), "--catalog", str(catalog), "--quiet"]
    outputs = {"catalog": ["--horizon", "12"], "merchant": ["--horizon", "3", "--merchant", "M2"],
               "totals": ["--horizon", "6", "--by", "merchant", "--report", str(tmp_path / "report")]}
    for name, extra in outputs.items():
        assert main(["forecast", *common, *extra, "--out", str(tmp_path / f"{name}.csv")]) == 0
    read = {name: pd.read_csv(tmp_path / f"{name}.csv") for name in outputs}
    api_items = pd.DataFrame(get(client, "M2", tokens[1]["M2"], by="item").json()["rows"])
    api_total = pd.DataFrame(get(client, "M2", tokens[1]["M2"], by="merchant").json()["rows"])
    columns = ["p10", "p50", "p90", "model"]
    for scope in ("catalog", "merchant"):
        merged = api_items.merge(read[scope], on=["item_id", "period_start"], suffixes=("", "_cli"))
        assert len(merged) == 3 * min(PUBLISHED_HORIZON, read[scope].period_start.nunique())
        for column in columns:
            assert (merged[column] == merged[f"{column}_cli"]).all(), (scope, column)
    totals = read["totals"][read["totals"].merchant_id == "M2"]
    merged = api_total.merge(totals, on="period_start", suffixes=("", "_cli"))
    assert len(merged) == 6 and all((merged[c] == merged[f"{c}_cli"]).all() for c in columns)
    page = (tmp_path / "report" / "merchant-M2.html").read_text()
    assert f"({units(totals.p50.sum())} in all;" in page  # the report's six-week total is the same
    six_weeks = read["catalog"][read["catalog"].period_start.isin(totals.period_start)]
    sold_by_m2 = [item for item, (merchant, *_) in FORECAST_ITEMS.items() if merchant == "M2"]
    for item, p50 in six_weeks[six_weeks.item_id.isin(sold_by_m2)].groupby("item_id").p50.sum().items():
        # each item's expected units per week: the catalog rows' six-week P50 over six (as the report rounds)
        shown = re.search(rf"<td class='name nowrap'>{item}</td><td>([0-9.,]+)</td>", page).group(1)
        per_week = p50 / 6
        assert abs(float(shown.replace(",", "")) - per_week) <= (0.5 if per_week >= 10 else 0.05) + 0.01, (
            item, shown, per_week)


def test_a_merchant_reads_its_own_sales_before_the_forecast(client, tokens, forecast_market):
    answer = client.get("/v1/merchants/M1/sales", headers={"Authorization": f"Bearer {tokens[1]['M1']}"})
    assert answer.status_code == 200
    body = answer.json()
    assert MerchantSalesResponse.model_validate(body).model_dump(mode="json") == body
    rows = pd.DataFrame(body["rows"])
    assert sorted(rows.item_id.unique()) == ["FAN-1", "FAN-2"] and rows.groupby("item_id").size().eq(52).all()
    purchases = pd.read_csv(forecast_market[0])
    times = pd.to_datetime(purchases.timestamp, utc=True).dt.tz_localize(None)
    weeks = times.dt.to_period("W-SUN").dt.start_time.dt.date.astype(str)
    sold = purchases[purchases.item_id == "FAN-1"].groupby(weeks[purchases.item_id == "FAN-1"]).quantity.sum()
    fan = rows[rows.item_id == "FAN-1"].set_index("period_start").units
    assert fan.sum() > 0 and all(fan[week] == sold.get(week, 0) for week in fan.index)  # the very units sold
    assert client.get("/v1/merchants/M2/sales", headers={"Authorization": f"Bearer {tokens[1]['M1']}"}
                      ).status_code == 403
    assert client.get("/v1/merchants/M3/sales", headers={"Authorization": f"Bearer {tokens[1]['M3']}"}
                      ).status_code == 404


def test_another_merchants_token_is_refused_whether_or_not_the_merchant_exists(client, tokens):
    for merchant in ("M2", "NO-SUCH-MERCHANT"):
        answer = get(client, merchant, tokens[1]["M1"])
        assert answer.status_code == 403
        assert answer.json()["detail"] == "a merchant can only read its own forecast"
    assert get(client, "M2", tokens[1]["M1"], horizon=99).status_code == 403  # before checking the horizon


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer "])
def test_missing_or_unknown_token_is_401(client, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = client.get("/v1/merchants/M1/forecast", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_merchant_without_sales_and_merchant_outside_the_catalog_are_clear_404s(client, tokens):
    answer = get(client, "M3", tokens[1]["M3"])
    assert answer.status_code == 404
    assert "'M3' has no sales history to forecast from" in answer.json()["detail"]
    answer = get(client, "M9", tokens[1]["M9"])
    assert answer.status_code == 404 and "not in the catalog" in answer.json()["detail"]


@pytest.mark.parametrize("params, message", [
    ({"horizon": PUBLISHED_HORIZON + 1}, f"at most {PUBLISHED_HORIZON} periods"),
    ({"horizon": 0}, "greater than or equal to 1"),
    ({"horizon": "soon"}, "valid integer"),
    ({"by": "region"}, "'item', 'item,city_tier' or 'merchant'"),
    ({"weeks": 3}, "weeks: unknown query parameter"),
])
def test_bad_query_is_422_naming_the_problem(client, tokens, params, message):
    answer = get(client, "M1", tokens[1]["M1"], **params)
    assert answer.status_code == 422
    assert message in json.dumps(answer.json())


def test_route_is_503_until_forecasts_and_tokens_are_configured(published_forecasts, tokens):
    answer = get(TestClient(create_app(ServingSettings())), "M1", tokens[1]["M1"])
    assert answer.status_code == 503 and "forecasts not published" in answer.json()["detail"]
    answer = get(TestClient(create_app(ServingSettings(forecasts_dir=published_forecasts))), "M1", tokens[1]["M1"])
    assert answer.status_code == 503 and "merchant tokens not configured" in answer.json()["detail"]


def wait_for(condition) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def test_reissued_token_replaces_the_old_one_without_a_restart(published_forecasts, tmp_path, monkeypatch):
    monkeypatch.setattr(watcher, "POLL_SECONDS", 0.05)
    path = tmp_path / "tokens.json"
    old = issue_token(path, "M1")
    settings = ServingSettings(forecasts_dir=published_forecasts, merchant_tokens=path)
    with TestClient(create_app(settings)) as client:  # the lifespan runs the watcher
        assert get(client, "M1", old).status_code == 200
        new = issue_token(path, "M1")
        assert wait_for(lambda: get(client, "M1", new).status_code == 200)
        assert get(client, "M1", old).status_code == 401
        path.unlink()  # every token revoked
        assert wait_for(lambda: get(client, "M1", new).status_code == 401)


def test_openapi_documents_the_route_and_its_statuses(client):
    route = client.get("/openapi.json").json()["paths"]["/v1/merchants/{merchant_id}/forecast"]["get"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(route["responses"])
    assert route["security"] == [{"HTTPBearer": []}]


@pytest.mark.slow
def test_republished_forecasts_are_served_without_a_restart(forecast_market, published_forecasts, tokens, tmp_path,
                                                              monkeypatch, caplog):
    monkeypatch.setattr(watcher, "POLL_SECONDS", 0.05)
    served_dir = tmp_path / "forecasts"
    shutil.copytree(published_forecasts, served_dir)
    purchases, catalog = forecast_market

    def served_horizon(client) -> int:
        return get(client, "M1", tokens[1]["M1"]).json()["horizon"]

    settings = ServingSettings(forecasts_dir=served_dir, merchant_tokens=tokens[0])
    with TestClient(create_app(settings)) as client:  # the lifespan runs the watcher
        assert served_horizon(client) == PUBLISHED_HORIZON
        assert main(["forecast-publish", "--purchases", str(purchases), "--catalog", str(catalog),
                     "--out", str(served_dir), "--horizon", "4", "--quiet"]) == 0
        assert wait_for(lambda: served_horizon(client) == 4)
        (served_dir / "item.parquet").write_bytes(b"damaged")  # a broken directory: the forecasts served stay
        (served_dir / "manifest.json").touch()
        assert wait_for(lambda: "not re-read" in caplog.text)
        assert served_horizon(client) == 4
