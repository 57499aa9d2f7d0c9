"""A subscription's next term (SPEC §7 "changes at renewal"): the changes scheduled for its renewal combined, the
day it starts, the day it ends (a full term, or a co-term target's end) and its prices.

Prices at renewal: a subscription on its plan's list price moves to the list price of the plan it renews on
(another SKU, term or billing plan); one with a price of its own keeps it. The cost price follows the same rule
against the plan's cost price. A plan priced in another currency than the subscription's leaves both unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from seatflow.catalog.models import Product, Term
from seatflow.subscriptions import repository
from seatflow.subscriptions.errors import CoTermInvalid, SubscriptionNotFound, TermNotOffered
from seatflow.subscriptions.models import ENDED_STATUSES, BillingPlan, ScheduledChange, Subscription
from seatflow.subscriptions.rules import renewed_term
from seatflow.subscriptions.terms import plan_prices

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class NextTerm:
    """The next term as the changes scheduled for the renewal leave it."""

    quantity: int
    product_id: uuid.UUID
    term: Term
    billing_plan: BillingPlan
    co_term_subscription_id: uuid.UUID | None = None


def current_term(subscription: Subscription) -> NextTerm:
    """The next term when nothing is scheduled: the same quantity, SKU, term and plan, a full term long."""
    return NextTerm(subscription.quantity, subscription.product_id, subscription.term, subscription.billing_plan)


def combine(subscription: Subscription, scheduled: Sequence[ScheduledChange]) -> NextTerm:
    """The scheduled at-renewal changes, oldest first, applied over the current term: each sets the quantity, and
    the SKU, term, plan or co-term it names."""
    after = current_term(subscription)
    for change in scheduled:
        after = NextTerm(
            change.quantity,
            change.product_id or after.product_id,
            change.term or after.term,
            change.billing_plan or after.billing_plan,
            change.co_term_subscription_id or after.co_term_subscription_id,
        )
    return after


def renewal_date(subscription: Subscription) -> date:
    return subscription.term_end + ONE_DAY


def _list_prices(product: Product, term: Term, billing_plan: BillingPlan) -> tuple[Decimal | None, Decimal | None]:
    try:
        return plan_prices(product, term, billing_plan)
    except TermNotOffered:  # no longer sold so: no list price to be "on"
        return None, None


def renewal_prices(
    subscription: Subscription, product_now: Product, product_after: Product, term: Term, billing_plan: BillingPlan
) -> tuple[Decimal, Decimal | None]:
    """(unit price, cost price) per unit per month of the next term, by the rule in the module's docstring."""
    same = (product_after.id, term, billing_plan) == (product_now.id, subscription.term, subscription.billing_plan)
    if same or product_after.currency != subscription.currency:
        return subscription.unit_price, subscription.cost_price
    list_now, cost_now = _list_prices(product_now, subscription.term, subscription.billing_plan)
    list_after, cost_after = _list_prices(product_after, term, billing_plan)
    unit = list_after if list_after is not None and subscription.unit_price == list_now else subscription.unit_price
    cost = cost_after if cost_after is not None and subscription.cost_price == cost_now else subscription.cost_price
    return unit, cost


def co_term_end(target: Subscription, renewal: date, full_end: date) -> date:
    """The last day of a next term starting on ``renewal`` that ends with ``target``'s (its current term, or its next
    one when it renews first); Microsoft shortens a term to co-term it, never lengthens it."""
    if target.status in ENDED_STATUSES:
        raise CoTermInvalid(f"The subscription to co-term with is {target.status.value}.")
    end = target.term_end
    if end < renewal:
        if not target.auto_renew:
            raise CoTermInvalid(f"The subscription to co-term with does not renew: it expires after {end}.")
        co_termed = target.co_term_subscription_id is not None
        end = renewed_term(target.start_date, target.term_end, target.term.months, co_termed=co_termed)[1]
    if not renewal <= end <= full_end:
        raise CoTermInvalid(
            f"A term renewing on {renewal} can end with another subscription's only between {renewal} and "
            f"{full_end}; that one's term ends on {end}."
        )
    return end


def next_term_end(session: Session, subscription: Subscription, after: NextTerm) -> date:
    """The last day of the next term: a full term of ``after.term`` from the renewal, or the co-term target's end."""
    co_termed = subscription.co_term_subscription_id is not None
    full_end = renewed_term(subscription.start_date, subscription.term_end, after.term.months, co_termed=co_termed)[1]
    if after.co_term_subscription_id is None:
        return full_end
    target = repository.get(session, after.co_term_subscription_id)
    if target is None:
        raise SubscriptionNotFound("The subscription to co-term with is gone.")
    return co_term_end(target, renewal_date(subscription), full_end)
