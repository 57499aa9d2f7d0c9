"""``seatflow bill`` and ``seatflow invoices …`` (SPEC §8, §14)."""

from __future__ import annotations

import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from seatflow.billing import service
from seatflow.billing.models import BillingRun, InvoiceStatus
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.billing.runs import run_billing
from seatflow.billing.schemas import BillingRunRead, InvoiceRead
from seatflow.cli.context import console, err_console, moment, operator_actor, print_json, settings, transaction
from seatflow.contracts.service import require_contract
from seatflow.errors import ValidationFailed

invoices_app = typer.Typer(help="Invoices: list, show, PDF, void, CSV export.", no_args_is_help=True)
_DATE = ["%Y-%m-%d"]


def bill(
    day: datetime | None = typer.Option(None, "--date", formats=_DATE, help="The run's date; today when absent."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and show the invoices; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="The run (and a dry run's invoices) as JSON."),
) -> None:
    """Invoice every billable, active contract whose cycle is due: one invoice per contract and cycle, never
    twice (a rerun for the same date creates nothing). The date may not lie after today; a contract with
    many cycles due is caught up over several committed runs of at most 36 cycles each."""
    runs = 0
    while True:
        with transaction() as session:
            today, now = moment()
            run_date = day.date() if day else today
            with Progress(
                TextColumn("billing {task.fields[day]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
                disable=as_json or not sys.stderr.isatty(),
            ) as bar:
                task = bar.add_task("bill", total=None, day=run_date.isoformat())
                summary = run_billing(
                    session,
                    run_date=run_date,
                    now=now,
                    today=today,
                    requested_by=operator_actor().name,
                    dry_run=dry_run,
                    invoice_prefix=settings().invoice_prefix,
                    progress=partial(_advance, bar, task),
                )
            run = session.get(BillingRun, summary.run_id) if summary.run_id else None
            read = BillingRunRead.from_summary(summary, run)
        runs += 1
        # A contract with more cycles due than one run bills is caught up by further runs, each committed on
        # its own (a dry run previews the first only).
        if dry_run or not summary.more or runs >= MAX_CATCH_UP_RUNS:
            break
        if not as_json:
            console.print(f"{run_date}: {summary.invoices_created} invoice(s); more cycles due, billing on")
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    verb = "would create" if dry_run else "created"
    console.print(
        f"{run_date}: {verb} {summary.invoices_created if not dry_run else len(summary.preview)} invoice(s) "
        f"for {summary.contracts_considered} billable contract(s)"
    )
    for currency, totals in read.totals.items():
        console.print(
            f"  {currency}: subtotal {totals['subtotal']}, tax {totals['tax']}, total {totals['total']} "
            f"({totals['invoices']} invoices)"
        )


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


MAX_CATCH_UP_RUNS = 100
"""Runs one `seatflow bill` makes at most to catch up (100 runs of 36 cycles: 300 years of monthly cycles)."""


def _print_invoices(rows: list[InvoiceRead]) -> None:
    table = Table("number", "status", "issued", "period", "contract", "subtotal", "tax", "total", "id")
    for invoice in rows:
        table.add_row(
            invoice.number or "",
            invoice.status.value,
            invoice.issue_date.isoformat(),
            f"{invoice.period_start} to {invoice.period_end}",
            str(invoice.bill_to.get("contract", invoice.contract_id)),
            f"{invoice.subtotal:.2f}",
            f"{invoice.tax:.2f}",
            f"{invoice.total:.2f} {invoice.currency}",
            str(invoice.id),
        )
    console.print(table)


@invoices_app.command("list")
def list_(
    contract: str | None = typer.Option(None, help="A contract's id or name."),
    status: InvoiceStatus | None = typer.Option(None),
    limit: int = typer.Option(100, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Invoices, oldest first."""
    with transaction() as session:
        contract_id = require_contract(session, contract).id if contract else None
        rows, _ = service.list_invoices(
            session, service.InvoiceFilters(contract_id=contract_id, status=status), limit=limit
        )
        read = [InvoiceRead.from_model(i, list(service.lines_of(session, i.id))) for i in rows]
    if as_json:
        print_json([r.model_dump(mode="json") for r in read])
    else:
        _print_invoices(read)


@invoices_app.command("show")
def show(invoice: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One invoice (by id or number) with its lines."""
    with transaction() as session:
        found = service.require_invoice(session, invoice)
        read = InvoiceRead.from_model(found, list(service.lines_of(session, found.id)))
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    _print_invoices([read])
    lines = Table("#", "description", "period", "qty", "unit price", "amount")
    for line in read.lines:
        lines.add_row(
            str(line.position),
            line.description,
            f"{line.period_start} to {line.period_end}",
            str(line.quantity),
            f"{line.unit_price}",
            f"{line.amount:.2f}",
        )
    console.print(lines)


@invoices_app.command("pdf")
def pdf(
    invoice: str,
    output: Path | None = typer.Option(None, "-o", "--output", help="Where to write it; NUMBER.pdf when absent."),
) -> None:
    """Write the invoice's PDF."""
    with transaction() as session:
        found = service.require_invoice(session, invoice)
        body = render_invoice(found, service.lines_of(session, found.id), seller_of(settings()))
        target = output or Path(f"{found.number}.pdf")
    target.write_bytes(body)
    console.print(f"wrote {target}")


@invoices_app.command("void")
def void(invoice: str, reason: str = typer.Option(..., help="Why (kept on the invoice).")) -> None:
    """Void an issued invoice; the next billing run bills its cycle again with a new number."""
    with transaction() as session:
        _, now = moment()
        found = service.void_invoice(session, invoice=service.require_invoice(session, invoice), reason=reason, now=now)
        console.print(f"voided {found.number}")


@invoices_app.command("export")
def export(
    date_from: datetime = typer.Option(..., "--from", formats=_DATE, help="First issue date."),
    date_to: datetime = typer.Option(..., "--to", formats=_DATE, help="Last issue date."),
    output: Path | None = typer.Option(None, "-o", "--output", help="A file; standard output when absent."),
    include_void: bool = typer.Option(False, "--include-void"),
) -> None:
    """The lines of the invoices issued in a date range as CSV (columns in docs/billing.md)."""
    if date_to < date_from:
        raise ValidationFailed("--to is before --from.", code="invalid_date_range")
    with transaction() as session:
        chunks = service.export_lines(
            session, date_from=date_from.date(), date_to=date_to.date(), include_void=include_void
        )
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return
        with output.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
    console.print(f"wrote {output}")
