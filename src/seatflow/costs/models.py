"""Microsoft's charges to the reseller, one row per reconciliation line item, and the imports that brought them.

**Lines in force** (what the margin report sums): ``cost_lines`` rows whose ``superseded_by_import_id`` is NULL
(``CostLine.in_force()``, ``service.lines_in_force``). A row stops being in force in two ways, and never comes back
twice into a sum:

- *replaced*: an unbilled import for a billing period and currency (``period=current|previous``, or a file of
  unbilled lines) replaces that account's earlier unbilled lines of the same period and currency that it does not
  hold any more (``superseded_by_import_id`` = that import, ``superseded_by_line_id`` NULL); a later unbilled import
  that holds the same line again puts it back in force;
- *superseded*: a billed line supersedes one in-force unbilled line of the same subscription, charge type
  (compared case-insensitively), charge start and end dates, billable quantity and sign of the amount
  (``superseded_by_import_id`` = the billed line's import, ``superseded_by_line_id`` = the billed line). Matching is
  one to one, so two identical charges stay two. An unbilled line imported after the billed one that covers it is
  stored already superseded.

Importing the same file or page again changes nothing: ``line_key`` (a digest of the line's fields and of how many
identical lines came before it in the same import) is unique per account.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ColumnElement, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.catalog.models import NAME_LENGTH
from seatflow.db.base import Base, IdMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column

COST_SCALE = 6
"""Prices, amounts and billable quantities are kept to six decimals (Microsoft writes ``0.03825``, ``-9.408``)."""
PRODUCT_KEY_LENGTH = 64
ID_LENGTH = 100


class CostKind(enum.StrEnum):
    BILLED = "billed"
    UNBILLED = "unbilled"


class CostSource(enum.StrEnum):
    FILE = "file"
    PROVIDER = "provider"


class CostImport(IdMixin, Base):
    """One import of reconciliation lines into a provider account: what it read and what it changed."""

    __tablename__ = "cost_imports"

    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT"), index=True
    )
    source: Mapped[CostSource] = mapped_column(enum_column(CostSource, 16))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    """The file's name, or what was asked of the provider (``invoice G000000001``, ``unbilled current USD``)."""
    kind: Mapped[CostKind] = mapped_column(enum_column(CostKind, 16))
    invoice_number: Mapped[str] = mapped_column(String(40), default="")
    """The invoice a billed import is for ('' when unbilled, or when a file holds several)."""
    period: Mapped[date | None] = mapped_column(Date)
    """An unbilled import's billing period (the first day of its month): the one whose lines it replaces."""
    currency: Mapped[str | None] = mapped_column(String(3))
    lines_read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    replaced: Mapped[int] = mapped_column(Integer, default=0)
    """Earlier unbilled lines of the period and currency that this unbilled import no longer holds."""
    superseded: Mapped[int] = mapped_column(Integer, default=0)
    """Unbilled lines this import's billed lines superseded (or, for an unbilled import, lines it brought that a
    billed line had covered already)."""
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CostLine(IdMixin, Base):
    """One reconciliation line item: a charge (or a refund, negative) Microsoft makes the reseller."""

    __tablename__ = "cost_lines"
    __table_args__ = (
        UniqueConstraint("provider_account_id", "line_key", name="uq_cost_lines_line_key"),
        Index("ix_cost_lines_account_period", "provider_account_id", "billing_period"),
    )

    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT")
    )
    import_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cost_imports.id", ondelete="RESTRICT"), index=True)
    """The import that inserted the line."""
    line_key: Mapped[str] = mapped_column(String(64))
    invoice_number: Mapped[str] = mapped_column(String(40), default="")
    billed: Mapped[bool] = mapped_column(Boolean)
    billing_period: Mapped[date] = mapped_column(Date)
    """The calendar month the charge belongs to (its first day): an unbilled import's period, else the month of the
    line's ``OrderDate`` (of ``ChargeStartDate`` when that is blank)."""
    customer_tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    """``CustomerId``, lower case as ``customer_accounts.tenant_id`` (an ``org:`` prefix dropped)."""
    customer_name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    subscription_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    """``SubscriptionId``, lower case; seatflow's ``subscriptions.external_id`` keeps the provider's spelling, so
    compare ``lower(external_id)``."""
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    order_date: Mapped[date | None] = mapped_column(Date)
    product_id: Mapped[str] = mapped_column(String(40))
    sku_id: Mapped[str] = mapped_column(String(40))
    availability_id: Mapped[str] = mapped_column(String(40), default="")
    product_key: Mapped[str] = mapped_column(String(PRODUCT_KEY_LENGTH), index=True)
    """``PRODUCTID:SKUID`` upper case, as ``pricing.service.product_key`` makes it from an offer ID."""
    sku_name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    product_name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    charge_type: Mapped[str] = mapped_column(String(32))
    """As Microsoft writes it: ``new``, ``renew``, ``cycleCharge``, ``addQuantity``, ``removeQuantity``,
    ``cancelImmediate``, ``convert``, …"""
    charge_start: Mapped[date] = mapped_column(Date)
    charge_end: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    billable_quantity: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    effective_unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    subtotal: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    """Pre-tax cost: what the margin report sums."""
    tax_total: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    total: Mapped[Decimal] = mapped_column(ScaledDecimal(COST_SCALE))
    currency: Mapped[str] = mapped_column(String(3))
    term_and_billing_cycle: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    billing_frequency: Mapped[str] = mapped_column(String(16), default="")
    reference_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    superseded_by_import_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("cost_imports.id", ondelete="RESTRICT")
    )
    """NULL while the line is in force (see the module's docstring)."""
    superseded_by_line_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("cost_lines.id", ondelete="RESTRICT")
    )
    """The billed line that superseded this unbilled one; NULL when it was replaced by a later unbilled import."""

    @classmethod
    def in_force(cls) -> ColumnElement[bool]:
        """The SQL condition of a line in force."""
        return cls.superseded_by_import_id.is_(None)
