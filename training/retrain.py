"""Retraining from the event store: train a candidate, compare it with the serving model on the most
recent days, promote it only if it is not worse, and keep every model in the registry.

One round (:func:`retrain_once`):

1. The store's purchases (net of returns) and items, with the catalog file: the data set.
2. The purchases the serving model (the registry's last promoted model) has not seen are held
   out: those after the last purchase it was trained on (for a model not trained by this command,
   the last ``recent_days`` days, which it may have seen: a comparison that favours it). The
   candidate is trained on the purchases before. Both rank the held-out buyers' items at their
   default niche knob, and NDCG@10 counts the items each buyer bought for the first time in the
   held-out days, by id (the two models may know different buyers and items). No purchase since
   the serving model's: nothing to compare, the serving model stays.
3. Promoted when there is no serving model, or when the candidate's NDCG@10 is at least the
   serving model's plus ``margin``: the candidate's configuration is trained again on all the
   data, written to a new directory under ``models_dir`` (its manifest records the last purchase
   it saw) and loaded by the server through its admin reload (every worker follows). Otherwise
   the serving model stays, and the registry says why. A reload that fails is recorded as
   ``failed``; a training that fails raises (``recommender retrain --every`` logs it and tries
   again at the next round). Serving is untouched either way.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.artifacts import load_model_directory, save_model_directory
from recommender.contract import FileFormat
from recommender.engine import RecommendationEngine
from recommender.loaders import Dataset, load_store_dataset
from recommender.metrics import ndcg_at_k
from recommender.splits import temporal_split
from recommender.store import EventStore, ModelRecord
from training.config import TrainConfig
from training.train import manifest_fields, train

log = logging.getLogger(__name__)

K = 10
RELOAD_SECONDS = 600


def recent_ndcg(engine: RecommendationEngine, history: Dataset, recent: Dataset, k: int = K) -> float:
    """NDCG@k of ``engine``'s default lists for the buyers of ``recent``, against the items each
    bought there for the first time (not in ``history``), matched by id; lists ranked for the season
    of ``recent``'s middle day."""
    buyers = pd.Index(recent.purchases.user_id.cat.categories)
    items = pd.Index(recent.purchases.item_id.cat.categories)

    def pairs(purchases: pd.DataFrame) -> sp.csr_matrix:
        rows = buyers.get_indexer(purchases.user_id.astype(str))
        columns = items.get_indexer(purchases.item_id.astype(str))
        keep = (rows >= 0) & (columns >= 0)
        matrix = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], columns[keep])),
                               shape=(len(buyers), len(items)))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    bought = pairs(recent.purchases)
    relevant = bought - bought.multiply(pairs(history.purchases))  # first purchases only
    relevant.eliminate_zeros()
    times = recent.purchases.timestamp
    codes, _ = engine.recommend_many(engine.users.encode(buyers.to_numpy()), k,
                                     date=times.min() + (times.max() - times.min()) / 2)
    recommended_ids = np.asarray(engine.items.ids, dtype=object)[np.maximum(codes, 0)]
    recommended_ids[codes < 0] = None
    recommended = items.get_indexer(pd.Index(recommended_ids.ravel())).reshape(codes.shape)
    return float(ndcg_at_k(recommended, relevant, k))


def reload_server(server: str, model_dir: Path, admin_key: str) -> str:
    """Ask the server to serve ``model_dir`` (its admin reload); the version it serves now."""
    request = urllib.request.Request(f"{server.rstrip('/')}/v1/admin/reload", method="POST",
                                     data=json.dumps({"model_dir": str(model_dir)}).encode(),
                                     headers={"Content-Type": "application/json", "X-API-Key": admin_key})
    try:
        with urllib.request.urlopen(request, timeout=RELOAD_SECONDS) as answer:
            return json.loads(answer.read())["model_version"]
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the server refused the reload ({exc.code}): {exc.read().decode(errors='replace')}") \
            from exc


def retrain_once(store_url: str, catalog: Path, models_dir: Path, server: str | None = None,
                 recent_days: float = 7, margin: float = 0.0, config: TrainConfig | None = None,
                 show_progress: bool = False, admin_key: str = "",
                 file_format: FileFormat = FileFormat()) -> ModelRecord:
    """One round (see the module's documentation); the registry's record of it. ``admin_key``
    authenticates the reload on ``server``; ``file_format``: how the catalog file writes numbers."""
    store = EventStore.open(store_url, migrate=False)
    reload = None if server is None else partial(reload_server, server, admin_key=admin_key)
    try:
        return _round(store, catalog, Path(models_dir), reload, recent_days, margin, config or TrainConfig(),
                      show_progress, file_format)
    finally:
        store.close()


def _round(store: EventStore, catalog: Path, models_dir: Path, reload: Callable[[Path], str] | None,
           recent_days: float, margin: float, config: TrainConfig, show_progress: bool,
           file_format: FileFormat) -> ModelRecord:
    position = store.position()
    dataset = load_store_dataset(store.url, catalog, file_format=file_format)
    position["until"] = str(dataset.purchases.timestamp.max())
    serving = store.models.serving()
    if serving is None:
        return _promote(store, dataset, config, catalog, models_dir, reload, position, show_progress,
                        "promoted: no model was serving", {})
    serving_engine, serving_manifest = load_model_directory(serving.model_dir, RecommendationEngine)
    until = serving_manifest.get("data", {}).get("store", {}).get("until")
    try:  # the days the serving model has not seen; for a model not trained here, the last recent_days
        history, recent = temporal_split(dataset, recent_days, cutoff=pd.Timestamp(until) if until else None,
                                         known_buyers_only=False)
    except ValueError as exc:
        reason = f"not compared, serving model {serving.model_version} kept: {exc}"
        log.info(reason)
        return store.models.record(ModelRecord("candidate-" + _stamp(), "", "rejected", reason,
                                               serving_version=serving.model_version))
    candidate = train(history, config, show_progress=show_progress)
    candidate_ndcg = recent_ndcg(candidate.engine, history, recent)
    serving_ndcg = recent_ndcg(serving_engine, history, recent)
    days = (recent.purchases.timestamp.max() - history.purchases.timestamp.max()) / pd.Timedelta(days=1)
    scores = (f"NDCG@{K} on the {days:.1f} days after {history.purchases.timestamp.max()}: candidate "
              f"{candidate_ndcg:.4f}, serving model {serving.model_version} {serving_ndcg:.4f}")
    compared: dict[str, Any] = {"candidate_ndcg": candidate_ndcg, "serving_ndcg": serving_ndcg,
                "serving_version": serving.model_version}
    if candidate_ndcg < serving_ndcg + margin:
        reason = f"not promoted: {scores} (needs at least the serving model's + {margin:g})"
        log.info(reason)
        return store.models.record(ModelRecord("candidate-" + _stamp(), "", "rejected", reason, **compared))
    return _promote(store, dataset, candidate.config, catalog, models_dir, reload, position, show_progress,
                    f"promoted: {scores}", compared)


def _promote(store: EventStore, dataset: Dataset, config: TrainConfig, catalog: Path, models_dir: Path,
             reload: Callable[[Path], str] | None, position: dict, show_progress: bool, reason: str,
             compared: dict) -> ModelRecord:
    """Train ``config`` on all of ``dataset``, write it under ``models_dir``, have the server serve
    it (``reload``, when there is one), and register the outcome."""
    model_dir = models_dir / f"model-{_stamp()}"
    final = train(dataset, config, show_progress=show_progress)
    manifest = save_model_directory(model_dir, final.engine, manifest_fields(final, config, {"catalog": catalog},
                                                                             store=position))
    version = manifest["model_version"]
    try:
        if reload is not None:
            reload(model_dir)
    except (OSError, RuntimeError) as exc:
        failed = f"trained but not served: the reload failed: {exc}; {reason}"
        log.warning(failed)
        return store.models.record(ModelRecord(version, str(model_dir), "failed", failed, **compared))
    log.info("%s (%s)", reason, model_dir)
    return store.models.record(ModelRecord(version, str(model_dir), "promoted", reason, **compared))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
