"""``seatflow serve`` and ``seatflow demo``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import make_url

from seatflow.cli.context import console, session_factory, settings
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.demo import FINANCE_LOGIN, HEAD_OFFICE_LOGIN, NEW_YORK_LOGIN, OPERATOR_LOGIN, DemoLoad
from seatflow.demo import load as load_demo
from seatflow.errors import InvalidState

DEMO_DATABASE_URL = "sqlite:///./seatflow-demo.db"


GRACEFUL_SHUTDOWN_SECONDS = 3
"""On SIGTERM, requests in flight get this long to finish before the server closes their connections."""


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes sharing the port (each one its own connection pool)."
    ),
) -> None:
    """Serve the REST API (/api/v1), the operator console (/console) and the customer portal (/portal).
    Run `seatflow worker` beside it to provision changes.

    Each process works on at most SEATFLOW_MAX_CONCURRENT_REQUESTS requests at once; past that a request waits
    at most SEATFLOW_REQUEST_QUEUE_SECONDS and then gets 503 with Retry-After. SIGTERM or Ctrl-C stops it within
    a few seconds."""
    import uvicorn  # the web stack loads only for the commands that serve (every other command starts faster)

    from seatflow.web.app import create_app

    config = settings()
    session_factory()  # refuses an unreachable or unmigrated database with a one-line reason
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers == 1:
        uvicorn.run(create_app(config), **common)
        return
    # Several processes import the app by name and build it from the same SEATFLOW_* environment.
    uvicorn.run("seatflow.web.app:create_app_from_environment", factory=True, workers=workers, **common)


def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port of the API, console and portal."),
    simulator_port: int = typer.Option(8100, help="Port of the Partner Center simulator."),
    database_url: str = typer.Option(
        DEMO_DATABASE_URL, envvar="SEATFLOW_DEMO_DATABASE_URL", help="Where the demo keeps its data (SQLite)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the data of an earlier run (the simulator starts empty)."),
) -> None:
    """Everything on SQLite: the API, console and portal, a worker, and the Partner Center simulator, with the
    demo catalog, Pine Cone Vet and the E5 voice chain loaded; prints the logins. Ctrl-C stops everything.

    Each run starts from a fresh database (the simulator keeps nothing either), unless --keep."""
    import uvicorn

    from seatflow.clock import DatabaseTestClock
    from seatflow.provisioning.worker import Worker, WorkerConfig
    from seatflow.simulator import SimulatorServer, SimulatorState
    from seatflow.web.app import create_app

    config = Settings(**{**settings().model_dump(), "database_url": database_url, "test_clock": True})
    if not keep:
        _remove_sqlite(config.database_url)
    migrate.upgrade(config.database_url)
    engine = make_engine(config.database_url)
    try:
        simulator = SimulatorServer(SimulatorState.demo(), host=host, port=simulator_port).start()
    except OSError as exc:
        raise InvalidState(
            f"Cannot start the simulator on {host}:{simulator_port}: {exc.strerror or exc} (use --simulator-port)",
            code="address_unavailable",
        ) from exc
    clock = DatabaseTestClock(engine)
    factory = make_sessionmaker(engine)
    now = clock.now()
    with unit_of_work(factory) as session:
        loaded = load_demo(
            session, today=now.date(), now=now, simulator_url=simulator.url, currency=config.default_currency
        )
    worker = Worker(
        factory,
        clock,
        config=WorkerConfig(idle_seconds=1.0, backoff_base_seconds=0.5, backoff_max_seconds=10, order_poll_seconds=1),
    )
    thread = threading.Thread(target=worker.run_forever, name="seatflow-worker", daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    _print_demo(base, simulator.url, config.database_url, loaded)
    try:
        uvicorn.run(
            create_app(config.model_copy(update={"simulator_url": simulator.url}), engine=engine),
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
        simulator.stop()
        engine.dispose()


def _remove_sqlite(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def _print_demo(base: str, simulator: str, database: str, loaded: DemoLoad) -> None:
    line = console.print
    line(f"[bold]seatflow demo[/] on {database}" + ("" if loaded.loaded else " (kept from an earlier run)"))
    line(f"console:   {base}/console   log in as {OPERATOR_LOGIN[0]} / {OPERATOR_LOGIN[1]}", soft_wrap=True)
    line(f"portal:    {base}/portal    head office: {HEAD_OFFICE_LOGIN[0]} / {HEAD_OFFICE_LOGIN[1]}", soft_wrap=True)
    line(f"                                  New York:    {NEW_YORK_LOGIN[0]} / {NEW_YORK_LOGIN[1]}", soft_wrap=True)
    line(f"                                  finance:     {FINANCE_LOGIN[0]} / {FINANCE_LOGIN[1]}", soft_wrap=True)
    line(f"API:       {base}/api/v1  (OpenAPI: {base}/api/v1/openapi.json)")
    line(f"simulator: {simulator}  (Partner Center; state at {simulator}/_sim/state)")
    line("worker:    running; Ctrl-C stops everything")
    line(f"try:       curl -H 'Authorization: Bearer {loaded.api_key}' {base}/api/v1/subscriptions", soft_wrap=True)
    line("API key (shown once):")
    print(loaded.api_key, flush=True)
