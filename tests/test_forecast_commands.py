"""Forecast pipeline, coherence, command line, report and errors on a small generated market."""
from __future__ import annotations

import pandas as pd
import pytest

from recommender.cli import main
from recommender.forecasting.methods import METHODS, SIMPLE
from recommender.forecasting.spec import EXPLAINED, RISING
from recommender.forecasting.views import MerchantWithoutSalesError, UnknownMerchantError, forecast
from recommender.loaders import load_dataset


@pytest.fixture(scope="module")
def dataset(forecast_market):
    return load_dataset(*forecast_market)


def test_item_rows_explain_themselves_and_totals_have_ordered_bands(dataset):
    result = forecast(dataset, horizon=6, by="item")
    items = result.series_table()
    assert set(items.model) <= set(METHODS)
    assert len(items) == 5 * 6 and (items.p10 <= items.p50).all() and (items.p50 <= items.p90).all()
    fans = items[items.item_id == "FAN-1"].iloc[0]
    history = result.panel.values[result.panel.series.item_id.eq("FAN-1").to_numpy()][0]
    assert fans.recent_level == pytest.approx(history[-13:].mean())
    assert fans.previous_level == pytest.approx(history[-26:-13].mean())
    assert fans.recent_trend == pytest.approx(history[-13:].sum() / history[-26:-13].sum() - 1)
    assert fans.rising == (fans.recent_trend >= 0.10)
    for key in ("merchant_id", "category"):
        totals = result.totals_table(key)
        assert len(totals) == items[key].nunique() * 6
        assert (totals.p10 <= totals.p50).all() and (totals.p50 <= totals.p90).all() and (totals.p10 >= 0).all()


def test_items_tiers_and_totals_share_one_trend(dataset):
    """A total's trend is its summed units' trend: its rows' summed levels against their summed
    previous levels (how the merchant page reads a city tier's trend)."""
    result = forecast(dataset, horizon=2, by="item")
    rows = result.series_table()
    first = rows[rows.period_start == rows.period_start.min()]
    totals = result.totals_table("merchant_id")
    for merchant, own in first.groupby("merchant_id"):
        total = totals[totals.merchant_id == merchant].iloc[0]
        assert total.recent_level == pytest.approx(own.recent_level.sum())
        assert total.previous_level == pytest.approx(own.previous_level.sum())
        assert total.recent_trend == pytest.approx(own.recent_level.sum() / own.previous_level.sum() - 1)
        assert total.rising == (total.recent_trend >= RISING) and set(own.rising) == set(own.recent_trend >= RISING)


@pytest.mark.slow
def test_a_merchants_view_and_a_shorter_horizon_are_slices_of_the_catalogs_forecast(dataset):
    catalog = forecast(dataset, horizon=8, by="item").series_table()
    mine = forecast(dataset, horizon=4, by="item", merchant_id="M1").series_table()
    assert set(mine.item_id) == {"FAN-1", "FAN-2"} and set(mine.merchant_id) == {"M1"}
    expected = catalog[catalog.merchant_id.eq("M1") & catalog.period_start.isin(mine.period_start)]
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), expected.reset_index(drop=True))
    totals = forecast(dataset, horizon=8, by="merchant").table()
    own_total = forecast(dataset, horizon=8, by="merchant", merchant_id="M1").table()
    pd.testing.assert_frame_equal(own_total.reset_index(drop=True),
                                  totals[totals.merchant_id == "M1"].reset_index(drop=True))
    with pytest.raises(UnknownMerchantError, match="unknown merchant 'M9'"):
        forecast(dataset, horizon=4, merchant_id="M9")
    with pytest.raises(MerchantWithoutSalesError, match="'M3' has no sales"):
        forecast(dataset, horizon=4, merchant_id="M3")


@pytest.mark.slow
def test_forecast_command_columns_and_report(forecast_market, tmp_path, capsys):
    purchases, catalog = forecast_market
    common = ["--purchases", str(purchases), "--catalog", str(catalog), "--horizon", "4", "--quiet"]
    expected = {"item": ["item_id"], "item,city_tier": ["item_id", "city_tier"], "merchant": ["merchant_id"]}
    for by, keys in expected.items():
        out = tmp_path / f"{by}.csv"
        report = ["--report", str(tmp_path / "report")] if by == "item,city_tier" else []
        assert main(["forecast", *common, "--by", by, "--out", str(out), *report]) == 0
        table = pd.read_csv(out)
        assert list(table.columns) == keys + ["period_start", "sold_so_far", "p10", "p50", "p90", *EXPLAINED]
        assert table.sold_so_far.isna().all()  # the market ends on a Sunday: no current week
        assert table.period_start.nunique() == 4 and pd.to_datetime(table.period_start).dt.day_of_week.eq(0).all()
    index = (tmp_path / "report" / "index.html").read_text()
    assert "merchant-M1.html" in index and "merchant-M2.html" in index
    page = (tmp_path / "report" / "merchant-M1.html").read_text()
    assert "data:image/png;base64," in page and "tier 1" in page and "tier 2" in page
    assert "<b class='rising'>rising</b>" in page  # the fans' season rises through spring, where the data ends
    assert "FAN-1" in page and "Same 4 weeks last year" in page  # 70 weeks of history: a year back is there
    assert "weaving no. 0" in page  # FAN-1's title from the catalog, next to its id
    assert any(f"<span class='small'>{name}</span>" in page for name in METHODS)


@pytest.mark.slow
def test_backtest_command_prints_every_baseline_and_the_best_simple_one(forecast_market, capsys):
    purchases, catalog = forecast_market
    assert main(["forecast-backtest", "--purchases", str(purchases), "--catalog", str(catalog), "--horizon", "4",
                 "--origins", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for word in ("wape", "mase", "bias", "coverage_p10_p90", "vs_best_simple", "best simple (", "selected",
                 "merchant total", "coverage per step", *SIMPLE):
        assert word in out


@pytest.mark.parametrize("extra, message", [
    (["--last-origin", "autumn"], "last origin 'autumn' is not a date"),
    (["--last-origin", "2024-03-06"], "last origin 2024-03-06 is not a period start"),  # a Wednesday
    (["--origins", "0"], "origins must be at least 1"),
])
def test_backtest_command_errors(forecast_market, capsys, extra, message):
    purchases, catalog = forecast_market
    assert main(["forecast-backtest", "--purchases", str(purchases), "--catalog", str(catalog), "--horizon", "4",
                 "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--by", "region"], "by must be one of"),
    (["--freq", "M"], "freq must be W"),
    (["--horizon", "27"], "horizon must be 1..26"),
    (["--horizon", "0"], "horizon must be 1..26"),
    (["--merchant", "M9"], "unknown merchant 'M9'"),
    (["--merchant", "M3"], "'M3' has no sales"),
])
def test_forecast_command_errors(forecast_market, tmp_path, capsys, extra, message):
    purchases, catalog = forecast_market
    out = tmp_path / "out.csv"
    assert main(["forecast", "--purchases", str(purchases), "--catalog", str(catalog), "--out", str(out),
                 "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_too_short_a_history_is_a_clear_error(contract_files, tmp_path, capsys):
    purchases, catalog = contract_files  # four months of sales
    assert main(["forecast", "--purchases", str(purchases), "--catalog", str(catalog), "--out",
                 str(tmp_path / "out.csv"), "--horizon", "12", "--quiet"]) == 2
    assert "too short for a 12-week horizon" in capsys.readouterr().err
