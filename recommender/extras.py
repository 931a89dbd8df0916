"""The optional parts of an install: pyproject.toml's extras, the packages each adds, and the error
that names the extra to install when a command needs one that is missing.

The core (train, recommend, buy-again, audience, evaluate, tune; the event store on SQLite) needs
none of them. ``tests/test_extras.py`` checks that :data:`EXTRAS` names the packages pyproject.toml
declares, and runs the commands with only their extra installed.
"""
from __future__ import annotations

import importlib

EXTRAS: dict[str, tuple[str, ...]] = {  # extra -> the top-level modules of the packages it declares
    "forecast": ("statsforecast", "coreforecast", "lightgbm", "hierarchicalforecast"),
    "serve": ("fastapi", "starlette", "pydantic", "pydantic_settings", "uvicorn", "uvloop", "httptools",
              "prometheus_client", "orjson", "limits", "plotly", "fastapi_swagger"),
    "postgres": ("psycopg",),
    "spark": ("pyspark",),
    "report": ("matplotlib",),
}
EXTRA_OF_MODULE = {module: extra for extra, modules in EXTRAS.items() for module in modules}


class MissingExtraError(ImportError):
    """A package of an extra is not installed; the message names the extra to install."""

    def __init__(self, extra: str, module: str, needed_by: str):
        super().__init__(f"{needed_by} needs the [{extra}] extra ({module} is not installed): "
                         f"pip install 'recommender[{extra}]'", name=module)
        self.extra = extra


def missing_extra(error: ImportError, needed_by: str) -> MissingExtraError | None:
    """``error`` (a failed import) as the extra to install for ``needed_by``; None when the module
    it could not import belongs to no extra."""
    module = (error.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    return None if extra is None else MissingExtraError(extra, module, needed_by)


def require(extra: str, needed_by: str) -> None:
    """Raise :class:`MissingExtraError` unless ``extra``'s packages import: checked before long work
    whose end needs them (``evaluate --report`` plots after evaluating)."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise MissingExtraError(extra, module, needed_by) from exc
