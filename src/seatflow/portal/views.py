"""The portal's pages under ``/portal`` (one module per page group), its static files, and its errors as pages
(never JSON or a stack trace)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from seatflow.portal import changes, invoices, login, subscriptions, users
from seatflow.portal.web import PREFIX, LoginRequired, PortalError, redirect, render


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "message.html", status, title=title, message=message)


def install(app: FastAPI) -> None:
    for module in (login, subscriptions, changes, invoices, users):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="portal-static")
    pages = getattr(app.state, "html_error_pages", {})
    pages[PREFIX] = error_page
    app.state.html_error_pages = pages

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":
            return redirect(f"{PREFIX}/login")
        return error_page(request, 401, "Logged out", "Your session has ended: log in again.")
