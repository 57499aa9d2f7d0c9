"""Billing (SPEC §8): runs, a preview that writes nothing, a run, invoices with their PDF, voiding one (a credit
note answers the void), and credit notes with their PDF."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from seatflow.billing import service as billing
from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.billing.runs import Consolidation, RunSummary, run_billing
from seatflow.config import Settings
from seatflow.console import queries
from seatflow.console.models import OperatorRole
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    CsrfField,
    FormProblem,
    clean_text,
    error_status,
    not_found,
    now_of,
    redirect,
    render,
    require_id,
)
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.schemas import DayIn
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)
INVOICES_PER_PAGE = 50
PREVIEW_LIMIT = 200
_day = TypeAdapter(DayIn)


def _billing_page(request: Request, console: Console, status: int = 200, **extra: Any) -> Response:
    extra.setdefault("run_date", now_of(request).date().isoformat())
    return render(
        request,
        "billing.html",
        status,
        console=console,
        active="billing",
        runs=queries.recent_runs(console.db, limit=20),
        **extra,
    )


@router.get("/billing", response_class=HTMLResponse)
def billing_page(request: Request, console: ConsoleDep) -> Response:
    return _billing_page(request, console)


def _run_date(value: str) -> date:
    try:
        return _day.validate_python(value.strip())
    except ValidationError as error:
        raise FormProblem("Enter the run's date as YYYY-MM-DD (from 2000 on).") from error


DateField = Annotated[str, Form(alias="date", max_length=20)]


@router.post("/billing/preview", response_class=HTMLResponse)
def preview(
    request: Request, console: ConsoleDep, settings: SettingsDep, day: DateField = "", csrf_token: CsrfField = None
) -> Response:
    """What a run on that date would invoice, computed the same way; nothing is written."""
    console.authorize(csrf_token)
    try:
        run_date = _run_date(day)
    except FormProblem as problem:
        return _billing_page(request, console, 422, error=problem.message, run_date=day)
    summary = run_billing(
        console.db,
        run_date=run_date,
        now=now_of(request),
        requested_by=console.actor.name,
        dry_run=True,
        invoice_prefix=settings.invoice_prefix,
        credit_note_prefix=settings.credit_note_prefix,
        preview_limit=PREVIEW_LIMIT,
    )
    return _billing_page(request, console, preview=_preview(console, summary), run_date=run_date.isoformat())


def _preview(console: Console, summary: RunSummary) -> dict[str, Any]:
    """The documents a run would create: a contract's invoice, or a consolidated one with a section per location."""
    ids: set[uuid.UUID] = set()
    customer_ids: set[uuid.UUID] = set()
    for d in summary.preview:
        if isinstance(d, Consolidation):
            ids.add(d.parent_id)
            customer_ids.add(d.customer_id)
        else:
            ids.add(d.contract.id)
            customer_ids.add(d.contract.customer_id)
    contracts = queries.contracts_by_id(console.db, ids)
    customers = queries.names_of_customers(console.db, customer_ids)
    rows: list[dict[str, Any]] = []
    for d in summary.preview:
        if isinstance(d, Consolidation):
            parent = contracts.get(d.parent_id)
            rows.append(
                {
                    "contract": f"{parent.name if parent else d.parent_id} (consolidated)",
                    "customer": customers.get(d.customer_id, ""),
                    "start": d.period_start,
                    "end": d.period_end,
                    "lines": [line for section in d.sections for line in section.lines],
                    "sections": list(zip(d.names, (section.subtotal for section in d.sections), strict=True)),
                    "total": d.total,
                    "currency": d.currency,
                }
            )
        else:
            found = contracts.get(d.contract.id)
            rows.append(
                {
                    "contract": found.name if found else str(d.contract.id),
                    "customer": customers.get(d.contract.customer_id, ""),
                    "start": d.cycle.start,
                    "end": d.cycle.end,
                    "lines": d.lines,
                    "sections": [],
                    "total": d.total,
                    "currency": d.contract.currency,
                }
            )
    return {
        "summary": summary,
        "drafts": rows,
        "invoices": sum(t.invoices for t in summary.totals.values()),
    }


@router.post("/billing/runs", response_class=HTMLResponse)
def run(
    request: Request, console: ConsoleDep, settings: SettingsDep, day: DateField = "", csrf_token: CsrfField = None
) -> Response:
    """Invoice every contract whose cycle is due on that date; a rerun for the same date creates nothing."""
    console.authorize(csrf_token)
    try:
        run_date = _run_date(day)
        with console.attempt():
            summary = run_billing(
                console.db,
                run_date=run_date,
                now=now_of(request),
                requested_by=console.actor.name,
                invoice_prefix=settings.invoice_prefix,
                credit_note_prefix=settings.credit_note_prefix,
                seller=seller_of(settings),
            )
    except FormProblem as problem:
        return _billing_page(request, console, 422, error=problem.message, run_date=day)
    except SeatflowError as error:
        return _billing_page(request, console, error_status(error), error=error.message, run_date=day)
    return redirect(f"{PREFIX}/billing/runs/{summary.run_id}")


@router.get("/billing/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, console: ConsoleDep) -> Response:
    found = console.db.get(BillingRun, require_id(run_id, "billing run"))
    if found is None:
        raise not_found("billing run")
    invoices, more = queries.invoices_newest_first(
        console.db, status=None, contract_id=None, run_id=found.id, before=None, limit=500, kind=None
    )
    return render(
        request, "run.html", console=console, active="billing", run=found, invoices=invoices, more=more is not None
    )


@router.get("/invoices", response_class=HTMLResponse)
def invoices_page(
    request: Request, console: ConsoleDep, status: str = "", contract: str = "", before: str = ""
) -> Response:
    return _documents_page(request, console, DocumentKind.INVOICE, status, contract, before)


@router.get("/credit-notes", response_class=HTMLResponse)
def credit_notes_page(
    request: Request, console: ConsoleDep, status: str = "", contract: str = "", before: str = ""
) -> Response:
    """A void's credit notes and those of cycles whose total is negative, the latest first."""
    return _documents_page(request, console, DocumentKind.CREDIT_NOTE, status, contract, before)


def _documents_page(
    request: Request, console: Console, kind: DocumentKind, status: str, contract: str, before: str
) -> Response:
    chosen = InvoiceStatus(status) if status in InvoiceStatus.__members__.values() else None
    invoices, next_before = queries.invoices_newest_first(
        console.db,
        status=chosen,
        contract_id=parse_id(contract),
        run_id=None,
        before=parse_id(before),
        limit=INVOICES_PER_PAGE,
        kind=kind,
    )
    return render(
        request,
        "invoices.html",
        console=console,
        active="invoices",
        invoices=invoices,
        next_before=next_before,
        chosen_status=chosen.value if chosen else "",
        contract=contract if parse_id(contract) else "",
        statuses=[s.value for s in InvoiceStatus],
        credit_notes=kind is DocumentKind.CREDIT_NOTE,
    )


def _invoice_page(
    request: Request,
    console: Console,
    invoice_id: str,
    status: int = 200,
    kind: DocumentKind = DocumentKind.INVOICE,
    **extra: Any,
) -> Response:
    what = "credit note" if kind is DocumentKind.CREDIT_NOTE else "invoice"
    invoice = billing.require_invoice(console.db, require_id(invoice_id, what), kind=kind)
    lines = billing.lines_of(console.db, invoice.id)
    credited = billing.numbers_of(console.db, [invoice.credits_invoice_id])
    return render(
        request,
        "invoice.html",
        status,
        console=console,
        active="invoices",
        invoice=invoice,
        lines=lines,
        sections=billing.sections_with_lines(console.db, invoice),
        consolidated_number=billing.numbers_of(console.db, [invoice.consolidated_invoice_id]).get(
            invoice.consolidated_invoice_id
        )
        if invoice.consolidated_invoice_id
        else None,
        credits_number=credited.get(invoice.credits_invoice_id) if invoice.credits_invoice_id else None,
        credited_by=billing.credit_notes_of(console.db, [invoice.id]).get(invoice.id, []),
        **extra,
    )


@router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
def invoice_page(invoice_id: str, request: Request, console: ConsoleDep) -> Response:
    return _invoice_page(request, console, invoice_id)


@router.get("/credit-notes/{credit_note_id}", response_class=HTMLResponse)
def credit_note_page(credit_note_id: str, request: Request, console: ConsoleDep) -> Response:
    return _invoice_page(request, console, credit_note_id, kind=DocumentKind.CREDIT_NOTE)


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, console: ConsoleDep, settings: SettingsDep) -> Response:
    return _pdf(console, billing.require_invoice(console.db, require_id(invoice_id, "invoice")), settings)


@router.get("/credit-notes/{credit_note_id}/pdf")
def credit_note_pdf(credit_note_id: str, console: ConsoleDep, settings: SettingsDep) -> Response:
    note = billing.require_credit_note(console.db, require_id(credit_note_id, "credit note"))
    return _pdf(console, note, settings)


def _pdf(console: Console, invoice: Invoice, settings: Settings) -> Response:
    credited = billing.numbers_of(console.db, [invoice.credits_invoice_id])
    body = render_invoice(
        invoice,
        billing.lines_of(console.db, invoice.id),
        seller_of(settings),
        credits_invoice_number=credited.get(invoice.credits_invoice_id) if invoice.credits_invoice_id else None,
        sections=billing.sections_with_lines(console.db, invoice),
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )


@router.post("/invoices/{invoice_id}/void", response_class=HTMLResponse)
def void(
    invoice_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """Admins only: the invoice is void, its cycle is billed again by the next run (with a new number)."""
    console.authorize(csrf_token, OperatorRole.ADMIN)
    invoice = billing.require_invoice(console.db, require_id(invoice_id, "invoice"))
    try:
        text = clean_text(reason, field="The reason")
        with console.attempt():
            now = now_of(request)
            billing.void_invoice(
                console.db,
                invoice=invoice,
                reason=text,
                now=now,
                today=now.date(),
                credit_note_prefix=settings.credit_note_prefix,
            )
    except FormProblem as problem:
        return _invoice_page(request, console, invoice_id, 422, error=problem.message)
    except SeatflowError as error:
        return _invoice_page(request, console, invoice_id, error_status(error), error=error.message)
    return redirect(f"{PREFIX}/invoices/{invoice.id}?done=void")
