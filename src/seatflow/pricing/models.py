"""The price sheet entries imported from Microsoft's new-commerce license-based price list, and the imports."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
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


# --- price rules (SPEC §15) ------------------------------------------------------------------------------------

PERCENT_SCALE = 4
"""Rule percentages are kept to four decimals (``12.5`` is 12.5 %)."""


class RuleKind(enum.StrEnum):
    MARKUP = "markup"
    """Cost per unit per month + ``percent`` %."""
    ERP_DISCOUNT = "erp_discount"
    """Microsoft's recommended retail (ERP) per unit per month minus ``percent`` %."""
    FIXED = "fixed"
    """``fixed_price`` per unit per month, in ``currency``."""


class RuleScope(enum.StrEnum):
    """What a rule applies to, from the least to the most specific; the most specific rule in force wins."""

    EVERYTHING = "everything"
    PRODUCT = "product"
    CUSTOMER = "customer"
    CUSTOMER_PRODUCT = "customer_product"
    SUBSCRIPTION = "subscription"

    @property
    def rank(self) -> int:
        return list(RuleScope).index(self)


class PriceRule(IdMixin, Base):
    """How a subscription's unit price is decided (SPEC §15). A rule is in force until it is retired; at most one
    rule is in force per scope and target (the service checks it under a lock). A rule of a subscription's scope is
    an operator's override and carries a reason; only such an override may allow a price below cost."""

    __tablename__ = "price_rules"

    kind: Mapped[RuleKind] = mapped_column(enum_column(RuleKind, 16))
    scope: Mapped[RuleScope] = mapped_column(enum_column(RuleScope, 24))
    percent: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PERCENT_SCALE))
    fixed_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    currency: Mapped[str | None] = mapped_column(String(3))
    """A fixed price's currency; a percentage rule applies in whatever currency the prices are in."""
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("customer_accounts.id", ondelete="RESTRICT"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    allow_above_erp: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_below_cost: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_by: Mapped[str | None] = mapped_column(String(100))
