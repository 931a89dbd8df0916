"""Recommendation models, one module per family, all with the :class:`~recommender.models.base.Recommender` interface.

:data:`FAMILIES` is the registry training reads: each module's :class:`~recommender.models.family.Family`,
in the order the model search tries them.
"""
from typing import Any

from recommender.models import als, bpr, content, ease, item_knn, popularity, rp3beta
from recommender.models.als import ALSRecommender
from recommender.models.base import Recommender
from recommender.models.bpr import BPRRecommender
from recommender.models.content import ContentRecommender
from recommender.models.ease import EASERecommender
from recommender.models.family import Family
from recommender.models.item_knn import ItemKNNRecommender
from recommender.models.popularity import PopularityRecommender
from recommender.models.rp3beta import RP3betaRecommender

FAMILIES: dict[str, Family] = {module.FAMILY.name: module.FAMILY
                               for module in (als, ease, rp3beta, item_knn, bpr, content, popularity)}
MODEL_CLASSES = {name: family.estimator for name, family in FAMILIES.items()}


def family(name: str) -> Family:
    """The registered family ``name``, with a clear error for unknown ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def make_model(name: str, params: dict[str, Any] | None = None, seed: int | None = None,
               backend: str = "local") -> Recommender:
    """A model from its registry name and parameters (``seed``: its ``random_state`` unless given;
    ``backend="spark"``: the family's Spark counterpart, where it has one)."""
    return family(name).make(params, seed, backend)


__all__ = ["FAMILIES", "MODEL_CLASSES", "ALSRecommender", "BPRRecommender", "ContentRecommender", "EASERecommender",
           "Family", "ItemKNNRecommender", "PopularityRecommender", "RP3betaRecommender", "family", "make_model"]
