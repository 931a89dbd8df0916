"""The model registry of ``recommender retrain``: every model it trained, how it compared with the
serving model, and whether it was promoted."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from recommender.store.database import Database, now_us
from recommender.store.schema import models


@dataclass(frozen=True)
class ModelRecord:
    """A model in the registry: where it is, how it compared with the serving model on the most
    recent days (NDCG@10), and whether it was ``promoted``, ``rejected`` or ``failed`` (why)."""

    model_version: str
    model_dir: str
    status: str
    reason: str
    candidate_ndcg: float | None = None
    serving_ndcg: float | None = None
    serving_version: str | None = None
    created_us: int = 0


class ModelRegistry:
    """The model registry in ``database``."""

    def __init__(self, database: Database):
        self.database = database

    def record(self, record: ModelRecord) -> ModelRecord:
        """Add ``record`` to the registry (timed now)."""
        stored = ModelRecord(**{**record.__dict__, "created_us": now_us()})
        with self.database.writing() as connection:
            connection.execute(models.insert(), dict(stored.__dict__))
        return stored

    def newest_first(self) -> list[ModelRecord]:
        """Every registered model, newest first."""
        with self.database.connection_pool.connect() as connection:
            rows = connection.execute(select(models).order_by(models.c.created_us.desc())).mappings()
            return [ModelRecord(**row) for row in rows]

    def serving(self) -> ModelRecord | None:
        """The model promoted last, if any."""
        return next((record for record in self.newest_first() if record.status == "promoted"), None)
