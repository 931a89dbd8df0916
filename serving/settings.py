"""The server's settings: one :class:`ServingSettings`, read once when a server starts.

Every setting is an environment variable ``RECOMMENDER_<NAME>`` (an empty value counts as unset);
``recommender serve``'s flags set the same fields and override the environment
(``recommender/cli/serve.py``). ``recommender serve`` reads them once and hands the object to its worker
processes; ``create_app(settings)`` builds the app from it, and nothing reads the environment
after that (a key changed in the environment of a running server changes nothing: restart it).
A bad value stops the start with a ``ValueError`` naming the variable. The table of every
setting is in ``docs/serving-design.md`` (a test keeps it in step with this class).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from limits import parse
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recommender.contract import UnknownItemEventPolicy

ENV_PREFIX = "RECOMMENDER_"
DEFAULT_ADMIN_RATE = "60/minute"
MAX_PORT = 65535
MAX_WORKERS = 64


def env_name(field: str) -> str:
    """The environment variable of the setting ``field``."""
    return ENV_PREFIX + field.upper()


class AdminKeySettings(BaseSettings):
    """The admin key alone: what a client of the admin API (``recommender retrain --server``) reads."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True)

    admin_key: SecretStr | None = Field(
        None, description="The admin key: header `X-API-Key` of the admin routes, `PUT /v1/items/{item_id}`, "
                          "the campaigns and the operator console (sent by `retrain --server` too). "
                          "Unset: those routes answer 403.")

    def __init__(self, **values: Any) -> None:
        """The settings of ``values`` (e.g. command-line flags) over the environment's; a bad value is a
        ``ValueError`` naming its variable."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ValueError("; ".join(_problem(error) for error in exc.errors())) from None


class ServingSettings(AdminKeySettings):
    """Everything a server is configured with (see the module's documentation)."""

    model_dir: Path | None = Field(
        None, description="The model directory written by `recommender train` (required: the flag of "
                          "`serve`, the variable of the app factory `serving.app:create_app_from_environment`).")
    forecasts_dir: Path | None = Field(
        None, description="The forecast directory written by `recommender forecast-publish`. Unset: the "
                          "merchant routes answer 503.")
    merchant_tokens: Path | None = Field(
        None, description="The merchant token file written by `recommender merchant-token`. Unset: the "
                          "merchant routes answer 503.")
    store: SecretStr | None = Field(
        None, description="The event store: `sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB` (may hold a "
                          "password). `serve`'s default: `events.sqlite3` next to the model directory; the "
                          "app factory's: none (the event, item and campaign routes answer 503).")
    ingest_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="Comma-separated storefront keys: header `X-API-Key` of `POST /v1/events`. Unset: 403.")
    unknown_items: UnknownItemEventPolicy = Field(
        "store", description="Events of items the server's catalog lacks (neither the served model's items nor "
                             "added through `PUT /v1/items`): `store` them (a later training learns from them; "
                             "the answer lists the ids in `unknown_item_ids`), or `refuse` the whole batch with a "
                             "422 naming each such event's `item_id`.")
    admin_rate: str = Field(
        DEFAULT_ADMIN_RATE, description="Admin requests allowed per key, and guesses per client address, per "
                                        "worker process, in the `limits` library's notation; over it a 429.")
    host: str = Field("127.0.0.1", description="The address `serve` listens on (`0.0.0.0`: every interface).")
    port: int = Field(8000, ge=1, le=MAX_PORT, description="The port `serve` listens on.")
    workers: int = Field(1, ge=1, le=MAX_WORKERS,
                         description="`serve`'s server processes, each with its own `SO_REUSEPORT` socket.")
    access_log: bool = Field(False, description="Log every request (otherwise `/metrics` counts them).")
    reload_file: Path | None = Field(
        None, description="The file a worker's admin reload is announced in to the other workers: set by "
                          "`serve --workers N` itself (a temporary file), not by hand.")

    @field_validator("ingest_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("admin_rate")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"not a rate such as '{DEFAULT_ADMIN_RATE}': {value!r}") from None
        return value


def _problem(error: ErrorDetails) -> str:
    """One validation error in words, naming the variable (not the value: it may be a key)."""
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    return f"{env_name(str(error['loc'][0]))}: {message}"
