"""Model directories: what ``recommender train`` writes and serving and batch scoring read.

A model directory holds ``engine.joblib`` (the fitted :class:`~recommender.engine.RecommendationEngine`)
and ``manifest.json`` (version id, creation time, data fingerprint, row counts, parameters,
validation metrics, library versions, and the SHA-256 of every file). It is written to a
temporary directory and renamed into place, so a crash never leaves half a model; on load the
manifest and the checksums are verified, so a damaged directory is refused with a message that
says what is wrong.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import joblib

from recommender.atomic import atomic_directory

FORMAT_VERSION = 3  # 3: no scikit-learn objects in a model; 2: ALS confidence 1 + alpha * weight
MANIFEST = "manifest.json"
ENGINE_FILE = "engine.joblib"
LIBRARIES = ("recommender", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "implicit", "joblib")


class ModelDirectoryError(ValueError):
    """A model directory is missing, incomplete, damaged or of an unknown format."""


def sha256_of(*paths: str | os.PathLike) -> str:
    """SHA-256 (hex) of the bytes of one file, or of several files one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def new_version_id(created: datetime) -> str:
    """A sortable, unique model version id such as ``20261123T194500Z-3f2a9c1b``."""
    return f"{created:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def save_model_directory(path: str | os.PathLike, engine, manifest: dict) -> dict:
    """Write ``engine`` and its manifest (completed with version, time, files) atomically."""
    created = datetime.now(UTC)
    manifest = {"format_version": FORMAT_VERSION, "model_version": new_version_id(created),
                "created_at": created.isoformat(timespec="seconds"), **manifest,
                "libraries": library_versions()}
    with atomic_directory(path) as tmp:
        joblib.dump(engine, tmp / ENGINE_FILE)
        manifest["files"] = {ENGINE_FILE: sha256_of(tmp / ENGINE_FILE)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return manifest


def read_directory_manifest(path: str | os.PathLike, kind: str, version: int, required: tuple[str, ...],
                            error: type[Exception], remedy: str) -> dict:
    """The ``manifest.json`` of a directory this project writes (a model, published forecasts),
    checked for format and ``required`` fields; ``error`` (naming the file) when it is not one of
    ``kind`` (``"model"``, ``"forecast"``), with ``remedy`` (what to run) on a format mismatch."""
    path = Path(path)
    manifest_path = path / MANIFEST
    try:
        present = manifest_path.is_file()
        missing = None if present else "no such directory" if not path.is_dir() else f"{MANIFEST} is missing"
        raw = manifest_path.read_bytes() if present else b""
    except (OSError, ValueError) as exc:  # e.g. a name too long, a NUL byte in the path, no permission
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise error(f"{str(path)[:200]!r}: cannot be read as a {kind} directory ({reason})") from exc
    if missing:
        raise error(f"{path}: not a {kind} directory ({missing}); {remedy}")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise error(f"{manifest_path}: expected a JSON object")
    found = manifest.get("format_version")
    if found != version:
        raise error(f"{manifest_path}: format_version {found!r} is not supported (this version reads {version}); "
                    f"{remedy}")
    for field in required:
        if field not in manifest:
            raise error(f"{manifest_path}: required field {field!r} is missing")
    return manifest


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a model directory, checked for format and required fields."""
    return read_directory_manifest(path, "model", FORMAT_VERSION, ("model_version", "files"), ModelDirectoryError,
                                   "train the model again")


def load_model_directory(path: str | os.PathLike, expected_type: type | None = None):
    """Verify a model directory and load its engine; returns ``(engine, manifest)``."""
    path = Path(path)
    manifest = read_manifest(path)
    for name, checksum in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise ModelDirectoryError(f"{path}: {name} is missing")
        if sha256_of(file) != checksum:
            raise ModelDirectoryError(f"{file}: checksum does not match the manifest (damaged or modified file)")
    try:
        engine = joblib.load(path / ENGINE_FILE)
    except Exception as exc:  # unpickling a damaged or foreign file raises many types
        raise ModelDirectoryError(f"{path / ENGINE_FILE}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if expected_type is not None and not isinstance(engine, expected_type):
        raise ModelDirectoryError(f"{path / ENGINE_FILE}: holds a {type(engine).__name__}, "
                                  f"expected a {expected_type.__name__}")
    return engine, manifest
