from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from seatflow.catalog.models import ReductionBehavior, Term
from seatflow.schemas import DayIn, IdStr, IntIn, MultiLine, OptionalMoneyOut, PriceIn, TextIn
from seatflow.subscriptions.models import (
    BillingPlan,
    BillingStatus,
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.rules import QUANTITY_CAP, Refundable

Quantity = Annotated[IntIn, Field(ge=0, le=QUANTITY_CAP)]
"""A quantity sent to the API; the product's own limits are checked by the service (``rules.check_quantity``)."""


@dataclass(frozen=True)
class Actor:
    """Who asked, as the change log records it."""

    origin: ChangeOrigin
    name: str


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionCreate(_Input):
    contract_id: TextIn
    product_id: TextIn
    quantity: Annotated[IntIn, Field(ge=1, le=QUANTITY_CAP)]
    provider_account_id: TextIn | None = None
    parent_subscription_id: TextIn | None = None
    linked_subscription_id: TextIn | None = None
    start_date: DayIn | None = None
    term: Term | None = None
    """One of the product's term and billing-plan combinations; the product's default when absent."""
    billing_plan: BillingPlan | None = None
    co_term_subscription_id: TextIn | None = None
    """End the first term with this subscription's (an add-on co-termed to its base: NCE's customTermEndDate)."""
    auto_renew: bool = True
    unit_price: PriceIn | None = None
    cost_price: PriceIn | None = None
    billable: bool = True
    allow_end_user_modification: bool = True
    reduction_behavior: ReductionBehavior | None = None
    reduction_window_days: Annotated[IntIn, Field(ge=1, le=366)] | None = None


class SubscriptionUpdate(_Input):
    """Not a quantity: quantities change only through /quantity."""

    unit_price: PriceIn | None = None
    price_effective_date: DayIn | None = None
    """The day a new ``unit_price`` applies from. Without it the term's price is protected (SPEC §8): the new price
    applies from the next renewal (from the start, for a subscription not started yet)."""
    cost_price: PriceIn | None = None
    billable: bool | None = None
    allow_end_user_modification: bool | None = None
    auto_renew: bool | None = None
    reduction_behavior: ReductionBehavior | None = None
    reduction_window_days: Annotated[IntIn, Field(ge=1, le=366)] | None = None
    provider_account_id: TextIn | None = None


class RefundableBatchRead(BaseModel):
    quantity: int
    allowed_until: date
    """The last day (inclusive) on which these seats can still be reduced: the window's seventh day for NCE.
    Partner Center gives the moment (``allowedUntilDateTime``, 168 hours after the purchase); seatflow counts days."""


class RefundableQuantityRead(BaseModel):
    """Partner Center's ``refundableQuantity``: ``total`` is the sum of the batches, soonest to close first."""

    total: int
    batches: list[RefundableBatchRead]

    @classmethod
    def from_rule(cls, refundable: Refundable) -> RefundableQuantityRead:
        return cls(
            total=refundable.total,
            batches=[
                RefundableBatchRead(quantity=b.quantity, allowed_until=b.allowed_until) for b in refundable.batches
            ],
        )


class SubscriptionRead(BaseModel):
    id: IdStr
    contract_id: IdStr
    product_id: IdStr
    provider_account_id: IdStr
    quantity: int
    status: SubscriptionStatus
    start_date: date
    term_start: date
    term_end: date
    term: Term
    billing_plan: BillingPlan
    co_term_subscription_id: IdStr | None
    auto_renew: bool
    expired_at: datetime | None
    currency: str
    unit_price: OptionalMoneyOut
    cost_price: OptionalMoneyOut
    price_rule_id: IdStr | None = None
    """The price rule that set ``unit_price`` (SPEC §15); null when set by hand or from the catalog."""
    billable: bool
    allow_end_user_modification: bool
    reduction_behavior: ReductionBehavior
    reduction_window_days: int | None
    external_id: str | None
    parent_subscription_id: IdStr | None
    linked_subscription_id: IdStr | None
    bundle_id: IdStr | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    refundable_quantity: RefundableQuantityRead | None = None
    """The seats that can be reduced today (SPEC §6), under every rule that applies (a linked child's and its
    parent's); null when no rule limits reductions (``allowed``, or a pending subscription)."""

    @classmethod
    def from_model(cls, subscription: Subscription, *, refundable: Refundable | None = None) -> SubscriptionRead:
        read = cls.model_validate(subscription, from_attributes=True)
        if refundable is not None:
            read.refundable_quantity = RefundableQuantityRead.from_rule(refundable)
        return read


class QuantityChange(_Input):
    quantity: Quantity
    effective: Literal["now", "renewal"] | DayIn = "now"
    force: bool = False
    reason: Annotated[str, Field(max_length=2000), MultiLine] | None = None


class StatusChange(_Input):
    cascade: bool = False
    force: bool = False
    reason: Annotated[str, Field(max_length=2000), MultiLine] | None = None


class LinkRequest(_Input):
    linked_subscription_id: TextIn
    provider_account_id: TextIn


class UnlinkRequest(_Input):
    provider_account_id: TextIn | None = None
    """A do_nothing provider account; the first one when absent."""


class BundleOrder(_Input):
    contract_id: TextIn
    quantity: Annotated[IntIn, Field(ge=1, le=QUANTITY_CAP)]
    provider_account_id: TextIn | None = None
    start_date: DayIn | None = None


class LicenseChangeRead(BaseModel):
    id: IdStr
    subscription_id: IdStr
    kind: ChangeKind
    quantity_before: int
    quantity_after: int
    price_before: OptionalMoneyOut
    price_after: OptionalMoneyOut
    effective_date: date
    origin: ChangeOrigin
    requested_by: str
    reason: str | None
    caused_by_change_id: IdStr | None
    provisioning_status: ProvisioningStatus
    billing_status: BillingStatus
    message: str | None
    attempts: int
    created_at: datetime
    provisioned_at: datetime | None
    last_attempt_at: datetime | None
    notified_at: datetime | None

    @classmethod
    def from_model(cls, change: LicenseChange) -> LicenseChangeRead:
        return cls.model_validate(change, from_attributes=True)


class ScheduledChangeRead(BaseModel):
    id: IdStr
    subscription_id: IdStr
    quantity: int
    product_id: IdStr | None
    term: Term | None
    billing_plan: BillingPlan | None
    co_term_subscription_id: IdStr | None
    at_renewal: bool
    effective_date: date | None
    origin: ChangeOrigin
    requested_by: str
    status: ScheduledStatus
    applied_change_id: IdStr | None
    message: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, change: ScheduledChange) -> ScheduledChangeRead:
        return cls.model_validate(change, from_attributes=True)


class PriceOverride(_Input):
    """An operator's price for one subscription (SPEC §15): a fixed rule of its scope, with the reason."""

    unit_price: PriceIn
    reason: Annotated[TextIn, Field(min_length=1, max_length=300)]
    price_effective_date: DayIn | None = None
    """From when; the next renewal when absent (the term's price is protected, SPEC §8)."""
    allow_below_cost: bool = False
    allow_above_erp: bool = False
