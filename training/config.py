"""Training configuration: one JSON or TOML file, every field optional (defaults below).

By default the collaborative model is chosen for the data by the model search
(:mod:`training.search`), within ``budget_minutes`` (default: scaled to the data). A config that
names the ``components`` (as ``recommender tune`` writes) trains exactly those, without a search.
Example (JSON)::

    {"weighting": {"scheme": "recency", "half_life_days": 90},
     "components": {"ease": {"l2": 250, "beta": 0.3}, "content": {}, "popularity": {}},
     "validation_days": 30, "niche": "auto"}

``validation_days`` is the length of a validation window and ``validation_windows`` how many
consecutive windows (the latest first) the search, the blend and the niche knob are judged on,
their buyers pooled: one window at a holiday or a season's start would choose for those weeks
only (an earlier window is used only when the data before it still covers a window's length).
``weighting`` is the interaction weighting (default: searched; with ``components`` given and no
weighting, :class:`InteractionWeighting`'s defaults); ``components`` names the hybrid's models and
their parameters (see :data:`MODEL_CLASSES`); ``families`` restricts the families the search
tries; ``niche`` is the default of the niche knob, or ``"auto"`` to pick it from the accuracy /
long-tail trade-off measured on the validation split (the largest knob whose NDCG@10 stays
within ``niche_max_ndcg_loss`` of pure relevance). ``event_weights`` (``{"view": 0.1, "cart":
0.3}``; default 0, purchases only) weigh the views and carts of an event store (``train
--from-store``) into the models' input, relative to a purchase
(:func:`recommender.features.interactions.with_signals`). ``distinct_products`` (default true) is
the default of showing one listing per product in a list (:mod:`recommender.features.products`;
a request's ``distinct_products`` overrides it). ``max_per_group`` caps the items of one category
or one region in a top 10 (0: no cap), or ``"auto"`` picks the tightest cap of ``variety_grid``
whose validation NDCG@10 stays within ``variety_max_ndcg_loss`` (2%) of no cap.
``season_factor`` weighs goods in season into the lists (:mod:`recommender.features.seasons`; 0:
not at all), or ``"auto"`` picks the factor of ``season_grid`` with the best validation NDCG@10 when
it beats no seasonal weight by more than ``season_min_ndcg_gain`` (relative), and 0 on less than a
year of history.
"""
from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from recommender.features.interactions import InteractionWeighting, check_event_weights


@dataclass
class TrainConfig:
    """Everything ``recommender train`` can be told."""

    weighting: dict | None = None
    event_weights: dict = field(default_factory=dict)
    components: dict | None = None
    budget_minutes: float | None = None
    families: tuple | None = None
    content_dimensions: int = 64
    bucket_edges: tuple = (1, 3, 10)
    validation_days: int = 30
    validation_windows: int = 2
    blend_trials: int = 60
    niche: float | str = "auto"
    niche_max_ndcg_loss: float = 0.05
    niche_grid: tuple = tuple(round(0.05 * step, 2) for step in range(21))  # 0, 0.05, ..., 1
    k: int = 10
    seed: int = 0
    distinct_products: bool = True
    max_per_group: int | str = "auto"
    variety_max_ndcg_loss: float = 0.02
    variety_grid: tuple = (6, 5, 4, 3, 2)
    season_factor: float | str = "auto"
    season_grid: tuple = (0.025, 0.05, 0.1, 0.2, 0.4)
    season_min_ndcg_gain: float = 0.005

    def __post_init__(self):
        from recommender.models import MODEL_CLASSES
        from training.search import SEARCHED

        self.bucket_edges = tuple(int(edge) for edge in self.bucket_edges)
        self.niche_grid = tuple(float(x) for x in self.niche_grid)
        if self.weighting is not None:
            if not isinstance(self.weighting, dict):
                raise ValueError(f"config: 'weighting' must be an object of fields, got {self.weighting!r}")
            self.weighting = InteractionWeighting(**self.weighting).to_dict()  # raises on a bad scheme or half-life
        self.event_weights = check_event_weights(self.event_weights)
        if self.components is not None:
            if not isinstance(self.components, dict) or not self.components:
                raise ValueError("config: 'components' must name at least one model")
            for name in self.components:
                if name not in MODEL_CLASSES:
                    raise ValueError(f"config: unknown component {name!r}; known: {', '.join(MODEL_CLASSES)}")
        if self.families is not None:
            self.families = tuple(self.families)
            unknown = [name for name in self.families if name not in SEARCHED]
            if unknown or not self.families:
                raise ValueError(f"config: 'families' must name families of {', '.join(SEARCHED)}, "
                                 f"got {self.families!r}")
        if self.budget_minutes is not None and not (
                isinstance(self.budget_minutes, (int, float)) and not isinstance(self.budget_minutes, bool)
                and math.isfinite(self.budget_minutes) and self.budget_minutes > 0):
            raise ValueError(f"config: 'budget_minutes' must be a positive number, got {self.budget_minutes!r}")
        if self.niche != "auto" and not (isinstance(self.niche, (int, float)) and 0 <= self.niche <= 1):
            raise ValueError(f"config: 'niche' must be 'auto' or a number from 0 to 1, got {self.niche!r}")
        if not isinstance(self.content_dimensions, int) or self.content_dimensions < 1:
            raise ValueError("config: 'content_dimensions' must be a positive integer, "
                             f"got {self.content_dimensions!r}")
        self.variety_grid = tuple(int(cap) for cap in self.variety_grid)
        if self.max_per_group != "auto" and (isinstance(self.max_per_group, bool) or not isinstance(
                self.max_per_group, int) or self.max_per_group < 0):
            raise ValueError(f"config: 'max_per_group' must be 'auto' or a whole number >= 0 (0: no cap), "
                             f"got {self.max_per_group!r}")
        if any(cap < 1 for cap in self.variety_grid) or not 0 <= self.variety_max_ndcg_loss < 1:
            raise ValueError("config: 'variety_grid' must hold caps >= 1 and 'variety_max_ndcg_loss' be in [0, 1)")
        self.season_grid = tuple(float(factor) for factor in self.season_grid)
        if self.season_factor != "auto" and (isinstance(self.season_factor, bool) or not isinstance(
                self.season_factor, (int, float)) or not 0 <= self.season_factor < math.inf):
            raise ValueError(f"config: 'season_factor' must be 'auto' or a number >= 0 (0: no seasonal weight), "
                             f"got {self.season_factor!r}")
        if any(not 0 < factor < math.inf for factor in self.season_grid) or not 0 <= self.season_min_ndcg_gain < 1:
            raise ValueError("config: 'season_grid' must hold factors > 0 and 'season_min_ndcg_gain' be in [0, 1)")
        if not isinstance(self.distinct_products, bool):
            raise ValueError(f"config: 'distinct_products' must be true or false, got {self.distinct_products!r}")
        if self.validation_days <= 0:
            raise ValueError(f"config: 'validation_days' must be positive, got {self.validation_days}")
        if isinstance(self.validation_windows, bool) or not isinstance(self.validation_windows, int) \
                or self.validation_windows < 1:
            raise ValueError("config: 'validation_windows' must be a positive integer, "
                             f"got {self.validation_windows!r}")

    @property
    def interaction_weighting(self) -> InteractionWeighting:
        return InteractionWeighting(**(self.weighting or {}))

    @property
    def searches(self) -> bool:
        """Whether training chooses the collaborative model by the model search."""
        return self.components is None

    def replaced(self, source: str = "config", **changes) -> TrainConfig:
        """A copy with some fields changed, checked like a config file (``source`` names it in errors)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes}, source)

    def with_model(self, family: str, params: dict, weighting: dict) -> TrainConfig:
        """This config naming its components: ``family`` with ``params`` blended with the families
        that play the ``blended`` part (content, popularity) at their defaults, but for one that
        plays the chosen family's role, on ``weighting`` (what the model search chose)."""
        from recommender.models import FAMILIES

        role = FAMILIES[family].role
        blended: dict[str, dict[str, Any]] = {name: {} for name, other in FAMILIES.items()
                   if other.plays("blended") and other.role != role}
        return self.replaced("chosen config", components={family: dict(params), **blended},
                             weighting=dict(weighting))

    def training_data(self, dataset, weighting: InteractionWeighting | None = None, item_side: dict | None = None):
        """The model inputs of ``dataset`` as this config builds them (``weighting`` overrides;
        ``item_side``: the item side of the same catalog, already built with this config)."""
        from recommender.features.training_data import build_training_data

        return build_training_data(dataset, weighting or self.interaction_weighting,
                                   content_dimensions=self.content_dimensions, seed=self.seed, item_side=item_side,
                                   event_weights=self.event_weights)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a JSON (``.json``) or TOML (``.toml``) config file."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: config file not found")
        text = path.read_text(encoding="utf-8")
        try:
            values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot parse the config ({exc})") from exc
        if not isinstance(values, dict):
            raise ValueError(f"{path}: the config must be an object of fields")
        return cls.from_dict(values, str(path))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON, atomically."""
        from recommender.atomic import atomic_file

        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return Path(path)
