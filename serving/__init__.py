"""The HTTP API of the recommender (FastAPI): ``create_app(settings)`` builds the app."""
from serving.app import create_app
from serving.served import ServedModel
from serving.settings import ServingSettings

__all__ = ["ServedModel", "ServingSettings", "create_app"]
