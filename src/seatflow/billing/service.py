"""Invoices after a run: read, list, void (so the cycle is billed again), export (SPEC §8)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seatflow.billing.models import BillingRun, Invoice, InvoiceLine, InvoiceStatus
from seatflow.catalog.models import Product
from seatflow.csv_safe import safe_row
from seatflow.errors import InvalidState, NotFound, ValidationFailed
from seatflow.ids import parse_id
from seatflow.money import format_money
from seatflow.pagination import page, where_equal
from seatflow.subscriptions.models import BillingStatus, LicenseChange


class InvoiceNotFound(NotFound):
    pass


class InvoiceVoid(InvalidState):
    code = "invoice_void"


def require_invoice(session: Session, ref: str | uuid.UUID) -> Invoice:
    """By id or by number (``INV-000123``)."""
    invoice_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None and isinstance(ref, str):
        invoice = session.execute(select(Invoice).where(Invoice.number == ref)).scalar_one_or_none()
    if invoice is None:
        raise InvoiceNotFound(f"No invoice {ref!s}.")
    return invoice


def require_run(session: Session, ref: str) -> BillingRun:
    run_id = parse_id(ref)
    run = session.get(BillingRun, run_id) if run_id else None
    if run is None:
        raise NotFound(f"No billing run {ref!r}.")
    return run


def lines_of(session: Session, invoice_id: uuid.UUID) -> Sequence[InvoiceLine]:
    stmt = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position)
    return session.execute(stmt).scalars().all()


@dataclass(frozen=True)
class InvoiceFilters:
    contract_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    billing_run_id: uuid.UUID | None = None
    status: InvoiceStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None


def list_invoices(
    session: Session, filters: InvoiceFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[Invoice], str | None]:
    stmt = where_equal(
        select(Invoice),
        (Invoice.contract_id, filters.contract_id),
        (Invoice.customer_id, filters.customer_id),
        (Invoice.billing_run_id, filters.billing_run_id),
        (Invoice.status, filters.status),
    )
    if filters.issued_from is not None:
        stmt = stmt.where(Invoice.issue_date >= filters.issued_from)
    if filters.issued_to is not None:
        stmt = stmt.where(Invoice.issue_date <= filters.issued_to)
    return page(session, stmt, Invoice.id, cursor=cursor, limit=limit)


def void_invoice(session: Session, *, invoice: Invoice, reason: str, now: datetime) -> Invoice:
    """Void an issued invoice: its cycle is billed again by the next run, and the changes it billed are open
    again so the new invoice bills them. The number stays used (numbers are never reused)."""
    if not reason.strip():
        raise ValidationFailed("Say why the invoice is voided.", code="reason_required")
    if invoice.status is InvoiceStatus.VOID:
        raise InvoiceVoid(f"Invoice {invoice.number} is void already.")
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = now
    invoice.void_reason = reason.strip()
    session.execute(
        update(LicenseChange)
        .where(LicenseChange.invoice_id == invoice.id)
        .values(billing_status=BillingStatus.OPEN, invoice_id=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return invoice


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
]
"""The invoice-line CSV for accounting and PSA import: one row per line, the invoice's totals repeated."""


def export_lines(session: Session, *, date_from: date, date_to: date, include_void: bool = False) -> Iterator[str]:
    """CSV text, a chunk at a time, of every line of the invoices issued from ``date_from`` to ``date_to``."""
    if date_to < date_from:
        raise ValidationFailed("The export's end date is before its start date.", code="invalid_date_range")
    stmt = (
        select(Invoice, InvoiceLine, Product.product_code, Product.name)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .join(Product, Product.id == InvoiceLine.product_id)
        .where(Invoice.issue_date >= date_from, Invoice.issue_date <= date_to)
        .order_by(Invoice.number, InvoiceLine.position)
        .execution_options(yield_per=2000)
    )
    if not include_void:
        stmt = stmt.where(Invoice.status == InvoiceStatus.ISSUED)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for count, (invoice, line, product_code, product_name) in enumerate(session.execute(stmt), start=1):
        writer.writerow(
            safe_row(
                [
                    invoice.number,
                    invoice.status.value,
                    invoice.issue_date.isoformat(),
                    invoice.due_date.isoformat(),
                    invoice.customer_id,
                    invoice.bill_to.get("name", ""),
                    invoice.contract_id,
                    invoice.bill_to.get("contract", ""),
                    invoice.currency,
                    line.position,
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
                ]
            )
        )
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
