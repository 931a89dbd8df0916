"""`recommender retrain`: a candidate trained from the event store is compared with the serving
model on the most recent days, promoted through a live server's admin reload only when it is not
worse, and every round is in the registry (`GET /v1/models`)."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from recommender.cli import main
from recommender.loaders import load_dataset
from recommender.store import Event, EventStore
from serving.routes.admin import ADMIN_KEY_ENV
from tests.conftest import SECOND_CONFIG
from tests.live_server import ServerProcess

ADMIN_KEY = "retrain-admin-key"


LATE_DAYS = 30  # purchases held back until after the first round


def add_purchases(url: str, lines, start: int) -> None:
    store = EventStore.open(url)
    times = lines.timestamp.to_numpy().astype("datetime64[us]").astype(np.int64)
    store.events.add([Event(f"line-{start + i}", str(user), str(item), "purchase", int(time))
                      for i, (user, item, time) in enumerate(zip(lines.user_id, lines.item_id, times))])
    store.close()


@pytest.mark.slow  # a live server
def test_retrain_promotes_rejects_and_registers(small_market, small_model, tmp_path, monkeypatch):
    purchases, catalog = small_market
    lines = load_dataset(purchases, catalog).purchases
    late = lines.timestamp > lines.timestamp.max() - np.timedelta64(LATE_DAYS, "D")
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    add_purchases(url, lines[~late], 0)
    monkeypatch.setenv(ADMIN_KEY_ENV, ADMIN_KEY)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SECOND_CONFIG), encoding="utf-8")
    with ServerProcess(small_model, 1, "--store", url, env={ADMIN_KEY_ENV: ADMIN_KEY}) as server:
        base = server.url
        retrain = ["retrain", "--store", url, "--catalog", str(catalog), "--models-dir", str(tmp_path / "models"),
                   "--config", str(config), "--quiet"]
        assert main([*retrain, "--server", base]) == 0  # nothing registered yet: promoted
        [first] = httpx.get(f"{base}/v1/models").json()["models"]
        assert first["status"] == "promoted" and "no model was serving" in first["reason"]
        assert httpx.get(f"{base}/v1/model").json()["model_version"] == first["model_version"]

        assert main([*retrain, "--server", base]) == 0  # no purchase since: nothing to compare
        add_purchases(url, lines[late], int((~late).sum()))
        assert main([*retrain, "--server", base, "--margin", "1"]) == 0  # NDCG cannot gain 1: rejected
        assert main([*retrain, "--server", "http://127.0.0.1:1", "--margin", "-1"]) == 0  # the reload fails
        registry = httpx.get(f"{base}/v1/models").json()["models"]
        assert [entry["status"] for entry in registry] == ["failed", "rejected", "rejected", "promoted"]
        failed, compared, idle = registry[:3]
        assert "not compared" in idle["reason"] and "test split empty" in idle["reason"]
        assert compared["serving_version"] == first["model_version"] and compared["model_dir"] == ""
        assert compared["serving_ndcg"] > 0 and compared["candidate_ndcg"] > 0  # held-out days neither had seen
        assert "days after" in compared["reason"]
        assert "reload failed" in failed["reason"] and failed["model_dir"]
        assert httpx.get(f"{base}/v1/model").json()["model_version"] == first["model_version"]  # untouched


def test_retrain_every_needs_a_duration(capsys):
    with pytest.raises(SystemExit):
        main(["retrain", "--store", "sqlite:///x", "--catalog", "c", "--models-dir", "m", "--every", "soon"])
    assert "not a duration such as 30s, 15m or 1h: 'soon'" in capsys.readouterr().err


def test_retrain_reads_a_catalog_with_decimal_commas(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    EventStore.open(url).close()  # an empty store
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item_id;title;price\nFH-1;Palm-leaf fan;35,50\n", encoding="utf-8")
    retrain = ["retrain", "--store", url, "--catalog", str(catalog), "--models-dir", str(tmp_path / "models")]
    assert main(retrain) == 2
    assert f"error: {catalog}: row 1 (line 2), column 'price': is not a number (value '35,50'); if the file " \
           "writes decimals with a comma" in capsys.readouterr().err
    assert main([*retrain, "--decimal-comma"]) == 2  # the catalog is read; the store has no purchases to train on
    assert "no usable purchases remain" in capsys.readouterr().err
