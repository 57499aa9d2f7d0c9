"""Partner Center's new-commerce rules for changing a subscription, as pure functions.

A PATCH carries the full Subscription resource (developer/change-the-quantity-of-a-subscription.md: "A full
Subscription resource is required in the request body"); read-only properties must come back as they were.
``scheduledNextTermInstructions`` (developer/create-scheduled-changes.md) need auto-renew on, name a SKU,
availability, term and billing plan of the catalog, and are dropped by Microsoft on any mid-term quantity change
or suspension, or when auto-renew is turned off. A custom term end date (co-terming) lies within the first term
and matches the end of a calendar month or of an active NCE subscription of the tenant (error-codes.md 900242,
900245, 900246).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from seatflow.simulator.catalog import NceOffer
from seatflow.simulator.resources import (
    TERM_MONTHS,
    ScheduledInstructions,
    Subscription,
    SubscriptionStatus,
    add_months,
    catalog_parts,
    parse_iso,
)
from seatflow.simulator.rules import (
    SimFault,
    SubscriptionUpdate,
    apply_update,
    check_quantity,
    fields,
    in_progress,
    invalid_input,
    is_int,
    optional_str,
    target_quantity,
    target_status,
)

REQUIRED_FIELDS = ("id", "offerId", "quantity", "status", "autoRenewEnabled", "billingCycle", "termDuration")
"""The properties a full Subscription resource has at the least; a PATCH without one of them is refused."""
AVAILABILITY_NOT_FOUND = (
    "Availability not found. This error can occur when checking out a cart. Partners that get this error should "
    "issue a new GET to ensure they have the current availability ID and retry the cart check out."
)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def coterm_refusal(end: date, *, term: str, start: datetime, coterm_ends: Container[date]) -> str | None:
    """Why ``end`` cannot end a first term of ``term`` starting at ``start`` (None: it can). ``window``: not after
    the start, past the term's own end, or a 28th-30th for a monthly term; ``alignment``: neither a calendar month
    end nor the commitment end of an active NCE subscription of the tenant."""
    own_end = (add_months(midnight(start), TERM_MONTHS[term]) - timedelta(days=1)).date()
    if not start.date() < end <= own_end:
        return "window"
    if term == "P1M" and end.day in (28, 29, 30) and not is_month_end(end):
        return "window"
    if not is_month_end(end) and end not in coterm_ends:
        return "alignment"
    return None


def parse_custom_term_end(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_input(f"{what} must be an ISO-8601 date.")
    try:
        return midnight(parse_iso(value))
    except ValueError as exc:
        raise invalid_input(f"{what} is not an ISO-8601 date: {value!r}.") from exc


@dataclass(frozen=True)
class NceUpdate:
    """What a new-commerce PATCH changes: the common properties, and the scheduled changes as they end up."""

    change: SubscriptionUpdate
    scheduled: ScheduledInstructions | None
    scheduled_changes: bool

    @property
    def changes_anything(self) -> bool:
        return self.change.changes_anything or self.scheduled_changes


def plan_nce_update(
    subscription: Subscription,
    body: dict[str, Any],
    *,
    offer: NceOffer,
    offers: Mapping[str, NceOffer],
    coterm_ends: Container[date],
    now: datetime,
) -> NceUpdate:
    """Check a PATCH of a new-commerce subscription; nothing is changed here."""
    if subscription.status == SubscriptionStatus.DELETED:
        raise SimFault(400, "2011", f"Subscription with ID {subscription.id} and deleted status can't be updated.")
    if subscription.status in (SubscriptionStatus.EXPIRED, SubscriptionStatus.DISABLED):
        raise SimFault(400, "900279", "Update operations are no longer allowed for this subscription.")
    if subscription.status == SubscriptionStatus.PENDING:
        raise in_progress(subscription)
    _check_full_resource(subscription, body)
    status = target_status(subscription, body.get("status"), parent=None, now=now)
    quantity = target_quantity(subscription, body.get("quantity"), status=status, offer=offer, now=now)
    auto_renew = body.get("autorenewenabled")
    if not isinstance(auto_renew, bool):
        raise invalid_input("autoRenewEnabled must be true or false.")
    friendly_name = optional_str(body, "friendlyName")
    change = SubscriptionUpdate(
        quantity=quantity,
        status=status,
        auto_renew_enabled=None if auto_renew == subscription.auto_renew_enabled else auto_renew,
        friendly_name=None if friendly_name in (None, subscription.friendly_name) else friendly_name,
    )
    scheduled = _scheduled_after(subscription, body, change, offers=offers, coterm_ends=coterm_ends)
    return NceUpdate(change, scheduled, scheduled != subscription.scheduled)


def apply_nce_update(subscription: Subscription, update: NceUpdate, *, now: datetime) -> None:
    apply_update(subscription, update.change, now=now)
    subscription.scheduled = update.scheduled


def _check_full_resource(subscription: Subscription, body: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_FIELDS if name.lower() not in body]
    if missing:
        raise invalid_input(
            f"A full Subscription resource is required in the request body; missing: {', '.join(missing)}."
        )
    if str(body["id"]).lower() != subscription.id.lower():
        raise invalid_input(f"The body's id {body['id']!r} is not subscription {subscription.id}.")
    if str(body["offerid"]).lower() != subscription.offer_id.lower():
        raise invalid_input(
            "offerId can't be changed by an update; schedule another SKU in scheduledNextTermInstructions."
        )
    if str(body["billingcycle"]).lower() != subscription.billing_cycle:
        raise SimFault(
            400,
            "2054",
            "The billing cycle for an existing subscription can't be updated using update-subscription operation. "
            "Use update-Order operation",
        )
    if str(body["termduration"]).upper() != subscription.term_duration:
        raise invalid_input("termDuration can't be changed mid-term; schedule it in scheduledNextTermInstructions.")


def _scheduled_after(
    subscription: Subscription,
    body: dict[str, Any],
    change: SubscriptionUpdate,
    *,
    offers: Mapping[str, NceOffer],
    coterm_ends: Container[date],
) -> ScheduledInstructions | None:
    """The scheduled changes once this PATCH is applied. An absent property keeps them, ``null`` clears them."""
    requested = subscription.scheduled
    if "schedulednextterminstructions" in body:
        raw = body["schedulednextterminstructions"]
        requested = None if raw is None else read_scheduled(raw, subscription)
    asks_new = requested is not None and requested != subscription.scheduled
    status = change.status or subscription.status
    auto_renew = subscription.auto_renew_enabled if change.auto_renew_enabled is None else change.auto_renew_enabled
    if asks_new and status == SubscriptionStatus.SUSPENDED:
        raise SimFault(400, "800091", "Can't update a subscription with suspended status")
    if asks_new and not auto_renew:
        raise invalid_input("scheduledNextTermInstructions need autoRenewEnabled true.")
    if change.quantity is not None or status != SubscriptionStatus.ACTIVE or not auto_renew:
        return None  # Microsoft drops scheduled changes on any mid-term change, a suspension, or no renewal
    if asks_new and requested is not None:
        check_scheduled(requested, subscription, offers=offers, coterm_ends=coterm_ends)
    return requested


def read_scheduled(raw: Any, subscription: Subscription) -> ScheduledInstructions:
    """``scheduledNextTermInstructions`` as sent; what it leaves out stays as the subscription has it."""
    values = fields(raw, "scheduledNextTermInstructions")
    product = fields(values.get("product") or {}, "scheduledNextTermInstructions.product")
    product_id, sku_id, availability_id = catalog_parts(subscription.offer_id)
    quantity = values.get("quantity", subscription.quantity)
    if not is_int(quantity) or quantity < 1:
        raise invalid_input(f"scheduledNextTermInstructions.quantity must be a positive integer, not {quantity!r}.")
    return ScheduledInstructions(
        product_id=optional_str(product, "productId") or product_id,
        sku_id=optional_str(product, "skuId") or sku_id,
        availability_id=optional_str(product, "availabilityId") or availability_id,
        billing_cycle=(optional_str(product, "billingCycle") or subscription.billing_cycle).lower(),
        term_duration=(optional_str(product, "termDuration") or subscription.term_duration).upper(),
        quantity=quantity,
        custom_term_end=parse_custom_term_end(values.get("customtermenddate"), "customTermEndDate"),
        promotion_id=optional_str(product, "promotionId"),
    )


def check_scheduled(
    instructions: ScheduledInstructions,
    subscription: Subscription,
    *,
    offers: Mapping[str, NceOffer],
    coterm_ends: Container[date],
) -> None:
    """The target SKU, availability, term, billing plan, quantity and co-term date must be valid for the next term."""
    offer = offers.get(f"{instructions.product_id}:{instructions.sku_id}".lower())
    if offer is None:
        raise SimFault(404, "400018", "SKU wasn't found")
    if offer.availability_id.lower() != instructions.availability_id.lower():
        raise SimFault(404, "400019", AVAILABILITY_NOT_FOUND)
    if not offer.has_term(instructions.term_duration):
        raise SimFault(400, "800121", "The term duration provided is invalid.")
    if not offer.has_plan(instructions.term_duration, instructions.billing_cycle):
        raise SimFault(400, "900269", "The billing cycle is invalid.")
    check_quantity(offer, instructions.quantity)
    if instructions.custom_term_end is None:
        return
    refusal = coterm_refusal(
        instructions.custom_term_end.date(),
        term=instructions.term_duration,
        start=subscription.term_end,
        coterm_ends=coterm_ends,
    )
    if refusal == "window":
        raise SimFault(
            400,
            "900245",
            "The custom term end date specified on the scheduled next term instructions must be within the first "
            "term duration after renewal. Also monthly term products cannot align with a subscription ending on "
            "the 28th, 29th, or 30th of the month, unless that date is the last day of the month.",
        )
    if refusal == "alignment":
        raise SimFault(
            400,
            "900246",
            "The custom term end date specified on the scheduled next term instructions does not match with the "
            "end date of any active non-trial OnlineServicesNCE subscription or align with the end of the calendar "
            "month.",
        )
