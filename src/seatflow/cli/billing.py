"""``seatflow bill``, ``seatflow invoices …`` and ``seatflow credit-notes …`` (SPEC §8, §14)."""

from __future__ import annotations

import sys
from datetime import datetime
from functools import partial
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from seatflow.billing import service
from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.billing.runs import run_billing
from seatflow.billing.schemas import BillingRunRead, InvoiceRead, document_read, document_reads
from seatflow.cli.context import console, err_console, moment, operator_actor, print_json, settings, transaction
from seatflow.contracts.service import require_contract
from seatflow.errors import ValidationFailed

invoices_app = typer.Typer(help="Invoices: list, show, PDF, void, CSV export.", no_args_is_help=True)
credit_notes_app = typer.Typer(
    help="Credit notes (a void's, and cycles whose total is negative): list, show, PDF, CSV export.",
    no_args_is_help=True,
)
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
                    credit_note_prefix=settings().credit_note_prefix,
                    seller=seller_of(settings()),
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
    if dry_run:
        credits = sum(t.credit_notes for t in summary.totals.values())
        made = sum(t.invoices for t in summary.totals.values())
    else:
        credits, made = summary.credit_notes_created, summary.invoices_created
    console.print(
        f"{run_date}: {verb} {made} invoice(s)"
        + (f" and {credits} credit note(s)" if credits else "")
        + f" for {summary.contracts_considered} billable contract(s)"
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
        status = invoice.status.value
        if invoice.credits_invoice_number:
            status += f", credits {invoice.credits_invoice_number}"
        elif invoice.credited_by:
            status += f", credited by {', '.join(note.number for note in invoice.credited_by)}"
        table.add_row(
            invoice.number or "",
            status,
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
    _list(DocumentKind.INVOICE, contract, status, limit, as_json)


def _list(kind: DocumentKind, contract: str | None, status: InvoiceStatus | None, limit: int, as_json: bool) -> None:
    with transaction() as session:
        contract_id = require_contract(session, contract).id if contract else None
        rows, _ = service.list_invoices(
            session, service.InvoiceFilters(contract_id=contract_id, status=status, kind=kind), limit=limit
        )
        read = document_reads(session, rows)
    if as_json:
        print_json([r.model_dump(mode="json") for r in read])
    else:
        _print_invoices(read)


@invoices_app.command("show")
def show(invoice: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One invoice (by id or number) with its lines."""
    _show(DocumentKind.INVOICE, invoice, as_json)


def _show(kind: DocumentKind, ref: str, as_json: bool) -> None:
    with transaction() as session:
        read = document_read(session, service.require_invoice(session, ref, kind=kind))
    if as_json:
        print_json(read.model_dump(mode="json"))
        return
    _print_invoices([read])
    if read.consolidated_invoice_number:
        console.print(
            f"a section of the consolidated {read.kind.value.replace('_', ' ')} {read.consolidated_invoice_number}"
        )
    lines = Table("#", "contract", "description", "period", "qty", "unit price", "amount")
    for line in read.lines:
        lines.add_row(
            str(line.position),
            line.contract_name,
            line.description,
            f"{line.period_start} to {line.period_end}",
            str(line.quantity),
            f"{line.unit_price}",
            f"{line.amount:.2f}",
        )
    console.print(lines)
    if read.sections:
        sections = Table("section", "contract", "location", "subtotal")
        for section in read.sections:
            sections.add_row(section.number or "", section.contract_name, section.location, f"{section.subtotal:.2f}")
        console.print(sections)


@invoices_app.command("pdf")
def pdf(
    invoice: str,
    output: Path | None = typer.Option(None, "-o", "--output", help="Where to write it; NUMBER.pdf when absent."),
) -> None:
    """Write the invoice's PDF."""
    _pdf(DocumentKind.INVOICE, invoice, output)


def _pdf(kind: DocumentKind, ref: str, output: Path | None) -> None:
    with transaction() as session:
        found = service.require_invoice(session, ref, kind=kind)
        body = _render(session, found)
        target = output or Path(f"{found.number}.pdf")
    target.write_bytes(body)
    console.print(f"wrote {target}")


def _render(session: Session, document: Invoice) -> bytes:
    credited = service.numbers_of(session, [document.credits_invoice_id])
    return render_invoice(
        document,
        service.lines_of(session, document.id),
        seller_of(settings()),
        credits_invoice_number=credited.get(document.credits_invoice_id) if document.credits_invoice_id else None,
        sections=service.sections_with_lines(session, document),
    )


@invoices_app.command("void")
def void(invoice: str, reason: str = typer.Option(..., help="Why (kept on the invoice).")) -> None:
    """Void an issued invoice; the next billing run bills its cycle again with a new number. A credit note
    dated today answers the void."""
    with transaction() as session:
        today, now = moment()
        found = service.void_invoice(
            session,
            invoice=service.require_invoice(session, invoice),
            reason=reason,
            now=now,
            today=today,
            credit_note_prefix=settings().credit_note_prefix,
        )
        notes = service.credit_notes_of(session, [found.id]).get(found.id, [])
        console.print(f"voided {found.number}" + (f" (credit note {notes[-1][1]})" if notes else ""))


@invoices_app.command("export")
def export(
    date_from: datetime = typer.Option(..., "--from", formats=_DATE, help="First issue date."),
    date_to: datetime = typer.Option(..., "--to", formats=_DATE, help="Last issue date."),
    output: Path | None = typer.Option(None, "-o", "--output", help="A file; standard output when absent."),
    include_void: bool = typer.Option(False, "--include-void"),
) -> None:
    """The lines of the invoices issued in a date range as CSV (columns in docs/billing.md)."""
    _export(DocumentKind.INVOICE, date_from, date_to, output, include_void)


def _export(
    kind: DocumentKind, date_from: datetime, date_to: datetime, output: Path | None, include_void: bool
) -> None:
    if date_to < date_from:
        raise ValidationFailed("--to is before --from.", code="invalid_date_range")
    with transaction() as session:
        chunks = service.export_lines(
            session, date_from=date_from.date(), date_to=date_to.date(), include_void=include_void, kind=kind
        )
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return
        with output.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
    console.print(f"wrote {output}")


@credit_notes_app.command("list")
def credit_notes_list(
    contract: str | None = typer.Option(None, help="A contract's id or name."),
    status: InvoiceStatus | None = typer.Option(None),
    limit: int = typer.Option(100, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Credit notes, oldest first (amounts negative: what each takes off)."""
    _list(DocumentKind.CREDIT_NOTE, contract, status, limit, as_json)


@credit_notes_app.command("show")
def credit_notes_show(credit_note: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One credit note (by id or number, CN-000001) with its lines."""
    _show(DocumentKind.CREDIT_NOTE, credit_note, as_json)


@credit_notes_app.command("pdf")
def credit_notes_pdf(
    credit_note: str,
    output: Path | None = typer.Option(None, "-o", "--output", help="Where to write it; NUMBER.pdf when absent."),
) -> None:
    """Write the credit note's PDF."""
    _pdf(DocumentKind.CREDIT_NOTE, credit_note, output)


@credit_notes_app.command("export")
def credit_notes_export(
    date_from: datetime = typer.Option(..., "--from", formats=_DATE, help="First issue date."),
    date_to: datetime = typer.Option(..., "--to", formats=_DATE, help="Last issue date."),
    output: Path | None = typer.Option(None, "-o", "--output", help="A file; standard output when absent."),
    include_void: bool = typer.Option(False, "--include-void"),
) -> None:
    """The lines of the credit notes issued in a date range as CSV (columns in docs/billing.md)."""
    _export(DocumentKind.CREDIT_NOTE, date_from, date_to, output, include_void)
