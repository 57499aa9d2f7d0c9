from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    and_,
    false,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.contracts.models import TAX_RATE_SCALE
from seatflow.db.base import Base, IdMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    VOID = "void"


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    """Numbered in its own gapless sequence (``CN-000001``); its amounts are negative: what it takes off."""


class CreditReason(enum.StrEnum):
    VOID = "void"
    """Answers a voided invoice: its lines, negated; ``credits_invoice_id`` is that invoice."""
    NEGATIVE_CYCLE = "negative_cycle"
    """A cycle whose total is negative (credits for reductions exceed the charges): it bills that cycle."""


class LineKind(enum.StrEnum):
    RECURRING = "recurring"
    """The cycle's charge for a subscription at its quantity on the cycle's first day (prorated only for a
    contract's partial last cycle)."""
    PRORATION = "proration"
    """A change inside a cycle, counted from its effective day: an increase (or a subscription starting
    mid-cycle) charges the rest of the cycle, a reduction (or a cancellation) credits it."""


class BillingRun(IdMixin, Base):
    __tablename__ = "billing_runs"

    run_date: Mapped[date] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(320))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invoices_created: Mapped[int] = mapped_column(Integer, default=0)
    credit_notes_created: Mapped[int] = mapped_column(Integer, default=0)
    """Cycles whose total was negative: issued as credit notes, not invoices."""
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Per currency: ``{"USD": {"subtotal": "…", "tax": "…", "total": "…", "invoices": n}}``."""


INVOICE_COUNTER = "invoice_number"
"""Invoice numbers' counter. Billing runs, voids and schedule changes lock it first, so they queue."""
CREDIT_NOTE_COUNTER = "credit_note_number"
"""Credit notes' own gapless sequence (``CN-000001``)."""
BILLS_PERIOD = "status = 'issued' AND (credit_reason IS NULL OR credit_reason <> 'void') AND NOT consolidated"
"""The documents that bill their period: issued invoices and credit notes of negative cycles, per contract (a
consolidated document bills nothing itself: its sections, ordinary per-contract rows, bill their periods)."""


def bills_period() -> ColumnElement[bool]:
    """``BILLS_PERIOD`` as a clause."""
    return and_(
        Invoice.status == InvoiceStatus.ISSUED,
        or_(Invoice.credit_reason.is_(None), Invoice.credit_reason != CreditReason.VOID),
        Invoice.consolidated.is_(False),
    )


def sendable() -> ColumnElement[bool]:
    """The documents that are sent: not a section of a consolidated document."""
    return Invoice.consolidated_invoice_id.is_(None)


class Invoice(IdMixin, Base):
    """An invoice or a credit note (``kind``): both bill or credit a period of a contract, with lines."""

    __tablename__ = "invoices"
    __table_args__ = (
        # One issued document per contract and period (an invoice, or a credit note for a negative cycle): a rerun
        # or a concurrent run can never bill it twice. A void's credit note shares the voided invoice's period.
        Index(
            "uq_invoices_contract_cycle_issued",
            "contract_id",
            "period_start",
            unique=True,
            sqlite_where=text(BILLS_PERIOD),
            postgresql_where=text(BILLS_PERIOD),
        ),
        Index("ix_invoices_issue_date", "issue_date"),
    )

    number: Mapped[str] = mapped_column(String(40), unique=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_contracts.id", ondelete="RESTRICT"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer_accounts.id", ondelete="RESTRICT"), index=True
    )
    billing_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("billing_runs.id", ondelete="RESTRICT"), index=True
    )
    """The run that issued it; None for a void's credit note."""
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, 16), default=DocumentKind.INVOICE)
    credit_reason: Mapped[CreditReason | None] = mapped_column(enum_column(CreditReason, 16))
    """For a credit note: why it was issued."""
    credits_invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    """For a credit note: the invoice it credits (the voided one; for a negative cycle, the contract's invoice
    before it, None when there is none)."""
    cycle_index: Mapped[int] = mapped_column(Integer)
    """Informative only: which cycle of the contract's schedule(s) it was. What was billed is the period."""
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(ScaledDecimal(TAX_RATE_SCALE))
    subtotal: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    tax: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    total: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    status: Mapped[InvoiceStatus] = mapped_column(enum_column(InvoiceStatus, 16))
    bill_to: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The customer's name, billing address and tax ID and the contract's name, as they were when the invoice was
    issued."""
    seller: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The seller (name, address lines, email, tax ID) as configured when the invoice was issued; empty on invoices
    issued before it was recorded (their PDF shows today's)."""
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=0)
    """The contract's payment terms when it was issued: due_date = issue_date + these days."""
    payment_instructions: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)
    consolidated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A consolidated document (SPEC §8): one invoice (or credit note) for a parent contract's customer holding
    its child contracts' invoices of a cycle as sections. It has a number, a bill-to and totals but no lines of its
    own, and bills no period itself (``contract_id`` is the parent contract)."""
    consolidated_invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    """On a section: the consolidated document it is part of. A section is an ordinary per-contract document
    (it bills its contract's period, with lines) that is not sent on its own; its number is the document's
    number and ``-k``."""


class InvoiceLine(IdMixin, Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        # A run reads what was billed for a subscription's recent days: its lines that end on or after a day.
        Index("ix_invoice_lines_subscription_period_end", "subscription_id", "period_end"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind, 16))
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"))
    license_change_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("license_changes.id", ondelete="RESTRICT")
    )
    description: Mapped[str] = mapped_column(String(500))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    amount: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
