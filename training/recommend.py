"""Batch scoring: top-k recommendations for a file of buyer ids, written as CSV or Parquet.

Buyers are scored in chunks (one fused product and partial sort per chunk) on a small pool of
threads, each limited to one BLAS thread so that the cores are not oversubscribed
(:meth:`~recommender.engine.RecommendationEngine.recommend_many`). Buyers unknown to the model
get the cold-start (tier popularity) ranking. With ``reasons``, every row says why, as the API does
(:class:`~recommender.explain.Explainer`). :func:`write_buy_again` writes buy-again lists: the
items a buyer bought before, likeliest to be bought again soon first.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from recommender import columns as col
from recommender.contract import ContractError
from recommender.engine import RecommendationEngine
from recommender.explain import Explainer, repeat_reasons
from recommender.progress import progress_bar
from recommender.tables import is_parquet, read_columns, read_header, write_table

MAX_K = 1_000


def read_user_ids(path: str | os.PathLike) -> np.ndarray:
    """The ``user_id`` column of a CSV or Parquet file, checked (non-empty ids)."""
    path = Path(path)
    if "user_id" not in read_header(path):
        raise ContractError(f"{path}: missing required column 'user_id'")
    table = read_columns(path, ["user_id"])
    if table.num_rows == 0:
        raise ContractError(f"{path}: has a header but no rows")
    where = col.Where(str(path), "user_id", not is_parquet(path))
    return col.text(table.column("user_id"), where, required=True).to_numpy(dtype=object)


def recommend_all(engine: RecommendationEngine, user_ids: np.ndarray, k: int, include_purchased: bool = False,
                  niche: float | None = None, threads: int = 2, show_progress: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item codes and scores for every buyer id (unknown ids get the cold-start ranking)."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    codes = engine.users.encode(user_ids)
    with progress_bar(total=len(codes), disable=not show_progress, unit="buyer", desc="scoring") as progress:
        return engine.recommend_many(codes, k, threads=threads, on_chunk=progress.update,
                                     include_purchased=include_purchased, niche=niche)


def reasons_of(engine: RecommendationEngine, user_ids: np.ndarray, items: np.ndarray) -> list[str]:
    """Why each filled slot of ``items`` (buyers x k codes, -1 padding) is there, row by row."""
    explainer = Explainer.of(engine)
    texts = []
    for code, row in zip(engine.users.encode(user_ids).tolist(), items):
        row = row[row >= 0]
        tier = int(engine.user_tiers[code]) if code >= 0 else None
        texts.extend(explainer.texts(row, engine.bought(code), tier))
    return texts


def recommendations_table(engine: RecommendationEngine, user_ids: np.ndarray, items: np.ndarray,
                          scores: np.ndarray, reasons: list[str] | None = None) -> pa.Table:
    """Long format ``user_id, rank, item_id, score`` (and ``reason``: one per filled slot, row by
    row), best first, padding dropped.
    The id columns are dictionary-encoded (each distinct id once: five times faster to write as
    CSV, the same text)."""
    filled = items >= 0
    rows, ranks = np.nonzero(filled)
    columns = {
        "user_id": pa.DictionaryArray.from_arrays(pa.array(rows.astype(np.int32)), pa.array(user_ids.astype(str))),
        "rank": pa.array((ranks + 1).astype(np.int32)),
        "item_id": pa.DictionaryArray.from_arrays(pa.array(items[filled].astype(np.int32)),
                                                  pa.array(np.asarray(engine.items.ids).astype(str))),
        "score": pa.array(scores[filled].astype(np.float32)),
    }
    if reasons is not None:
        columns["reason"] = pa.array(reasons, pa.string())
    return pa.table(columns)


def write_recommendations(engine: RecommendationEngine, users_path, out_path, k: int, include_purchased: bool = False,
                          niche: float | None = None, threads: int = 2, show_progress: bool = True,
                          reasons: bool = False) -> dict:
    """Score every buyer of ``users_path`` and write ``out_path`` atomically; returns counts."""
    user_ids = read_user_ids(users_path)
    items, scores = recommend_all(engine, user_ids, k, include_purchased, niche, threads, show_progress)
    texts = reasons_of(engine, user_ids, items) if reasons else None
    write_table(recommendations_table(engine, user_ids, items, scores, texts), out_path)
    known = engine.users.encode(user_ids) >= 0
    return {"buyers": len(user_ids), "known": int(known.sum()), "cold_start": int((~known).sum()),
            "rows": int((items >= 0).sum())}


def buy_again_reasons(engine: RecommendationEngine, user_ids: np.ndarray, items: np.ndarray) -> list[str]:
    """Each filled slot's repeat reason (:func:`~recommender.explain.repeat_reasons`), row by row."""
    texts = []
    for code, row in zip(engine.users.encode(user_ids).tolist(), items):
        texts.extend(repeat_reasons(engine.repeat, code, row[row >= 0]))
    return texts


def write_buy_again(engine: RecommendationEngine, users_path, out_path, k: int) -> dict:
    """Each buyer of ``users_path``'s ``k`` earlier items likeliest to be bought again soon, with
    the probability as the score and the repeat reason, written to ``out_path`` atomically (a buyer
    the model does not know, or without a history, gets no rows); returns counts."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    user_ids = read_user_ids(users_path)
    items, scores = engine.buy_again(engine.users.encode(user_ids), k)
    write_table(recommendations_table(engine, user_ids, items, scores, buy_again_reasons(engine, user_ids, items)),
                out_path)
    return {"buyers": len(user_ids), "with_items": int((items[:, :1] >= 0).sum()), "rows": int((items >= 0).sum())}
