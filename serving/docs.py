"""The API documentation page (``/docs``, Swagger UI) with its assets served by the service itself, from the
``swagger-ui-bundle-v2`` package: FastAPI's default page loads them from a CDN and stays blank offline or
behind a strict firewall. (ReDoc, FastAPI's other page, also comes from a CDN; it is switched off.)"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["DOCS_URL", "router"]

DOCS_URL = "/docs"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
router = APIRouter(include_in_schema=False)


@cache
def assets_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


@router.get(DOCS_URL)
def docs() -> HTMLResponse:
    static = f"{DOCS_URL}/static"
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="salesplan API",
        oauth2_redirect_url=f"{DOCS_URL}/oauth2-redirect",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon-32x32.png",
    )


@router.get(f"{DOCS_URL}/oauth2-redirect")
def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(f"{DOCS_URL}/static/{{name}}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no documentation asset {name!r}")
    return FileResponse(
        assets_dir() / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )
