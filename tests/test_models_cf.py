"""Collaborative-filtering models (ALS, BPR, EASE, RP3beta, item k-NN) on data with planted structure.

Two groups of buyers buy from two disjoint groups of items; every model must learn that a
buyer's best items, and an item's nearest items, come from its own group.
"""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.training_data import TrainingData, UserBatch, build_training_data
from recommender.loaders import load_dataset
from recommender.models import als as als_module
from recommender.models.als import ALSRecommender, als_fold_in, confidences
from recommender.models.base import ModelLoadError, NotFittedError
from recommender.models.bpr import BPRRecommender
from recommender.models.ease import EASERecommender, ease_weights
from recommender.models.item_knn import ItemKNNRecommender
from recommender.models.rp3beta import RP3betaRecommender
from recommender.ranking import exclude, top_k

BUYERS_PER_GROUP = 40
ITEMS_PER_GROUP = 10
ITEMS_PER_BUYER = 5
FACTORS = {"als": 2, "bpr": 4}

# The planted structure has rank 2. On data this small, factor models with many more factors than
# that fit each buyer's own pattern inside its group (ALS pushes the group's unbought items below
# the other group's, which it fits at ~0), so they get only a few more factors than the planted rank.
MODELS = {
    "als": lambda: ALSRecommender(factors=FACTORS["als"]),
    # one thread: implicit's BPR SGD is lock-free across threads, so only then reproducible
    "bpr": lambda: BPRRecommender(factors=FACTORS["bpr"], iterations=300, regularization=0.05, num_threads=1),
    "ease": lambda: EASERecommender(l2=10.0, neighbours=30),
    "rp3beta": lambda: RP3betaRecommender(),
    "knn-cosine": lambda: ItemKNNRecommender(neighbours=20),
    "knn-bm25": lambda: ItemKNNRecommender(neighbours=20, similarity="bm25"),
}
NAMES = list(MODELS)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> TrainingData:
    """60 buyers in groups "a" and "b", each buying 5 of the 12 items of its group ("A-*"/"B-*");
    the catalog interleaves the groups so codes say nothing about them."""
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,timestamp,quantity"]
    for group in "ab":
        for b in range(BUYERS_PER_GROUP):
            for i in rng.choice(ITEMS_PER_GROUP, ITEMS_PER_BUYER, replace=False):
                day = int(rng.integers(1, 28))
                lines.append(f"{group}{b},{group.upper()}-{i},2025-06-{day:02d},{int(rng.integers(1, 4))}")
    catalog = ["item_id,title,category,region,tags,price"]
    for i in range(ITEMS_PER_GROUP):
        catalog += [f"A-{i},Tea {i},tea,\"Anxi, Fujian\",seasonal,{30 + i}",
                    f"B-{i},Bowl {i},ceramics,\"Jingdezhen, Jiangxi\",handmade,{100 + 5 * i}"]
    folder = tmp_path_factory.mktemp("cf")
    (folder / "purchases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "catalog.csv").write_text("\n".join(catalog) + "\n", encoding="utf-8")
    return build_training_data(load_dataset(folder / "purchases.csv", folder / "catalog.csv"))


def item_groups(data: TrainingData) -> np.ndarray:
    return np.array([item_id[0] for item_id in data.items.ids])


def user_groups(data: TrainingData) -> np.ndarray:
    return np.array([user_id[0].upper() for user_id in data.users.ids])


def everyone(data: TrainingData) -> UserBatch:
    return data.batch(np.arange(data.n_users))


def unseen_batch(data: TrainingData) -> tuple[UserBatch, np.ndarray]:
    """Three unseen buyers: three A items, three B items, no history; and their groups."""
    groups = item_groups(data)
    a_items = np.flatnonzero(groups == "A")[:3]
    b_items = np.flatnonzero(groups == "B")[:3]
    history = sp.lil_matrix((3, data.n_items), dtype=np.float32)
    history[0, a_items] = [2.0, 1.0, 1.0]
    history[1, b_items] = [1.0, 1.0, 3.0]
    batch = UserBatch(np.full(3, UNKNOWN_CODE), history.tocsr(), np.zeros(3, dtype=np.int8))
    return batch, np.array(["A", "B", ""])


@pytest.fixture(scope="module")
def fitted(data) -> dict:
    return {name: factory().fit(data) for name, factory in MODELS.items()}


@pytest.mark.parametrize("name", NAMES)
def test_score_shape_and_dtype(fitted, data, name):
    model = fitted[name]
    scores = model.score(data.batch(np.arange(7)))
    assert scores.shape == (7, data.n_items)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    empty = model.score(data.batch(np.arange(0)))
    assert empty.shape == (0, data.n_items) and empty.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_top_items_come_from_the_buyers_group(fitted, data, name):
    scores = exclude(fitted[name].score(everyone(data)), data.user_items)
    best, best_scores = top_k(scores, 3)
    assert np.isfinite(best_scores).all()
    groups = item_groups(data)
    assert (groups[best] == user_groups(data)[:, None]).all()


@pytest.mark.parametrize("name", NAMES)
def test_similar_items_come_from_the_items_group(fitted, data, name):
    items = np.arange(data.n_items)
    codes, scores = fitted[name].similar_items(items, 3)
    assert codes.shape == scores.shape == (data.n_items, 3)
    assert codes.dtype == np.int64 and scores.dtype == np.float32
    assert (codes != items[:, None]).all()
    assert (codes >= 0).all()
    groups = item_groups(data)
    assert (groups[codes] == groups[:, None]).all()
    assert (np.diff(scores, axis=1) <= 0).all()  # best first


@pytest.mark.parametrize("name", NAMES)
def test_similar_items_k_larger_than_catalog(fitted, data, name):
    codes, scores = fitted[name].similar_items(np.array([0, 3]), data.n_items + 5)
    assert codes.shape == scores.shape == (2, data.n_items - 1)
    assert (codes != np.array([[0], [3]])).all()
    assert (np.isneginf(scores) == (codes == -1)).all()  # k-NN pads missing neighbours with -1/-inf
    for row in codes:
        real = row[row >= 0]
        assert real.size and len(np.unique(real)) == real.size


@pytest.mark.parametrize("name", NAMES)
def test_unseen_buyers_are_scored_from_their_history(fitted, data, name):
    batch, groups_wanted = unseen_batch(data)
    scores = fitted[name].score(batch)
    assert scores.shape == (3, data.n_items) and scores.dtype == np.float32
    assert scores[:2].any(axis=1).all()
    assert not scores[2].any()  # no factors and no history: no opinion
    best, _ = top_k(exclude(scores[:2].copy(), batch.history[:2]), 3)
    assert (item_groups(data)[best] == groups_wanted[:2, None]).all()


@pytest.mark.parametrize("name", NAMES)
def test_mixed_batch_scores_rows_independently(fitted, data, name):
    model = fitted[name]
    unseen, _ = unseen_batch(data)
    known = data.batch(np.array([4, 40]))
    mixed = UserBatch(np.concatenate([known.users, unseen.users]), sp.vstack([known.history, unseen.history]).tocsr(),
                      np.concatenate([known.tiers, unseen.tiers]))
    scores = model.score(mixed)
    np.testing.assert_allclose(scores[:2], model.score(known), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores[2:], model.score(unseen), rtol=1e-5, atol=1e-6)


def test_parameters_follow_scikit_learns_protocol_without_its_base_class():
    model = EASERecommender(l2=10.0)
    assert model.get_params()["l2"] == 10.0 and clone(model).get_params() == model.get_params()
    assert model.set_params(beta=0.5) is model and model.beta == 0.5
    assert repr(model).startswith("EASERecommender(l2=10.0, beta=0.5,")
    with pytest.raises(ValueError, match="EASERecommender has no parameter 'colour'"):
        model.set_params(colour="red")


def test_saved_models_load_and_score_without_importing_scikit_learn(fitted, data, tmp_path):
    """A saved model holds no scikit-learn object, so loading and using one (what `recommend` and
    every server worker start with) does not import scikit-learn, whose import alone takes ~0.6 s."""
    paths = [str(fitted[name].save(tmp_path / f"{name}.joblib")) for name in NAMES]
    script = f"""
import sys
import numpy as np
from recommender.features.training_data import UserBatch
from recommender.models.base import Recommender
for path in {paths!r}:
    model = Recommender.load(path)
    model.score(UserBatch(np.array([0, -1]), np.zeros((2, {data.n_items}), "float32"), np.zeros(2, "int8")))
    model.similar_items(np.arange(3), 2)
print(sorted(name for name in sys.modules if name.partition(".")[0] == "sklearn"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", NAMES)
def test_scores_of_some_items_and_the_spread_equal_the_full_scores(fitted, data, name):
    """score_items and scores_and_spread (what a filtered request and a blend use) agree with score."""
    model = fitted[name]
    items = np.array([5, 0, 17, 3])
    for batch in (everyone(data), unseen_batch(data)[0]):
        full = model.score(batch)
        np.testing.assert_allclose(model.score_items(batch, items), full[:, items], rtol=1e-5, atol=1e-6)
        scores, spread = model.scores_and_spread(batch, items)
        np.testing.assert_allclose(scores, full[:, items], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(spread, full.astype(np.float64).std(axis=1), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(model.scores_and_spread(batch)[0], full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(fitted, data, name, tmp_path):
    model = fitted[name]
    path = model.save(tmp_path / f"{name}.joblib")
    loaded = type(model).load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    for batch in (everyone(data), unseen_batch(data)[0]):
        np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    items = np.arange(data.n_items)
    for got, want in zip(loaded.similar_items(items, 4), model.similar_items(items, 4)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", NAMES)
def test_load_refuses_damaged_files(fitted, name, tmp_path):
    model = fitted[name]
    good = model.save(tmp_path / "good.joblib").read_bytes()
    truncated = tmp_path / "truncated.joblib"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"this is not a model\x00\x01\x02" * 10)
    for path in (truncated, garbage):
        with pytest.raises(ModelLoadError, match="cannot read the model file"):
            type(model).load(path)
    with pytest.raises(ModelLoadError, match="missing"):
        type(model).load(tmp_path / "nowhere.joblib")


@pytest.mark.parametrize("name", NAMES)
def test_load_refuses_another_model_class(fitted, name, tmp_path):
    model = fitted[name]
    path = model.save(tmp_path / f"{name}.joblib")
    others = {ALSRecommender, BPRRecommender, EASERecommender, RP3betaRecommender, ItemKNNRecommender} - {type(model)}
    for other in others:
        with pytest.raises(ModelLoadError, match=f"holds a {type(model).__name__}, expected a {other.__name__}"):
            other.load(path)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_a_random_state(fitted, data, name):
    refit = clone(fitted[name]).fit(data)
    batch = everyone(data)
    np.testing.assert_array_equal(refit.score(batch), fitted[name].score(batch))
    np.testing.assert_array_equal(refit.score(unseen_batch(data)[0]), fitted[name].score(unseen_batch(data)[0]))


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_random_state_is_used(fitted, data, name):
    other = clone(fitted[name]).set_params(random_state=1).fit(data)
    assert not np.array_equal(other.item_factors_, fitted[name].item_factors_)


def test_als_deterministic_with_implicits_threads(data):
    batch = everyone(data)
    first = ALSRecommender(factors=8, num_threads=0).fit(data).score(batch)
    second = ALSRecommender(factors=8, num_threads=0).fit(data).score(batch)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_learned_attributes_and_not_fitted(data, name, tmp_path):
    model = MODELS[name]()
    with pytest.raises(NotFittedError):
        model.score(data.batch(np.arange(2)))
    with pytest.raises(NotFittedError):
        model.similar_items(np.array([0]), 2)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "unfitted.joblib")
    assert not [key for key in vars(model) if key.endswith("_")]  # only parameters before fit
    model.fit(data)
    model.check_fitted()
    assert model.n_items_ == data.n_items and model.n_users_ == data.n_users


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_factor_arrays(fitted, data, name):
    model = fitted[name]
    width = FACTORS[name] + (1 if name == "bpr" else 0)  # BPR's item bias column
    assert model.user_factors_.shape == (data.n_users, width)
    assert model.item_factors_.shape == (data.n_items, width)
    for factors in (model.user_factors_, model.item_factors_):
        assert type(factors) is np.ndarray and factors.dtype == np.float32
    np.testing.assert_allclose(model.score(data.batch(np.arange(5))), model.user_factors_[:5] @ model.item_factors_.T,
                               rtol=1e-6)


def test_als_fold_in_matches_implicits_recalculate_user(data):
    from implicit.cpu.als import AlternatingLeastSquares

    model = ALSRecommender(factors=8, alpha=2.0, regularization=0.1).fit(data)
    reference = AlternatingLeastSquares(factors=8, regularization=0.1)
    reference.item_factors = model.item_factors_.copy()
    paper = data.user_items.copy()
    paper.data = 1.0 + 2.0 * paper.data  # the confidences, written out
    want = reference.recalculate_user(np.arange(data.n_users), paper)
    got = model.user_vectors(UserBatch(np.full(data.n_users, UNKNOWN_CODE), data.user_items, data.user_tiers))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("confidence", ["paper", "implicit"])
def test_als_hands_implicit_the_confidences_of_its_convention(data, confidence):
    """Fitted factors are implicit's on 1 + alpha * w ("paper") or on alpha * w ("implicit")."""
    from implicit.cpu.als import AlternatingLeastSquares

    params = {"factors": 4, "regularization": 0.1, "iterations": 5, "random_state": 3}
    model = ALSRecommender(alpha=2.5, confidence=confidence, map_cold_items=False, **params).fit(data)
    given = data.user_items.copy()
    given.data = (1.0 if confidence == "paper" else 0.0) + 2.5 * given.data
    library = AlternatingLeastSquares(**params)
    library.fit(given, show_progress=False)
    np.testing.assert_allclose(model.user_factors_, library.user_factors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.item_factors_, library.item_factors, rtol=1e-5, atol=1e-6)


def test_confidence_of_a_bought_pair_is_one_plus_alpha_weight():
    """One factor, one item bought with weight w: the fold-in solves
    x = (1 + alpha w) y / (sum_j y_j^2 + regularization + alpha w y^2)."""
    items = np.array([[0.5], [2.0], [-1.0]])
    gram = items.T @ items  # 5.25
    for w, alpha in ((0.25, 1.0), (3.0, 0.5), (0.01, 40.0)):
        history = sp.csr_matrix(([w], ([0], [1])), shape=(1, 3))
        want = (1 + alpha * w) * 2.0 / (5.25 + 0.1 + alpha * w * 4.0)
        got = als_fold_in(history, items, gram, 0.1, alpha)
        np.testing.assert_allclose(got, [[want]], rtol=1e-6)
        # a purchase, however light, pulls the buyer towards the item (implicit's alpha * w pushes
        # it away when alpha * w < 1: the pair then weighs less than an unobserved one)
        assert got[0, 0] > 0


def test_confidences_drop_zero_weights_and_keep_the_sign():
    weights = sp.csr_matrix(np.array([[0.5, 0.0, -2.0], [0.0, 0.0, 1.0]]))
    weights.data[weights.data == 1.0] = 0.0  # an explicitly stored zero
    paper = confidences(weights, 2.0)
    np.testing.assert_allclose(paper.toarray(), [[2.0, 0.0, -5.0], [0.0, 0.0, 0.0]])
    assert paper.nnz == 2
    np.testing.assert_allclose(confidences(weights, 2.0, "implicit").toarray(), 2.0 * weights.toarray())
    with pytest.raises(ValueError, match="confidence must be one of"):
        confidences(weights, 2.0, "spark")


def test_als_fold_in_of_a_training_buyer_reproduces_its_trained_factors(data):
    """Fit and fold-in use the same confidences: a converged fit's buyer factors are the
    least-squares solution the fold-in computes from the buyer's own history."""
    model = ALSRecommender(factors=4, alpha=0.5, regularization=0.1, iterations=60, map_cold_items=False).fit(data)
    folded = model.user_vectors(UserBatch(np.full(data.n_users, UNKNOWN_CODE), data.user_items, data.user_tiers))
    scale = np.linalg.norm(model.user_factors_, axis=1).mean()
    assert np.abs(folded - model.user_factors_).max() < 0.01 * scale
    # implicit's convention (alpha * w) would fold in other factors from the same history
    other = als_fold_in(data.user_items, model.item_factors_, model.gram_, 0.1, 0.5, "implicit")
    assert np.abs(other - model.user_factors_).max() > 0.1 * scale


def test_als_fold_in_variable_lengths(fitted, data, monkeypatch):
    """Histories of 0 to all items, solved in many small blocks, against implicit."""
    from implicit.cpu.als import AlternatingLeastSquares

    model = fitted["als"]
    rng = np.random.default_rng(3)
    dense = rng.random((40, data.n_items)) * (rng.random((40, 1)) > rng.random((40, data.n_items)))
    dense[0] = 0.0
    dense[1] = rng.random(data.n_items) + 0.5
    history = sp.csr_matrix(dense * 3.0, dtype=np.float32)
    reference = AlternatingLeastSquares(factors=FACTORS["als"], regularization=model.regularization)
    reference.item_factors = model.item_factors_.copy()
    paper = history.copy()
    paper.data = 1.0 + model.alpha * paper.data
    want = reference.recalculate_user(np.arange(40), paper)
    monkeypatch.setattr(als_module, "FOLD_IN_BLOCK_CELLS", FACTORS["als"] * 25)
    got = als_fold_in(history, model.item_factors_, model.gram_, model.regularization)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not got[0].any()


def test_als_fold_in_blocks_agree(fitted, data, monkeypatch):
    model = fitted["als"]
    whole = als_fold_in(data.user_items, model.item_factors_, model.gram_, model.regularization)
    # budget in gathered item factors (rows x longest history x factors); buyers have 5 items:
    # 12 items a block is two buyers at a time, 3 leaves every buyer alone and over the budget
    for per_block in (12, 3):
        monkeypatch.setattr(als_module, "FOLD_IN_BLOCK_CELLS", FACTORS["als"] * per_block)
        blocked = als_fold_in(data.user_items, model.item_factors_, model.gram_, model.regularization)
        np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-6)


def test_fit_keeps_blas_to_one_thread(data, monkeypatch):
    import implicit.utils

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)  # make implicit check again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ALSRecommender(factors=4, iterations=2).fit(data)
        monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
        BPRRecommender(factors=4, iterations=2, num_threads=1).fit(data)
        ItemKNNRecommender(neighbours=5).fit(data)


def test_bpr_fold_in_vectors(fitted, data):
    model = fitted["bpr"]
    batch, _ = unseen_batch(data)
    vectors = model.user_vectors(batch)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[:2, -1], 1.0)  # the item-bias column
    np.testing.assert_allclose(np.linalg.norm(vectors[:2, :-1], axis=1), model.user_norm_, rtol=1e-5)
    assert not vectors[2].any()


def closed_form_ease(x: np.ndarray, l2: float) -> np.ndarray:
    inverse = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    want = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(want, 0.0)
    return want


def test_ease_weights_match_the_closed_form(fitted, data):
    want = closed_form_ease(data.user_items.toarray().astype(np.float64), 10.0)
    weights = ease_weights(data.user_items, 10.0)
    assert weights.dtype == np.float32 and weights.shape == (data.n_items, data.n_items)
    np.testing.assert_allclose(weights, want, rtol=1e-3, atol=1e-6)
    # the model keeps each item's positive weights (at most 30 here, so all of them), no diagonal
    model = fitted["ease"]
    np.testing.assert_allclose(model.weights_.toarray(), np.where(want > 0, want, 0.0), rtol=1e-3, atol=1e-6)
    assert not model.weights_.diagonal().any()


def test_ease_on_large_catalogs_is_solved_on_the_most_bought_items(data):
    model = EASERecommender(l2=10.0, max_items=8).fit(data)
    solved = model.solved_items_
    assert len(solved) == 8
    assert model.item_buyers_[solved].min() >= np.delete(model.item_buyers_, solved).max()
    weights = model.weights_.tocoo()
    assert np.isin(weights.row, solved).all() and np.isin(weights.col, solved).all()
    want = closed_form_ease(data.user_items[:, solved].toarray().astype(np.float64), 10.0)
    np.testing.assert_allclose(model.weights_[solved][:, solved].toarray(), np.where(want > 0, want, 0.0),
                               rtol=1e-3, atol=1e-6)
    assert EASERecommender.fit_cost({"max_items": 8}, 10, 10**6, 100).bytes < \
        EASERecommender.fit_cost({"max_items": 10**5}, 10, 10**6, 100).bytes


@pytest.mark.parametrize("name", ["ease", "rp3beta", "knn-cosine", "knn-bm25"])
def test_item_item_neighbourhoods_are_pruned_positive_and_without_the_item(fitted, data, name):
    weights = fitted[name].weights_
    assert sp.isspmatrix_csr(weights) or isinstance(weights, sp.csr_array)
    assert weights.dtype == np.float32 and weights.shape == (data.n_items, data.n_items)
    assert not weights.diagonal().any() and (weights.data > 0).all()
    few = clone(fitted[name]).set_params(neighbours=2, beta=0.0).fit(data)
    assert np.diff(few.weights_.indptr).max() <= 2
    codes, scores = few.similar_items(np.arange(data.n_items), 4)
    assert (codes[:, 2:] == -1).all() and np.isneginf(scores[:, 2:]).all()
    # the two kept are the two largest of the full neighbourhood (pruning comes before beta)
    full = clone(fitted[name]).set_params(beta=0.0).fit(data)
    for item in range(data.n_items):
        row = full.weights_[item].toarray().ravel()
        np.testing.assert_allclose(np.sort(few.weights_[item].data)[::-1], np.sort(row[row > 0])[::-1][:2],
                                   rtol=1e-5)


@pytest.mark.parametrize("name", ["ease", "rp3beta"])
def test_beta_divides_columns_by_popularity_and_with_beta_equals_a_refit(fitted, data, name):
    plain = clone(fitted[name]).set_params(beta=0.0).fit(data)
    debiased = clone(fitted[name]).set_params(beta=0.5).fit(data)
    scale = np.maximum(plain.item_buyers_, 1) ** -0.5
    np.testing.assert_allclose(debiased.weights_.toarray(), plain.weights_.toarray() * scale[None, :], rtol=1e-5)
    np.testing.assert_allclose(plain.with_beta(0.5).weights_.toarray(), debiased.weights_.toarray(), rtol=1e-5)
    np.testing.assert_allclose(debiased.with_beta(0.0).weights_.toarray(), plain.weights_.toarray(), rtol=1e-5)
    assert plain.beta == 0.0  # with_beta leaves the original as it was


@pytest.mark.parametrize("name", NAMES)
def test_explaining_purchases_name_a_purchase_of_the_same_group(fitted, data, name):
    groups = item_groups(data)
    a_items, b_items = np.flatnonzero(groups == "A"), np.flatnonzero(groups == "B")
    bought = np.concatenate([a_items[:2], b_items[:2]])
    wanted = np.concatenate([a_items[2:5], b_items[2:5]])
    found = fitted[name].explaining_purchases(wanted, bought)
    assert found.dtype == np.int64 and found.shape == (len(wanted),)
    named = found >= 0
    assert named.mean() >= 0.5
    assert (groups[bought[found[named]]] == groups[wanted[named]]).all()
    assert (fitted[name].explaining_purchases(wanted, bought[:0]) == -1).all()
    # a pair excluded is never named: the same group's purchases excluded, none of them is
    same_group = groups[wanted][:, None] == groups[bought][None, :]
    again = fitted[name].explaining_purchases(wanted, bought, same_group)
    assert not same_group[np.flatnonzero(again >= 0), again[again >= 0]].any()
    everything = np.ones((len(wanted), len(bought)), dtype=bool)
    assert (fitted[name].explaining_purchases(wanted, bought, everything) == -1).all()


@pytest.mark.parametrize("model, message", [
    (ALSRecommender(factors=0), "factors must be a positive integer"),
    (ALSRecommender(alpha=0.0), "alpha must be"),
    (ALSRecommender(confidence="spark"), "confidence must be one of"),
    (BPRRecommender(learning_rate=-1.0), "learning_rate must be"),
    (EASERecommender(l2=0.0), "l2 must be"),
    (EASERecommender(neighbours=0), "neighbours must be a positive integer"),
    (RP3betaRecommender(alpha=0.0), "alpha must be"),
    (RP3betaRecommender(beta=-1.0), "beta must be"),
    (ItemKNNRecommender(similarity="jaccard"), "similarity must be one of"),
    (ItemKNNRecommender(neighbours=0), "neighbours must be a positive integer"),
])
def test_bad_parameters_are_refused_at_fit(data, model, message):
    with pytest.raises(ValueError, match=message):
        model.fit(data)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_are_refused(fitted, data, name):
    model = fitted[name]
    wrong_width = UserBatch(np.array([0]), sp.csr_matrix((1, data.n_items + 1), dtype=np.float32), np.zeros(1, np.int8))
    with pytest.raises(ValueError, match="history has shape"):
        model.score(wrong_width)
    bad_user = UserBatch(np.array([data.n_users]), sp.csr_matrix((1, data.n_items), dtype=np.float32),
                         np.zeros(1, np.int8))
    with pytest.raises(ValueError, match="buyer code"):
        model.score(bad_user)
    with pytest.raises(ValueError, match="out of range"):
        model.similar_items(np.array([data.n_items]), 3)
    with pytest.raises(ValueError, match="k must be"):
        model.similar_items(np.array([0]), -1)


@pytest.mark.parametrize("name", ["ease", "rp3beta", "knn-cosine"])
def test_never_bought_items_take_their_content_neighbours_weights(teas_and_bowls, name):
    """A new tea nobody bought yet reaches the tea buyers, through the teas its content resembles."""
    data = teas_and_bowls
    new = int(data.items.code_of("TEA-NEW"))
    model = clone(MODELS[name]()).set_params(beta=0.0).fit(data)
    assert model.item_buyers_[new] == 0 and model.weights_[:, new].nnz > 0
    scores = model.score(everyone(data))
    tea_buyers = np.array([user.startswith("t") for user in data.users.ids])
    assert scores[tea_buyers, new].min() > 0 and scores[~tea_buyers, new].max() < scores[tea_buyers, new].min()
    assert not model.weights_.diagonal().any()
    plain = clone(model).set_params(map_cold_items=False).fit(data)
    assert plain.weights_[:, new].nnz == 0 and not plain.score(everyone(data))[:, new].any()
