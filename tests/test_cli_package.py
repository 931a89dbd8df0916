"""The command line's package: every group's commands in one parser, and the heavy modules (the web
server, forecasting, Spark) imported only by the commands that use them."""
from __future__ import annotations

import json
import subprocess
import sys

from recommender.cli import GROUPS, build_parser

WEB = ("serving", "fastapi", "starlette", "uvicorn")
FORECASTING = ("statsforecast", "lightgbm", "coreforecast")
HEAVY = (*WEB, *FORECASTING, "pyspark", "training", "pandas", "sqlalchemy", "matplotlib", "plotly")


def imported_after(script: str) -> set[str]:
    """The top-level packages imported by a fresh interpreter that runs ``script``."""
    probe = f"{script}\nimport sys\nprint(sorted({{name.partition('.')[0] for name in sys.modules}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))


def test_every_command_of_every_group_is_in_the_parser_once():
    names = [command.name for group in GROUPS for command in group.commands]
    assert len(names) == len(set(names))
    subcommands = next(action for action in build_parser()._actions if action.dest == "command")
    assert list(subcommands.choices) == names


def test_help_of_every_command_imports_nothing_heavy():
    script = """
import contextlib, io
from recommender.cli import GROUPS, main
for name in [None] + [command.name for group in GROUPS for command in group.commands]:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main([name, "--help"] if name else ["--help"])
    except SystemExit as stop:
        assert stop.code == 0, name
"""
    assert imported_after(script).isdisjoint(HEAVY)


def test_train_imports_no_web_server_and_no_forecasting(small_market, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"components": {"als": {"factors": 8, "iterations": 2}, "popularity": {}},
                                  "blend_trials": 2}), encoding="utf-8")
    purchases, catalog = small_market
    arguments = ["train", "--purchases", str(purchases), "--catalog", str(catalog), "--config", str(config),
                 "--out", str(tmp_path / "model"), "--quiet"]
    script = f"from recommender.cli import main\nassert main({arguments!r}) == 0"
    imported = imported_after(script)
    assert "training" in imported  # the command ran
    assert imported.isdisjoint((*WEB, *FORECASTING, "pyspark"))
