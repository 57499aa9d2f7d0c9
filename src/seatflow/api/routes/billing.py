"""Billing runs, invoices and credit notes (SPEC §8, §13): run (or preview) billing, read invoices and credit
notes as JSON, PDF and CSV, void an invoice so its cycle is billed again (a credit note answers the void)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.billing import service
from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.pdf import render_invoice, seller_of
from seatflow.billing.runs import run_billing
from seatflow.billing.schemas import (
    BillingRunCreate,
    BillingRunRead,
    InvoiceRead,
    VoidRequest,
    document_read,
    document_reads,
)
from seatflow.config import Settings
from seatflow.pagination import page
from seatflow.schemas import DayIn, Page
from seatflow.web.deps import ActorDep, NowDep, SessionDep, SettingsDep, TodayDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["billing"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.post("/billing-runs", response_model=BillingRunRead, status_code=201)
def create_billing_run(
    body: BillingRunCreate,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    now: NowDep,
    settings: SettingsDep,
    response: Response,
) -> BillingRunRead:
    """Invoice every billable, active contract whose cycle is due on ``date``; ``dry_run`` previews the
    same (totals and the invoices) and writes nothing. A rerun for the same date creates nothing.

    ``date`` may not lie after today (422 ``billing_date_in_future``). One run bills at most 36 cycles per
    contract, oldest first; ``more: true`` says a contract has cycles left: run again for the same date.
    A cycle whose total is negative is issued as a credit note (``credit_notes_created``)."""
    summary = run_billing(
        session,
        run_date=body.date or today,
        now=now,
        today=today,
        requested_by=actor.name,
        dry_run=body.dry_run,
        invoice_prefix=settings.invoice_prefix,
        credit_note_prefix=settings.credit_note_prefix,
        seller=seller_of(settings),
    )
    run = session.get(BillingRun, summary.run_id) if summary.run_id else None
    if body.dry_run:
        response.status_code = 200
    return BillingRunRead.from_summary(summary, run)


@router.get("/billing-runs", response_model=Page[BillingRunRead])
def list_billing_runs(session: SessionDep, cursor: str | None = None, limit: Limit = 50) -> Page[BillingRunRead]:
    rows, next_cursor = page(session, select(BillingRun), BillingRun.id, cursor=cursor, limit=limit)
    return Page(items=[BillingRunRead.from_model(r) for r in rows], next_cursor=next_cursor)


@router.get("/billing-runs/{run_id}", response_model=BillingRunRead)
def get_billing_run(run_id: str, session: SessionDep) -> BillingRunRead:
    return BillingRunRead.from_model(service.require_run(session, run_id))


@router.get("/invoices", response_model=Page[InvoiceRead])
def list_invoices(
    session: SessionDep,
    contract_id: str | None = None,
    customer_id: str | None = None,
    billing_run_id: str | None = None,
    status: InvoiceStatus | None = None,
    issued_from: DayIn | None = None,
    issued_to: DayIn | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[InvoiceRead]:
    filters = service.InvoiceFilters(
        contract_id=filter_id("contract_id", contract_id),
        customer_id=filter_id("customer_id", customer_id),
        billing_run_id=filter_id("billing_run_id", billing_run_id),
        status=status,
        issued_from=issued_from,
        issued_to=issued_to,
    )
    rows, next_cursor = service.list_invoices(session, filters, cursor=cursor, limit=limit)
    return Page(items=document_reads(session, rows), next_cursor=next_cursor)


@router.get("/invoices/export.csv", response_class=StreamingResponse)
def export_invoice_lines(
    session: SessionDep, date_from: DayIn, date_to: DayIn, include_void: bool = False
) -> StreamingResponse:
    """Every line of the invoices issued from ``date_from`` to ``date_to`` (inclusive), for accounting and PSA
    import; the columns are in docs/billing.md."""
    return _export(session, date_from, date_to, include_void, DocumentKind.INVOICE)


def _export(
    session: SessionDep, date_from: DayIn, date_to: DayIn, include_void: bool, kind: DocumentKind
) -> StreamingResponse:
    # Materialised inside the request's session (a streamed body would outlive it); a chunk per 1,000 lines.
    chunks = list(
        service.export_lines(session, date_from=date_from, date_to=date_to, include_void=include_void, kind=kind)
    )
    what = "credit-note" if kind is DocumentKind.CREDIT_NOTE else "invoice"
    filename = f"{what}-lines-{date_from}-{date_to}.csv"
    return StreamingResponse(
        iter(chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/invoices/{invoice_id}.pdf", response_class=Response)
def invoice_pdf(invoice_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    return _pdf(session, service.require_invoice(session, invoice_id), settings)


def _pdf(session: SessionDep, invoice: Invoice, settings: Settings) -> Response:
    credited = service.numbers_of(session, [invoice.credits_invoice_id])
    body = render_invoice(
        invoice,
        service.lines_of(session, invoice.id),
        seller_of(settings),
        credits_invoice_number=credited.get(invoice.credits_invoice_id) if invoice.credits_invoice_id else None,
        sections=service.sections_with_lines(session, invoice),
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
    )


@router.get("/invoices/{invoice_id}", response_model=InvoiceRead)
def get_invoice(invoice_id: str, session: SessionDep) -> InvoiceRead:
    return document_read(session, service.require_invoice(session, invoice_id))


@router.post("/invoices/{invoice_id}/void", response_model=InvoiceRead)
def void_invoice(
    invoice_id: str, body: VoidRequest, session: SessionDep, now: NowDep, today: TodayDep, settings: SettingsDep
) -> InvoiceRead:
    """Void an issued invoice; the next billing run bills its cycle again (with a new number). A credit note
    dated today answers the void (``credited_by``)."""
    invoice = service.require_invoice(session, invoice_id)
    service.void_invoice(
        session,
        invoice=invoice,
        reason=body.reason,
        now=now,
        today=today,
        credit_note_prefix=settings.credit_note_prefix,
    )
    return document_read(session, invoice)


@router.get("/credit-notes", response_model=Page[InvoiceRead])
def list_credit_notes(
    session: SessionDep,
    contract_id: str | None = None,
    customer_id: str | None = None,
    billing_run_id: str | None = None,
    credits_invoice_id: str | None = None,
    status: InvoiceStatus | None = None,
    issued_from: DayIn | None = None,
    issued_to: DayIn | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[InvoiceRead]:
    """Credit notes, oldest first: a void's (``credit_reason: void``) and those of cycles whose total is negative
    (``negative_cycle``). Their amounts are negative."""
    filters = service.InvoiceFilters(
        contract_id=filter_id("contract_id", contract_id),
        customer_id=filter_id("customer_id", customer_id),
        billing_run_id=filter_id("billing_run_id", billing_run_id),
        credits_invoice_id=filter_id("credits_invoice_id", credits_invoice_id),
        status=status,
        issued_from=issued_from,
        issued_to=issued_to,
        kind=DocumentKind.CREDIT_NOTE,
    )
    rows, next_cursor = service.list_invoices(session, filters, cursor=cursor, limit=limit)
    return Page(items=document_reads(session, rows), next_cursor=next_cursor)


@router.get("/credit-notes/export.csv", response_class=StreamingResponse)
def export_credit_note_lines(
    session: SessionDep, date_from: DayIn, date_to: DayIn, include_void: bool = False
) -> StreamingResponse:
    """Every line of the credit notes issued from ``date_from`` to ``date_to`` (inclusive); the columns are in
    docs/billing.md."""
    return _export(session, date_from, date_to, include_void, DocumentKind.CREDIT_NOTE)


@router.get("/credit-notes/{credit_note_id}.pdf", response_class=Response)
def credit_note_pdf(credit_note_id: str, session: SessionDep, settings: SettingsDep) -> Response:
    return _pdf(session, service.require_credit_note(session, credit_note_id), settings)


@router.get("/credit-notes/{credit_note_id}", response_model=InvoiceRead)
def get_credit_note(credit_note_id: str, session: SessionDep) -> InvoiceRead:
    """By id or number (``CN-000001``)."""
    return document_read(session, service.require_credit_note(session, credit_note_id))
