"""The ``seatflow`` command (SPEC §14). Configuration comes from SEATFLOW_* environment variables.

Each command's module is imported when the command runs (or when the top-level help lists them all), not at
start-up: ``seatflow worker`` or ``seatflow serve`` pays for its own imports only, not for the PDF renderer, the
cost files or every other command's."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer import core as typer_core

from seatflow.cli.context import fail, settings
from seatflow.errors import SeatflowError
from seatflow.logs import configure_logging

_COMMANDS: dict[str, tuple[str, str, bool]] = {
    # name: (module under seatflow.cli, attribute, whether it is a group); the help lists them in this order
    "worker": ("provisioning", "worker", False),
    "bill": ("billing", "bill", False),
    "margin": ("margin", "margin", False),
    "renew": ("subscriptions", "renew", False),
    "serve": ("serve", "serve", False),
    "demo": ("serve", "demo", False),
    "demo-load": ("demo_load", "demo_load", False),
    "simulator": ("simulator", "simulator", False),
    "db": ("db", "app", True),
    "apikey": ("apikey", "app", True),
    "catalog": ("catalog", "app", True),
    "customers": ("customers", "customers_app", True),
    "contracts": ("customers", "contracts_app", True),
    "subscriptions": ("subscriptions", "app", True),
    "changes": ("changes", "app", True),
    "invoices": ("billing", "invoices_app", True),
    "credit-notes": ("billing", "credit_notes_app", True),
    "reconcile": ("reconciliation", "app", True),
    "prices": ("pricing", "app", True),
    "costs": ("costs", "app", True),
    "operators": ("operators", "app", True),
    "audit": ("audit", "app", True),
    "webhooks": ("webhooks", "app", True),
    "renewals": ("renewals", "app", True),
}
"""Every top-level command, and where it is defined."""


def _load(name: str) -> Any:
    """The click command ``name``, built from its Typer app or function exactly as ``add_typer`` or ``command``
    on the root would have built it."""
    module, attribute, group = _COMMANDS[name]
    target: Any = getattr(importlib.import_module(f"seatflow.cli.{module}"), attribute)
    holder = typer.Typer(add_completion=False)
    if group:
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _LazyRoot(typer_core.TyperGroup):
    """The root group: a command's module is imported the first time the command is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        # The table's order, whichever commands this process has loaded already.
        return list(_COMMANDS) + [name for name in self.commands if name not in _COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="seatflow",
    help="License provisioning and billing for cloud resellers. "
    "Configure with SEATFLOW_* environment variables (SEATFLOW_DATABASE_URL above all).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_LazyRoot,
)


@app.callback()
def _configure() -> None:
    configure_logging(settings().log_level, settings().log_format)


def main() -> None:
    try:
        app()
    except SeatflowError as error:
        fail(error)
