"""The application factory: the engine and sessions are built here, never at import time."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from starlette.datastructures import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow import __version__
from seatflow.api.routes import (
    audit,
    billing,
    catalog,
    costs,
    customers,
    margin,
    price_rules,
    pricing,
    provisioning,
    reconciliation,
    renewals,
    subscriptions,
    system,
    webhooks,
)
from seatflow.auth import passwords
from seatflow.clock import Clock, DatabaseTestClock, SystemClock
from seatflow.config import Settings, get_settings
from seatflow.console import views as console
from seatflow.db.engine import make_engine, read_only
from seatflow.db.session import make_sessionmaker
from seatflow.logs import configure_logging
from seatflow.portal import views as portal
from seatflow.provisioning.providers import ProviderRegistry
from seatflow.web import capacity, errors, home, security
from seatflow.web.deps import require_operator

log = logging.getLogger("seatflow.api")
API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    owns_engine = engine is None
    engine = engine or make_engine(
        settings.database_url,
        echo=settings.sql_echo,
        busy_timeout_seconds=settings.database_busy_seconds,
        # Every admitted request can hold a connection, and the worker's run-once a few more.
        pool_size=settings.max_concurrent_requests,
        max_overflow=4,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        passwords.prepare()  # the dummy hash for unknown addresses, made before the first login asks for it
        yield
        registry.close()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="seatflow",
        version=__version__,
        description="License provisioning and billing for cloud resellers.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the Swagger and ReDoc pages load scripts from the internet; the JSON is enough
        redoc_url=None,
        lifespan=lifespan,
    )
    session_factory = make_sessionmaker(engine)
    clock: Clock = DatabaseTestClock(engine) if settings.test_clock else SystemClock()
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.read_session_factory = make_sessionmaker(read_only(engine))
    app.state.autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    app.state.clock = clock
    registry = ProviderRegistry(order_poll_seconds=settings.worker_order_poll_seconds)
    app.state.provider_registry = registry

    errors.install(app)
    operator = [Depends(require_operator)]
    app.include_router(catalog.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(customers.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(subscriptions.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(renewals.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(provisioning.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(billing.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(pricing.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(costs.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(price_rules.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(margin.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(reconciliation.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(audit.router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(webhooks.router, prefix=API_PREFIX, dependencies=operator)
    if settings.test_clock:
        app.include_router(system.test_clock_router, prefix=API_PREFIX, dependencies=operator)
    app.include_router(system.router)
    portal.install(app)
    console.install(app)
    home.install(app)

    app.add_middleware(RequestLog)

    # Added last, so outermost: a request past capacity is refused before anything else runs (a 503 costs
    # little), and every answer, a 503 included, carries the security headers.
    capacity.install(app, limit=settings.max_concurrent_requests, wait_seconds=settings.request_queue_seconds)
    security.install(app)
    return app


class RequestLog:
    """A pure ASGI middleware: one ``http.request`` line an answer, timed to its status line. (Starlette's
    ``BaseHTTPMiddleware`` runs the app in a task of its own and streams the body through a queue, costing a
    request more than the whole of this.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[tuple[int, float]] = []

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append((message["status"], time.perf_counter() - started))
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            if answered and log.isEnabledFor(logging.INFO):
                status, seconds = answered[0]
                log.info(
                    "http.request method=%s path=%s status=%s ms=%.1f",
                    scope["method"],
                    URL(scope=scope).path,
                    status,
                    seconds * 1000,
                )


def create_app_from_environment() -> FastAPI:
    """For ``seatflow serve --workers N``: each server process builds the app from the SEATFLOW_* environment
    and sets up logging as the CLI does in its own process."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
