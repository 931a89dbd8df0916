"""The server's settings (serving/settings.py): the environment variables, `recommender serve`'s
flags over them, errors naming the variable, read once at start, and the one table documenting them."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recommender.cli import build_parser, main
from recommender.cli.serve import _serve_settings
from serving import create_app
from serving.settings import ServingSettings, env_name

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = {"model_dir": "RECOMMENDER_MODEL_DIR", "forecasts_dir": "RECOMMENDER_FORECASTS_DIR",
             "merchant_tokens": "RECOMMENDER_MERCHANT_TOKENS", "store": "RECOMMENDER_STORE",
             "admin_key": "RECOMMENDER_ADMIN_KEY", "admin_rate": "RECOMMENDER_ADMIN_RATE",
             "ingest_keys": "RECOMMENDER_INGEST_KEYS", "reload_file": "RECOMMENDER_RELOAD_FILE",
             "unknown_items": "RECOMMENDER_UNKNOWN_ITEMS"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No RECOMMENDER_* variable of the machine running the tests leaks in."""
    for field in ServingSettings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)


def test_the_variables_keep_their_names(monkeypatch, tmp_path):
    assert {field: env_name(field) for field in VARIABLES} == VARIABLES
    values = {"model_dir": str(tmp_path / "model"), "forecasts_dir": str(tmp_path / "forecasts"),
              "merchant_tokens": str(tmp_path / "tokens.json"), "store": "sqlite:///events.sqlite3",
              "admin_key": "s3cret-admin", "admin_rate": "5/second", "ingest_keys": " shop-a, shop-b ,,",
              "reload_file": str(tmp_path / "model.json"), "unknown_items": "refuse"}
    for field, value in values.items():
        monkeypatch.setenv(VARIABLES[field], value)
    settings = ServingSettings()
    assert settings.model_dir == tmp_path / "model" and settings.forecasts_dir == tmp_path / "forecasts"
    assert settings.merchant_tokens == tmp_path / "tokens.json" and settings.reload_file == tmp_path / "model.json"
    assert settings.store.get_secret_value() == "sqlite:///events.sqlite3" and settings.admin_rate == "5/second"
    assert settings.admin_key.get_secret_value() == "s3cret-admin" and settings.unknown_items == "refuse"
    assert [key.get_secret_value() for key in settings.ingest_keys] == ["shop-a", "shop-b"]
    assert "s3cret-admin" not in repr(settings) and "shop-a" not in repr(settings)  # keys never shown


def test_an_empty_variable_is_unset(monkeypatch):
    for field in ("admin_key", "ingest_keys", "store", "admin_rate", "port"):
        monkeypatch.setenv(env_name(field), "")
    settings = ServingSettings()
    assert (settings.admin_key, settings.ingest_keys, settings.store) == (None, (), None)
    assert (settings.admin_rate, settings.port) == ("60/minute", 8000)


@pytest.mark.parametrize("variable, value, message", [
    ("RECOMMENDER_ADMIN_RATE", "often", "not a rate such as '60/minute': 'often'"),
    ("RECOMMENDER_PORT", "http", "valid integer"),
    ("RECOMMENDER_PORT", "70000", "less than or equal to 65535"),
    ("RECOMMENDER_WORKERS", "0", "greater than or equal to 1"),
    ("RECOMMENDER_ACCESS_LOG", "sometimes", "valid boolean"),
    ("RECOMMENDER_UNKNOWN_ITEMS", "drop", "Input should be 'store' or 'refuse'"),
])
def test_a_bad_value_is_an_error_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"^{variable}: .*{re.escape(message)}"):
        ServingSettings()


def test_serve_stops_at_a_bad_variable_before_starting(small_model, monkeypatch, capsys):
    monkeypatch.setenv("RECOMMENDER_ADMIN_RATE", "often")
    assert main(["serve", "--model", str(small_model)]) == 2
    assert "error: RECOMMENDER_ADMIN_RATE: not a rate" in capsys.readouterr().err


def test_the_flags_of_serve_override_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RECOMMENDER_PORT", "9001")
    monkeypatch.setenv("RECOMMENDER_WORKERS", "3")
    monkeypatch.setenv("RECOMMENDER_STORE", "sqlite:///from-the-environment.sqlite3")
    monkeypatch.setenv("RECOMMENDER_FORECASTS_DIR", str(tmp_path / "env-forecasts"))
    monkeypatch.setenv("RECOMMENDER_UNKNOWN_ITEMS", "store")
    args = build_parser().parse_args(["serve", "--model", str(tmp_path / "model"), "--port", "9002",
                                      "--forecasts", str(tmp_path / "flag-forecasts"), "--access-log",
                                      "--unknown-items", "refuse"])
    settings = _serve_settings(args)
    assert (settings.port, settings.workers, settings.access_log, settings.host) == (9002, 3, True, "127.0.0.1")
    assert settings.unknown_items == "refuse"
    assert settings.model_dir == (tmp_path / "model").resolve()
    assert settings.forecasts_dir == (tmp_path / "flag-forecasts").resolve()
    assert settings.store.get_secret_value() == "sqlite:///from-the-environment.sqlite3"


def test_serve_defaults_the_store_next_to_the_model(tmp_path):
    settings = _serve_settings(build_parser().parse_args(["serve", "--model", str(tmp_path / "model")]))
    assert settings.store.get_secret_value() == f"sqlite:///{tmp_path.resolve() / 'events.sqlite3'}"
    assert settings.port == 8000 and settings.workers == 1 and settings.access_log is False
    assert settings.unknown_items == "store"


def test_the_settings_are_read_once_at_start(small_model, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", "first-key")
    monkeypatch.setenv("RECOMMENDER_INGEST_KEYS", "shop-key")
    with TestClient(create_app(ServingSettings(model_dir=small_model))) as client:
        monkeypatch.setenv("RECOMMENDER_ADMIN_KEY", "second-key")
        monkeypatch.delenv("RECOMMENDER_INGEST_KEYS")
        monkeypatch.setenv("RECOMMENDER_ADMIN_RATE", "often")
        exposure = "/v1/admin/exposure"
        assert client.get(exposure, headers={"X-API-Key": "first-key"}).status_code == 200
        assert client.get(exposure, headers={"X-API-Key": "second-key"}).status_code == 401
        events = client.post("/v1/events", json={"events": [{"event_id": "e", "user_id": "u", "item_id": "i",
                                                             "type": "view"}]}, headers={"X-API-Key": "shop-key"})
        assert events.status_code == 503  # the key still works; the app has no store


def test_every_setting_is_in_the_one_table_with_its_flag():
    """docs/serving-design.md's settings table: a row per setting, its variable and `serve`'s flag."""
    text = (ROOT / "docs" / "serving-design.md").read_text(encoding="utf-8")
    rows = {match[0]: match[1] for match in re.findall(r"^\| `(RECOMMENDER_[A-Z_]+)` \| ([^|]*) \|", text, re.M)}
    assert set(rows) == {env_name(field) for field in ServingSettings.model_fields}
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    flags = {action.dest: action.option_strings[0] for action in commands.choices["serve"]._actions}
    for field in ServingSettings.model_fields:
        shown = rows[env_name(field)].strip()
        assert shown == (f"`{flags[field]}`" if field in flags else "-"), field
