"""`training.evaluate` and `training.report` on a small generated marketplace."""
from __future__ import annotations

import base64
import html
import json
import math

import numpy as np
import pandas as pd
import pytest

import training.evaluate as evaluate_module
from recommender.loaders import load_dataset
from recommender.metrics import ndcg_at_k, recall_at_k
from recommender.splits import relevance_matrix, temporal_split
from tests.test_deterministic_training import without_timings
from training.config import TrainConfig
from training.evaluate import (
    COLUMNS,
    EASE_ROW,
    HYBRID_ZERO_ROW,
    PLAIN_ALS_ROW,
    POPULARITY_ROW,
    RP3BETA_ROW,
    evaluate,
    hybrid_default_row,
)
from training.report import REPORT_FILE, report_html, verdict, write_report
from training.train import train, window_date

pytestmark = pytest.mark.slow  # one evaluation feeds the module: the model search and every baseline

TEST_DAYS = 30
K = 10
UNIT_METRICS = ("recall@{k}", "recall@20", "ndcg@{k}", "map@{k}", "coverage", "long_tail_share",
                "long_tail_recall@{k}", "avg_popularity_norm", "gini_region", "gini_merchant", "least_fifth_region",
                "least_fifth_merchant", "cold_recall@{k}")


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(tmp_path_factory.mktemp("eval_market"), buyers=400, items=150, seed=3)
    return load_dataset(paths["purchases"], paths["catalog"])


@pytest.fixture(scope="module")
def run(market):
    """One evaluation, with a spy on what the hybrid was trained on."""
    seen = []
    real_train = evaluate_module.train

    def spy(dataset, config=None, show_progress=True):
        seen.append(dataset)
        return real_train(dataset, config, show_progress)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_module, "train", spy)
        evaluation = evaluate(market, TrainConfig(), test_days=TEST_DAYS, k=K, show_progress=False)
    return evaluation, seen


def chosen_row(evaluation) -> str:
    """The row of the collaborative model the search chose."""
    return f"{next(iter(evaluation.config['components']))} (hybrid component)"


def test_the_served_row_is_what_train_and_recommend_give_on_the_same_split(run, market):
    """One search: ``train`` on the evaluation's training days builds the very model the served row
    scores (the search is deterministic), and its default lists score the same."""
    evaluation, seen = run
    train_part, test = temporal_split(market, TEST_DAYS)
    pd.testing.assert_frame_equal(seen[0].purchases, train_part.purchases)
    result = train(train_part, TrainConfig(), show_progress=False)
    assert result.config.to_dict() == evaluation.config
    assert result.engine.default_niche == evaluation.default_niche
    assert without_timings(result.validation) == without_timings(evaluation.validation)
    engine = result.engine
    relevant = relevance_matrix(test, engine.users, engine.n_items, engine.purchased)
    buyers = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    lists, _ = engine.recommend(buyers, K, date=window_date(engine, TEST_DAYS))  # the test days' season
    served = evaluation.default_row.metrics
    assert ndcg_at_k(lists, relevant[buyers], K) == pytest.approx(served[f"ndcg@{K}"], abs=1e-12)
    assert recall_at_k(lists, relevant[buyers], K) == pytest.approx(served[f"recall@{K}"], abs=1e-12)


def test_table_has_every_row_and_metric(run):
    evaluation, _ = run
    expected = [POPULARITY_ROW, "popularity (distinct buyers)", "popularity (trending, 14-day half-life)",
                PLAIN_ALS_ROW, EASE_ROW, RP3BETA_ROW, chosen_row(evaluation),
                "content (hybrid component)", HYBRID_ZERO_ROW, hybrid_default_row(evaluation.default_niche)]
    for name in expected:
        assert name in evaluation.names
    assert evaluation.names[-2:] == [HYBRID_ZERO_ROW, hybrid_default_row(evaluation.default_niche)]
    assert len(set(evaluation.names)) == len(evaluation.names)
    table = evaluation.table()
    lines = table.splitlines()
    for _, header, _ in COLUMNS:
        assert header.format(k=K) in lines[0]
    for name in evaluation.names:
        assert sum(line.startswith(name + "  ") for line in lines) == 1, name
    for row in evaluation.rows:
        for key, _, _ in COLUMNS:
            assert key.format(k=K) in row.metrics, (row.name, key)
    assert len({len(line) for line in lines[:2 + len(evaluation.rows)]}) == 1, "columns are aligned"


def test_metrics_are_in_the_unit_interval(run):
    evaluation, _ = run
    for row in evaluation.rows:
        for key in UNIT_METRICS:
            value = row.metrics[key.format(k=K)]
            assert math.isnan(value) or 0.0 <= value <= 1.0, (row.name, key, value)
        assert row.metrics["avg_popularity"] >= 0
        assert row.metrics["users"] == evaluation.counts["test_buyers"]
        assert sum(row.popularity_deciles) == pytest.approx(1.0)
        assert sum(row.region_exposure) == pytest.approx(1.0)
    # the demo catalog names regions and merchants, so the Gini coefficients are defined
    assert not math.isnan(evaluation.metric(POPULARITY_ROW, "gini_region"))
    assert evaluation.metric(HYBRID_ZERO_ROW, "ndcg@{k}") > 0


def test_popularity_has_less_long_tail_than_the_niche_hybrid(run):
    evaluation, _ = run
    assert evaluation.default_niche > 0, "the test needs a hybrid with the niche knob on"
    assert (evaluation.metric(POPULARITY_ROW, "long_tail_share")
            < evaluation.metric(hybrid_default_row(evaluation.default_niche), "long_tail_share"))


def test_the_niche_hybrid_exposes_priority_regions_more_than_popularity(run):
    evaluation, _ = run
    niche = evaluation.metric(hybrid_default_row(evaluation.default_niche), "priority_exposure")
    assert 0 < evaluation.metric(POPULARITY_ROW, "priority_exposure") < niche


def test_new_items_are_reached_through_content_only(run):
    evaluation, _ = run
    assert evaluation.counts["new_items"] > 0 and evaluation.counts["cold_start_buyers"] > 0
    for baseline in (PLAIN_ALS_ROW, POPULARITY_ROW, EASE_ROW, RP3BETA_ROW):  # no content: new items unreachable
        assert evaluation.metric(baseline, "cold_recall@{k}") == 0.0, baseline
    assert evaluation.metric("content (hybrid component)", "cold_recall@{k}") > 0.0
    # every family maps new items from content (factors or item-item weights), so the chosen one and
    # the hybrid reach them too
    assert evaluation.metric(chosen_row(evaluation), "cold_recall@{k}") > 0.0
    assert evaluation.metric(hybrid_default_row(evaluation.default_niche), "cold_recall@{k}") > 0.0


def test_hybrid_trains_on_the_training_part_only(run, market):
    evaluation, seen = run
    assert len(seen) == 1
    cutoff = market.purchases.timestamp.max() - pd.Timedelta(days=TEST_DAYS)
    assert seen[0].purchases.timestamp.max() <= cutoff
    assert len(seen[0].purchases) == evaluation.counts["train_lines"]
    assert evaluation.counts["train_lines"] + evaluation.counts["test_lines"] <= len(market.purchases)


def test_niche_curve_spans_the_knob_and_matches_the_rows(run):
    evaluation, _ = run
    knobs = [point["niche"] for point in evaluation.niche_curve]
    assert knobs == pytest.approx([round(0.05 * i, 2) for i in range(21)])
    by_knob = {point["niche"]: point for point in evaluation.niche_curve}
    default = evaluation.default_niche
    for knob, name in ((0.0, HYBRID_ZERO_ROW), (default, hybrid_default_row(default))):
        assert by_knob[knob][f"ndcg@{K}"] == evaluation.metric(name, "ndcg@{k}")
        assert by_knob[knob]["long_tail_share"] == evaluation.metric(name, "long_tail_share")


def test_the_search_scoreboard_and_winner_are_kept(run):
    evaluation, _ = run
    search = evaluation.validation["search"]
    assert search["best"] in search["trials"] and search["best"]["status"] == "ok"
    ran = [trial for trial in search["trials"] if trial["status"] == "ok"]
    assert search["most_accurate"]["ndcg"] == max(trial["ndcg"] for trial in ran)
    assert search["best"]["long_tail_share"] >= search["most_accurate"]["long_tail_share"]
    assert next(iter(evaluation.config["components"])) == search["best"]["family"]


def test_to_dict_is_json(run):
    evaluation, _ = run
    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))
    assert [row["model"] for row in data["rows"]] == evaluation.names
    assert data["default_model"] == hybrid_default_row(evaluation.default_niche)
    assert len(data["test_purchases"]["popularity_deciles"]) == 10


def test_bad_k_is_refused(market):
    with pytest.raises(ValueError, match="k must be"):
        evaluate(market, k=0, show_progress=False)


def test_report_is_self_contained_html_with_plots(run, tmp_path):
    evaluation, _ = run
    out_dir = tmp_path / "report"
    path = write_report(evaluation, out_dir, png_dir=tmp_path / "png")
    assert path == out_dir / REPORT_FILE and path.is_file()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    images = text.split("data:image/png;base64,")[1:]
    assert len(images) == 3
    for image in images:
        assert base64.b64decode(image.split("'", 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for name in evaluation.names:
        assert name in text
    assert "Model search" in text and f"{evaluation.validation['search']['best']['ndcg']:.4f}" in text
    assert "http://" not in text and "https://" not in text, "no external resources"
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["popularity.png", "regions.png", "tradeoff.png"]
    assert not [p for p in out_dir.iterdir() if p.name != REPORT_FILE], "no temporary files left behind"
    # rewriting replaces the report in place
    assert write_report(evaluation, out_dir) == path


def test_report_opens_with_a_verdict_computed_from_the_rows(run):
    evaluation, _ = run
    ndcg = f"ndcg@{K}"
    served = evaluation.row(hybrid_default_row(evaluation.default_niche))
    best = max(evaluation.rows, key=lambda row: row.metrics[ndcg])
    line = verdict(evaluation)
    assert line.startswith(f"Served: {served.name}, ")
    mine, theirs = served.metrics, best.metrics
    if mine[ndcg] < theirs[ndcg]:
        assert line.endswith(f"NDCG@{K} {mine[ndcg]:.3f} vs {theirs[ndcg]:.3f} for {best.name} "
                             f"({mine[ndcg] / theirs[ndcg] - 1:+.0%}), long-tail share "
                             f"{mine['long_tail_share']:.2f} vs {theirs['long_tail_share']:.2f}.")
    else:
        assert line.endswith(f"most accurate row: NDCG@{K} {mine[ndcg]:.3f}, "
                             f"long-tail share {mine['long_tail_share']:.2f}.")
    text = report_html(evaluation)
    assert text.index(html.escape(line)) < text.index("<h2>Metrics")


def test_every_listing_row_shows_what_one_listing_per_product_changes(run):
    """Issue 32: the default lists hold no product twice; the same model with every listing does, and
    both rows carry the intra-list diversity."""
    evaluation, _ = run
    default = evaluation.default_niche
    every = evaluate_module.every_listing_row(default)
    assert every in evaluation.names
    assert evaluation.metric(hybrid_default_row(default), "repeated_product_lists") == 0.0
    assert evaluation.metric(every, "repeated_product_lists") > 0.0
    for name in (every, hybrid_default_row(default)):
        assert 0.0 < evaluation.metric(name, "ild_category") <= 1.0
        assert 0.0 < evaluation.metric(name, "product_ndcg@{k}") <= 1.0
    assert evaluation.metric(hybrid_default_row(default), "ild_category") >= evaluation.metric(every, "ild_category")
