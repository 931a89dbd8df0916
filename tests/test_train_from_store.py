"""`recommender train --from-store`: the event store's purchases, net of returns, train the same
model a file of the same purchases does, and the manifest records where the training stopped
reading so that a server replays only what came after."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.artifacts import load_model_directory
from recommender.cli import main
from recommender.features.interactions import InteractionWeighting
from recommender.features.training_data import build_training_data
from recommender.loaders import load_dataset, load_store_dataset
from recommender.splits import temporal_split
from recommender.store import Event, EventStore, Item
from serving.served import Served
from tests.conftest import SECOND_CONFIG


def test_training_from_the_store_matches_training_from_the_file(small_market, tmp_path):
    purchases, catalog = small_market
    lines = load_dataset(purchases, catalog).purchases
    store_url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    store = EventStore.open(store_url)
    times = lines.timestamp.to_numpy().astype("datetime64[us]").astype(np.int64)
    store.events.add([Event(f"line-{i}", str(user), str(item), "purchase", int(time), float(quantity),
                            int(tier) or None)
                      for i, (user, item, time, quantity, tier) in enumerate(zip(
                          lines.user_id, lines.item_id, times, lines.quantity, lines.city_tier))])
    returned = lines.iloc[0]
    store.events.add([Event("return-1", str(returned.user_id), str(returned.item_id), "return", int(times[0]) + 1,
                            float(lines[(lines.user_id == returned.user_id) & (lines.item_id == returned.item_id)]
                                  .quantity.sum()))])
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SECOND_CONFIG), encoding="utf-8")
    runs = {}
    for name, source in (("file", ["--purchases", str(purchases)]), ("store", ["--from-store", store_url])):
        out = tmp_path / name
        assert main(["train", *source, "--catalog", str(catalog), "--config", str(config), "--out", str(out),
                     "--quiet"]) == 0
        runs[name] = load_model_directory(out)
    (file_engine, file_manifest), (store_engine, store_manifest) = runs["file"], runs["store"]
    counts_file, counts_store = file_manifest["data"]["counts"], store_manifest["data"]["counts"]
    assert counts_store["purchase_lines"] == counts_file["purchase_lines"] - int(
        ((lines.user_id == returned.user_id) & (lines.item_id == returned.item_id)).sum())  # the return cancels
    assert store_manifest["data"]["store"] == {"url": store.display_url, "last_seq": store.events.last_seq()}
    assert store_manifest["data"]["fingerprint"] is None
    buyer = store_engine.users.code_of(str(returned.user_id))
    item = store_engine.items.code_of(str(returned.item_id))
    assert store_engine.purchased[buyer, item] == 0 and file_engine.purchased[
        file_engine.users.code_of(str(returned.user_id)), file_engine.items.code_of(str(returned.item_id))] > 0

    assert "LYCHEE-NEW-1" not in set(store_engine.items.ids)  # written after this training
    buyers = Served.load(tmp_path / "store").live.buyers  # served with the store it was trained from
    assert buyers.follow(store) == 0  # nothing the training did not read
    store.events.add([Event("after-training", str(returned.user_id), str(returned.item_id), "purchase", int(times[0]))])
    assert buyers.follow(store) == 1 and buyers.get(str(returned.user_id)) is not None
    store.close()


def test_train_needs_purchases_or_a_store(small_market, capsys):
    _, catalog = small_market
    try:
        main(["train", "--catalog", str(catalog), "--out", "x"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "one of the arguments --purchases --from-store is required" in capsys.readouterr().err


def test_items_written_through_the_api_enter_the_next_training(small_market, tmp_path):
    purchases, catalog = small_market
    lines = load_dataset(purchases, catalog).purchases.head(2_000)
    store_url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    store = EventStore.open(store_url)
    times = lines.timestamp.to_numpy().astype("datetime64[us]").astype(np.int64)
    store.events.add([Event(f"line-{i}", str(user), str(item), "purchase", int(time))
                      for i, (user, item, time) in enumerate(zip(lines.user_id, lines.item_id, times))])
    changed = str(lines.item_id.iloc[0])
    store.items.put(Item(changed, "Renamed through the API", category="fruit", available=False))
    store.items.put(Item("LYCHEE-NEW-1", "Conghua Nuomici Lychee", description="Fresh lychee from Conghua",
                        category="fruit", region="Conghua, Guangdong", tags="Seasonal;priority_region"))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SECOND_CONFIG), encoding="utf-8")
    assert main(["train", "--from-store", store_url, "--catalog", str(catalog), "--config", str(config),
                 "--out", str(tmp_path / "model"), "--quiet"]) == 0
    engine, _ = load_model_directory(tmp_path / "model")
    new, old = engine.items.code_of("LYCHEE-NEW-1"), engine.items.code_of(changed)
    assert new >= 0 and engine.catalog.title.iloc[new] == "Conghua Nuomici Lychee"
    assert engine.catalog.tags.iloc[new] == "seasonal;priority_region" and bool(engine.available[new])
    assert engine.catalog.title.iloc[old] == "Renamed through the API" and not engine.available[old]
    similar, _ = engine.similar_items(np.array([new]), 5)  # nobody bought it: the content model knows it
    assert (similar[0] >= 0).all()
    store.close()


def test_views_and_carts_weigh_in_training_as_the_config_says(tmp_path):
    (tmp_path / "catalog.csv").write_text("item_id,title\nA,tea a\nB,tea b\nC,bowl c\n", encoding="utf-8")
    store_url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    store = EventStore.open(store_url)
    day = 86_400_000_000
    store.events.add([Event("p1", "u1", "A", "purchase", 10 * day), Event("p2", "u1", "B", "purchase", 10 * day),
               Event("p3", "u2", "A", "purchase", 10 * day, quantity=2), Event("p4", "u2", "C", "purchase", 20 * day),
               Event("v1", "u1", "C", "view", 19 * day), Event("v2", "u2", "A", "view", 19 * day),
               Event("c1", "u2", "B", "cart", 19 * day), Event("v3", "viewer-only", "A", "view", 19 * day),
               Event("v4", "u1", "NOT-LISTED", "view", 19 * day), Event("late", "u1", "B", "view", 30 * day)])
    store.close()
    dataset = load_store_dataset(store_url, tmp_path / "catalog.csv")
    assert len(dataset.signals) == 6
    weighting = InteractionWeighting("raw", None)
    plain = build_training_data(dataset, weighting)
    weighed = build_training_data(dataset, weighting, event_weights={"view": 0.5, "cart": 0.25})
    u1, u2 = plain.users.code_of("u1"), plain.users.code_of("u2")
    a, b, c = (plain.items.code_of(item) for item in "ABC")
    typical_c = 1.0  # u2's one purchase of C
    assert weighed.user_items[u1, c] == pytest.approx(0.5 * typical_c)  # viewed, not bought
    assert weighed.user_items[u2, b] == pytest.approx(0.25 * 1.0)  # carted; B's purchases weigh 1
    assert weighed.user_items[u2, a] == plain.user_items[u2, a] == 2  # bought: its purchase weight stays
    assert (weighed.purchased != plain.purchased).nnz == 0  # a view is never a purchase
    assert len(weighed.users) == len(plain.users) == 2  # buyers without purchases are left out
    train, _ = temporal_split(dataset, cutoff="1970-01-20T12:00")
    assert len(train.signals) == 5 and train.signals.timestamp.max() <= pd.Timestamp("1970-01-20T12:00")  # no leak
