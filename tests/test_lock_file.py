"""The lock file `make` installs from pins every dependency pyproject.toml declares, in its range."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def locked_versions() -> dict[str, list[str]]:
    """Package name -> the pinned versions of the lock file that apply to this Python."""
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        pin, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, _, version = pin.strip().partition("==")
        pins.setdefault(name.lower().replace("_", "-"), []).append(version)
    return pins


def test_every_declared_dependency_is_pinned_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [dep for extra in ("dev", "spark")
                                          for dep in project["optional-dependencies"][extra]]
    pins = locked_versions()
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is declared in pyproject.toml but not in requirements.lock: run `make lock`"
        assert all(requirement.specifier.contains(version) for version in pins[name]), (
            f"requirements.lock pins {name} {pins[name]}, outside {requirement.specifier}: run `make lock`")
