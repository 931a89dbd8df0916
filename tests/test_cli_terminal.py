"""The command line as a new user meets it: help, version, and progress written to a log."""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from recommender.cli import build_parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def test_version():
    answer = subprocess.run([sys.executable, "-m", "recommender.cli", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode == 0 and answer.stdout.strip() == f"recommender {version('recommender')}"


def test_the_help_has_no_markup():
    texts = [build_parser().format_help()] + [command.format_help() for command in subcommands().values()]
    for text in texts:
        assert not re.search(r"``|:(?:class|func|meth|mod):`", text), text


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_with_a_default_says_it(name):
    for action in subcommands()[name]._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and action.help:
            assert "default" in action.help, f"{name} {action.option_strings[0]}: no default in {action.help!r}"


@pytest.mark.parametrize("name", ["evaluate", "tune", "recommend", "validate", "forecast", "retrain"])
def test_only_commands_with_a_spark_engine_mention_it(name):
    command = subcommands()[name]
    if not any("--backend" in action.option_strings for action in command._actions):
        assert "spark" not in command.format_help().lower(), name


def test_progress_into_a_log_is_plain_lines_not_bar_frames(small_model, tmp_path):
    """Standard error redirected to a file: the progress is logged as whole lines, never redrawn."""
    users = tmp_path / "users.csv"
    users.write_text("user_id\nU0000001\nU0000002\n", encoding="utf-8")
    answer = subprocess.run([sys.executable, "-m", "recommender.cli", "recommend", "--model", str(small_model),
                             "--users", str(users), "--k", "5", "--out", str(tmp_path / "recs.csv")],
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert "\r" not in answer.stderr
    progress = [line for line in answer.stderr.splitlines() if "recommender.progress" in line]
    assert progress and all(" INFO recommender.progress: scoring:" in line for line in progress)
    assert "100%" in progress[-1]
