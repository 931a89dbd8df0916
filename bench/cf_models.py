"""Fit and scoring time of the collaborative-filtering models on a generated buyers x items matrix.

    python bench/cf_models.py [--buyers N] [--items N] [--per-buyer N] [--factors N] [--models als,bpr,...]

The matrix has planted taste groups (each buyer buys mostly from one of ``--groups`` item groups)
with BM25-like weights. For every model it prints the fit time, the time to score a batch of
``--batch`` training buyers and to score as many unseen buyers (fold-in from their history).
Baselines measured in the same run: implicit's ALS fitted directly with BLAS threads left as
they are (the wrapper holds BLAS to one thread), and implicit's ``recalculate_user`` for the ALS
fold-in. EASE is skipped above its ``max_items``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.features.encoders import UNKNOWN_CODE
from recommender.features.training_data import UserBatch
from recommender.models.als import ALSRecommender
from recommender.models.bpr import BPRRecommender
from recommender.models.item_knn import EASERecommender, ItemKNNRecommender


def planted_matrix(buyers: int, items: int, per_buyer: int, groups: int, seed: int) -> sp.csr_matrix:
    """Buyers x items float32 CSR: 80% of each buyer's purchases in its group, popularity-skewed."""
    rng = np.random.default_rng(seed)
    group_of_buyer = rng.integers(groups, size=buyers)
    group_of_item = rng.integers(groups, size=items)
    popularity = rng.pareto(1.5, size=items) + 1.0
    rows, cols = [], []
    for g in range(groups):
        members = np.flatnonzero(group_of_buyer == g)
        inside = np.flatnonzero(group_of_item == g)
        if not len(members) or not len(inside):
            continue
        n_in = int(round(per_buyer * 0.8))
        p_in = popularity[inside] / popularity[inside].sum()
        p_all = popularity / popularity.sum()
        rows.append(np.repeat(members, per_buyer))
        picks = np.concatenate([rng.choice(inside, size=(len(members), n_in), p=p_in),
                                rng.choice(items, size=(len(members), per_buyer - n_in), p=p_all)], axis=1)
        cols.append(picks.ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    values = rng.integers(1, 4, size=len(rows)).astype(np.float32) * 2.0
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(buyers, items), dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def timed(fn, *args, **kwargs):
    """Seconds ``fn(*args, **kwargs)`` took, and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--per-buyer", type=int, default=15, help="purchases per buyer (default 15)")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1_000, help="buyers scored per batch (default 1000)")
    parser.add_argument("--models", default="als,bpr,ease,knn-cosine,knn-bm25")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    matrix = planted_matrix(args.buyers, args.items, args.per_buyer, args.groups, args.seed)
    data = SimpleNamespace(user_items=matrix, confidence=matrix, n_users=matrix.shape[0], n_items=matrix.shape[1])
    print(f"matrix: {matrix.shape[0]:,} buyers x {matrix.shape[1]:,} items, {matrix.nnz:,} non-zeros, "
          f"{args.groups} taste groups")
    rng = np.random.default_rng(args.seed + 1)
    n = min(args.batch, matrix.shape[0])
    users = rng.choice(matrix.shape[0], size=n, replace=False)
    known = UserBatch(users, matrix[users], np.zeros(n, dtype=np.int8))
    unseen = UserBatch(np.full(n, UNKNOWN_CODE), matrix[users], np.zeros(n, dtype=np.int8))

    factories = {
        "als": lambda: ALSRecommender(factors=args.factors),
        "bpr": lambda: BPRRecommender(factors=args.factors),
        "ease": lambda: EASERecommender(),
        "knn-cosine": lambda: ItemKNNRecommender(),
        "knn-bm25": lambda: ItemKNNRecommender(similarity="bm25"),
    }
    warm = planted_matrix(200, 50, 5, 2, args.seed)  # load implicit's extensions and start its threads
    ALSRecommender(factors=4, iterations=1).fit(SimpleNamespace(user_items=warm, confidence=warm))
    print(f"{'model':<28}{'fit s':>10}{f'score {n} s':>16}{f'fold-in {n} s':>18}")
    for name in args.models.split(","):
        model = factories[name]()
        if name == "ease" and matrix.shape[1] > model.max_items:
            print(f"{name:<28}skipped: {matrix.shape[1]:,} items > max_items {model.max_items:,}")
            continue
        fit_s, _ = timed(model.fit, data)
        score_s, _ = timed(model.score, known)
        fold_s, _ = timed(model.score, unseen)
        print(f"{name:<28}{fit_s:>10.2f}{score_s:>16.3f}{fold_s:>18.3f}")
        if name == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the BLAS-threads warning is the point here
                direct = AlternatingLeastSquares(factors=args.factors, regularization=model.regularization,
                                                 iterations=model.iterations, random_state=0)
                direct_s, _ = timed(direct.fit, matrix, show_progress=False)
            recalc_s, _ = timed(direct.recalculate_user, np.arange(n), matrix[users])
            print(f"{'  baseline implicit ALS':<28}{direct_s:>10.2f}{'':>16}{recalc_s:>18.3f}"
                  "   (BLAS threads unlimited; fold-in = recalculate_user)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
