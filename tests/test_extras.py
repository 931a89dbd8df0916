"""Each command with only its extra installed (pyproject.toml's extras, :mod:`recommender.extras`).

The test environment has every extra, so a fresh interpreter plays a smaller install: a
``sitecustomize`` module (on ``PYTHONPATH``, so the server's worker processes get it too) puts a
``sys.meta_path`` finder first that makes every package only the other extras install (their
dependencies included, read from the installed packages' metadata) unimportable, as if missing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from live_server import ServerProcess
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from recommender.cli import GROUPS
from recommender.extras import EXTRAS
from recommender.merchant_tokens import issue_token

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OPTIONAL = PROJECT["optional-dependencies"]
RUNTIME_EXTRAS = [extra for extra in OPTIONAL if extra != "dev"]

NOT_INSTALLED = '''
"""Makes the packages named in RECOMMENDER_TEST_BLOCKED unimportable, as if not installed."""
import os
import sys

BLOCKED = frozenset(os.environ["RECOMMENDER_TEST_BLOCKED"].split(","))
_early = BLOCKED.intersection(name.partition(".")[0] for name in sys.modules)
if _early:
    raise SystemExit(f"imported before the blocker was installed: {sorted(_early)}")


class NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled)
'''

# runs each command line of argv[1] (JSON) with recommender.cli.main; prints [[status, stderr], ...]
RUN_COMMANDS = '''
import contextlib, io, json, sys
from recommender.cli import main

results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as stop:
            status = stop.code
    results.append([status, err.getvalue()])
print(json.dumps(results))
'''

CONFIG = {"components": {"als": {"factors": 8, "iterations": 2}, "popularity": {}}, "blend_trials": 2}


def installed_with(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install here, their dependencies included (markers evaluated
    for this interpreter and the extras asked for)."""
    wanted: dict[str, set[str]] = {}
    pending = [(Requirement(text), {""}) for text in requirements]
    while pending:
        requirement, parent_extras = pending.pop()
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": extra})
                                                      for extra in parent_extras):
            continue
        name, extras = canonicalize_name(requirement.name), {"", *requirement.extras}
        if extras <= wanted.get(name, set()):
            continue
        wanted.setdefault(name, set()).update(extras)
        pending += [(Requirement(text), extras) for text in metadata.requires(name) or []]
    return set(wanted)


def modules_of(distributions: set[str]) -> set[str]:
    """The top-level modules only ``distributions`` provide."""
    return {module for module, providers in metadata.packages_distributions().items()
            if all(canonicalize_name(provider) in distributions for provider in providers)}


@pytest.fixture(scope="module")
def blocker(tmp_path_factory) -> Path:
    """A folder whose ``sitecustomize`` module installs the :data:`NOT_INSTALLED` finder."""
    folder = tmp_path_factory.mktemp("not_installed")
    (folder / "sitecustomize.py").write_text(NOT_INSTALLED, encoding="utf-8")
    return folder


def only(blocker: Path, *extras: str) -> dict[str, str]:
    """The environment of an interpreter with the core and ``extras`` installed, and nothing else
    of the project's (the other extras, the test tools)."""
    everything = installed_with([*PROJECT["dependencies"], *(dep for deps in OPTIONAL.values() for dep in deps)])
    kept = installed_with([*PROJECT["dependencies"], *(dep for extra in extras for dep in OPTIONAL[extra])])
    blocked = modules_of(everything - kept)
    path = os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "RECOMMENDER_TEST_BLOCKED": ",".join(sorted(blocked))}


def run_commands(env: dict[str, str], *commands: list[str]) -> list[tuple[int, str]]:
    """Each command line's exit status and standard error, run in one interpreter of ``env``."""
    done = subprocess.run([sys.executable, "-c", RUN_COMMANDS, json.dumps([[str(a) for a in c] for c in commands])],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    return [tuple(result) for result in json.loads(done.stdout.strip().splitlines()[-1])]


def needs(extra: str) -> str:
    """What a command says when it needs ``extra`` and it is not installed."""
    return f"pip install 'recommender[{extra}]'"


def test_extras_name_the_packages_pyproject_declares():
    provided = metadata.packages_distributions()
    for extra in RUNTIME_EXTRAS:
        declared = {canonicalize_name(Requirement(text).name) for text in OPTIONAL[extra]}
        modules = {module: {canonicalize_name(name) for name in provided.get(module, [])} for module in EXTRAS[extra]}
        assert all(providers and providers <= declared for providers in modules.values()), (extra, modules)
        assert declared <= set().union(*modules.values()), f"[{extra}] declares {declared}; EXTRAS names {modules}"
    assert set(EXTRAS) == set(RUNTIME_EXTRAS)


def test_the_core_declares_no_package_of_an_extra():
    core = {canonicalize_name(Requirement(text).name) for text in PROJECT["dependencies"]}
    for extra in RUNTIME_EXTRAS:
        assert core.isdisjoint(canonicalize_name(Requirement(text).name) for text in OPTIONAL[extra]), extra
    assert core.isdisjoint({"statsforecast", "lightgbm", "coreforecast", "plotly", "psycopg", "matplotlib",
                            "fastapi", "uvicorn", "pyspark"})


# what each extra alone must import: the modules of the commands it serves
IMPORTS = {
    "forecast": "import recommender.forecasting.backtest, recommender.forecasting.publish, training.forecast",
    "serve": "import serving.app, serving.server, recommender.forecasting.published",
    "spark": "import training.spark_train, recommender.models.spark_als",
    "report": "import training.report, matplotlib.figure",
    # the driver loads: the store cannot be opened because nothing listens there, not for a missing extra
    "postgres": "from recommender.store import EventStore, StoreError\n"
                "try:\n    EventStore.open('postgresql://nobody@127.0.0.1:1/none')\n"
                "except StoreError as exc:\n    assert 'cannot open the store' in str(exc), exc",
}


@pytest.mark.parametrize("extra", RUNTIME_EXTRAS)
def test_each_extra_alone_imports_what_its_commands_use_and_nothing_of_the_others(extra, blocker):
    # another extra's modules, but for those this extra installs too (matplotlib: hierarchicalforecast needs it)
    provided = modules_of(installed_with([*PROJECT["dependencies"], *OPTIONAL[extra]]))
    others = sorted({module for name in RUNTIME_EXTRAS if name != extra for module in EXTRAS[name]} - provided)
    probe = f"{IMPORTS[extra]}\nimport sys\nprint(sorted({{name.partition('.')[0] for name in sys.modules}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=only(blocker, extra),
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = set(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert imported.isdisjoint(others)


def test_without_extras_a_command_that_needs_one_names_it(blocker, small_market, tmp_path):
    purchases, catalog = small_market
    files = ["--purchases", purchases, "--catalog", catalog]
    results = run_commands(
        only(blocker),
        ["forecast", *files, "--out", tmp_path / "f.csv"],
        ["forecast-publish", *files, "--out", tmp_path / "published"],
        ["serve", "--model", tmp_path / "model"],
        ["evaluate", *files, "--report", tmp_path / "report"],
        ["train", "--from-store", "postgresql://nobody@127.0.0.1:1/none", "--catalog", catalog,
         "--out", tmp_path / "m"],
        ["train", *files, "--backend", "spark", "--out", tmp_path / "m"])
    for extra, (status, stderr) in zip(["forecast", "forecast", "serve", "report", "postgres", "spark"], results):
        assert status == 2 and needs(extra) in stderr and "Traceback" not in stderr, (extra, stderr)
    assert "a postgresql:// store needs the [postgres] extra" in results[4][1]
    assert not any(path.exists() for path in tmp_path.iterdir())  # every one stopped before writing


def test_every_help_and_the_core_commands_run_without_any_extra(blocker, small_market, tmp_path):
    purchases, catalog = small_market
    files = ["--purchases", purchases, "--catalog", catalog]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    users = tmp_path / "users.csv"
    users.write_text("user_id\n" + "\n".join(purchases.read_text().splitlines()[1].split(",")[:1]) + "\nnobody\n")
    items = tmp_path / "items.csv"
    items.write_text("item_id\n" + catalog.read_text().splitlines()[1].split(",")[0] + "\n")
    model = tmp_path / "model"
    helps = [[command.name, "--help"] for group in GROUPS for command in group.commands]
    results = run_commands(
        only(blocker), *helps,
        ["validate", *files],
        ["train", *files, "--config", config, "--out", model, "--quiet"],
        ["recommend", "--model", model, "--users", users, "--out", tmp_path / "rec.csv", "--k", 3, "--quiet"],
        ["buy-again", "--model", model, "--users", users, "--out", tmp_path / "again.csv", "--k", 3],
        ["audience", "--model", model, "--items", items, "--out", tmp_path / "audience.csv", "--k", 3],
        ["evaluate", *files, "--config", config, "--quiet"],
        ["merchant-token", "--tokens", tmp_path / "tokens.json", "--merchant", "M1"])
    assert [status for status, _ in results] == [0] * len(results), [err for _, err in results if err]
    for name in ("rec.csv", "again.csv", "audience.csv", "tokens.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert len((tmp_path / "rec.csv").read_text().splitlines()) == 1 + 2 * 3  # a known buyer and a cold start


@pytest.mark.slow
def test_the_forecast_commands_need_only_the_forecast_extra(blocker, forecast_market, tmp_path):
    purchases, catalog = forecast_market
    files = ["--purchases", purchases, "--catalog", catalog, "--horizon", 4, "--quiet"]
    results = run_commands(only(blocker, "forecast"),
                           ["forecast", *files, "--out", tmp_path / "forecast.csv"],
                           ["forecast-publish", *files, "--out", tmp_path / "published"],
                           ["forecast", *files, "--out", tmp_path / "again.csv", "--report", tmp_path / "report"])
    assert [status for status, _ in results[:2]] == [0, 0], results
    assert (tmp_path / "forecast.csv").stat().st_size > 0 and (tmp_path / "published" / "manifest.json").is_file()
    # hierarchicalforecast (in [forecast]) requires matplotlib, so [forecast] alone draws the report too
    assert results[2][0] == 0 and (tmp_path / "report" / "index.html").is_file(), results[2]


@pytest.mark.slow
def test_evaluate_report_needs_only_the_report_extra(blocker, small_market, tmp_path):
    purchases, catalog = small_market
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    [(status, stderr)] = run_commands(only(blocker, "report"), [
        "evaluate", "--purchases", purchases, "--catalog", catalog, "--config", config, "--quiet",
        "--report", tmp_path / "report"])
    assert status == 0, stderr
    assert any((tmp_path / "report").iterdir())


@pytest.mark.slow
def test_serve_needs_only_the_serve_extra_published_forecasts_included(blocker, small_model, published_forecasts,
                                                                       tmp_path):
    tokens = tmp_path / "tokens.json"
    token = issue_token(tokens, "M1")
    options = ("--forecasts", str(published_forecasts), "--merchant-tokens", str(tokens),
               "--store", f"sqlite:///{tmp_path / 'events.sqlite3'}")
    with ServerProcess(small_model, 1, *options, env=only(blocker, "serve")) as server:
        user = "nobody"
        assert httpx.get(f"{server.url}/v1/users/{user}/recommendations?k=3").status_code == 200
        forecast = httpx.get(f"{server.url}/v1/merchants/M1/forecast?horizon=2",
                             headers={"Authorization": f"Bearer {token}"})
        assert forecast.status_code == 200 and forecast.json()["rows"], forecast.text
        assert httpx.get(f"{server.url}/ui/vendor/plotly.min.js").status_code == 200
        assert httpx.get(f"{server.url}/docs").status_code == 200
