"""``seatflow webhooks add|list|remove|deliveries|replay`` (SPEC §17): operators' endpoints and their deliveries."""

from __future__ import annotations

import typer
from rich.table import Table

from seatflow.cli.context import console, moment, operator_actor, print_json, read_transaction, transaction
from seatflow.events import delivery, endpoints
from seatflow.events.delivery import DeliveryFilters
from seatflow.events.models import DeliveryStatus
from seatflow.events.schemas import DeliveryRead, EndpointRead
from seatflow.events.types import EVENT_TYPES

app = typer.Typer(
    help="Webhook endpoints (signed as Standard Webhooks sign) and their deliveries. Events: "
    + ", ".join(EVENT_TYPES)
    + ".",
    no_args_is_help=True,
)


@app.command()
def add(
    url: str = typer.Argument(..., help="The receiver's http(s) URL."),
    events: list[str] = typer.Option(..., "--event", "-e", help="An event to send (repeat for more)."),
    description: str = typer.Option("", "--description"),
) -> None:
    """Register a receiver. The signing secret (whsec_…) is printed alone on the last line, this once."""
    with transaction() as session:
        made = endpoints.add_endpoint(
            session, url=url, events=events, description=description, created_by=operator_actor().name
        )
        endpoint_id = made.endpoint.id
    console.print(f"endpoint {endpoint_id}: {made.endpoint.url} ({', '.join(made.endpoint.events)})", markup=False)
    print(made.secret)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every endpoint (never its secret)."""
    with read_transaction() as session:
        found = [EndpointRead.from_model(e) for e in endpoints.list_endpoints(session)]
    if as_json:
        print_json([e.model_dump(mode="json") for e in found])
        return
    table = Table("id", "url", "events", "state")
    for e in found:
        table.add_row(e.id, e.url, ", ".join(e.events), "on" if e.active else f"off {e.disabled_reason or ''}".strip())
    console.print(table)


@app.command()
def remove(endpoint: str = typer.Argument(..., help="The endpoint's id.")) -> None:
    """Remove an endpoint and its deliveries."""
    with transaction() as session:
        endpoints.remove_endpoint(session, endpoints.require_endpoint(session, endpoint))
    console.print(f"removed {endpoint}")


@app.command()
def deliveries(
    endpoint: str | None = typer.Option(None, "--endpoint", help="One endpoint's."),
    status: DeliveryStatus | None = typer.Option(None, "--status"),
    event: str | None = typer.Option(None, "--event"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Deliveries, newest first: pending, delivered, failing (with the next attempt) or dead."""
    with read_transaction() as session:
        endpoint_id = endpoints.require_endpoint(session, endpoint).id if endpoint else None
        filters = DeliveryFilters(endpoint_id=endpoint_id, status=status, event_type=event)
        rows, _ = delivery.list_deliveries(session, filters, limit=limit)
        found = [DeliveryRead.from_model(d, e) for d, e in rows]
    if as_json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    table = Table("id", "event", "subject", "to", "status", "attempts", "last error", "next attempt")
    for d in found:
        table.add_row(
            d.id,
            d.event,
            d.subject_id,
            d.endpoint_id or f"mail {d.recipient}",
            d.status.value,
            str(d.attempts),
            d.last_error or "",
            d.next_attempt_at.isoformat() if d.next_attempt_at else "",
        )
    console.print(table)


@app.command()
def replay(delivery_id: str = typer.Argument(..., help="The delivery's id.")) -> None:
    """Send a delivery again (whatever its status) as soon as the worker can."""
    with transaction() as session:
        _, now = moment()
        found = delivery.replay(session, delivery.require_delivery(session, delivery_id), now=now)
        event_type = found.event_type
    console.print(f"{delivery_id} ({event_type}) will be sent again", markup=False)
