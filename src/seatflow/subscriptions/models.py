from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.catalog.models import ReductionBehavior
from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    QUANTITY = "quantity"
    PRICE = "price"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    CANCEL = "cancel"


class ChangeOrigin(enum.StrEnum):
    PORTAL = "portal"
    OPERATOR = "operator"
    API = "api"
    LINKED_CHILD = "linked_child"
    PROVIDER_SYNC = "provider_sync"
    SYSTEM = "system"
    """Renewals, expiries and scheduled changes applied on their date."""


class ProvisioningStatus(enum.StrEnum):
    AWAITING = "awaiting_provisioning"
    PROVISIONED = "provisioned"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


class BillingStatus(enum.StrEnum):
    OPEN = "open"
    INVOICED = "invoiced"


class ScheduledStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    APPLIED = "applied"
    FAILED = "failed"
    """Its date came but the change was no longer possible; ``message`` says why."""
    CANCELLED = "cancelled"


class Subscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscriptions"

    contract_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_contracts.id", ondelete="RESTRICT"), index=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[SubscriptionStatus] = mapped_column(enum_column(SubscriptionStatus, 16))
    start_date: Mapped[date] = mapped_column(Date)
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    """The last day of the current term (commitment end); the next term starts the day after."""
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    currency: Mapped[str] = mapped_column(String(3))
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    cost_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_end_user_modification: Mapped[bool] = mapped_column(Boolean, default=True)
    reduction_behavior: Mapped[ReductionBehavior] = mapped_column(enum_column(ReductionBehavior))
    reduction_window_days: Mapped[int | None] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(100), index=True)
    """The provider's subscription id, once provisioned."""
    parent_subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    linked_subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("bundles.id", ondelete="RESTRICT"))
    """The bundle this subscription was ordered from, if any (display and pricing only)."""
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    """The worker provisioning this subscription's changes now (SPEC §7); its lease ends at ``claimed_until``."""
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Provisioning waits until then: a transient error's backoff, or an order the provider is completing."""


class LicenseChange(IdMixin, Base):
    __tablename__ = "license_changes"
    __table_args__ = (
        Index("ix_license_changes_provisioning_queue", "provisioning_status", "effective_date"),
        Index("ix_license_changes_subscription_created", "subscription_id", "created_at"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"))
    kind: Mapped[ChangeKind] = mapped_column(enum_column(ChangeKind, 16))
    quantity_before: Mapped[int] = mapped_column(Integer)
    quantity_after: Mapped[int] = mapped_column(Integer)
    price_before: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    price_after: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    effective_date: Mapped[date] = mapped_column(Date)
    origin: Mapped[ChangeOrigin] = mapped_column(enum_column(ChangeOrigin, 16))
    requested_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str | None] = mapped_column(Text)
    """Why an operator forced a change on a linked parent (required then), or a note."""
    caused_by_change_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("license_changes.id", ondelete="RESTRICT"), index=True
    )
    provisioning_status: Mapped[ProvisioningStatus] = mapped_column(enum_column(ProvisioningStatus, 24))
    billing_status: Mapped[BillingStatus] = mapped_column(enum_column(BillingStatus, 16), default=BillingStatus.OPEN)
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_request_id: Mapped[str | None] = mapped_column(String(64))
    """The MS-RequestId of the order that creates the subscription, stored before it is first sent, so that
    every re-send is the same request and the provider answers it without buying twice."""
    provider_order_id: Mapped[str | None] = mapped_column(String(100))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a manual provider's people were told about this change."""
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    """The invoice that billed this change (``billing_status`` invoiced); cleared when it is voided."""


class ScheduledChange(IdMixin, TimestampMixin, Base):
    """A quantity change for a future date or for the next renewal; applied as a license change then."""

    __tablename__ = "scheduled_changes"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    at_renewal: Mapped[bool] = mapped_column(Boolean, default=False)
    effective_date: Mapped[date | None] = mapped_column(Date)
    """The date it applies on; for ``at_renewal`` the renewal date as known when it was scheduled."""
    origin: Mapped[ChangeOrigin] = mapped_column(enum_column(ChangeOrigin, 16))
    requested_by: Mapped[str] = mapped_column(String(320))
    force: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Asked with force on a linked parent; without it the change fails if the subscription is one by then."""
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ScheduledStatus] = mapped_column(enum_column(ScheduledStatus, 16), default=ScheduledStatus.SCHEDULED)
    applied_change_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("license_changes.id", ondelete="RESTRICT")
    )
    message: Mapped[str | None] = mapped_column(Text)
