"""Load shedding (SPEC §11): past capacity the server answers ``503`` with ``Retry-After`` after a bounded wait.

One process serves at most ``max_concurrent_requests`` requests at once; a request beyond that waits for a place
at most ``request_queue_seconds`` and is then refused with ``503 server_busy``. A request that got a place but
cannot get a database connection or SQLite's write lock in time (another process holds it) is refused the same
way (``503 database_busy``): load is never answered with a 500, and a client is never left waiting without bound.
A request whose database connection is lost under it (the server restarted) gets ``503 database_unavailable``.
A request the server cancels when it stops (its graceful time over) and that has no answer yet gets
``503 shutting_down``, not uvicorn's 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatflow.web.errors import problem

log = logging.getLogger("seatflow.web")

EXEMPT_PREFIXES = ("/healthz", "/console/static", "/portal/static", "/static")
"""Cheap answers that never touch the database: served even when the server is full."""

LOCK_MESSAGES = ("database is locked", "database table is locked", "could not obtain lock", "lock timeout")


def busy_response(path: str, *, code: str, retry_after: int, detail: str) -> Response:
    headers = {"Retry-After": str(retry_after)}
    if path.startswith(("/console", "/portal")) or path == "/":
        html = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Busy</title></head><body>"
            "<h1>seatflow is busy</h1><p>Too many requests at once: try again in a few seconds.</p></body></html>"
        )
        return Response(html, status_code=503, media_type="text/html; charset=utf-8", headers=headers)
    response = problem(503, code, "Service busy", detail, retry_after=retry_after)
    response.headers.update(headers)
    return response


class CapacityLimit:
    """A pure ASGI middleware: at most ``limit`` requests in the app at once, the others wait a bounded time."""

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.retry_after = max(1, math.ceil(wait_seconds))
        self._places: asyncio.Semaphore | None = None
        self._shed = 0
        self._shed_logged_at = 0.0

    @property
    def places(self) -> asyncio.Semaphore:
        # Made on first use, inside the server's event loop.
        if self._places is None:
            self._places = asyncio.Semaphore(self.limit)
        return self._places

    def _note_shed(self) -> None:
        """One warning a second at most, with the count: under overload a line per refusal would cost more
        than the refusal."""
        self._shed += 1
        now = time.monotonic()
        if now - self._shed_logged_at >= 1.0:
            log.warning("http.shed refused=%d limit=%d wait=%.1fs", self._shed, self.limit, self.wait_seconds)
            self._shed, self._shed_logged_at = 0, now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(self.places.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            self._note_shed()
            response = busy_response(
                str(scope.get("path", "")),
                code="server_busy",
                retry_after=self.retry_after,
                detail=f"The server is at capacity ({self.limit} requests at once): retry after {self.retry_after} s.",
            )
            await response(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except asyncio.CancelledError:
            # The server is stopping and its graceful time is over: uvicorn cancels the requests still in hand
            # and would answer each one that has no status yet with a 500. It is not the request's fault and
            # may be tried again, so: 503 with Retry-After, and the connection closed.
            if started:
                raise
            log.warning("http.cancelled path=%s (the server is shutting down)", scope.get("path", ""))
            response = busy_response(
                str(scope.get("path", "")),
                code="shutting_down",
                retry_after=self.retry_after,
                detail=f"The server is shutting down: retry after {self.retry_after} s.",
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
        finally:
            self.places.release()


def is_lock_timeout(error: OperationalError) -> bool:
    text = str(error.orig or error).lower()
    return any(message in text for message in LOCK_MESSAGES)


def install(app: FastAPI, *, limit: int, wait_seconds: float) -> None:
    retry_after = max(1, math.ceil(wait_seconds))
    app.add_middleware(CapacityLimit, limit=limit, wait_seconds=wait_seconds)

    def shed(request: Request, reason: str, code: str, detail: str) -> Response:
        log.warning("http.shed path=%s reason=%s", request.url.path, reason)
        return busy_response(request.url.path, code=code, retry_after=retry_after, detail=detail)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        return shed(request, "pool_timeout", "database_busy", "No database connection was free in time: retry shortly.")

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        if exc.connection_invalidated:
            # The server went away (restarted, or the connection was cut) under a request's connection: the pool
            # has been invalidated and the next request connects afresh.
            return shed(
                request,
                "connection_lost",
                "database_unavailable",
                "The connection to the database was lost: retry shortly.",
            )
        if not is_lock_timeout(exc):
            raise exc
        return shed(request, "lock_timeout", "database_busy", "The database is busy with other writes: retry shortly.")
