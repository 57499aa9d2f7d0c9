from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.catalog.models import BillingFrequency
from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column

TAX_RATE_SCALE = 6


class BillingPolicy(enum.StrEnum):
    ADVANCE = "advance"
    ARREARS = "arrears"


class ProrationUnit(enum.StrEnum):
    DAYS = "days"
    MONTHS = "months"


class ContractStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class BillingContract(IdMixin, TimestampMixin, Base):
    __tablename__ = "billing_contracts"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customer_accounts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    parent_contract_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("billing_contracts.id", ondelete="RESTRICT"), index=True
    )
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    billing_frequency: Mapped[BillingFrequency] = mapped_column(enum_column(BillingFrequency, 16))
    billing_policy: Mapped[BillingPolicy] = mapped_column(enum_column(BillingPolicy, 16))
    start_date: Mapped[date] = mapped_column(Date)
    term_months: Mapped[int] = mapped_column(Integer, default=12)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    proration_unit: Mapped[ProrationUnit] = mapped_column(enum_column(ProrationUnit, 16))
    process_refunds: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    tax_rate: Mapped[Decimal] = mapped_column(ScaledDecimal(TAX_RATE_SCALE), default=Decimal(0))
    status: Mapped[ContractStatus] = mapped_column(enum_column(ContractStatus, 16), default=ContractStatus.ACTIVE)
    bill_from: Mapped[date | None] = mapped_column(Date)
    """Nothing is billed before this day (a cycle start); None: from ``start_date``. For a contract imported with
    a start in the past whose earlier cycles another system billed."""
    consolidate_child_invoices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Its child contracts' (``parent_contract_id`` is this one) charges of a cycle go onto one invoice addressed to
    this contract's customer, a section per child contract (SPEC §8 "Consolidated invoices")."""
    schedule_from: Mapped[date | None] = mapped_column(Date)
    """The day ``billing_frequency``, ``billing_policy`` and ``proration_unit`` apply from (a cycle boundary);
    None: from ``start_date``. The schedules before it are ``ContractSchedule`` rows."""


class ContractSchedule(IdMixin, Base):
    """An earlier billing schedule of a contract: how it was billed from ``effective_from`` to ``effective_to``,
    before a schedule change at a cycle boundary (SPEC §8 "Schedule changes")."""

    __tablename__ = "contract_schedules"

    contract_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_contracts.id", ondelete="CASCADE"), index=True
    )
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date] = mapped_column(Date)
    """The last day (inclusive): the day before the next schedule's first."""
    billing_frequency: Mapped[BillingFrequency] = mapped_column(enum_column(BillingFrequency, 16))
    billing_policy: Mapped[BillingPolicy] = mapped_column(enum_column(BillingPolicy, 16))
    proration_unit: Mapped[ProrationUnit] = mapped_column(enum_column(ProrationUnit, 16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the change that ended this schedule was made."""
