"""The console's pages under ``/console``, its static files, and its errors as pages (never JSON)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from seatflow.console import (
    audit,
    billing,
    customers,
    login,
    margin,
    overview,
    pricing,
    queue,
    reconciliation,
    renewals,
    webhooks,
)
from seatflow.console.web import PREFIX, ConsoleError, LoginRequired, redirect, render


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "message.html", status, title=title, message=message)


def install(app: FastAPI) -> None:
    routers = (login, overview, customers, renewals, pricing, margin, queue, billing, reconciliation, webhooks, audit)
    for module in routers:
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="console-static")
    pages = getattr(app.state, "html_error_pages", {})
    pages[PREFIX] = error_page
    app.state.html_error_pages = pages

    @app.exception_handler(ConsoleError)
    async def _console_error(request: Request, exc: ConsoleError) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET":
            return redirect(f"{PREFIX}/login")
        return error_page(request, 401, "Logged out", "Your session has ended: log in again.")
