"""Subscriptions on the simulator's clock: renewals and the new-commerce lifecycle after a term ends.

When a term is over (00:00 UTC after its inclusive commitment end date, developer/create-scheduled-changes.md: "Renewals
are processed after the final day of a term, starting at 12:00 AM UTC the following day"):
- an active subscription with auto-renew renews: its ``scheduledNextTermInstructions`` apply (quantity, SKU, term,
  billing plan, custom term end date) and are cleared, the new term gets its own 7-day cancellation window and all
  its seats one refund window;
- an active subscription without auto-renew expires; a suspended one is disabled (subscription-lifecycle.md);
- expired for 30 days, it is disabled; 90 days after that (120 after the term ended) it is deleted, as is a
  disabled one.
A legacy subscription knows only active, suspended and deleted (subscription-lifecycle.md, "Legacy"): one still
suspended at its term's end is deleted, as is one that does not renew.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from seatflow.simulator.catalog import NceOffer
from seatflow.simulator.resources import REFUND_WINDOW, RefundBatch, Subscription, SubscriptionStatus, new_etag

EXPIRED_FOR = timedelta(days=30)
"""An expired subscription is disabled 30 days after its term ended."""
GONE_AFTER = timedelta(days=120)
"""A subscription that ended (expired or suspended at its term's end) is deleted after 30 + 90 days."""


class Charges(Protocol):
    """What bills the steps (charges.Ledger): the cycle charges of a term before it ends, and a renewal."""

    def charge_cycles(self, subscription: Subscription, *, until: datetime) -> None: ...

    def after_step(self, subscription: Subscription, *, at: datetime, renewed: bool) -> None: ...

    def next_cycle(self, subscription: Subscription) -> datetime | None: ...


def next_event(subscription: Subscription) -> datetime | None:
    """When the clock next changes this subscription; None when nothing will (pending or deleted)."""
    status = subscription.status
    if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED):
        return subscription.term_end
    if subscription.ended_at is not None and status == SubscriptionStatus.EXPIRED:
        return subscription.ended_at + EXPIRED_FOR
    if subscription.ended_at is not None and status == SubscriptionStatus.DISABLED:
        return subscription.ended_at + GONE_AFTER
    return None


def advance(
    subscription: Subscription, *, now: datetime, offers: Mapping[str, NceOffer], charges: Charges | None = None
) -> datetime | None:
    """Apply every step due by ``now`` (a clock moved by years renews once a term), with ``charges`` the cycle
    charges in between in their order; answer the moment of the next step or cycle charge."""
    due = next_event(subscription)
    while due is not None and due <= now:
        if charges is not None:
            charges.charge_cycles(subscription, until=due)
        renewed = _step(subscription, due, offers)
        if charges is not None:
            charges.after_step(subscription, at=due, renewed=renewed)
        subscription.etag = new_etag()
        due = next_event(subscription)
    if charges is None:
        return due
    charges.charge_cycles(subscription, until=now)
    cycle = charges.next_cycle(subscription)
    return cycle if due is None or (cycle is not None and cycle < due) else due


def _step(subscription: Subscription, at: datetime, offers: Mapping[str, NceOffer]) -> bool:
    """One step; True when it was a renewal."""
    status = subscription.status
    if status == SubscriptionStatus.ACTIVE and subscription.auto_renew_enabled:
        renew(subscription, at=at, offers=offers)
        return True
    if not subscription.is_nce:
        subscription.status, subscription.ended_at = SubscriptionStatus.DELETED, at
    elif status == SubscriptionStatus.ACTIVE:
        subscription.status, subscription.ended_at, subscription.scheduled = SubscriptionStatus.EXPIRED, at, None
    elif status == SubscriptionStatus.SUSPENDED:
        subscription.status, subscription.ended_at, subscription.scheduled = SubscriptionStatus.DISABLED, at, None
    elif status == SubscriptionStatus.EXPIRED:
        subscription.status = SubscriptionStatus.DISABLED
    else:
        subscription.status = SubscriptionStatus.DELETED
    return False


def renew(subscription: Subscription, *, at: datetime, offers: Mapping[str, NceOffer]) -> None:
    """Start the next term at ``at``, applying and then clearing the scheduled changes."""
    instructions = subscription.scheduled
    subscription.custom_term_end = None
    if instructions is not None:
        subscription.quantity = instructions.quantity
        subscription.term_duration = instructions.term_duration
        subscription.billing_cycle = instructions.billing_cycle
        subscription.custom_term_end = instructions.custom_term_end
        offer = offers.get(f"{instructions.product_id}:{instructions.sku_id}".lower())
        subscription.offer_id = instructions.catalog_item_id
        if offer is not None:
            subscription.offer_name = offer.name
    subscription.scheduled = None
    subscription.term_started_at = at
    subscription.batches = [RefundBatch(subscription.quantity, at + REFUND_WINDOW)]
