"""The model a server answers with: loaded once, precomputed for requests, swapped whole.

:class:`ServedModel` is a loaded engine plus everything requests need precomputed (filter masks
per category and region, the price array, titles, popularity rows, reason vectors, every known
buyer's model vector and default list: :mod:`serving.precomputed`): a snapshot that never
changes. What changes while it is served (purchases since training, items made unavailable or
added, campaigns) is its live overlay (:class:`serving.live.LiveOverlay`), which only the watcher
changes. The two travel together as one :class:`Served`, which the app's state keeps as ``served``
(:mod:`serving.state`); every request reads that reference once at its start
(:meth:`~serving.state.ServingState.current`), so swapping a model in (:class:`ModelSwapper`) is one
assignment and in-flight requests finish on the model and overlay they started with.
"""
from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from recommender.artifacts import load_model_directory
from recommender.engine import RecommendationEngine
from recommender.explain import Explainer, catalog_text
from recommender.loaders import written_items_catalog
from recommender.models.repeat import day_end_us
from recommender.store import EventStore, Item
from serving.item_json import ItemsJson
from serving.live import LiveOverlay
from serving.precomputed import DefaultLists
from serving.responses import invalid

if TYPE_CHECKING:
    from serving.state import ServingState

log = logging.getLogger(__name__)

SHOWN_CHOICES = 30  # known values listed in an "unknown category/region" message


def audience_time(day: date | None = None) -> int:
    """When an audience's repeat timing is scored, in microseconds since the epoch: the end of
    ``day``, or the start of today (UTC), so that a worker works the repeat scores out once a day."""
    return day_end_us(day if day is not None else datetime.now(UTC).date() - timedelta(days=1))


def _value_masks(values: np.ndarray) -> dict[str, np.ndarray]:
    """One boolean item mask per distinct value."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return {str(value): codes == i for i, value in enumerate(uniques)}


def _item_records(item_ids: np.ndarray, titles: np.ndarray, regions: np.ndarray, merchants: np.ndarray,
                  categories: np.ndarray, prices: np.ndarray) -> list[dict[str, Any]]:
    """Every item's metadata as response fields (plain Python values), built once per model."""
    known_prices = [None if np.isnan(price) else price for price in prices.tolist()]
    return [{"item_id": str(item), "title": str(title), "region": region, "merchant_id": merchant,
             "category": category, "price": price}
            for item, title, region, merchant, category, price in zip(
                item_ids.tolist(), titles.tolist(), regions.tolist(), merchants.tolist(), categories.tolist(),
                known_prices)]


@dataclass(frozen=True)
class ServedModel:
    """A loaded engine, its manifest, and everything requests need precomputed; never changed
    (a new model, or this one with more items, is a new snapshot)."""

    engine: RecommendationEngine
    manifest: dict[str, Any]
    path: str
    item_ids: np.ndarray
    titles: np.ndarray
    prices: np.ndarray  # float64, nan where unknown
    category_masks: dict[str, np.ndarray]
    region_masks: dict[str, np.ndarray]
    popularity: np.ndarray  # city tiers (0..MAX_CITY_TIER) x items; row 0 global (RecommendationEngine.tier_popularity)
    explainer: Explainer
    default_lists: DefaultLists | None  # known buyers' lists for default requests (None: over the memory bound)
    items_json: ItemsJson  # the items of answers, as JSON

    @property
    def model_version(self) -> str:
        return str(self.manifest.get("model_version", "unknown"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ServedModel:
        """Load and verify a model directory (raises ``ModelDirectoryError``) and precompute."""
        engine, manifest = load_model_directory(path, RecommendationEngine)
        return cls.from_engine(engine, manifest, str(path))

    @classmethod
    def from_engine(cls, engine: RecommendationEngine, manifest: dict[str, Any], path: str = "",
                    kept: ServedModel | None = None) -> ServedModel:
        """Precompute what requests need from a loaded engine. ``kept``: the served model ``engine``
        extends with items added since (:meth:`RecommendationEngine.with_items`), whose buyers'
        lists are kept as they are (they lack the added items) instead of computed now."""
        if not engine.precompute_for_serving() and kept is None:  # (logged once, not again for an extension)
            log.info("buyer vectors not precomputed (non-linear model or too many buyers): computed per request")
        if engine.audiences is not None and engine.repeat is not None:
            engine.repeat_by_item(audience_time())  # today's repeat timing, before the first audience request
        catalog = engine.catalog
        n = engine.n_items
        item_ids = np.asarray(engine.items.ids, dtype=object)
        explainer = Explainer.of(engine)
        titles, regions = explainer.titles, catalog_text(catalog, "region")
        categories = catalog_text(catalog, "category")
        # shortest decimal of the float32 price (91.9, not 91.9000015258789)
        prices = (catalog["price"].to_numpy(dtype=np.float32).astype(str).astype(np.float64) if "price" in catalog
                  else np.full(n, np.nan))
        merchants = catalog_text(catalog, "merchant_id")
        return cls(engine=engine, manifest=manifest, path=path, item_ids=item_ids, titles=titles, prices=prices,
                   category_masks=_value_masks(categories), region_masks=_value_masks(regions),
                   popularity=engine.tier_popularity(), explainer=explainer,
                   default_lists=kept.default_lists if kept is not None else DefaultLists.compute(engine, explainer),
                   items_json=ItemsJson(_item_records(item_ids, titles, regions, merchants, categories, prices),
                                        explainer.reason_texts, explainer.suffix))

    def with_items(self, items: list[Item]) -> ServedModel:
        """This model extended with ``items`` it does not know, ranked by their content
        (:meth:`~recommender.engine.RecommendationEngine.with_items`) by every request computed
        from now on; the buyers' precomputed lists are this model's (:meth:`with_lists` computes
        them again). The manifest counts the items added since the model was trained
        (``added_items``)."""
        engine = self.engine.with_items(written_items_catalog(items))
        manifest = {**self.manifest, "added_items": self.manifest.get("added_items", 0) + len(items)}
        return ServedModel.from_engine(engine, manifest, self.path, kept=self)

    def with_lists(self) -> ServedModel:
        """This model with every buyer's list computed again (the added items among them)."""
        return ServedModel.from_engine(self.engine, self.manifest, self.path)

    def filter_mask(self, category: str | None, region: str | None, max_price: float | None) -> np.ndarray | None:
        """Boolean item mask of the filters (None when there are none; availability is applied by
        the engine); an unknown category or region is a 422 listing the known values (a typo
        should not look like "no results")."""
        mask = None
        for name, value, masks in (("category", category, self.category_masks), ("region", region, self.region_masks)):
            if value is None:
                continue
            if value not in masks:
                known = sorted(masks)
                shown = ", ".join(repr(v) for v in known[:SHOWN_CHOICES])
                more = f" (and {len(known) - SHOWN_CHOICES} more)" if len(known) > SHOWN_CHOICES else ""
                raise invalid("query", name, f"unknown {name} {value!r}; known values: {shown}{more}")
            mask = masks[value] if mask is None else mask & masks[value]
        if max_price is not None:
            with np.errstate(invalid="ignore"):
                cheap = self.prices <= max_price  # unknown (nan) prices are left out
            mask = cheap if mask is None else mask & cheap
        return mask


class Served(NamedTuple):
    """What a request reads once, at its start: a model snapshot and its live overlay, swapped together."""

    model: ServedModel
    live: LiveOverlay

    @classmethod
    def load(cls, path: str | os.PathLike[str], store: EventStore | None = None) -> Served:
        """Load and verify a model directory (raises ``ModelDirectoryError``), with a new overlay
        caught up with ``store``'s items and events when one is given."""
        return cls.caught_up(ServedModel.load(path), store)

    @classmethod
    def caught_up(cls, model: ServedModel, store: EventStore | None) -> Served:
        """``model`` with a new overlay, caught up with ``store`` (when given) before it is served."""
        live = LiveOverlay(model)
        if store is not None:
            live.follow(store)
        return cls(model, live)

    def with_items(self, items: list[Item]) -> Served:
        """This model extended with ``items`` (:meth:`ServedModel.with_items`), its overlay carried over."""
        model = self.model.with_items(items)
        return Served(model, LiveOverlay(model, kept=self.live))

    def with_lists(self, store: EventStore | None) -> Served:
        """This model with every buyer's list computed again (:meth:`ServedModel.with_lists`) and a
        new overlay, caught up with the event store before it is served."""
        return Served.caught_up(self.model.with_lists(), store)


def freeze_heap() -> None:
    """Keep the garbage collector off the served model: collect, then move every object alive now
    (the model's records, strings and arrays: over 100k objects) to the permanent generation
    (``gc.freeze``), so the collections that requests' short-lived objects trigger no longer walk
    them (about 14 us per recommendation request). Unfrozen first, so a model replaced since the
    last call is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelSwapper:
    """Loads model directories and swaps them into ``state.served``, one at a time (counted in
    ``state.metrics``)."""

    def __init__(self, state: ServingState):
        self.state = state
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        served = self.state.served
        return "" if served is None else served.model.path

    def swap(self, target: str) -> tuple[str | None, str, float]:
        """Load, verify and prepare ``target``, catch its overlay up with the event store, then serve
        it (one assignment: requests in flight finish on the old model). Raises
        ``ModelDirectoryError`` or the store's error (the old model keeps serving).
        Returns the previous and new model versions and the seconds taken."""
        with self._lock:
            previous = self.state.model_version
            start = time.perf_counter()
            try:
                new = Served.load(target, self.state.store)
            except Exception as exc:
                self.state.metrics.reloads.labels("failure").inc()
                log.warning("model reload from %s refused: %s", target, exc)
                raise
            self.state.served = new
            seconds = time.perf_counter() - start
            self.state.metrics.reloads.labels("success").inc()
            freeze_heap()
        version = new.model.model_version
        log.info("model reloaded from %s: %s -> %s in %.2f s", target, previous, version, seconds)
        return previous, version, seconds

    def add_items(self, served: Served) -> None:
        """Serve ``served`` extended with the new items its overlay found
        (:attr:`serving.live.LiveItems.new`) at once, then, from a background thread, with every
        buyer's list computed again (:meth:`Served.with_lists`); either step is skipped when
        another model was swapped in meanwhile (it follows the store itself). A model that cannot
        add items keeps serving, and its new items are ranked after the next training (logged).
        Called by the watcher (it empties the overlay's :attr:`~serving.live.LiveItems.new`)."""
        with self._lock:
            items = list(served.live.items.new.values())
            if self.state.served is not served or not items:
                return
            served.live.items.new.clear()
            start = time.perf_counter()
            try:
                extended = served.with_items(items)
            except (ValueError, NotImplementedError) as exc:
                log.warning("%d new item(s) are ranked after the next training: %s", len(items), exc)
                return
            self.state.served = extended
        log.info("%d new item(s) ranked by content from now on (%s, ...) in %.2f s; buyers' lists follow",
                 len(items), items[0].item_id, time.perf_counter() - start)
        threading.Thread(target=self._serve_lists, args=(extended, start), name="new-item-lists", daemon=True).start()

    def _serve_lists(self, extended: Served, start: float) -> None:
        try:
            full = extended.with_lists(self.state.store)
        except Exception as exc:  # a background thread: log, the extended model keeps serving
            log.warning("buyers' lists with the new items not computed (%s); they are served without them", exc)
            return
        with self._lock:
            if self.state.served is not extended:
                return
            self.state.served = full
            freeze_heap()
        log.info("buyers' lists with the new items served, %.2f s after they were found", time.perf_counter() - start)
