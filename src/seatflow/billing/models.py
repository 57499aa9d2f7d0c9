from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.contracts.models import TAX_RATE_SCALE
from seatflow.db.base import Base, IdMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE


class InvoiceStatus(enum.StrEnum):
    ISSUED = "issued"
    VOID = "void"


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
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Per currency: ``{"USD": {"subtotal": "…", "tax": "…", "total": "…", "invoices": n}}``."""


class Invoice(IdMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # One issued invoice per contract and cycle: a rerun or a concurrent run can never bill it twice.
        Index(
            "uq_invoices_contract_cycle_issued",
            "contract_id",
            "period_start",
            unique=True,
            sqlite_where=text("status = 'issued'"),
            postgresql_where=text("status = 'issued'"),
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
    billing_run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_runs.id", ondelete="RESTRICT"), index=True
    )
    cycle_index: Mapped[int] = mapped_column(Integer)
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
    """The customer's name and billing address as they were when the invoice was issued."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)


class InvoiceLine(IdMixin, Base):
    __tablename__ = "invoice_lines"

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
