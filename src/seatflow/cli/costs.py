"""``seatflow costs …``: import what Microsoft bills the reseller (the new-commerce reconciliation lines) from a
file or from Partner Center, and show the lines in force (SPEC §16)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from seatflow.cli.context import clock, console, print_json, read_transaction, transaction
from seatflow.costs import queries, service
from seatflow.costs.fetch import CostFetchPlan, fetch_costs, import_fetched
from seatflow.costs.models import CostKind, CostSource
from seatflow.costs.reconfile import read_file
from seatflow.costs.schemas import CostImportResult, CostLineRead
from seatflow.money import format_money

app = typer.Typer(
    help="What Microsoft bills you: the new-commerce reconciliation lines (billed per invoice, unbilled for the "
    "current and previous period), from Microsoft's CSV or from Partner Center. Imports are all or nothing and "
    "idempotent; each charge is counted once.",
    no_args_is_help=True,
)
ACCOUNT_HELP = "The Partner Center account (name or id); the only one when absent."
SHOWN = 500


def _month(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    found = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise typer.BadParameter(f"{option} is YYYY-MM, e.g. 2026-12.")
    return date(int(found.group(1)), int(found.group(2)), 1)


def _report(results: list[CostImportResult]) -> None:
    table = Table("import", "kind", "read", "inserted", "unchanged", "replaced", "superseded", "subtotal")
    for r in results:
        subtotal = ", ".join(f"{format_money(v)} {c}" for c, v in r.subtotals.items()) or "-"
        label = r.invoice_number or (f"{r.period:%Y-%m} {r.currency or ''}".rstrip() if r.period else r.name)
        table.add_row(
            label,
            r.kind,
            str(r.lines_read),
            str(r.inserted),
            str(r.unchanged),
            str(r.replaced),
            str(r.superseded),
            subtotal,
        )
    console.print(table)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Microsoft's reconciliation CSV."),
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    invoice: str | None = typer.Option(None, "--invoice", help="The invoice the file is for (billed lines)."),
    period: str | None = typer.Option(
        None, "--period", help="YYYY-MM: an unbilled file's billing period (its earlier lines are replaced)."
    ),
    as_json: bool = typer.Option(False, "--json", help="The answer as JSON, as the API gives it."),
) -> None:
    """Import a reconciliation file: every line is checked first (a bad one exits 5 naming its line and column,
    and nothing is imported); a line imported before is left as it is."""
    rows = read_file(file.read_bytes())
    month = _month(period, "--period")
    now = clock().now()
    with transaction() as session:
        result = service.import_cost_lines(
            session,
            account=service.resolve_account(session, account),
            lines=rows,
            now=now,
            kind=CostKind.BILLED if invoice else None,
            invoice_number=invoice or "",
            period=month,
            source=CostSource.FILE,
            name=file.name,
        )
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        _report([result])


@app.command()
def fetch(
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    invoice: str | None = typer.Option(None, "--invoice", help="Read this invoice's billed lines only (again)."),
    unbilled: str | None = typer.Option(
        None, "--unbilled", help="current or previous: read that period's unbilled lines only."
    ),
    currency: str | None = typer.Option(None, "--currency", help="The unbilled lines' currency; the account's."),
    as_json: bool = typer.Option(False, "--json", help="The answer as JSON, as the API gives it."),
) -> None:
    """Read Microsoft's lines from Partner Center (GET /v1/invoices, /v1/invoices/{id}/lineitems,
    /v1/invoices/unbilled/lineitems, paged) and import them: by default every invoice not imported yet and the
    unbilled lines of the previous and current period. No transaction is open while Partner Center answers."""
    if invoice and unbilled:
        raise typer.BadParameter("Name --invoice or --unbilled, not both.")
    if unbilled not in (None, "current", "previous"):
        raise typer.BadParameter("--unbilled is current or previous.")
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise typer.BadParameter("--currency is a three-letter code, e.g. USD.")
    with read_transaction() as read:
        plan = CostFetchPlan.of(read, service.resolve_account(read, account), currency)
    fetched = fetch_costs(plan, invoice=invoice, unbilled=unbilled)
    now = clock().now()
    with transaction() as session:
        target = service.resolve_account(session, str(plan.account_id))
        result = import_fetched(session, account=target, fetched=fetched, now=now)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    _report(result.imports)
    console.print(
        f"{result.invoices_listed} invoice(s) listed"
        + (
            f"; imported before, not read again: {', '.join(result.invoices_skipped)}"
            if result.invoices_skipped
            else ""
        ),
        highlight=False,
        markup=False,
    )


@app.command()
def show(
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    customer: str | None = typer.Option(None, "--customer", help="A customer tenant id (CustomerId)."),
    subscription: str | None = typer.Option(None, "--subscription", help="A provider subscription id."),
    period: str | None = typer.Option(None, "--period", help="YYYY-MM: that billing period only."),
    include_superseded: bool = typer.Option(
        False, "--all", help="Also the lines no longer in force (replaced or superseded)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The cost lines in force (the first 500), with their total per currency."""
    month = _month(period, "--period")
    with read_transaction() as session:
        found = service.resolve_account(session, account)
        filters = queries.LineFilters(
            account_id=found.id,
            customer_tenant_id=customer,
            subscription_id=subscription,
            start=month,
            end=month,  # a line's billing period is the first day of its month
            include_superseded=include_superseded,
        )
        rows, more = queries.list_lines(session, filters, cursor=None, limit=SHOWN)
        lines = [CostLineRead.from_model(line) for line in rows]
    if as_json:
        print_json([line.model_dump(mode="json") for line in lines])
        return
    table = Table("period", "invoice", "customer", "subscription", "product", "charge", "from", "to", "qty", "subtotal")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.in_force:
            totals[line.currency] += line.subtotal
        table.add_row(
            f"{line.billing_period:%Y-%m}",
            line.invoice_number or "unbilled",
            line.customer_name or line.customer_tenant_id,
            line.subscription_id,
            line.product_key,
            line.charge_type + ("" if line.in_force else " (superseded)"),
            line.charge_start.isoformat(),
            line.charge_end.isoformat(),
            format(line.billable_quantity.normalize(), "f"),
            f"{format_money(line.subtotal)} {line.currency}",
        )
    console.print(table)
    total = ", ".join(f"{format_money(v)} {c}" for c, v in sorted(totals.items())) or "0.00"
    console.print(f"in force: {total}" + (f" (first {SHOWN} lines; --json or the API for all)" if more else ""))
