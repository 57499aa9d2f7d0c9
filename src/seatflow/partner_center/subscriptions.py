"""A new-commerce subscription as a small typed record (developer/subscription-resources.md,
get-a-subscription-by-id.md, create-scheduled-changes.md), and the bodies that change one.

Partner Center changes a subscription by ``PATCH`` of "a full Subscription resource" (change-the-quantity-of-a-
subscription.md): each ``with_*`` builder takes the resource as last read and returns a copy with one thing
changed, never a partial body. The caller sends it with the etag it read (``If-Match``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seatflow.partner_center.errors import PartnerCenterError
from seatflow.partner_center.purchases import CatalogItemId
from seatflow.partner_center.reading import (
    datetime_field,
    format_datetime,
    garbled,
    int_field,
    lowered,
    objects_at,
    optional_datetime,
    optional_str,
    str_field,
)

SUBSCRIPTION_STATUSES = frozenset({"none", "active", "pending", "suspended", "expired", "disabled", "deleted"})
ENDED_STATUSES = frozenset({"expired", "disabled", "deleted"})
"""No longer in use at Microsoft: expired (term ended with auto-renew off, or still suspended at term end; 30 days),
then disabled (90 days), or deleted (cancelled)."""


@dataclass(frozen=True)
class RefundableBatch:
    quantity: int
    allowed_until: datetime


@dataclass(frozen=True)
class RefundableQuantity:
    """``refundableQuantity``: seats bought at purchase, renewal or mid-term each form a batch that can be
    reduced until its own ``allowedUntilDateTime`` (change-the-quantity-of-a-subscription.md)."""

    total: int
    batches: tuple[RefundableBatch, ...]

    def reducible_at(self, moment: datetime) -> int:
        return sum(batch.quantity for batch in self.batches if batch.allowed_until > moment)


@dataclass(frozen=True)
class NextTermProduct:
    product_id: str
    sku_id: str
    availability_id: str
    billing_cycle: str
    term_duration: str
    promotion_id: str | None = None


@dataclass(frozen=True)
class NextTermInstructions:
    """``scheduledNextTermInstructions``: what Microsoft's own renewal applies (create-scheduled-changes.md)."""

    product: NextTermProduct
    quantity: int
    custom_term_end_date: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        product: dict[str, Any] = {
            "productId": self.product.product_id,
            "skuId": self.product.sku_id,
            "availabilityId": self.product.availability_id,
            "billingCycle": self.product.billing_cycle,
            "termDuration": self.product.term_duration,
        }
        if self.product.promotion_id is not None:
            product["promotionId"] = self.product.promotion_id
        instructions: dict[str, Any] = {"product": product, "quantity": self.quantity}
        if self.custom_term_end_date is not None:
            instructions["customTermEndDate"] = format_datetime(self.custom_term_end_date)
        return instructions


@dataclass(frozen=True)
class NceSubscription:
    id: str
    offer_id: str
    product_id: str | None
    sku_id: str | None
    availability_id: str | None
    """The three parts of an NCE ``offerId``; None for a legacy (GUID) offer."""
    quantity: int
    status: str
    term_duration: str | None
    billing_cycle: str | None
    auto_renew_enabled: bool
    commitment_end_date: datetime | None
    cancellation_allowed_until: datetime | None
    refundable_quantity: RefundableQuantity | None
    next_term: NextTermInstructions | None
    etag: str | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES


def read_subscription(raw: Mapping[str, Any]) -> NceSubscription:
    what = "subscription"
    offer_id = str_field(raw, "offerId", what)
    item = CatalogItemId.parse(offer_id)
    status = str_field(raw, "status", what).lower()
    if status not in SUBSCRIPTION_STATUSES:
        raise PartnerCenterError(f"Partner Center answered a subscription with status {status!r}.", retryable=True)
    attributes = raw.get("attributes")
    etag = attributes.get("etag") if isinstance(attributes, Mapping) else None
    return NceSubscription(
        id=str_field(raw, "id", what),
        offer_id=offer_id,
        product_id=item.product_id if item else None,
        sku_id=item.sku_id if item else None,
        availability_id=item.availability_id if item else None,
        quantity=int_field(raw, "quantity", what),
        status=status,
        term_duration=optional_str(raw, "termDuration"),
        billing_cycle=lowered(raw.get("billingCycle")),
        auto_renew_enabled=raw.get("autoRenewEnabled") is True,
        commitment_end_date=optional_datetime(raw, "commitmentEndDate", what),
        cancellation_allowed_until=optional_datetime(raw, "cancellationAllowedUntilDate", what),
        refundable_quantity=_read_refundable(raw.get("refundableQuantity")),
        next_term=_read_next_term(raw.get("scheduledNextTermInstructions")),
        etag=etag if isinstance(etag, str) and etag else None,
    )


def _read_refundable(raw: object) -> RefundableQuantity | None:
    if not isinstance(raw, Mapping):
        return None
    batches = tuple(
        RefundableBatch(
            quantity=int_field(detail, "quantity", "refundable quantity"),
            allowed_until=datetime_field(detail, "allowedUntilDateTime", "refundable quantity"),
        )
        for detail in objects_at(raw, "details", "refundable quantity", required=False)
    )
    total = raw.get("totalQuantity")
    return RefundableQuantity(
        total=total if isinstance(total, int) else sum(b.quantity for b in batches), batches=batches
    )


def _read_next_term(raw: object) -> NextTermInstructions | None:
    if not isinstance(raw, Mapping):
        return None
    what = "scheduledNextTermInstructions"
    product = raw.get("product")
    if not isinstance(product, Mapping):
        raise garbled(what, "product")
    return NextTermInstructions(
        product=NextTermProduct(
            product_id=str_field(product, "productId", what),
            sku_id=str_field(product, "skuId", what),
            availability_id=str_field(product, "availabilityId", what),
            billing_cycle=lowered(product.get("billingCycle")) or "",
            term_duration=str_field(product, "termDuration", what),
            promotion_id=optional_str(product, "promotionId"),
        ),
        quantity=int_field(raw, "quantity", what),
        custom_term_end_date=optional_datetime(raw, "customTermEndDate", what),
    )


# --- the outcome of a PATCH -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionUpdated:
    """``200``: Microsoft applied the change and answered the new resource."""

    resource: dict[str, Any]

    @property
    def subscription(self) -> NceSubscription:
        return read_subscription(self.resource)


@dataclass(frozen=True)
class UpdatePending:
    """``202 Accepted``: the change takes longer; ``location`` is where the subscription is read back. Poll it
    (``PartnerCenterClient.poll``) until it shows the change; never send the PATCH again."""

    location: str
    retry_after: float | None


# --- full-resource changes ------------------------------------------------------------------------------------

CHANGEABLE_STATUSES = frozenset({"active", "suspended", "deleted"})
"""``suspended`` and ``active`` suspend and reactivate; ``deleted`` cancels (only inside the cancellation window,
see ``cancellationAllowedUntilDate``; after it Microsoft answers 900117)."""


def with_quantity(resource: Mapping[str, Any], quantity: int) -> dict[str, Any]:
    """An absolute seat count, so sending it twice cannot double the change."""
    if quantity < 1:
        raise _refused(f"a quantity of {quantity}: a subscription keeps at least one seat (cancel it instead)")
    return _changed(resource, quantity=quantity)


def with_auto_renew(resource: Mapping[str, Any], enabled: bool) -> dict[str, Any]:
    """``autoRenewEnabled: false`` before the term ends is how a subscription is not renewed: it expires."""
    return _changed(resource, autoRenewEnabled=enabled)


def with_status(resource: Mapping[str, Any], status: str) -> dict[str, Any]:
    if status not in CHANGEABLE_STATUSES:
        raise _refused(f"status {status!r}: only {', '.join(sorted(CHANGEABLE_STATUSES))} can be sent")
    return _changed(resource, status=status)


def with_next_term(resource: Mapping[str, Any], instructions: NextTermInstructions | None) -> dict[str, Any]:
    """Changes applied by Microsoft's renewal (quantity, SKU, term, billing plan, co-term date); None clears them.
    Microsoft requires auto-renew on for scheduled changes; this never turns it on behind the caller's back."""
    if instructions is not None and resource.get("autoRenewEnabled") is not True:
        raise _refused("changes at renewal on a subscription whose auto-renew is off (it will not renew)")
    return _changed(resource, scheduledNextTermInstructions=None if instructions is None else instructions.to_json())


def _changed(resource: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(dict(resource))
    body.update(fields)
    return body


def _refused(what: str) -> PartnerCenterError:
    return PartnerCenterError(f"Not sent to Partner Center: {what}.", retryable=False)
