"""The API explorer: Swagger UI served from files shipped with the package, so it works offline.

The JavaScript and CSS come from the ``swagger-ui-bundle-v2`` wheel (Swagger UI 5, Apache-2.0; its licence is
in the wheel's metadata): nothing is fetched from a CDN. ``/docs`` redirects to ``/api/v1/docs``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from api.errors import ApiError

API_PREFIX = "/api/v1"
DOCS_PATH = f"{API_PREFIX}/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
#: The only files served from the bundle (no directory listing, no path from the request reaches the disk).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

router = APIRouter(include_in_schema=False)


def swagger_ui_dir() -> Path:
    """Where the installed Swagger UI bundle keeps its files."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


@router.get(DOCS_PATH, response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    """Swagger UI for this API (assets from the package, never a CDN)."""
    return get_swagger_ui_html(
        openapi_url=f"{API_PREFIX}/openapi.json",
        title="nas-service API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get(f"{ASSETS_PATH}/{{name}}")
def swagger_asset(name: str) -> FileResponse:
    """One file of the Swagger UI bundle; 404 for anything not in :data:`ASSETS`."""
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no docs asset {name!r}")
    return FileResponse(
        swagger_ui_dir() / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/docs")
def docs_redirect() -> RedirectResponse:
    """``/docs`` (what FastAPI users try first) -> the API explorer."""
    return RedirectResponse(DOCS_PATH, status_code=307)
