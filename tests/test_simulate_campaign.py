"""`recommender simulate-campaign` on the demo marketplace: a model trained before the replayed days,
a campaign delivered within 5% of its budget along the plan, its accuracy cost stated next to
the niche knob alone, and a self-contained HTML report with the delivery plot."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from recommender.artifacts import load_model_directory
from recommender.campaigns import Campaign
from recommender.cli import main
from recommender.loaders import load_dataset
from training.simulate_campaign import simulate_campaign

pytestmark = pytest.mark.slow  # trains a model and replays 30 days of traffic

REPLAY_DAYS = 30
CAMPAIGN = {"campaign_id": "new-craft", "name": "New Craftsmanship", "select": {"tags": ["handmade"]},
            "start": "2026-08-01T00:00:00+08:00", "end": "2026-08-31T00:00:00+08:00", "impressions": 500,
            "per_buyer_cap": 2, "max_in_top10": 1}


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """A demo marketplace, and a model trained on all but its last REPLAY_DAYS days."""
    from recommender.demo_marketplace import write_demo_marketplace

    root = tmp_path_factory.mktemp("simulation")
    paths = write_demo_marketplace(root / "market", buyers=2_000, items=150, seed=11)
    purchases = pd.read_csv(paths["purchases"])
    times = pd.to_datetime(purchases.timestamp, utc=True)
    purchases[times <= times.max() - pd.Timedelta(days=REPLAY_DAYS)].to_csv(root / "before.csv", index=False)
    assert main(["train", "--purchases", str(root / "before.csv"), "--catalog", str(paths["catalog"]), "--out",
                 str(root / "model"), "--quiet"]) == 0
    (root / "campaign.json").write_text(json.dumps(CAMPAIGN), encoding="utf-8")
    return root, paths


def test_the_replay_delivers_the_budget_along_the_plan_and_states_its_cost(replay, capsys):
    root, paths = replay
    assert main(["simulate-campaign", "--model", str(root / "model"), "--campaign", str(root / "campaign.json"),
                 "--traffic", str(paths["purchases"]), "--catalog", str(paths["catalog"]), "--out",
                 str(root / "report.html"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    ratio = float(re.search(r"delivered\s+[\d,]+ \(([\d.]+) of the budget\)", printed).group(1))
    assert 0.95 <= ratio <= 1.05, printed
    assert re.search(r"NDCG@10 with / without\s+0\.\d{4} / 0\.\d{4}", printed), printed
    assert re.search(r"niche knob 1 alone\s+[\d,]+ campaign-item impressions, NDCG@10 0\.\d{4}", printed), printed
    report = (root / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in report and "http" not in report


def test_a_budget_the_traffic_cannot_carry_is_reported_short(replay):
    root, paths = replay
    engine, _ = load_model_directory(root / "model")
    dataset = load_dataset(paths["purchases"], paths["catalog"])
    huge = Campaign.from_dict({**CAMPAIGN, "impressions": 1_000_000})
    simulation = simulate_campaign(engine, huge, dataset, REPLAY_DAYS, show_progress=False)
    assert simulation.delivery_ratio < 0.1 and np.all(np.diff(simulation.delivered) >= 0)
    assert simulation.hourly_error().iloc[-1] > 0.9  # far behind the plan at the end, and says so
    assert max(simulation.per_merchant.values()) > 0 and simulation.waste >= 0


def test_a_bad_campaign_file_names_the_field(replay, capsys):
    root, paths = replay
    (root / "bad.json").write_text(json.dumps({**CAMPAIGN, "impressions": 0}), encoding="utf-8")
    assert main(["simulate-campaign", "--model", str(root / "model"), "--campaign", str(root / "bad.json"),
                 "--traffic", str(paths["purchases"])]) == 2
    assert "impressions" in capsys.readouterr().err


def test_a_replay_of_days_the_model_has_seen_says_its_cost_is_not_measured(replay, capsys):
    """Every purchase of the model's own training days is already in the buyers' histories: nothing
    new to find, so no NDCG (not nan) and the advice to use a model trained before them."""
    root, paths = replay
    assert main(["simulate-campaign", "--model", str(root / "model"), "--campaign", str(root / "campaign.json"),
                 "--traffic", str(root / "before.csv"), "--catalog", str(paths["catalog"]), "--days", "7",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower(), printed
    assert re.search(r"NDCG@10 with / without\s+not measured / not measured \(no replayed visit bought an item "
                     r"new to the buyer: the model has seen these days; use one trained before them\)", printed)
    assert re.search(r"niche knob 1 alone\s+[\d,]+ campaign-item impressions, NDCG@10 not measured", printed)
