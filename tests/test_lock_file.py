"""The lock files `make` installs from pin every dependency pyproject.toml declares, in its range:
requirements.lock the core and the extras the demo runs (`make demo`), requirements-test.lock the
core, every extra and the test tools (`make test`), the shared packages at the same versions."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OPTIONAL = PROJECT["optional-dependencies"]
DEMO_EXTRAS = ("forecast", "serve", "report")  # the Makefile's DEMO_EXTRAS
DEMO = PROJECT["dependencies"] + [dep for extra in DEMO_EXTRAS for dep in OPTIONAL[extra]]
EVERYTHING = PROJECT["dependencies"] + [dep for deps in OPTIONAL.values() for dep in deps]


def locked_versions(lock: str) -> dict[str, list[str]]:
    """Package name -> the pinned versions of a lock file that apply to this Python."""
    pins: dict[str, list[str]] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        pin, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, _, version = pin.strip().partition("==")
        pins.setdefault(name.lower().replace("_", "-"), []).append(version)
    return pins


@pytest.mark.parametrize("lock, declared", [("requirements.lock", DEMO), ("requirements-test.lock", EVERYTHING)])
def test_every_declared_dependency_is_pinned_within_its_range(lock, declared):
    pins = locked_versions(lock)
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is declared in pyproject.toml but not in {lock}: run `make lock`"
        assert all(requirement.specifier.contains(version) for version in pins[name]), (
            f"{lock} pins {name} {pins[name]}, outside {requirement.specifier}: run `make lock`")


def test_the_demo_lock_is_part_of_the_test_lock_without_test_tools_postgres_or_spark():
    demo, full = locked_versions("requirements.lock"), locked_versions("requirements-test.lock")
    assert {name: demo[name] for name in demo} == {name: full[name] for name in demo}
    for name in ("pyspark", "psycopg", "pytest", "hypothesis", "schemathesis", "playwright"):  # the demo needs none
        assert name in full and name not in demo, f"{name} would be installed by `make demo`"

