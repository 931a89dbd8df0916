"""A served model is an immutable snapshot; what the event store changes while it is served lives
in its live overlay (serving/live.py), one per snapshot, never in an engine two snapshots share."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recommender.store import EventStore, Item
from serving import create_app, watcher
from serving.served import Served
from serving.settings import ServingSettings
from serving.state import state_of

ADMIN = "snapshot-admin-key"


@pytest.fixture
def store(tmp_path):
    store = EventStore.open(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    yield store
    store.close()


def test_the_model_snapshot_cannot_be_changed(small_model):
    model = Served.load(small_model).model
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.default_lists = None


def test_a_live_item_change_leaves_an_older_snapshot_sharing_the_engine_alone(small_model, store):
    served = Served.load(small_model)
    engine = served.model.engine
    catalog = engine.available.copy()
    first, second = (str(item) for item in engine.items.ids[:2])
    store.items.put(Item("NEW-1", "A new item", category="tea"))
    served.live.items.follow(store)  # the new item waits to be added to the model
    extended = served.with_items(list(served.live.items.new.values()))
    store.items.put(Item(first, "Hidden now", available=False))
    full = extended.with_lists(store)  # computed again: the same engine, a new overlay caught up with the store
    assert full.model.engine is extended.model.engine
    code = engine.items.code_of(first)
    assert not full.live.available[code] and full.live.items.hidden
    assert extended.live.available[code] and not extended.live.items.hidden  # the older snapshot's overlay
    assert served.live.available[code]
    for snapshot in (served, extended, full):  # no engine changed
        np.testing.assert_array_equal(snapshot.model.engine.available[:len(catalog)], catalog)
    store.items.put(Item(second, "Hidden too", available=False))
    assert extended.live.items.follow(store) == 2  # each overlay follows the store on its own
    assert full.live.available[engine.items.code_of(second)]


def test_the_watcher_changes_the_overlay_not_the_model(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", ADMIN)
    monkeypatch.setattr(watcher, "POLL_SECONDS", 3600)  # the app's own watcher waits: the test runs it
    app = create_app(ServingSettings(model_dir=small_model, store=f"sqlite:///{tmp_path / 'events.sqlite3'}"))
    with TestClient(app) as client:
        state = state_of(app)
        served = state.served
        item = str(served.model.item_ids[0])
        catalog = served.model.engine.available.copy()
        answer = client.put(f"/v1/items/{item}", json={"title": "x", "available": False}, headers={"X-API-Key": ADMIN})
        assert answer.status_code == 200
        watcher.Watcher(state).check()
        assert state.served is served and not served.live.available[0]  # the same snapshot, its overlay changed
        np.testing.assert_array_equal(served.model.engine.available, catalog)
        ranked = client.post("/v1/rank", json={"user_id": "anyone", "item_ids": [item]}).json()
        assert ranked["unavailable_item_ids"] == [item]
