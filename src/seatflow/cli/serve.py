"""``seatflow serve`` and ``seatflow demo``."""

from __future__ import annotations

import os
from importlib import resources

import typer

from seatflow.auth.service import create_api_key
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.cli.context import console, session_factory, settings
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work

DEMO_DATABASE_URL = "sqlite:///./seatflow-demo.db"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the REST API (the console and portal join it in later releases)."""
    import uvicorn  # the web stack loads only for the commands that serve (every other command starts faster)

    from seatflow.api.app import create_app

    config = settings()
    session_factory()  # refuses an unreachable or unmigrated database with a one-line reason
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    database_url: str = typer.Option(
        DEMO_DATABASE_URL, envvar="SEATFLOW_DEMO_DATABASE_URL", help="Where the demo keeps its data (SQLite)."
    ),
) -> None:
    """Migrate a demo database, load the demo catalog, create an API key and serve the API. Ctrl-C stops."""
    import uvicorn

    from seatflow.api.app import create_app

    config = Settings(**{**settings().model_dump(), "database_url": database_url})
    migrate.upgrade(config.database_url)
    engine = make_engine(config.database_url)
    catalog = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()
    with unit_of_work(make_sessionmaker(engine)) as session:
        result = import_catalog(
            session, content=catalog, fmt=ImportFormat.DOCUMENT, default_currency=config.default_currency
        )
        _, key = create_api_key(session, name=f"demo {os.getpid()}")
    base = f"http://{host}:{port}"
    console.print(f"[bold]seatflow demo[/] on {config.database_url}")
    console.print(f"demo catalog: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
    console.print(f"API:      {base}/api/v1  (OpenAPI: {base}/api/v1/openapi.json)")
    console.print(f"try:      curl -H 'Authorization: Bearer {key}' {base}/api/v1/products", soft_wrap=True)
    console.print("API key (shown once):")
    print(key, flush=True)
    uvicorn.run(create_app(config, engine=engine), host=host, port=port, log_level="warning")
