"""Recommendation models, one module per algorithm, all with the :class:`~recommender.models.base.Recommender` interface."""
from recommender.models.als import ALSRecommender
from recommender.models.bpr import BPRRecommender
from recommender.models.content import ContentRecommender
from recommender.models.ease import EASERecommender
from recommender.models.item_knn import ItemKNNRecommender
from recommender.models.popularity import PopularityRecommender
from recommender.models.rp3beta import RP3betaRecommender

MODEL_CLASSES = {
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "ease": EASERecommender,
    "item_knn": ItemKNNRecommender,
    "rp3beta": RP3betaRecommender,
    "content": ContentRecommender,
    "popularity": PopularityRecommender,
}


def make_model(name: str, params: dict | None = None):
    """A model from its registry name and parameters, with a clear error for unknown ones."""
    if name not in MODEL_CLASSES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_CLASSES)}")
    try:
        return MODEL_CLASSES[name](**(params or {}))
    except TypeError as exc:
        raise ValueError(f"model {name!r}: {exc}") from exc


__all__ = ["MODEL_CLASSES", "make_model"] + [cls.__name__ for cls in MODEL_CLASSES.values()]
