from __future__ import annotations

import typer
from rich.table import Table

from seatflow.auth import service
from seatflow.cli.context import clock, console, transaction

app = typer.Typer(help="Operator API keys for the REST API.", no_args_is_help=True)


@app.command()
def create(name: str = typer.Argument(..., help="Who or what the key is for.")) -> None:
    """Create a key. It is printed once, alone on the last line; only its hash is stored."""
    with transaction() as session:
        row, key = service.create_api_key(session, name=name)
        console.print(f"API key {row.name!r} created ({row.prefix}…). Store it now: it cannot be shown again.")
    print(key)


@app.command("list")
def list_keys() -> None:
    """List keys by name and prefix."""
    with transaction() as session:
        table = Table("name", "prefix", "created", "revoked")
        for row in service.list_api_keys(session):
            table.add_row(
                row.name,
                row.prefix + "…",
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
        console.print(table)


@app.command()
def revoke(key: str = typer.Argument(..., help="The key's name or prefix.")) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    with transaction() as session:
        row = service.revoke_api_key(session, prefix_or_name=key, now=clock().now())
        console.print(f"revoked {row.name!r} ({row.prefix}…)")
