"""`training.search`: the model search on a validation split, its plan, budget, skips and scoreboard."""
from __future__ import annotations

import numpy as np
import pytest

from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset
from recommender.metrics import ndcg_at_k
from recommender.models import FAMILIES, make_model
from recommender.ranking import exclude, top_k
from recommender.splits import relevance_matrix, validation_split
from training.search import (
    MAX_BUDGET_SECONDS,
    MIN_BUDGET_SECONDS,
    SEARCHED,
    WEIGHTINGS,
    Trial,
    Window,
    default_budget_seconds,
    niche_friendliest_tie,
    scoreboard_table,
    search_models,
)


@pytest.fixture(scope="module")
def split(small_market):
    fit_part, validation = validation_split(load_dataset(*small_market), 30)
    return fit_part, validation


def inputs(split):
    fit_part, validation = split
    built = []

    def data_for(weighting):
        from recommender.features.interactions import InteractionWeighting

        data = build_training_data(fit_part, InteractionWeighting(**weighting), content_dimensions=8)
        built.append(weighting)
        return data

    def relevant_for(data):
        relevant = relevance_matrix(validation, data.users, data.n_items, data.purchased)
        buyers = np.flatnonzero(relevant.getnnz(axis=1) > 0)
        return buyers, relevant[buyers]

    return [Window(data_for, relevant_for)], built


def test_plan_runs_floors_every_family_then_weightings_then_moves_and_picks_the_best(split):
    windows, _ = inputs(split)
    result = search_models(windows, make_model, budget_seconds=600, k=10)
    ran = [trial for trial in result.trials if trial.status == "ok"]
    assert result.stopped_by == "plan"
    # round 1: the floors' starting points (popularity per tier and by distinct buyers on the first
    # weighting); round 2: ALS and EASE on it, then the floor with its own weighting (trending);
    # round 3: the best family so far on the other weightings
    floors = FAMILIES["popularity"].starts
    assert [trial.family for trial in ran[:4]] == ["popularity", "popularity", "als", "ease"]
    assert all(trial.weighting["scheme"] == WEIGHTINGS[0]["scheme"] for trial in ran[:4])
    assert ran[4].family == "popularity" and ran[4].weighting["half_life_days"] == floors[2].weighting["half_life_days"]
    better = max(ran[:5], key=lambda trial: trial.ndcg).family
    others = ran[5:5 + len(WEIGHTINGS) - 1]
    assert [trial.family for trial in others] == [better] * (len(WEIGHTINGS) - 1)
    assert [trial.weighting["scheme"] for trial in others] == [weighting["scheme"] for weighting in WEIGHTINGS[1:]]
    assert {trial.family for trial in ran} == set(SEARCHED)
    assert sum(trial.planned_seconds for trial in ran) == pytest.approx(result.planned_seconds, rel=1e-3)
    # the floor: the best popularity candidate
    assert result.floor.family == "popularity"
    assert result.floor.ndcg == max(trial.ndcg for trial in ran if trial.family == "popularity")
    # the most accurate row, and the chosen one: as accurate within noise, with at least its long tail
    assert result.most_accurate.ndcg == max(trial.ndcg for trial in ran)
    assert result.best.long_tail_share >= result.most_accurate.long_tail_share
    assert result.best.ndcg >= 0.9 * result.most_accurate.ndcg
    # the chosen model is the one fitted with the chosen parameters
    [(model, data)] = result.fitted
    assert isinstance(model, type(make_model(result.best.family)))
    refit = make_model(result.best.family, result.best.params).fit(data)
    batch = data.batch(np.arange(20))
    np.testing.assert_allclose(refit.score(batch), model.score(batch), rtol=1e-4, atol=1e-6)
    assert data.weighting.to_dict() == result.best.weighting
    for trial in ran:
        assert 0.0 <= trial.ndcg <= 1.0 and 0.0 <= trial.long_tail_share <= 1.0 and trial.seconds >= 0
        if FAMILIES[trial.family].exponents:
            assert trial.params["beta"] in FAMILIES[trial.family].exponents  # the exponent each fit kept
    table = result.table()
    chosen_line = next(line for line in table.splitlines() if line.startswith("*"))
    assert f"{result.best.ndcg:.4f}" in chosen_line
    assert scoreboard_table(result.to_dict()) == table


def test_ties_within_one_standard_error_go_to_the_longer_tail():
    rng = np.random.default_rng(0)
    accurate = rng.random(2_000)
    noise = rng.normal(0, 0.2, 2_000)
    noise -= noise.mean()  # the gap to the best is 0.001 on average, with a standard error of about 0.0045
    best = Trial("als", {}, {}, "ok", ndcg=accurate.mean(), long_tail_share=0.1)
    close = Trial("ease", {}, {}, "ok", ndcg=(accurate + noise - 0.001).mean(), long_tail_share=0.4)
    worse = Trial("rp3beta", {}, {}, "ok", ndcg=(accurate - 0.05).mean(), long_tail_share=0.9)
    per_buyer = {id(best): accurate, id(close): accurate + noise - 0.001, id(worse): accurate - 0.05}
    assert niche_friendliest_tie([best, close, worse], best, per_buyer) is close  # 0.001 is within noise
    assert niche_friendliest_tie([best, worse], best, per_buyer) is best  # 0.05 is not
    per_buyer[id(close)] = accurate - 0.01  # the same gap without noise is a real difference
    assert niche_friendliest_tie([best, close], best, per_buyer) is best


def test_a_tiny_budget_runs_the_first_candidate_and_lists_the_rest_as_skipped(split):
    windows, _ = inputs(split)
    result = search_models(windows, make_model, budget_seconds=1e-6, k=10)
    ran = [trial for trial in result.trials if trial.status == "ok"]
    assert len(ran) == 1 and result.best is ran[0] is result.most_accurate
    assert result.stopped_by == "budget"
    skipped = [trial for trial in result.trials if trial.status == "skipped"]
    assert {trial.family for trial in skipped} | {ran[0].family} == set(SEARCHED)
    assert all("left" in trial.reason for trial in skipped)
    assert result.planned_seconds == pytest.approx(ran[0].planned_seconds, rel=1e-3)


def test_families_that_need_more_memory_than_the_machine_are_skipped_with_the_reason(split, monkeypatch):
    from recommender.models.base import FitCost
    from recommender.models.ease import EASERecommender

    monkeypatch.setattr(EASERecommender, "fit_cost", classmethod(lambda cls, *args: FitCost(0.1, 40e9)))
    windows, _ = inputs(split)
    result = search_models(windows, make_model, budget_seconds=600, k=10,
                           families=("ease", "als"), memory_bytes=24 * 2**30)
    by_family = {trial.family: trial for trial in result.trials}
    assert by_family["ease"].status == "skipped" and "needs about 40.0 GB, over 15.5 GB" in by_family["ease"].reason
    assert result.best.family == "als"


def test_a_fixed_weighting_and_families_restrict_the_search(split):
    windows, built = inputs(split)
    weighting = {"scheme": "log", "half_life_days": 200.0}
    result = search_models(windows, make_model, budget_seconds=600, k=10, weighting=weighting,
                           families=("rp3beta", "item_knn"))
    assert {trial.family for trial in result.trials} <= {"rp3beta", "item_knn"}
    assert all(trial.weighting["scheme"] == "log" and trial.weighting["half_life_days"] == 200.0
               for trial in result.trials)
    assert all(w["scheme"] == "log" for w in built)
    with pytest.raises(ValueError, match="unknown family 'svd'"):
        search_models(windows, make_model, budget_seconds=1, families=("svd",))


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(split):
    windows, _ = inputs(split)

    def make(family, params):
        if family == "rp3beta":
            raise ValueError("broken on purpose")
        return make_model(family, params)

    result = search_models(windows, make, budget_seconds=600, k=10, families=("rp3beta", "als"))
    failed = [trial for trial in result.trials if trial.status == "failed"]
    assert failed and all(trial.family == "rp3beta" and "broken on purpose" in trial.reason for trial in failed)
    assert result.best.family == "als"


def test_default_budget_grows_with_the_data_within_bounds():
    assert default_budget_seconds(1_000) == MIN_BUDGET_SECONDS
    assert default_budget_seconds(4_000_000) > default_budget_seconds(3_000_000) >= MIN_BUDGET_SECONDS
    assert default_budget_seconds(10**12) == MAX_BUDGET_SECONDS
    # every candidate is fitted once per validation window: the plan grows with them
    assert default_budget_seconds(4_000_000, windows=2) == 2 * default_budget_seconds(4_000_000)


def test_several_windows_fit_each_candidate_before_each_and_pool_their_buyers(split):
    fit_part, _ = split
    earlier = validation_split(fit_part, 30)
    (latest,), _ = inputs(split)
    (before,), _ = inputs(earlier)
    result = search_models([latest, before], make_model, budget_seconds=600, k=10, families=("popularity", "als"),
                           weighting={"scheme": "binary"})
    assert len(result.fitted) == 2 and len(result.buyers) == 2 and result.to_dict()["buyers"] == sum(result.buyers)
    (_, data), (_, earlier_data) = result.fitted
    assert earlier_data.user_items.nnz < data.user_items.nnz  # fitted on the data before the earlier window
    per_buyer = []
    for window, (fitted, fitted_on) in zip([latest, before], result.fitted):
        buyers, relevant = window.relevant_for(fitted_on)
        scores = exclude(fitted.score(fitted_on.batch(buyers)), fitted_on.purchased[buyers],
                         fitted_on.catalog.available.to_numpy(dtype=bool))
        per_buyer.append(ndcg_at_k(top_k(scores, 10)[0], relevant, 10, average=False))
    assert [len(ndcgs) for ndcgs in per_buyer] == result.buyers
    assert result.best.ndcg == pytest.approx(np.nanmean(np.concatenate(per_buyer)), rel=1e-6)
    one_window = search_models([latest], make_model, budget_seconds=600, k=10, families=("popularity", "als"),
                               weighting={"scheme": "binary"})
    planned = {(t.family, str(t.params)): t.planned_seconds for t in one_window.trials}
    assert all(trial.planned_seconds > planned[(trial.family, str(trial.params))] for trial in result.trials
               if (trial.family, str(trial.params)) in planned)  # both windows' fits are in the plan
