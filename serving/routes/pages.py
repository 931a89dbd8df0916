"""The pages under ``/ui/`` (a storefront preview, a merchant dashboard and an operator console)
and the interactive API docs at ``/docs``.

The pages are static files of this package (``serving/ui``), served as they are (no build step),
and they use the public API routes only. Their charts are drawn by the ``plotly.min.js`` that the
``plotly`` wheel ships; ``/docs`` is Swagger UI 5 from the files the ``fastapi-swagger`` wheel
ships, rendered by FastAPI's own ``get_swagger_ui_html``. Both are served from the installed
packages: nothing is fetched from elsewhere, so the pages and the docs work on a machine with no
internet.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(str(files("serving") / "ui"))
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
SWAGGER_DIR = Path(str(files("fastapi_swagger") / "resources"))
VENDORED = {"plotly.min.js": PLOTLY_JS, "swagger-ui-bundle.js": SWAGGER_DIR / "swagger-ui-bundle.js",
            "swagger-ui.css": SWAGGER_DIR / "swagger-ui.css", "swagger-favicon.png": SWAGGER_DIR / "favicon-32x32.png"}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/vendor/{name}")
async def vendored_file(name: str) -> FileResponse:
    """A file of an installed package the pages or the docs use (404 for any other name)."""
    path = VENDORED.get(name)
    if path is None:
        raise HTTPException(404, detail=f"no vendored file {name!r}")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/docs")
async def api_docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title}: API",
                               swagger_js_url=f"{root}/ui/vendor/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}/ui/vendor/swagger-ui.css",
                               swagger_favicon_url=f"{root}/ui/vendor/swagger-favicon.png")


def static_pages() -> StaticFiles:
    """The pages' files, mounted at ``/ui`` (``/ui/`` is the storefront preview)."""
    return StaticFiles(directory=UI_DIR, html=True)
