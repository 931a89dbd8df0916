"""What training knows of a model family, declared once, in the family's own module.

Every module of :mod:`recommender.models` ends with a :class:`Family`: its estimator class, the
parts it can play in training (:data:`PARTS`), where the model search starts it and how it moves
its parameters, its cost model (the estimator's :meth:`~recommender.models.base.Recommender.fit_cost`),
the parameter that maps never-bought items from content, and its Spark counterpart.
:data:`recommender.models.FAMILIES` collects them; the model search, the training job, the
evaluation and the Spark path read that registry and name no family themselves.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recommender.models.base import FitCost, Recommender

# The parts a family can play in training:
# "searched": a candidate of the model search, which chooses the blend's main model;
# "blended": blended with whatever the search chooses, unless that plays the same role
#            (the estimator's ``role``: a chosen popularity model replaces the blended one);
# "floor": a simple baseline: the best validation NDCG of its candidates is a floor that the served
#          model's default niche knob may not push the blend below.
PARTS = ("searched", "blended", "floor")


@dataclass(frozen=True)
class Move:
    """A refinement move of the model search: ``parameter`` multiplied by each of ``changes``
    (``kind="scale"``; integers are rounded, floats kept to 3 significant digits), or set to each
    of them (``kind="set"``)."""

    parameter: str
    changes: tuple[object, ...]
    kind: str = "scale"

    def __post_init__(self) -> None:
        if self.kind not in ("scale", "set"):
            raise ValueError(f"move of {self.parameter!r}: kind must be 'scale' or 'set', got {self.kind!r}")

    def applied(self, params: dict[str, Any], default: object) -> list[dict[str, Any]]:
        """``params`` after each change of this move (``default``: the parameter's value when
        ``params`` does not set it); changes that leave the value as it is are left out."""
        current = params.get(self.parameter, default)
        out = []
        for change in self.changes:
            value: object
            if self.kind == "set":
                value = change
            elif (isinstance(current, bool) or not isinstance(current, (int, float))
                  or not isinstance(change, (int, float))):
                continue
            elif isinstance(current, int):
                value = max(1, int(round(current * change)))
            else:
                value = float(f"{current * change:.3g}")
            if value != current:
                out.append({**params, self.parameter: value})
        return out


@dataclass(frozen=True)
class Start:
    """A starting point of the model search: parameters, a fixed interaction weighting (None: the
    weighting the search is on) and, for a floor family's baselines, the ``label`` of the
    evaluation row that scores it on the test days."""

    params: dict[str, Any]
    weighting: dict[str, Any] | None = None  # InteractionWeighting.to_dict()
    label: str = ""


# fit_to_plan(params, shapes, items_bought, seconds): the parameters sized to the plan, or None
PlanFit = Callable[[dict[str, Any], list[tuple[int, int, int]], int, float], dict[str, Any] | None]


@dataclass(frozen=True)
class Family:
    """A model family as training sees it (see the module notes).

    ``starts`` are the search's starting points (the first is the family's default), ``moves``
    its refinement moves, ``exponents`` the column exponents scored on every fit without refitting
    (item-item models' popularity exponent, :meth:`with_beta`), ``leading`` puts the family among
    the first the search tries, ``cold_item_parameter`` names the boolean parameter that maps
    never-bought items from content (off for the evaluation's plain baselines), ``spark`` is
    ``"module:Class"`` of the estimator ``--backend spark`` fits instead (None: the same one, on
    the driver), and ``fit_to_plan(params, shapes, items_bought, seconds)`` sizes the parameters so
    that fitting on matrices of ``shapes`` (buyers, items, pairs; one per validation window) fits
    in the planned seconds left (None when even the smallest size does not).
    """

    name: str
    estimator: type[Recommender]
    parts: tuple[str, ...]
    starts: tuple[Start, ...] = ()
    moves: tuple[Move, ...] = ()
    exponents: tuple[float, ...] = ()
    leading: bool = False
    cold_item_parameter: str | None = None
    spark: str | None = None
    fit_to_plan: PlanFit | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parts) - set(PARTS))
        if unknown:
            raise ValueError(f"family {self.name!r}: unknown parts {unknown}; known: {', '.join(PARTS)}")
        if "searched" in self.parts and not self.starts:
            raise ValueError(f"family {self.name!r}: a searched family needs at least one start")

    def plays(self, part: str) -> bool:
        """Whether the family plays ``part`` of :data:`PARTS`."""
        return part in self.parts

    @property
    def role(self) -> str:
        """The estimator's role (collaborative, content, popularity)."""
        return self.estimator.role

    def default(self, parameter: str) -> object:
        """The estimator's default value of ``parameter``."""
        return self.estimator().get_params()[parameter]

    def make(self, params: dict[str, Any] | None = None, seed: int | None = None,
             backend: str = "local") -> Recommender:
        """An unfitted estimator with ``params`` (its ``random_state``, if it takes one, set to
        ``seed`` unless given), or its Spark counterpart for ``backend="spark"``."""
        estimator = self.spark_estimator() if backend == "spark" and self.spark else self.estimator
        params = dict(params or {})
        if seed is not None and "random_state" in estimator.parameter_names():
            params.setdefault("random_state", int(seed))
        try:
            return estimator(**params)
        except TypeError as exc:
            raise ValueError(f"model {self.name!r}: {exc}") from exc

    def spark_estimator(self) -> type[Recommender]:
        """The Spark counterpart's class, imported on first use (it imports pyspark only to fit)."""
        if self.spark is None:
            raise ValueError(f"model {self.name!r} has no Spark counterpart")
        module, _, name = self.spark.partition(":")
        estimator: type[Recommender] = getattr(importlib.import_module(module), name)
        return estimator

    def fit_cost(self, params: dict[str, Any], n_users: int, n_items: int, n_pairs: int) -> FitCost:
        """The estimator's cost model for these parameters and this data size."""
        return self.estimator.fit_cost(params, n_users, n_items, n_pairs)
