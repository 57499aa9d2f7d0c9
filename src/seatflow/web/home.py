"""The pages outside the console and the portal: ``/``, which links everything a visitor may look for (the console,
the portal, the API reference, the simulator when one is configured), and the API reference at ``…/docs``,
rendered here from the app's OpenAPI document with no script and nothing loaded from elsewhere."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from seatflow import __version__
from seatflow.config import Settings
from seatflow.web.apiref import Reference, reference_of

STATIC_PREFIX = "/static"
_here = Path(__file__).parent
templates = Jinja2Templates(directory=str(_here / "templates"))


def install(app: FastAPI) -> None:
    """Adds ``/``, the API reference beside the OpenAPI document (``/api/v1/docs``) and the stylesheet."""
    openapi_url = app.openapi_url or "/openapi.json"
    docs_url = openapi_url.rsplit("/", 1)[0] + "/docs"
    links = {"openapi": openapi_url, "docs": docs_url, "static": STATIC_PREFIX}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        settings: Settings = request.app.state.settings
        simulator = settings.simulator_url.rstrip("/")
        context = {"links": links, "simulator": simulator, "version": __version__}
        return templates.TemplateResponse(request, "home.html", context)

    @app.get(docs_url, response_class=HTMLResponse, include_in_schema=False)
    def api_reference(request: Request) -> HTMLResponse:
        context = {"links": links, "reference": _reference(request.app), "version": __version__}
        return templates.TemplateResponse(request, "apiref.html", context)

    app.mount(STATIC_PREFIX, StaticFiles(directory=str(_here / "static")), name="web-static")


def _reference(app: FastAPI) -> Reference:
    """Read once: the document is the same for the app's life (FastAPI caches it too)."""
    reference: Reference | None = getattr(app.state, "api_reference", None)
    if reference is None:
        reference = reference_of(app.openapi())
        app.state.api_reference = reference
    return reference
