"""Billing's events (SPEC §17): ``invoice.issued`` and ``credit_note.issued`` for each document that is sent (a
consolidated document's sections are part of it, not sent on their own), written with the run or the void that
issued it. The payload is the document's head as ``GET /api/v1/invoices/{id}`` shows it, without its lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from seatflow.billing.models import DocumentKind, Invoice
from seatflow.events.outbox import NewEvent, emit_many

FIELDS = (
    "id",
    "number",
    "kind",
    "contract_id",
    "customer_id",
    "billing_run_id",
    "credit_reason",
    "credits_invoice_id",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "currency",
    "subtotal",
    "tax",
    "total",
    "consolidated",
)


def _event(document: Mapping[str, Any], now: datetime) -> NewEvent:
    kind = DocumentKind(document["kind"])
    event_type = "credit_note.issued" if kind is DocumentKind.CREDIT_NOTE else "invoice.issued"
    return NewEvent(event_type, document["id"], {name: document[name] for name in FIELDS}, now)


def announce_documents(session: Session, documents: Iterable[Mapping[str, Any]], *, now: datetime) -> int:
    """Events for the documents written as rows (a billing run's); sections of a consolidated one are skipped."""
    events = [_event(d, now) for d in documents if d.get("consolidated_invoice_id") is None]
    return emit_many(session, events)


def announce_document(session: Session, document: Invoice, *, now: datetime) -> None:
    """The event of one document written through the ORM (a void's credit note)."""
    if document.consolidated_invoice_id is None:
        announce_documents(
            session, [{name: getattr(document, name) for name in (*FIELDS, "consolidated_invoice_id")}], now=now
        )
