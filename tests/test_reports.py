"""What the readers of the two reports see: the merchant forecast report and the evaluation report."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from recommender.forecasting.views import Forecast, forecast
from recommender.loaders import load_dataset
from training.evaluate import (
    EASE_ROW,
    HYBRID_ZERO_ROW,
    POPULARITY_ROW,
    Evaluation,
    RowResult,
    hybrid_default_row,
)
from training.forecast_report import (
    merchant_charts,
    merchant_demands,
    write_forecast_report,
)
from training.report import CONTENT_WIDTH_PX, STYLE, charts, report_html, verdict

HORIZON = 4
MIN_TEXT_PX = 12  # the smallest text a reader should have to read on a chart
CHANGE_WEEK = 47  # the last 13 weeks of 60 start here: sales change then
# item -> (title, city tier, units a day before the change, after)
MOVING_ITEMS = {"UP-1": ("Rising tea", 1, 1, 4), "DOWN-1": ("Falling fan", 2, 3, 1)}


def write_moving_market(folder, weeks: int):
    """``weeks`` of daily sales from Monday 2024-01-01 (no noise): one merchant whose tea (tier 1)
    sells four times as much in the last 13 weeks of 60 as before and whose fan (tier 2) a third."""
    rows = []
    for day in pd.date_range("2024-01-01", periods=weeks * 7, freq="D"):
        for item, (_, tier, before, after) in MOVING_ITEMS.items():
            units = after if (day - pd.Timestamp("2024-01-01")).days // 7 >= CHANGE_WEEK else before
            rows.append(("u1", item, day.strftime("%Y-%m-%dT12:00:00Z"), units, tier))
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "quantity", "city_tier"]).to_csv(
        folder / "purchases.csv", index=False)
    pd.DataFrame([{"item_id": item, "title": title, "merchant_id": "M1", "category": "goods", "price": 10}
                  for item, (title, *_) in MOVING_ITEMS.items()]).to_csv(folder / "catalog.csv", index=False)
    return load_dataset(folder / "purchases.csv", folder / "catalog.csv")


def merchant_report(dataset, out_dir) -> tuple[Forecast, Forecast, str, str]:
    """The forecasts by item and by item x tier of ``dataset``, the index and M1's page of their report."""
    items, tiers = (forecast(dataset, HORIZON, "W", by) for by in ("item", "item,city_tier"))
    index = write_forecast_report(items, tiers, out_dir, dataset.catalog)
    return items, tiers, index.read_text(encoding="utf-8"), (out_dir / "merchant-M1.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def year_of_sales(tmp_path_factory):
    """A merchant report on 60 weeks of sales: forecasting them takes seconds, so its tests are slow."""
    dataset = write_moving_market(tmp_path_factory.mktemp("year"), weeks=60)
    return merchant_report(dataset, tmp_path_factory.mktemp("report") / "report")


@pytest.mark.slow
def test_merchant_page_says_what_to_expect_against_the_same_weeks_last_year(year_of_sales):
    *_, page = year_of_sales
    # forecast weeks 60-63; a year before, weeks 8-11: 7 teas and 21 fans a week
    assert "Same 4 weeks last year: <b class='year-ago'>28 a week</b>; the forecast is" in page
    assert "Last 4 weeks: 35 a week" in page  # 28 teas and 7 fans
    expected = re.search(r"<b class='expected'>about ([\d.,]+) units a week</b>", page)
    assert expected and float(expected.group(1).replace(",", "")) > 0
    assert "P50, bottom-up" not in page


@pytest.mark.slow
def test_merchant_page_names_items_by_title_and_flags_rising_and_falling(year_of_sales):
    *_, index, page = year_of_sales
    assert "<th class='name'>Rising tea</th><td class='name nowrap'>UP-1</td>" in page
    assert "<th class='name'>Falling fan</th><td class='name nowrap'>DOWN-1</td>" in page
    # tea: 28 a week against 7 (+300%); fans: 7 against 21 (-67%)
    assert "<b class='rising'>Rising</b>: city tiers tier 1 +300%; items Rising tea (UP-1) +300%." in page
    assert "<b class='falling'>Falling</b>: city tiers tier 2 \u221267%; items Falling fan (DOWN-1) \u221267%." in page
    tier_rows = {row.split("</th>")[0]: row for row in page.split("<tr><th class='name'>")[1:]}
    assert "<b class='rising'>rising</b>" in tier_rows["tier 1"]
    assert "<b class='falling'>falling</b>" in tier_rows["tier 2"]
    assert "<td class='name nowrap'>tier 1</td><td class='name nowrap'>tier 2</td>" in index  # rising, falling


@pytest.mark.slow
def test_merchant_charts_are_full_width_with_legible_text_and_legends_off_the_plot(year_of_sales):
    items, tiers, *_ = year_of_sales
    (merchant,) = merchant_demands(items, tiers, {})
    for fig, _ in merchant_charts(merchant):
        assert_legible(fig)
    assert "figure img{width:100%" in STYLE


def test_merchant_page_says_plainly_when_the_history_is_shorter_than_a_year(tmp_path):
    dataset = write_moving_market(tmp_path / "data", weeks=40)
    *_, index, page = merchant_report(dataset, tmp_path / "report")
    assert "Same weeks last year: <b>not in the sales history</b>, which starts on 01 Jan 2024" in page
    assert "no comparison with last year" in index and "last year</th>" not in page


def assert_legible(fig) -> None:
    """The figure is as wide as the page's content, its text at least 12 px, its legends outside every plot."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert fig.get_figwidth() * fig.dpi == CONTENT_WIDTH_PX
    for ax in fig.axes:
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            assert label.get_fontsize() * fig.dpi / 72 >= MIN_TEXT_PX
        plot_area = ax.get_window_extent(renderer)
        for legend in fig.legends + [ax.get_legend()]:
            if legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(plot_area)


# --- the evaluation report -----------------------------------------------------------------------------

def row(name: str, ndcg: float, tail: float) -> RowResult:
    return RowResult(name, {"ndcg@10": ndcg, "long_tail_share": tail}, [0.1] * 10, [0.5, 0.5])


def evaluation_of(rows: list[RowResult], niche: float = 0.3, regions=("Hunan", "Sichuan"),
                  config_niche="auto") -> Evaluation:
    """A small evaluation made by hand (what :func:`training.evaluate.evaluate` returns)."""
    curve = [{"niche": x, "ndcg@10": 0.08 - 0.02 * x, "long_tail_share": 0.1 + 0.3 * x} for x in (0.0, niche, 1.0)]
    counts = dict.fromkeys(["train_lines", "train_buyers", "items", "test_buyers", "relevant_pairs", "new_items",
                            "cold_start_buyers"], 1)
    return Evaluation(k=10, test_days=30, cutoff="2026-10-01", counts=counts, rows=rows, niche_curve=curve,
                      default_niche=niche, regions=list(regions), test_region_share=[1 / len(regions)] * len(regions),
                      test_popularity_deciles=[0.1] * 10, validation={},
                      config={"niche": config_niche, "niche_max_ndcg_loss": 0.05, "validation_days": 30}, seconds={})


SERVED = hybrid_default_row(0.3)
ROWS = [row(POPULARITY_ROW, 0.05, 0.0), row(EASE_ROW, 0.101, 0.09), row(HYBRID_ZERO_ROW, 0.08, 0.12),
        row(SERVED, 0.072, 0.23)]


def test_verdict_names_the_served_row_why_and_its_cost_against_the_most_accurate_row():
    evaluation = evaluation_of(ROWS)
    line = verdict(evaluation)
    assert line.startswith(f'Served: {SERVED}, the model "recommender train" builds, chosen on 1 validation '
                           f"window of 30 days inside the training days (their last 30 days)")
    evaluation.validation["window_buyers"] = [2_500, 2_500]
    assert "chosen on 2 validation windows of 30 days inside the training days (their last 60 days)" in \
        verdict(evaluation)
    assert "niche knob 0.3, the largest that keeps NDCG@10 within 5% of pure relevance order" in line
    assert line.endswith(f"NDCG@10 0.072 vs 0.101 for {EASE_ROW} (-29%), long-tail share 0.23 vs 0.09.")
    page = report_html(evaluation)
    assert page.index(f"<p class='verdict'>Served: {SERVED}") < page.index("<h2>Metrics")
    assert f"<b>{SERVED} <span class='tag'>served</span></b>" in page
    assert f"{EASE_ROW} <span class='tag'>most accurate</span>" in page


def test_verdict_when_the_served_row_is_the_most_accurate_or_the_knob_is_set():
    evaluation = evaluation_of([row(POPULARITY_ROW, 0.05, 0.0), row(SERVED, 0.09, 0.2)], config_niche=0.3)
    line = verdict(evaluation)
    assert "niche knob 0.3 set by the config" in line
    assert line.endswith("It is also the most accurate row: NDCG@10 0.090, long-tail share 0.20.")


def test_every_caption_has_its_chart_and_legends_stay_off_the_plots():
    page = report_html(evaluation_of(ROWS, regions=("Hunan",)))
    assert page.count("<figcaption>") == page.count("<img ") == 2
    assert "per region" not in page.split("<h2>Plots</h2>")[1].split("No chart")[0]
    assert "No chart of exposure by region: the catalog has a single region (Hunan)." in page
    drawn = charts(evaluation_of(ROWS))
    assert [name for name, _, _ in drawn] == ["tradeoff", "regions", "popularity"]


@pytest.mark.parametrize("plot", ["tradeoff_plot", "region_plot", "popularity_plot"])
def test_evaluation_charts_are_full_width_with_legible_text_and_legends_off_the_plot(plot):
    import training.report

    assert_legible(getattr(training.report, plot)(evaluation_of(ROWS)))

