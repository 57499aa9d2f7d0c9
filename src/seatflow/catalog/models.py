from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE


class ProviderKind(enum.StrEnum):
    PARTNER_CENTER = "partner_center"
    MANUAL = "manual"
    DO_NOTHING = "do_nothing"
    LINKED = "linked"


class ProductKind(enum.StrEnum):
    LICENSE = "license"
    ADDON = "addon"
    SERVICE = "service"


class Term(enum.StrEnum):
    P1M = "P1M"
    P1Y = "P1Y"
    P3Y = "P3Y"

    @property
    def months(self) -> int:
        return {"P1M": 1, "P1Y": 12, "P3Y": 36}[self.value]


class BillingFrequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "annual": 12}[self.value]


class BillingPlan(enum.StrEnum):
    """How a term is billed (SPEC §2): a product's combinations and a subscription's plan. ``quarterly`` only for
    the reseller's own services; ``triennial`` only with a P3Y term."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    TRIENNIAL = "triennial"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "annual": 12, "triennial": 36}[self.value]


class ReductionBehavior(enum.StrEnum):
    ALLOWED = "allowed"
    DISALLOWED = "disallowed"
    ALLOWED_WITHIN_WINDOW = "allowed_within_window"


class CatalogStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


# Column sizes, shared with the input schemas and the importers, which check them on every database: PostgreSQL
# refuses a longer value and SQLite would keep it, so the application refuses it first, naming the field or line.
NAME_LENGTH = 300
KEY_LENGTH = 200
"""Offer and provisioning IDs: Microsoft's licensing CSV has String_Ids of 103 characters."""
GUID_LENGTH = 36


class ProviderAccount(IdMixin, TimestampMixin, Base):
    """A configured connection offers come from and provisioning goes to (the seeds' application instance)."""

    __tablename__ = "provider_accounts"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[ProviderKind] = mapped_column(enum_column(ProviderKind))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProductParent(Base):
    """An edge of the possible-parents graph: ``product`` may be attached to a subscription of ``parent``."""

    __tablename__ = "product_parents"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    parent_product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class ProductPlan(Base):
    """One term and billing-plan combination a product is sold in, with its own prices (SPEC §2, NCE)."""

    __tablename__ = "product_plans"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    term: Mapped[Term] = mapped_column(enum_column(Term, 8), primary_key=True)
    billing_plan: Mapped[BillingPlan] = mapped_column(enum_column(BillingPlan, 16), primary_key=True)
    list_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    """Per unit per month, whatever the billing plan; None until priced."""
    cost_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    """Per unit per month, what the provider charges the reseller."""


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("provider_account_id", "offer_id"),
        UniqueConstraint("provider_account_id", "provisioning_id"),
    )

    product_code: Mapped[str] = mapped_column(String(20), unique=True)
    """Assigned on creation, never changed (the seeds' "Product ID")."""
    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[ProductKind] = mapped_column(enum_column(ProductKind))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    offer_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    provisioning_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    sku_id: Mapped[str | None] = mapped_column(String(GUID_LENGTH), index=True)
    """Microsoft's licensing GUID (the licensing CSV's GUID, Graph's skuId)."""
    description: Mapped[str] = mapped_column(Text, default="")
    assignable_to_users: Mapped[bool] = mapped_column(Boolean, default=True)
    unit: Mapped[str] = mapped_column(String(30), default="license")
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    max_quantity: Mapped[int | None] = mapped_column(Integer)
    term: Mapped[Term] = mapped_column(enum_column(Term, 8), default=Term.P1M)
    """With ``billing_frequency``, ``list_price`` and ``cost_price``: the default combination, one of ``plans``."""
    billing_frequency: Mapped[BillingFrequency] = mapped_column(
        enum_column(BillingFrequency, 16), default=BillingFrequency.MONTHLY
    )
    currency: Mapped[str] = mapped_column(String(3))
    list_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    """Per unit per month; None until priced. The default plan's, as ``cost_price``."""
    cost_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    reduction_behavior: Mapped[ReductionBehavior] = mapped_column(
        enum_column(ReductionBehavior), default=ReductionBehavior.ALLOWED
    )
    reduction_window_days: Mapped[int | None] = mapped_column(Integer)
    portal_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[CatalogStatus] = mapped_column(enum_column(CatalogStatus, 16), default=CatalogStatus.ACTIVE)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_plans: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    """Service plans the licensing CSV lists for this SKU, kept for reference."""

    provider_account: Mapped[ProviderAccount] = relationship(lazy="selectin")
    """Loaded with the product: whether it can be bought at Partner Center depends on the account's kind."""
    plans: Mapped[list[ProductPlan]] = relationship(
        order_by=(ProductPlan.term, ProductPlan.billing_plan),
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    """The term and billing-plan combinations it is sold in (``plan_key`` orders them by length)."""
    parents: Mapped[list[Product]] = relationship(
        secondary="product_parents",
        primaryjoin="Product.id == ProductParent.product_id",
        secondaryjoin="Product.id == ProductParent.parent_product_id",
        order_by="Product.product_code",
        lazy="raise",
        viewonly=True,
    )


class Bundle(IdMixin, TimestampMixin, Base):
    """A sellable package; only a virtual parent for pricing and display, never provisioned itself."""

    __tablename__ = "bundles"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CatalogStatus] = mapped_column(enum_column(CatalogStatus, 16), default=CatalogStatus.ACTIVE)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[BundleItem]] = relationship(
        back_populates="bundle",
        order_by="BundleItem.position",
        cascade="all, delete-orphan",
        lazy="raise",
    )


class BundleItem(IdMixin, Base):
    __tablename__ = "bundle_items"
    __table_args__ = (UniqueConstraint("bundle_id", "position"),)

    bundle_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("bundles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    quantity_multiplier: Mapped[int] = mapped_column(Integer, default=1)
    parent_position: Mapped[int | None] = mapped_column(Integer)
    """Position of the item this one hangs under; the real subscription of that item becomes the parent."""
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    unit_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    """Bundle price for this item per unit per month; the product's list price when None."""

    bundle: Mapped[Bundle] = relationship(back_populates="items", lazy="raise")
    product: Mapped[Product] = relationship(lazy="raise")
