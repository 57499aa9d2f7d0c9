"""``seatflow reconcile …`` (SPEC §9): the report as a table or CSV, its fixes, the change-log check."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal

import typer
from rich.table import Table

from seatflow.catalog.providers import require_provider_account
from seatflow.cli.context import console, moment, operator_actor, print_json, read_transaction, transaction
from seatflow.csv_safe import safe_row
from seatflow.reconciliation import service
from seatflow.reconciliation.announcements import announce_drift
from seatflow.reconciliation.schemas import ItemRead, MismatchRead
from seatflow.subscriptions.lifecycle import require_subscription

app = typer.Typer(help="Reconciliation: what the provider holds against seatflow, and the fixes.", no_args_is_help=True)

COLUMNS = [
    "classification",
    "customer_id",
    "tenant_id",
    "subscription_id",
    "external_id",
    "offer_id",
    "product_name",
    "provider_quantity",
    "seatflow_quantity",
    "children_quantity",
    "provider_status",
    "matched_by",
    "needs_parent",
    "detail",
]


@app.command("report")
def report(
    account: str = typer.Argument("Partner Center", help="The provider account (id or name)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on standard output."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Read the provider's subscriptions of every mapped tenant and classify every difference."""
    with read_transaction() as session:
        _, now = moment()
        provider = require_provider_account(session, account)
        client = service.client_for(provider)
        try:
            found = service.reconcile(session, account=provider, client=client, now=now)
        finally:
            client.close()
    with transaction() as session:
        announce_drift(session, found, now=now)  # reconciliation.drift_found (SPEC §17), each difference once
    items = [ItemRead.from_item(i) for i in found.items]
    if as_json:
        print_json([i.model_dump(mode="json") for i in items])
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for item in items:
            data = item.model_dump(mode="json")
            writer.writerow(safe_row(data[c] for c in COLUMNS))
        return
    table = Table("classification", "product", "provider", "seatflow", "children", "subscription", "fixes")
    for item in items:
        table.add_row(
            item.classification.value,
            item.product_name or item.offer_id or item.tenant_id or "",
            _n(item.provider_quantity),
            _n(item.seatflow_quantity),
            _n(item.children_quantity),
            item.subscription_id or item.external_id or "",
            ", ".join(item.fixes),
        )
    console.print(table)
    console.print(
        f"{found.provider_customers} customer(s) at the provider, {found.tenants} tenant(s), "
        f"{found.provider_subscriptions} provider subscription(s), {len(items)} difference(s)."
    )


def _n(value: int | None) -> str:
    return "" if value is None else str(value)


@app.command("adopt")
def adopt(
    subscription: str,
    child: str | None = typer.Option(None, help="The linked child that takes the difference."),
    external_id: str | None = typer.Option(
        None, "--external-id", help="The provider subscription, for an item matched by product: it becomes its id."
    ),
) -> None:
    """Take the provider's quantity for SUBSCRIPTION (read again now)."""
    # Read, then ask the provider with no transaction open, then write (the provider may be slow).
    with read_transaction() as session:
        found = require_subscription(session, subscription)
        provider = require_provider_account(session, str(found.provider_account_id))
        child_id = require_subscription(session, child).id if child else None
        source = service.adopt_source(session, found, external_id)
    client = service.client_for(provider)
    try:
        quantity = service.read_adopt_quantity(client, source)
    finally:
        client.close()
    with transaction() as session:
        today, now = moment()
        changes = service.adopt(
            session,
            subscription_id=found.id,
            provider_quantity=quantity,
            child_id=child_id,
            actor=operator_actor(),
            today=today,
            now=now,
            external_id=source.new_external_id,
        )
        if source.remap:
            console.print(f"{found.id}: provider id {source.external_id}")
        for change in changes:
            console.print(
                f"{change.subscription_id}: {change.quantity_before} → {change.quantity_after} (provider sync)"
            )


@app.command("push")
def push(subscription: str) -> None:
    """Send seatflow's quantity of SUBSCRIPTION to the provider again (the worker carries it out)."""
    with transaction() as session:
        today, now = moment()
        found = require_subscription(session, subscription)
        change = service.push(session, subscription_id=found.id, actor=operator_actor(), today=today, now=now)
        console.print(f"queued {change.id}: the worker sends {change.quantity_after} to the provider")


@app.command("import")
def import_(
    external_id: str,
    tenant: str = typer.Option(..., help="The provider customer (tenant) id."),
    contract: str = typer.Option(..., help="The contract to put it on (id or name)."),
    account: str = typer.Option("Partner Center", help="The provider account (id or name)."),
    unit_price: Decimal | None = typer.Option(None, help="The price per unit per month; the list price if absent."),
    parent: str | None = typer.Option(
        None, help="A new-commerce add-on's seatflow parent subscription (Partner Center names none)."
    ),
) -> None:
    """Make a subscription found only at the provider a seatflow subscription on CONTRACT."""
    with read_transaction() as session:
        provider = require_provider_account(session, account)
    client = service.client_for(provider)
    try:
        found = service.provider_subscription(client, tenant, external_id)
    finally:
        client.close()
    with transaction() as session:
        today, now = moment()
        subscription = service.import_subscription(
            session,
            account=provider,
            provider_subscription=found,
            contract_ref=contract,
            actor=operator_actor(),
            today=today,
            now=now,
            unit_price=unit_price,
            parent_ref=parent,
            tenant_id=tenant,
        )
        console.print(f"imported {external_id} as {subscription.id} ({subscription.quantity})")


@app.command("change-log")
def change_log(as_json: bool = typer.Option(False, "--json")) -> None:
    """Subscriptions whose quantity differs from what their change log adds up to; exits 1 if any."""
    with transaction() as session:
        found = [MismatchRead.from_mismatch(m) for m in service.change_log_check(session)]
    if as_json:
        print_json([m.model_dump(mode="json") for m in found])
    else:
        for mismatch in found:
            console.print(
                f"{mismatch.subscription_id}: quantity {mismatch.quantity}, change log {mismatch.change_log_quantity}"
            )
        console.print(f"{len(found)} subscription(s) differ from their change log.")
    if found:
        raise typer.Exit(1)
