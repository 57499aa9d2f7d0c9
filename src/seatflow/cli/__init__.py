"""The ``seatflow`` command (SPEC §14). Configuration comes from SEATFLOW_* environment variables."""

from __future__ import annotations

import typer

from seatflow.cli import (
    apikey,
    audit,
    billing,
    catalog,
    costs,
    customers,
    db,
    demo_load,
    margin,
    operators,
    pricing,
    provisioning,
    reconciliation,
    renewals,
    serve,
    simulator,
    subscriptions,
    webhooks,
)
from seatflow.cli.context import fail, settings
from seatflow.errors import SeatflowError
from seatflow.logs import configure_logging

app = typer.Typer(
    name="seatflow",
    help="License provisioning and billing for cloud resellers. "
    "Configure with SEATFLOW_* environment variables (SEATFLOW_DATABASE_URL above all).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(apikey.app, name="apikey")
app.add_typer(catalog.app, name="catalog")
app.add_typer(customers.customers_app, name="customers")
app.add_typer(customers.contracts_app, name="contracts")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(subscriptions.changes_app, name="changes")
subscriptions.changes_app.command("requeue")(provisioning.requeue)
subscriptions.changes_app.command("confirm")(provisioning.confirm)
app.command("worker")(provisioning.worker)
app.command("bill")(billing.bill)
app.add_typer(billing.invoices_app, name="invoices")
app.add_typer(billing.credit_notes_app, name="credit-notes")
app.add_typer(reconciliation.app, name="reconcile")
app.add_typer(pricing.app, name="prices")
app.add_typer(costs.app, name="costs")
app.command("margin")(margin.margin)
app.add_typer(operators.app, name="operators")
app.add_typer(audit.app, name="audit")
app.add_typer(webhooks.app, name="webhooks")
app.command("renew")(subscriptions.renew)
app.add_typer(renewals.app, name="renewals")
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
app.command("demo-load")(demo_load.demo_load)
app.command("simulator")(simulator.simulator)


@app.callback()
def _configure() -> None:
    configure_logging(settings().log_level, settings().log_format)


def main() -> None:
    try:
        app()
    except SeatflowError as error:
        fail(error)
