"""Batch scoring: top-k recommendations for a file of buyer ids, written as CSV or Parquet.

Buyers are scored in chunks (one fused product and partial sort per chunk) on a small pool of
threads, each limited to one BLAS thread so that the cores are not oversubscribed
(:meth:`~recommender.engine.RecommendationEngine.recommend_many`). Buyers unknown to the model
get the cold-start (tier popularity) ranking. With ``reasons``, every row says why, as the API does
(:class:`~recommender.explain.Explainer`). :func:`write_buy_again` writes buy-again lists: the
items a buyer bought before, likeliest to be bought again soon first; :func:`write_audiences` the
other side: each item's likeliest buyers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from recommender import columns as col
from recommender.contract import ContractError, missing_columns
from recommender.engine import RecommendationEngine
from recommender.explain import Explainer, audience_reasons, repeat_reasons
from recommender.models.audience import KINDS
from recommender.progress import progress_bar
from recommender.tables import is_parquet, read_columns, read_header, write_table

MAX_K = 1_000


def read_ids(path: str | os.PathLike, column: str = "user_id") -> np.ndarray:
    """The id column ``column`` of a CSV or Parquet file, checked (non-empty ids)."""
    path = Path(path)
    header = read_header(path)
    if column not in header:
        raise missing_columns(path, [column], header)
    table = read_columns(path, [column])
    if table.num_rows == 0:
        raise ContractError(f"{path}: has a header but no rows")
    where = col.Where(str(path), column, not is_parquet(path))
    return col.text(table.column(column), where, required=True).to_numpy(dtype=object)


def recommend_all(engine: RecommendationEngine, user_ids: np.ndarray, k: int, include_purchased: bool = False,
                  niche: float | None = None, threads: int = 2, show_progress: bool = False, date=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item codes and scores for every buyer id (unknown ids get the cold-start ranking), for the
    season of ``date`` (default: now)."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    codes = engine.users.encode(user_ids)
    with progress_bar(total=len(codes), disable=not show_progress, unit="buyer", desc="scoring") as progress:
        return engine.recommend_many(codes, k, threads=threads, on_chunk=progress.update,
                                     include_purchased=include_purchased, niche=niche, date=date)


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
                          reasons: bool = False, date=None) -> dict:
    """Score every buyer of ``users_path`` for the season of ``date`` (default: now) and write
    ``out_path`` atomically; returns counts."""
    user_ids = read_ids(users_path)
    items, scores = recommend_all(engine, user_ids, k, include_purchased, niche, threads, show_progress, date)
    texts = reasons_of(engine, user_ids, items) if reasons else None
    write_table(recommendations_table(engine, user_ids, items, scores, texts), out_path)
    known = engine.users.encode(user_ids) >= 0
    return {"buyers": len(user_ids), "known": int(known.sum()), "cold_start": int((~known).sum()),
            "rows": int((items >= 0).sum())}


def buy_again_reasons(engine: RecommendationEngine, user_ids: np.ndarray, items: np.ndarray,
                      at_us: int | None = None) -> list[str]:
    """Each filled slot's repeat reason as of ``at_us`` (:func:`~recommender.explain.repeat_reasons`),
    row by row."""
    texts = []
    repeat = engine.repeat_as_of(at_us)
    for code, row in zip(engine.users.encode(user_ids).tolist(), items):
        texts.extend(repeat_reasons(repeat, code, row[row >= 0]))
    return texts


def write_buy_again(engine: RecommendationEngine, users_path, out_path, k: int, at_us: int | None = None) -> dict:
    """Each buyer of ``users_path``'s ``k`` earlier items likeliest to be bought again soon as of
    ``at_us`` (:meth:`~recommender.engine.RecommendationEngine.buy_again`), with the probability as
    the score and the repeat reason, written to ``out_path`` atomically (a buyer the model does not
    know, or without a history, gets no rows); returns counts."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    user_ids = read_ids(users_path)
    items, scores = engine.buy_again(engine.users.encode(user_ids), k, at_us=at_us)
    write_table(recommendations_table(engine, user_ids, items, scores,
                                      buy_again_reasons(engine, user_ids, items, at_us)), out_path)
    return {"buyers": len(user_ids), "with_items": int((items[:, :1] >= 0).sum()), "rows": int((items >= 0).sum())}


def audience_table(engine: RecommendationEngine, item_ids: np.ndarray, k: int, at_us: int | None = None
                   ) -> tuple[pa.Table, dict]:
    """Each known item's audience as of ``at_us`` (:meth:`~recommender.engine.RecommendationEngine.audience`) as
    rows ``item_id, rank, user_id, score, kind, reason``: up to ``k`` buyers of each part, ranked
    within it, with the probability as the score; and counts, with the expected buyers of each part
    summed over the items; a ``ValueError`` for a model without an audience model."""
    audiences = engine.audiences
    if audiences is None or engine.repeat is None:
        raise ValueError("this model has no audience model: train it again with this version")
    codes = engine.items.encode(item_ids)
    known = np.flatnonzero(codes >= 0)
    columns: dict[str, list[Any]] = {name: [] for name in ("item_id", "rank", "user_id", "score", "kind", "reason")}
    expected = dict.fromkeys(KINDS, 0.0)
    user_ids = np.asarray(engine.users.ids).astype(str)
    with progress_bar(total=len(known), unit="item", desc="audiences") as progress:
        for audience in engine.audiences_of(codes[known], at_us):
            for kind in KINDS:
                buyers, probability = audience.top(kind, k)
                expected[kind] += float(audience.part(kind)[1].sum())
                columns["item_id"] += [engine.items.ids[audience.item]] * len(buyers)
                columns["rank"] += range(1, len(buyers) + 1)
                columns["user_id"] += user_ids[buyers].tolist()
                columns["score"] += probability.tolist()
                columns["kind"] += [kind] * len(buyers)
                columns["reason"] += audience_reasons(engine, audience, kind, buyers, at_us)
            progress.update()
    types = {"rank": pa.int32(), "score": pa.float32()}
    table = pa.table({name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()})
    counts = {"items": len(item_ids), "known": len(known), "rows": table.num_rows,
              "horizon_days": audiences.signals.horizon_days,
              **{f"expected_{kind}_buyers": round(value, 1) for kind, value in expected.items()}}
    return table, counts


def write_audiences(engine: RecommendationEngine, items_path, out_path, k: int, at_us: int | None = None) -> dict:
    """The audiences of the items of ``items_path`` (an ``item_id`` column) as of ``at_us`` written to
    ``out_path`` atomically (:func:`audience_table`; an item the model does not know gets no rows);
    returns counts."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    table, counts = audience_table(engine, read_ids(items_path, "item_id"), k, at_us)
    write_table(table, out_path)
    return counts
