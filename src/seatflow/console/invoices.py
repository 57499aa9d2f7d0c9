"""Invoices and credit notes (SPEC §8): the lists, searchable by number and customer and filtered by status,
contract and issue date, with their CSV; a document's page and PDF; and voiding an invoice, from its own page only,
with a reason, behind a confirmation that states what is voided (a credit note answers the void)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.auth.models import OperatorRole
from seatflow.billing import service as billing
from seatflow.billing.models import DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.config import Settings
from seatflow.console import listing
from seatflow.console.forms import Fields, FormDep, done, notice_of, optional_day, shown
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    FormProblem,
    clean_text,
    error_status,
    now_of,
    plain,
    render,
    require_id,
)
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)
INVOICES_PER_PAGE = 50


def _filters(kind: DocumentKind, params: dict[str, str]) -> tuple[listing.InvoiceFilters, str | None]:
    problem = None
    try:
        issued_from = optional_day(params.get("issued_from", ""), label="the first issue day")
        issued_to = optional_day(params.get("issued_to", ""), label="the last issue day")
    except FormProblem as error:
        issued_from, issued_to, problem = None, None, error.message
    status = params.get("status", "")
    filters = listing.InvoiceFilters(
        kind=kind,
        number=plain(params.get("number", "")).strip()[:40],
        customer=plain(params.get("customer", "")).strip()[:200],
        status=InvoiceStatus(status) if status in InvoiceStatus.__members__.values() else None,
        contract=parse_id(params.get("contract", "")),
        issued_from=issued_from,
        issued_to=issued_to,
    )
    return filters, problem


def _query(filters: listing.InvoiceFilters) -> str:
    pairs = {
        "number": filters.number,
        "customer": filters.customer,
        "status": filters.status.value if filters.status else "",
        "contract": str(filters.contract or ""),
        "issued_from": str(filters.issued_from or ""),
        "issued_to": str(filters.issued_to or ""),
    }
    return urlencode({key: value for key, value in pairs.items() if value})


def _params(request: Request) -> dict[str, str]:
    return {key: value[:200] for key, value in request.query_params.items()}


def _documents_page(request: Request, console: Console, kind: DocumentKind) -> Response:
    filters, problem = _filters(kind, _params(request))
    invoices, next_before = listing.invoices(
        console.db, filters, before=parse_id(request.query_params.get("before", "")), limit=INVOICES_PER_PAGE
    )
    return render(
        request,
        "invoices.html",
        422 if problem else 200,
        console=console,
        active="invoices",
        invoices=invoices,
        next_before=next_before,
        filters=filters,
        query=_query(filters),
        statuses=[s.value for s in InvoiceStatus],
        credit_notes=kind is DocumentKind.CREDIT_NOTE,
        error=problem,
    )


@router.get("/invoices", response_class=HTMLResponse)
def invoices_page(request: Request, console: ConsoleDep) -> Response:
    return _documents_page(request, console, DocumentKind.INVOICE)


@router.get("/credit-notes", response_class=HTMLResponse)
def credit_notes_page(request: Request, console: ConsoleDep) -> Response:
    """A void's credit notes and those of cycles whose total is negative, the latest first."""
    return _documents_page(request, console, DocumentKind.CREDIT_NOTE)


def _csv(request: Request, console: Console, kind: DocumentKind, name: str) -> Response:
    filters, _ = _filters(kind, _params(request))
    rows = (listing.invoice_row(invoice) for invoice in listing.all_invoices(console.db, filters))
    return listing.csv_response(name, listing.INVOICE_HEADER, rows)


@router.get("/invoices.csv")
def invoices_csv(request: Request, console: ConsoleDep) -> Response:
    """Every invoice of the filters, for accounting."""
    return _csv(request, console, DocumentKind.INVOICE, "invoices.csv")


@router.get("/credit-notes.csv")
def credit_notes_csv(request: Request, console: ConsoleDep) -> Response:
    return _csv(request, console, DocumentKind.CREDIT_NOTE, "credit-notes.csv")


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
    page = render(
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
        notice=notice_of(request, console),
        **extra,
    )
    return shown(page, request)


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


# --- voiding, behind a confirmation ----------------------------------------------------------------------------


def _void(console: Console, invoice: Invoice, reason: str, request: Request, settings: Settings) -> None:
    now = now_of(request)
    billing.void_invoice(
        console.db,
        invoice=invoice,
        reason=reason,
        now=now,
        today=now.date(),
        credit_note_prefix=settings.credit_note_prefix,
    )


def _try_void(console: Console, invoice_id: uuid.UUID, reason: str, request: Request, settings: Settings) -> None:
    """The void, tried and undone: the service's own refusals (no reason, void already, a consolidated section)
    come before the confirmation instead of after it."""
    trial = console.db.begin_nested()
    try:
        _void(console, billing.require_invoice(console.db, invoice_id), reason, request, settings)
    finally:
        trial.rollback()
        console.db.expire_all()


@router.post("/invoices/{invoice_id}/void", response_class=HTMLResponse)
def void(invoice_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep) -> Response:
    """Admins only. First a confirmation stating the invoice's totals; confirmed, the invoice is void, a credit note
    credits it, and its cycle is billed again by the next run (with a new number)."""
    fields = Fields(form)
    console.authorize(fields.csrf, OperatorRole.ADMIN)
    invoice = billing.require_invoice(console.db, require_id(invoice_id, "invoice"))
    try:
        reason = clean_text(fields.text("reason")[:2000], field="The reason")
        if not fields.checked("confirmed"):
            _try_void(console, invoice.id, reason, request, settings)
            invoice = billing.require_invoice(console.db, invoice.id)
            sections = billing.sections_of(console.db, invoice)
            return render(
                request,
                "void_confirm.html",
                console=console,
                active="invoices",
                invoice=invoice,
                sections=sections,
                reason=reason,
            )
        with console.attempt():
            _void(console, invoice, reason, request, settings)
    except FormProblem as problem:
        return _invoice_page(request, console, invoice_id, 422, error=problem.message)
    except SeatflowError as error:
        return _invoice_page(request, console, invoice_id, error_status(error), error=error.message)
    notes = billing.credit_notes_of(console.db, [invoice.id]).get(invoice.id, [])
    note = f" ({notes[-1][1]})" if notes else ""
    notice = (
        f"The invoice is void: a credit note credits it{note}, and the next billing run bills its cycle again, "
        "with a new number."
    )
    return done(f"{PREFIX}/invoices/{invoice.id}", request, console, settings, notice)
