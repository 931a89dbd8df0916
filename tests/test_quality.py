"""Ranking quality that can fail: on a generated marketplace with planted tastes, the model `train`
chooses beats tier popularity and plain implicit ALS on a held-out month, measured in the same run."""
from __future__ import annotations

import pytest

from recommender.loaders import load_dataset
from training.evaluate import PLAIN_ALS_ROW, POPULARITY_ROW, evaluate

pytestmark = pytest.mark.slow  # trains and evaluates on a 2,000-buyer marketplace

@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    from recommender.demo_marketplace import write_demo_marketplace

    paths = write_demo_marketplace(tmp_path_factory.mktemp("quality"), buyers=2_000, items=200, seed=5)
    return evaluate(load_dataset(paths["purchases"], paths["catalog"]), test_days=30, k=10, show_progress=False)


def test_the_default_model_beats_popularity_and_plain_als_on_held_out_purchases(evaluation):
    default = evaluation.default_row.metrics["ndcg@10"]
    for baseline in (POPULARITY_ROW, PLAIN_ALS_ROW):
        assert default > 1.2 * evaluation.metric(baseline, "ndcg@{k}"), (baseline, evaluation.table())
    assert evaluation.counts["test_buyers"] >= 300  # enough buyers for the comparison to mean something


def test_the_default_model_shows_more_of_the_long_tail_than_popularity(evaluation):
    assert (evaluation.default_row.metrics["long_tail_share"]
            > 2 * evaluation.metric(POPULARITY_ROW, "long_tail_share"))
