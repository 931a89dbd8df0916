"""The pages under ``/ui/``: a storefront preview, a merchant dashboard and an operator console.

They are static files of this package (``serving/ui``), served as they are (no build step), and
they use the public API routes only. Their charts are drawn by the ``plotly.min.js`` that the
``plotly`` wheel ships, served from the installed package: nothing is fetched from elsewhere, so
the pages work on a machine with no internet.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(str(files("serving") / "ui"))
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/vendor/plotly.min.js")
async def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def static_pages() -> StaticFiles:
    """The pages' files, mounted at ``/ui`` (``/ui/`` is the storefront preview)."""
    return StaticFiles(directory=UI_DIR, html=True)
