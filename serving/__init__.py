"""The HTTP API of the recommender (FastAPI): ``create_app(model_dir)`` builds the app."""
from serving.app import create_app
from serving.served import ServedModel

__all__ = ["ServedModel", "create_app"]
