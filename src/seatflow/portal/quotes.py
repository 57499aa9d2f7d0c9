"""The cost of a quantity change before it is made (SPEC §6, §10): what the confirmation page states.

A quote is the change tried for real through ``change_quantity`` (the service the API uses) inside a savepoint that
is then rolled back: every rule the change will meet (the product's limits, the room a linked parent leaves, the
reduction windows of the subscription and its parent, a renewal that will not come) refuses it here already, with
the error the change itself would raise, and nothing of the attempt is kept. Read inside the attempt, the seat
batches say until when the seats being added can still be removed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from seatflow.catalog.models import Term
from seatflow.contracts.models import BillingContract
from seatflow.portal.costs import Cost, last_day_all_removable, price_key
from seatflow.subscriptions import repository
from seatflow.subscriptions.batches import refundable_quantities
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import SubscriptionNotFound
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.rules import Refundable
from seatflow.subscriptions.schemas import Actor

EFFECTIVE = ("now", "renewal")


@dataclass(frozen=True)
class Quote:
    subscription_id: uuid.UUID
    before: Cost
    after: Cost
    effective: str
    """``now`` or ``renewal``."""
    on: date
    """The day the change takes effect: today, or the renewal day."""
    term: Term
    term_end: date
    removable_until: date | None = None
    """An increase now: the last day all the added seats can still be removed (None: they cannot be)."""
    removable_any_time: bool = False
    """No rule limits reductions: seats added now can be removed whenever."""
    removable_today: Refundable | None = None
    """A reduction now: what could be removed today before it (None: no limit)."""
    credited: bool = False
    """A reduction now: the removed seats stop being charged from today (inside a window, or refunds processed)."""

    @property
    def added(self) -> int:
        return self.after.quantity - self.before.quantity

    @property
    def monthly_difference(self) -> Decimal:
        return self.after.monthly - self.before.monthly

    @property
    def bill_difference(self) -> Decimal:
        return self.after.per_bill - self.before.per_bill

    @property
    def committed(self) -> bool:
        """A term longer than a month: what is added is paid until the term ends."""
        return self.term.months > 1

    @property
    def renewal(self) -> date:
        return self.term_end + timedelta(days=1)

    def fields(self) -> dict[str, str]:
        """What the confirmation carries (signed) and what must still hold when it is confirmed."""
        return {
            "quantity": str(self.after.quantity),
            "effective": self.effective,
            "before": str(self.before.quantity),
            "unit_price": price_key(self.before.unit_price),
            "on": self.on.isoformat(),
        }


def quote_change(
    session: Session,
    *,
    subscription_id: uuid.UUID,
    quantity: int,
    effective: str,
    today: date,
    now: datetime,
    actor: Actor,
) -> Quote:
    """What changing the quantity would cost and allow, without changing anything.

    Raises what ``change_quantity`` raises for this change (``QuantityOutOfRange``, ``ReductionOutsideWindow``,
    ``no_change``, ``not_renewing``, …)."""
    subscription = repository.get(session, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound(f"No subscription {subscription_id}.")
    before = Cost(subscription.quantity, subscription.unit_price, subscription.currency, subscription.billing_plan)
    term, term_end = subscription.term, subscription.term_end
    on = today if effective == "now" else term_end + timedelta(days=1)
    reducing_now = effective == "now" and quantity < before.quantity
    removable_today = _refundable(session, subscription, today) if reducing_now else None
    credited = reducing_now and (removable_today is not None or _processes_refunds(session, subscription))
    adding_now = effective == "now" and quantity > before.quantity
    attempt = session.begin_nested()
    try:
        change_quantity(
            session,
            subscription_id=subscription_id,
            quantity=quantity,
            effective=effective,
            today=today,
            now=now,
            actor=actor,
        )
        after_change = _refundable(session, subscription, today) if adding_now else None
    finally:
        attempt.rollback()
    quote = Quote(subscription_id, before, before.with_quantity(quantity), effective, on, term, term_end)
    if reducing_now:
        return replace(quote, removable_today=removable_today, credited=credited)
    if adding_now and after_change is None:
        return replace(quote, removable_any_time=True)
    if adding_now and after_change is not None:
        return replace(quote, removable_until=last_day_all_removable(after_change, quantity - before.quantity))
    return quote


def _refundable(session: Session, subscription: Subscription, on: date) -> Refundable | None:
    """What can be removed on ``on`` under every rule (a linked child's and its parent's: the strictest wins), as
    the API's ``refundable_quantity`` says; None when nothing limits it."""
    return refundable_quantities(session, [subscription], on=on)[subscription.id]


def _processes_refunds(session: Session, subscription: Subscription) -> bool:
    contract = session.get(BillingContract, subscription.contract_id)
    return bool(contract and contract.process_refunds)
