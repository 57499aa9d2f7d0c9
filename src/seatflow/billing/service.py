"""Invoices and credit notes after a run: read, list, void (so the cycle is billed again, and a credit note answers
the void), export (SPEC §8)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from seatflow.billing.announcements import announce_document
from seatflow.billing.models import (
    CREDIT_NOTE_COUNTER,
    INVOICE_COUNTER,
    BillingRun,
    CreditReason,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    sendable,
)
from seatflow.catalog.models import Product
from seatflow.csv_safe import safe_row
from seatflow.db.sequences import allocate
from seatflow.errors import InvalidState, NotFound, ValidationFailed
from seatflow.ids import new_id, parse_id
from seatflow.money import format_money
from seatflow.pagination import page, where_equal
from seatflow.subscriptions.models import BillingStatus, LicenseChange


class InvoiceNotFound(NotFound):
    pass


class InvoiceVoid(InvalidState):
    code = "invoice_void"


class CreditNoteNotVoidable(InvalidState):
    code = "credit_note_not_voidable"


class InvoiceInConsolidated(InvalidState):
    """A section of a consolidated invoice is voided with its document, never alone."""

    code = "invoice_in_consolidated"


def require_invoice(
    session: Session, ref: str | uuid.UUID, *, kind: DocumentKind | None = DocumentKind.INVOICE
) -> Invoice:
    """By id or by number (``INV-000123``), of ``kind`` (None: an invoice or a credit note)."""
    invoice_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None and isinstance(ref, str):
        invoice = session.execute(select(Invoice).where(Invoice.number == ref)).scalar_one_or_none()
    if invoice is None or (kind is not None and invoice.kind is not kind):
        what = "credit note" if kind is DocumentKind.CREDIT_NOTE else "invoice"
        raise InvoiceNotFound(f"No {what} {ref!s}.")
    return invoice


def require_credit_note(session: Session, ref: str | uuid.UUID) -> Invoice:
    """By id or by number (``CN-000123``)."""
    return require_invoice(session, ref, kind=DocumentKind.CREDIT_NOTE)


def require_run(session: Session, ref: str) -> BillingRun:
    run_id = parse_id(ref)
    run = session.get(BillingRun, run_id) if run_id else None
    if run is None:
        raise NotFound(f"No billing run {ref!r}.")
    return run


def lines_of(session: Session, invoice_id: uuid.UUID) -> Sequence[InvoiceLine]:
    stmt = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position)
    return session.execute(stmt).scalars().all()


def sections_of(session: Session, document: Invoice) -> Sequence[Invoice]:
    """A consolidated document's sections, in order (``<number>-1``, ``-2``, …)."""
    if not document.consolidated:
        return []
    rows = session.execute(select(Invoice).where(Invoice.consolidated_invoice_id == document.id)).scalars().all()
    return sorted(rows, key=lambda section: int(section.number.rsplit("-", 1)[1]))


def sections_with_lines(session: Session, document: Invoice) -> list[tuple[Invoice, Sequence[InvoiceLine]]]:
    """A consolidated document's sections with their lines (nothing for any other document)."""
    return [(section, lines_of(session, section.id)) for section in sections_of(session, document)]


def credit_notes_of(session: Session, invoice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, str]]]:
    """The credit notes that credit each of these invoices: (id, number), oldest first."""
    found: dict[uuid.UUID, list[tuple[str, str]]] = {}
    if not invoice_ids:
        return found
    stmt = (
        select(Invoice.credits_invoice_id, Invoice.id, Invoice.number)
        .where(Invoice.credits_invoice_id.in_(invoice_ids), Invoice.kind == DocumentKind.CREDIT_NOTE)
        .order_by(Invoice.number)
    )
    for credited, note_id, number in session.execute(stmt):
        if credited is not None:
            found.setdefault(credited, []).append((str(note_id), number))
    return found


def numbers_of(session: Session, invoice_ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {i for i in invoice_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(ids)))
    return {row.id: row.number for row in rows}


@dataclass(frozen=True)
class InvoiceFilters:
    contract_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    billing_run_id: uuid.UUID | None = None
    status: InvoiceStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    kind: DocumentKind = DocumentKind.INVOICE
    credits_invoice_id: uuid.UUID | None = None


def list_invoices(
    session: Session, filters: InvoiceFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[Invoice], str | None]:
    """Invoices (or, with ``filters.kind``, credit notes) as they are sent, oldest first: a consolidated document,
    never its sections. ``contract_id`` and ``customer_id`` also find the consolidated documents that hold a section
    of that contract or customer."""
    stmt = where_equal(
        select(Invoice).where(Invoice.kind == filters.kind, sendable()),
        (Invoice.billing_run_id, filters.billing_run_id),
        (Invoice.status, filters.status),
        (Invoice.credits_invoice_id, filters.credits_invoice_id),
    )
    section = aliased(Invoice)
    for column, section_column, wanted in (
        (Invoice.contract_id, section.contract_id, filters.contract_id),
        (Invoice.customer_id, section.customer_id, filters.customer_id),
    ):
        if wanted is not None:
            holding = select(section.consolidated_invoice_id).where(
                section_column == wanted, section.consolidated_invoice_id.is_not(None)
            )
            stmt = stmt.where(or_(column == wanted, Invoice.id.in_(holding)))
    if filters.issued_from is not None:
        stmt = stmt.where(Invoice.issue_date >= filters.issued_from)
    if filters.issued_to is not None:
        stmt = stmt.where(Invoice.issue_date <= filters.issued_to)
    return page(session, stmt, Invoice.id, cursor=cursor, limit=limit)


def void_invoice(
    session: Session,
    *,
    invoice: Invoice,
    reason: str,
    now: datetime,
    today: date | None = None,
    credit_note_prefix: str = "CN-",
) -> Invoice:
    """Void an issued invoice: its cycle is billed again by the next run, and the changes it billed are open
    again so the new invoice bills them. The number stays used (numbers are never reused). A credit note dated
    ``today`` (``now``'s date when absent) answers it: the invoice's lines, negated, numbered in the credit
    notes' own sequence and referencing it. A credit note cannot be voided.

    A consolidated invoice is voided with its sections, and one consolidated credit note answers it, whose sections
    negate the invoice's. A section is not voided alone (``invoice_in_consolidated``)."""
    if invoice.kind is DocumentKind.CREDIT_NOTE:
        raise CreditNoteNotVoidable(f"{invoice.number} is a credit note: credit notes are not voided.")
    if invoice.consolidated_invoice_id is not None:
        document = session.get_one(Invoice, invoice.consolidated_invoice_id)
        raise InvoiceInConsolidated(
            f"{invoice.number} is a section of the consolidated invoice {document.number}: void {document.number}.",
            consolidated_invoice_id=str(document.id),
            consolidated_invoice_number=document.number,
        )
    if not reason.strip():
        raise ValidationFailed("Say why the invoice is voided.", code="reason_required")
    if invoice.status is InvoiceStatus.VOID:
        raise InvoiceVoid(f"Invoice {invoice.number} is void already.")
    allocate(session, INVOICE_COUNTER, 0)  # queue with billing runs, which lock it first too
    if _voided_meanwhile(session, invoice):
        raise InvoiceVoid(f"Invoice {invoice.number} is void already.")
    sections = sections_of(session, invoice)
    for document in (invoice, *sections):
        document.status = InvoiceStatus.VOID
        document.voided_at = now
        document.void_reason = reason.strip()
    session.execute(
        update(LicenseChange)
        .where(LicenseChange.invoice_id.in_([invoice.id, *(section.id for section in sections)]))
        .values(billing_status=BillingStatus.OPEN, invoice_id=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    note = _credit_note_for_void(session, invoice, now=now, today=today or now.date(), prefix=credit_note_prefix)
    for section in sections:
        _credit_note_for_void(
            session,
            section,
            now=now,
            today=today or now.date(),
            number=f"{note.number}-{section.number.rsplit('-', 1)[1]}",
            within=note,
        )
    session.flush()
    return invoice


def _voided_meanwhile(session: Session, invoice: Invoice) -> bool:
    """Voided by the request we queued behind (read again now that the lock is ours)."""
    session.refresh(invoice)
    return invoice.status is InvoiceStatus.VOID


def _credit_note_for_void(
    session: Session,
    invoice: Invoice,
    *,
    now: datetime,
    today: date,
    prefix: str = "CN-",
    number: str | None = None,
    within: Invoice | None = None,
) -> Invoice:
    """The credit note answering ``invoice``'s void, numbered from the counter; a section's (``within`` its
    consolidated credit note) is numbered ``number`` instead."""
    if number is None:
        number = f"{prefix}{allocate(session, CREDIT_NOTE_COUNTER, 1):06d}"
    note = Invoice(
        id=new_id(),
        number=number,
        contract_id=invoice.contract_id,
        customer_id=invoice.customer_id,
        billing_run_id=None,
        kind=DocumentKind.CREDIT_NOTE,
        credit_reason=CreditReason.VOID,
        credits_invoice_id=invoice.id,
        cycle_index=invoice.cycle_index,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        issue_date=today,
        due_date=today,
        currency=invoice.currency,
        tax_rate=invoice.tax_rate,
        subtotal=_negated(invoice.subtotal),
        tax=_negated(invoice.tax),
        total=_negated(invoice.total),
        status=InvoiceStatus.ISSUED,
        bill_to=invoice.bill_to,
        seller=invoice.seller,
        payment_terms_days=0,
        payment_instructions="",
        created_at=now,
        consolidated=invoice.consolidated,
        consolidated_invoice_id=within.id if within is not None else None,
    )
    session.add(note)
    session.flush()
    announce_document(session, note, now=now)
    columns = [column.key for column in InvoiceLine.__table__.columns]
    rows = [
        {name: getattr(line, name) for name in columns}
        | {"id": new_id(), "invoice_id": note.id, "quantity": -line.quantity, "amount": _negated(line.amount)}
        for line in lines_of(session, invoice.id)
    ]
    if rows:
        session.execute(insert(InvoiceLine), rows)
    return note


def _negated(amount: Decimal) -> Decimal:
    return -amount if amount else amount  # never "-0.00"


EXPORT_COLUMNS = [
    "invoice_number",
    "invoice_status",
    "issue_date",
    "due_date",
    "customer_id",
    "customer_name",
    "contract_id",
    "contract_name",
    "currency",
    "line",
    "line_kind",
    "subscription_id",
    "product_code",
    "product_name",
    "description",
    "period_start",
    "period_end",
    "quantity",
    "unit_price",
    "amount",
    "invoice_subtotal",
    "invoice_tax",
    "invoice_total",
    "line_contract_id",
    "line_contract_name",
]
"""The invoice-line CSV for accounting and PSA import: one row per line, the invoice's totals repeated; the line's
contract (on a consolidated invoice, the location's; otherwise the invoice's own)."""

CREDIT_NOTE_EXPORT_COLUMNS = [
    "credit_note_number",
    "credit_note_status",
    "issue_date",
    "credits_invoice_number",
    "credit_reason",
    *EXPORT_COLUMNS[4:20],
    "credit_note_subtotal",
    "credit_note_tax",
    "credit_note_total",
    "line_contract_id",
    "line_contract_name",
]
"""The credit-note-line CSV: as the invoices', with the invoice credited and why; amounts are negative."""


def export_lines(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    include_void: bool = False,
    kind: DocumentKind = DocumentKind.INVOICE,
) -> Iterator[str]:
    """CSV text, a chunk at a time, of every line of the invoices (or credit notes) issued from ``date_from`` to
    ``date_to``. A consolidated document's lines are its sections', under its number, in section order, each
    naming its location's contract (``line_contract_id``, ``line_contract_name``)."""
    if date_to < date_from:
        raise ValidationFailed("The export's end date is before its start date.", code="invalid_date_range")
    credited, document = aliased(Invoice), aliased(Invoice)
    stmt = (
        select(Invoice, InvoiceLine, Product.product_code, Product.name, credited.number, document)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .join(Product, Product.id == InvoiceLine.product_id)
        .outerjoin(document, document.id == Invoice.consolidated_invoice_id)
        .outerjoin(credited, credited.id == func.coalesce(document.credits_invoice_id, Invoice.credits_invoice_id))
        .where(Invoice.kind == kind, Invoice.issue_date >= date_from, Invoice.issue_date <= date_to)
        .order_by(func.coalesce(document.number, Invoice.number), Invoice.number, InvoiceLine.position)
        .execution_options(yield_per=2000)
    )
    if not include_void:
        stmt = stmt.where(Invoice.status == InvoiceStatus.ISSUED)
    credit = kind is DocumentKind.CREDIT_NOTE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CREDIT_NOTE_EXPORT_COLUMNS if credit else EXPORT_COLUMNS)
    position, previous = 0, None
    for count, (owner, line, product_code, product_name, credited_number, consolidated) in enumerate(
        session.execute(stmt), start=1
    ):
        invoice = consolidated or owner  # a section's lines are its document's
        position = position + 1 if invoice.number == previous else 1
        previous = invoice.number
        head = (
            [
                invoice.number,
                invoice.status.value,
                invoice.issue_date.isoformat(),
                credited_number or "",
                invoice.credit_reason.value if invoice.credit_reason else "",
            ]
            if credit
            else [invoice.number, invoice.status.value, invoice.issue_date.isoformat(), invoice.due_date.isoformat()]
        )
        writer.writerow(
            safe_row(
                [
                    *head,
                    invoice.customer_id,
                    invoice.bill_to.get("name", ""),
                    invoice.contract_id,
                    invoice.bill_to.get("contract", ""),
                    invoice.currency,
                    position,
                    line.kind.value,
                    line.subscription_id,
                    product_code,
                    product_name,
                    line.description,
                    line.period_start.isoformat(),
                    line.period_end.isoformat(),
                    line.quantity,
                    format_money(line.unit_price),
                    format_money(line.amount),
                    format_money(invoice.subtotal),
                    format_money(invoice.tax),
                    format_money(invoice.total),
                    owner.contract_id,
                    owner.bill_to.get("contract", ""),
                ]
            )
        )
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
