"""``seatflow audit list``: the audit log (SPEC §17), newest first, filtered as the console and the API filter it."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from seatflow.audit.queries import AuditFilters, search
from seatflow.audit.schemas import AuditEntryRead
from seatflow.cli.context import console, print_json, read_transaction

app = typer.Typer(
    help="The audit log: who created, changed or deleted what, when and from where.", no_args_is_help=True
)


def _moment(value: str | None, option: str) -> datetime | None:
    """An ISO date or timestamp; without a zone, UTC."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} is an ISO date or timestamp (2026-12-01, 2026-12-01T09:00Z).") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _changed(entry: AuditEntryRead) -> str:
    if entry.before is None or entry.after is None:
        return f"{len(entry.after or entry.before or {})} fields"
    return ", ".join(f"{k}: {entry.before.get(k, '?')} → {v}" for k, v in entry.after.items())


@app.command("list")
def list_(
    actor: str | None = typer.Option(None, "--actor", help="An actor's id or part of its name (an e-mail)."),
    action: str | None = typer.Option(None, "--action", help="subscription.quantity_changed, or subscription.*"),
    entity: str | None = typer.Option(None, "--entity", help="The record's kind: subscription, customer_account…"),
    target_id: str | None = typer.Option(None, "--target-id", help="The record's id."),
    since: str | None = typer.Option(None, "--from", help="On or after (ISO date or timestamp, UTC)."),
    until: str | None = typer.Option(None, "--to", help="On or before (ISO date or timestamp, UTC)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The newest entries first."""
    filters = AuditFilters(
        actor=actor,
        action=action,
        target_kind=entity,
        target_id=target_id,
        at_from=_moment(since, "--from"),
        at_to=_moment(until, "--to"),
    )
    with read_transaction() as session:
        rows, _ = search(session, filters, limit=limit)
        found = [AuditEntryRead.from_model(e) for e in rows]
    if as_json:
        print_json([e.model_dump(mode="json") for e in found])
        return
    table = Table("at (UTC)", "who", "from", "action", "record", "changed")
    for e in found:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{e.actor_kind.value} {e.actor}",
            e.origin.value + (f" {e.ip}" if e.ip else ""),
            e.action,
            f"{e.entity} {e.entity_id}",
            _changed(e),
        )
    console.print(table)
