"""Planner web page under /app: server-rendered shells (Jinja2) whose small vanilla-JS modules call the JSON
API with the API key kept in the browser session. No auth here: the pages hold no data, the API checks
every call. Charts use the plotly.js bundle shipped inside the plotly Python package (offline, no CDN)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from salesplan.config import get_settings

__all__ = ["router", "static_url"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))


def static_url(name: str) -> str:
    """URL of a static file with its modification time, so an upgrade is not hidden by the browser cache."""
    path = plotly_bundle() if name == "plotly.min.js" else STATIC / name
    version = int(path.stat().st_mtime) if path is not None and path.is_file() else 0
    return f"/app/static/{name}?v={version}"


templates.env.globals["static"] = static_url
router = APIRouter(prefix="/app", include_in_schema=False)

# page slug -> (title, permission the page needs; the API enforces it, the page only hides links)
PAGES: dict[str, tuple[str, str]] = {
    "forecast": ("Forecast", "forecasts:read"),
    "targets": ("Targets", "proposals:read"),
    "budget": ("Budget", "budgets:run"),
    "deals": ("Deals", "deals:score"),
    "process": ("Process", "process:read"),
    "selection": ("Selection & accounts", "selection:read"),
    "tracking": ("Tracking", "tracking:read"),
}
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CACHE = {"Cache-Control": "public, max-age=3600"}
# Pages render no data, but must not be framed by other sites or sniffed.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; frame-ancestors 'none'",
}


@cache
def plotly_bundle() -> Path | None:
    """The minified plotly.js inside the installed plotly package, or None when plotly is missing."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def _page(request: Request, slug: str) -> HTMLResponse:
    title, permission = PAGES[slug]
    services = getattr(request.app.state, "services", None)
    currency = services.settings.currency if services is not None else get_settings().currency
    return templates.TemplateResponse(
        request,
        f"{slug}.html",
        {"page": slug, "title": title, "permission": permission, "pages": PAGES, "currency": currency},
        headers=PAGE_HEADERS,
    )


@router.get("", response_class=RedirectResponse)
@router.get("/", response_class=RedirectResponse)
def index() -> RedirectResponse:
    return RedirectResponse("/app/forecast", status_code=307)


@router.get("/forecast", response_class=HTMLResponse)
def forecast_page(request: Request) -> HTMLResponse:
    return _page(request, "forecast")


@router.get("/targets", response_class=HTMLResponse)
def targets_page(request: Request) -> HTMLResponse:
    return _page(request, "targets")


@router.get("/budget", response_class=HTMLResponse)
def budget_page(request: Request) -> HTMLResponse:
    return _page(request, "budget")


@router.get("/deals", response_class=HTMLResponse)
def deals_page(request: Request) -> HTMLResponse:
    return _page(request, "deals")


@router.get("/process", response_class=HTMLResponse)
def process_page(request: Request) -> HTMLResponse:
    return _page(request, "process")


@router.get("/tracking", response_class=HTMLResponse)
def tracking_page(request: Request) -> HTMLResponse:
    return _page(request, "tracking")


@router.get("/selection", response_class=HTMLResponse)
def selection_page(request: Request) -> HTMLResponse:
    return _page(request, "selection")


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    path = plotly_bundle()
    if path is None:
        raise HTTPException(
            503, "plotly is not installed: pip install plotly (charts need its plotly.min.js)"
        )
    return FileResponse(path, media_type="text/javascript", headers=CACHE)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """Files of serving/web/static only (flat folder: no path can climb out of it)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers=CACHE)
