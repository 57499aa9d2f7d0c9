from __future__ import annotations

import typer

from seatflow.cli.context import console, settings
from seatflow.db import migrate

app = typer.Typer(help="The database: migrate it and see where it stands.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the configured database (SEATFLOW_DATABASE_URL) to the newest schema."""
    migrate.upgrade(settings().database_url, revision)
    console.print(f"database at {migrate.current(settings().database_url)}")


@app.command()
def current() -> None:
    """Print the database's schema revision (empty when never migrated)."""
    console.print(migrate.current(settings().database_url) or "(not migrated)")
