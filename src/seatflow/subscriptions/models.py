from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.catalog.models import BillingPlan as BillingPlan  # with the products' combinations; re-exported
from seatflow.catalog.models import ReductionBehavior, Term
from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import ScaledDecimal, UTCDateTime, enum_column
from seatflow.money import PRICE_SCALE


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    """The term ended without auto-renew (SPEC §4): never "cancelled", and nothing was sent to cancel it."""


ENDED_STATUSES = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED})


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    QUANTITY = "quantity"
    PRICE = "price"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    CANCEL = "cancel"
    EXPIRE = "expire"
    """The term ended without auto-renew: the provider lets it expire, nothing is sent."""
    AUTO_RENEW = "auto_renew"
    """Auto-renew turned on or off (``auto_renew_after``); for Partner Center ``autoRenewEnabled``."""
    NEXT_TERM = "next_term"
    """The changes scheduled for the renewal changed: Partner Center is sent ``scheduledNextTermInstructions``."""


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
    term: Mapped[Term] = mapped_column(enum_column(Term, 8))
    """The commitment (``P1M``, ``P1Y``, ``P3Y``), one of the product's combinations (SPEC §2, §4)."""
    billing_plan: Mapped[BillingPlan] = mapped_column(enum_column(BillingPlan, 16))
    co_term_subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT")
    )
    """Its term ends with this subscription's (NCE's ``customTermEndDate``), e.g. an add-on co-termed to its base."""
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(PRICE_SCALE))
    cost_price: Mapped[Decimal | None] = mapped_column(ScaledDecimal(PRICE_SCALE))
    price_rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The price rule that set ``unit_price`` (SPEC §15); None when the price was set by hand or from the catalog's
    list price. A subscription priced by a rule is priced again at each renewal. No foreign key: price rules name
    subscriptions already (an override), and rules are retired, never deleted."""
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
        # With ``id``: a subscription's changes in recording order (created_at, id), as the seat batches read them
        # (subscriptions.batches.batches_of), walked from a point without sorting.
        Index("ix_license_changes_subscription_created", "subscription_id", "created_at", "id"),
        # The queue's per-subscription gates ("has a due awaiting change", "has a failed one"): without it SQLite
        # answered each from the queue index above, scanning every awaiting change once per subscription.
        Index("ix_license_changes_subscription_status", "subscription_id", "provisioning_status", "effective_date"),
        # The seat batches' window read (subscriptions.batches.batches_of): the first change effective from the
        # refund window's cut-off is found among the window's changes, not by walking the term's.
        Index("ix_license_changes_subscription_effective", "subscription_id", "effective_date"),
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
    provider_cart_id: Mapped[str | None] = mapped_column(String(100))
    """The Partner Center cart that buys the subscription, stored before checkout: after a lost answer the same
    cart is checked out again, which Microsoft answers with the first result instead of a second purchase."""
    provider_operation: Mapped[str | None] = mapped_column(String(1000))
    """The ``Location`` of a change Partner Center accepted (``202``) and is still applying: polled, never re-sent."""
    auto_renew_after: Mapped[bool | None] = mapped_column(Boolean)
    """For an ``auto_renew`` change: the value sent."""
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
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"))
    """At renewal only: the SKU the next term is on (another product of the same provider account)."""
    term: Mapped[Term | None] = mapped_column(enum_column(Term, 8))
    billing_plan: Mapped[BillingPlan | None] = mapped_column(enum_column(BillingPlan, 16))
    co_term_subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT")
    )
    """At renewal only: the next term ends with this subscription's."""
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
