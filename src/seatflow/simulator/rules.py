"""Partner Center's rules for orders and subscription updates, as pure functions over the simulator's resources.

Each rule raises ``SimFault`` with the status and code Partner Center documents (research/partner-center.md §8.2).
Request bodies are read case-insensitively: the docs' examples mix ``LineItems`` and ``lineItems`` (§1.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeGuard

from seatflow.simulator.resources import (
    JSON,
    REFUND_WINDOW,
    TERM_MONTHS,
    Offer,
    RefundBatch,
    Subscription,
    SubscriptionStatus,
)

SOURCE = "PartnerFD"


class SimFault(Exception):
    """A Partner Center error answer: an ApiFault body ``{code, description, data, source}``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> JSON:
        return api_fault(self.code, self.description)


def api_fault(code: str, description: str) -> JSON:
    return {"code": code, "description": description, "data": [], "source": SOURCE}


def invalid_input(description: str) -> SimFault:
    return SimFault(400, "800002", description)


def fields(body: Any, what: str = "request body") -> dict[str, Any]:
    """A JSON object with its property names lower-cased, so ``OfferId`` and ``offerId`` are one property."""
    if not isinstance(body, Mapping):
        raise invalid_input(f"The {what} must be a JSON object.")
    return {str(key).lower(): value for key, value in body.items()}


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def optional_str(values: dict[str, Any], name: str) -> str | None:
    value = values.get(name.lower())
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_input(f"{name} must be a string.")
    return value


# --- orders ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    number: int
    offer_id: str
    quantity: int
    friendly_name: str | None
    parent_subscription_id: str | None
    term_duration: str | None
    """None when the line names none: a legacy offer's term is then P1Y, a new-commerce one's its first term."""
    custom_term_end: Any = None
    """``customTermEndDate`` as sent (a new-commerce line's co-term date, developer/create-an-order.md)."""

    @property
    def is_catalog_item(self) -> bool:
        """A new-commerce ``productId:skuId:availabilityId`` rather than a legacy offer id."""
        return self.offer_id.count(":") == 2


def parse_order_lines(body: dict[str, Any]) -> list[OrderLine]:
    """The order's line items, checked for shape: 800002 for no lines or a bad quantity, 800071 when the line
    numbers do not run 0..n-1."""
    raw = body.get("lineitems")
    if not isinstance(raw, list) or not raw:
        raise invalid_input("The order must have at least one line item.")
    lines = [fields(item, "line item") for item in raw]
    numbers: list[Any] = [line.get("lineitemnumber") for line in lines]
    if not all(is_int(n) for n in numbers) or sorted(numbers) != list(range(len(lines))):
        raise SimFault(400, "800071", f"lineItemNumber must run from 0 to {len(lines) - 1}; got {numbers}.")
    return sorted((_order_line(line) for line in lines), key=lambda line: line.number)


def _order_line(line: dict[str, Any]) -> OrderLine:
    number = line["lineitemnumber"]
    quantity = line.get("quantity")
    if not is_int(quantity) or quantity <= 0:
        raise invalid_input(f"Line item {number}: quantity must be a positive integer, not {quantity!r}.")
    offer_id = optional_str(line, "offerId")
    if not offer_id:
        raise invalid_input(f"Line item {number}: offerId is required.")
    term = optional_str(line, "termDuration")
    if term is not None and term.upper() not in TERM_MONTHS:
        raise invalid_input(f"Line item {number}: termDuration must be one of {', '.join(TERM_MONTHS)}.")
    return OrderLine(
        number=number,
        offer_id=offer_id,
        quantity=quantity,
        friendly_name=optional_str(line, "friendlyName"),
        parent_subscription_id=optional_str(line, "parentSubscriptionId") or None,
        term_duration=term.upper() if term else None,
        custom_term_end=line.get("customtermenddate"),
    )


class Limits(Protocol):
    """What a quantity is checked against: a legacy offer or an NCE SKU."""

    @property
    def id(self) -> str: ...
    @property
    def minimum_quantity(self) -> int: ...
    @property
    def maximum_quantity(self) -> int: ...


def check_quantity(offer: Limits, quantity: int) -> None:
    """2002: the quantity must lie within the offer's minimum and maximum."""
    if not offer.minimum_quantity <= quantity <= offer.maximum_quantity:
        raise SimFault(
            400,
            "2002",
            f"Quantity {quantity} is outside the allowed range {offer.minimum_quantity}..{offer.maximum_quantity} "
            f"for offer {offer.id}.",
        )


def check_parent(offer: Offer, parent_id: str | None, parent: Subscription | None) -> None:
    """An add-on needs a parent subscription of the same customer whose offer is one of the add-on's
    ``prerequisiteOffers`` (else 800029), and that parent must be active (else 409 27009). A non-add-on offer
    takes no parent (800029 too)."""
    unrelated = "The add-on is not related to the specified parent subscription."
    if not offer.is_add_on:
        if parent_id is not None:
            raise SimFault(400, "800029", f"{unrelated} Offer {offer.id} is not an add-on; parent {parent_id}.")
        return
    if parent_id is None:
        raise SimFault(400, "800029", f"{unrelated} Add-on offer {offer.id} needs a parentSubscriptionId.")
    if parent is None:
        raise SimFault(
            400, "800029", f"{unrelated} Add-on offer {offer.id}: parent subscription {parent_id} does not exist."
        )
    if not offer.accepts_parent(parent.offer_id):
        raise SimFault(
            400,
            "800029",
            f"{unrelated} Add-on offer {offer.id} does not accept parent subscription {parent_id} "
            f"(offer {parent.offer_id}).",
        )
    if parent.status != SubscriptionStatus.ACTIVE:
        raise SimFault(
            409,
            "27009",
            f"Child subscription cannot be enabled: parent subscription {parent_id} is {parent.status}, not active.",
        )


# --- subscription updates -------------------------------------------------------------------------------------

UPDATABLE_STATUSES = {SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED, SubscriptionStatus.DELETED}


@dataclass(frozen=True)
class SubscriptionUpdate:
    """What a PATCH changes; None leaves a property as it is."""

    quantity: int | None = None
    status: str | None = None
    auto_renew_enabled: bool | None = None
    friendly_name: str | None = None

    @property
    def changes_anything(self) -> bool:
        return any(
            value is not None for value in (self.quantity, self.status, self.auto_renew_enabled, self.friendly_name)
        )


def plan_update(
    subscription: Subscription, body: dict[str, Any], *, offer: Offer, parent: Subscription | None, now: datetime
) -> SubscriptionUpdate:
    """Check a PATCH body (the whole Subscription or part of it) against the rules; nothing is changed here.
    Only ``quantity``, ``status``, ``autoRenewEnabled`` and ``friendlyName`` are honoured."""
    if subscription.status in (SubscriptionStatus.DELETED, SubscriptionStatus.EXPIRED, SubscriptionStatus.DISABLED):
        raise SimFault(400, "2011", f"Subscription {subscription.id} is {subscription.status} and cannot be updated.")
    status = target_status(subscription, body.get("status"), parent=parent, now=now)
    quantity = target_quantity(subscription, body.get("quantity"), status=status, offer=offer, now=now)
    auto_renew = body.get("autorenewenabled")
    if auto_renew is not None and not isinstance(auto_renew, bool):
        raise invalid_input("autoRenewEnabled must be true or false.")
    friendly_name = optional_str(body, "friendlyName")
    return SubscriptionUpdate(
        quantity=quantity,
        status=status,
        auto_renew_enabled=None if auto_renew == subscription.auto_renew_enabled else auto_renew,
        friendly_name=None if friendly_name == subscription.friendly_name else friendly_name,
    )


def in_progress(subscription: Subscription) -> SimFault:
    return SimFault(409, "800060", f"Subscription {subscription.id} is still being provisioned; try again later.")


def target_status(subscription: Subscription, value: Any, *, parent: Subscription | None, now: datetime) -> str | None:
    """The new status, or None when it does not change. Cancelling (``deleted``) is allowed only inside the 7-day
    cancellation window (900117); reactivating an add-on needs an active parent (409 27009)."""
    if value is None or value == subscription.status:
        return None
    if not isinstance(value, str) or value not in UPDATABLE_STATUSES:
        raise invalid_input(f"status can be set to {', '.join(sorted(UPDATABLE_STATUSES))}, not {value!r}.")
    if subscription.status == SubscriptionStatus.PENDING:
        raise in_progress(subscription)
    if value == SubscriptionStatus.DELETED and now >= subscription.cancellation_allowed_until:
        raise SimFault(
            400, "900117", "You have passed your 7-day cancellation window. We are unable to cancel your purchase"
        )
    parent_active = parent is not None and parent.status == SubscriptionStatus.ACTIVE
    if value == SubscriptionStatus.ACTIVE and subscription.parent_subscription_id is not None and not parent_active:
        state = parent.status if parent is not None else "missing"
        raise SimFault(
            409,
            "27009",
            f"Child subscription {subscription.id} cannot be enabled: parent subscription "
            f"{subscription.parent_subscription_id} is {state}, not active.",
        )
    return value


def target_quantity(
    subscription: Subscription, value: Any, *, status: str | None, offer: Limits, now: datetime
) -> int | None:
    """The new seat count, or None when it does not change (a cancellation ignores it). A suspended subscription
    keeps its seats (800091); the count stays within the offer's limits (2002); a reduction may remove only seats
    still refundable, i.e. bought less than 168 hours ago (800090; for new commerce with the exact description of
    developer/change-the-quantity-of-a-subscription.md)."""
    if value is None or value == subscription.quantity or status == SubscriptionStatus.DELETED:
        return None
    if not is_int(value):
        raise invalid_input(f"quantity must be an integer, not {value!r}.")
    if subscription.status == SubscriptionStatus.PENDING:
        raise in_progress(subscription)
    if (status or subscription.status) == SubscriptionStatus.SUSPENDED:
        raise SimFault(400, "800091", f"Subscription {subscription.id} is suspended; its quantity cannot be changed.")
    check_quantity(offer, value)
    floor = subscription.quantity - subscription.refundable_quantity(now)
    if value < floor and subscription.is_nce:
        raise SimFault(400, "800090", "Subscription quantity cannot be decreased.")
    if value < floor:
        raise SimFault(
            400,
            "800090",
            f"Subscription quantity cannot be decreased below {floor}: only "
            f"{subscription.quantity - floor} seats are inside their 7-day refund window.",
        )
    return int(value)


def apply_update(subscription: Subscription, update: SubscriptionUpdate, *, now: datetime) -> None:
    """Apply a checked update. An increase opens a refund batch for the added seats; a reduction uses up the
    newest refundable batches first."""
    if update.quantity is not None:
        delta = update.quantity - subscription.quantity
        if delta > 0:
            subscription.batches.append(RefundBatch(quantity=delta, allowed_until=now + REFUND_WINDOW))
        else:
            _consume_refundable(subscription, -delta, now=now)
        subscription.quantity = update.quantity
    if update.status is not None:
        subscription.status = update.status
    if update.auto_renew_enabled is not None:
        subscription.auto_renew_enabled = update.auto_renew_enabled
    if update.friendly_name is not None:
        subscription.friendly_name = update.friendly_name


def _consume_refundable(subscription: Subscription, seats: int, *, now: datetime) -> None:
    for batch in sorted(subscription.refundable_batches(now), key=lambda b: b.allowed_until, reverse=True):
        taken = min(seats, batch.quantity)
        batch.quantity -= taken
        seats -= taken
        if seats == 0:
            break
    subscription.batches = [batch for batch in subscription.batches if batch.quantity > 0]
