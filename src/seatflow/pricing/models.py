"""The price sheet entries imported from Microsoft's new-commerce license-based price list, and the imports."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.catalog.models import NAME_LENGTH, BillingPlan, Term
from seatflow.db.base import Base, IdMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE

SHEET_PRICE_SCALE = 6
"""Prices as Microsoft writes them are kept to six decimals (the per-month figures to PRICE_SCALE, four)."""
PRODUCT_KEY_LENGTH = 64


class ImportSource(enum.StrEnum):
    FILE = "file"
    PROVIDER = "provider"


class PriceSheetImport(IdMixin, Base):
    """One import of a price sheet into a provider account: what it read and what it changed."""

    __tablename__ = "price_sheet_imports"

    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT"), index=True
    )
    source: Mapped[ImportSource] = mapped_column(enum_column(ImportSource, 16))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    """The file's name, or what was asked of the provider (``US current``, ``US history 202612``)."""
    market: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str | None] = mapped_column(String(3))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    unmatched_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PriceSheetEntry(IdMixin, Base):
    """One row of Microsoft's price sheet: the price of one license of ``product_key`` for one billing period of
    ``billing_plan`` in ``term``, in force from ``effective_start`` to ``effective_end`` (UTC dates, both
    included; no end: open). Rows for SKUs the catalog does not have are kept too, under their key."""

    __tablename__ = "price_sheet_entries"
    __table_args__ = (
        UniqueConstraint(
            "provider_account_id",
            "product_key",
            "term",
            "billing_plan",
            "market",
            "currency",
            "effective_start",
            "tier_min",
            name="uq_price_sheet_entries_key",
        ),
    )

    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT")
    )
    product_key: Mapped[str] = mapped_column(String(PRODUCT_KEY_LENGTH))
    """``ProductId:SkuId`` as Microsoft writes them (``CFQ7TTC0LH18:0001``), upper case."""
    term: Mapped[Term] = mapped_column(enum_column(Term, 8))
    billing_plan: Mapped[BillingPlan] = mapped_column(enum_column(BillingPlan, 16))
    market: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(SHEET_PRICE_SCALE))
    """Cost (``UnitPrice``) of one license for one billing period, as written."""
    erp_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(SHEET_PRICE_SCALE))
    """Estimated retail price (``ERP Price``) of one license for one billing period, as written; None when blank."""
    cost_per_month: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    """``unit_price`` / the billing plan's months, rounded half up to four decimals."""
    erp_per_month: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    effective_start: Mapped[date] = mapped_column(Date)
    effective_end: Mapped[date | None] = mapped_column(Date)
    tier_min: Mapped[int] = mapped_column(Integer, default=0)
    """``PricingTierRangeMin``; 0 when blank (one price for any quantity)."""
    tier_max: Mapped[int | None] = mapped_column(Integer)
    sku_title: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    import_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("price_sheet_imports.id", ondelete="RESTRICT"), index=True
    )
    """The import that inserted the row or last changed it."""
