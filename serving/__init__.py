"""The HTTP API of the recommender (FastAPI): ``create_app(model_dir)`` builds the app."""
from serving.app import ServedModel, create_app

__all__ = ["ServedModel", "create_app"]
