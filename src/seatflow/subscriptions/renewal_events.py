"""``renewal.upcoming`` (SPEC §15 "renewal notices", §17): found by the worker's daily step.

Every live subscription renewing (or expiring) within the notice window is announced once per term (the event's
key is the subscription and its renewal date), priced as the renewal will price it: a price rule's renewal price
when one applies (``repricing.renewal_notices``), otherwise the renewal desk's next-term price.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from seatflow.events.outbox import NewEvent, emit_many, key_of
from seatflow.subscriptions.desk import Renewal, upcoming_renewals
from seatflow.subscriptions.repricing import renewal_notices

UPCOMING = "renewal.upcoming"
RENEWAL_PAGE = 500
MAX_RENEWALS_PER_CALL = 10_000
"""Renewals looked at in one daily step (SPEC §11: bounded work); any beyond are announced on the following days."""


def _data(renewal: Renewal, price_at_renewal: object) -> dict[str, object]:
    s, view = renewal.subscription, renewal.next_term
    return {
        "subscription_id": s.id,
        "customer_id": renewal.customer.id,
        "customer_name": renewal.customer.name,
        "contract_id": renewal.contract.id,
        "product_id": s.product_id,
        "product_name": renewal.product.name,
        "renewal_date": renewal.renewal_date,
        "renews": view is not None,
        "quantity": s.quantity,
        "quantity_at_renewal": view.quantity if view else None,
        "unit_price": s.unit_price,
        "unit_price_at_renewal": price_at_renewal,
        "monthly_amount": renewal.monthly_amount,
        "monthly_amount_at_renewal": renewal.monthly_amount_after if view else None,
        "currency": s.currency,
        "changes": [{"what": d.what, "before": d.before, "after": d.after} for d in renewal.changes],
    }


def find_renewals(session: Session, *, today: date, days: int, now: datetime) -> list[NewEvent]:
    """``renewal.upcoming`` for every live subscription renewing or expiring by ``today + days`` (only reads: the
    outbox skips those already announced for that renewal, by their keys)."""
    priced = {n.subscription.id: n.price_at_renewal for n in renewal_notices(session, today=today, days=days)}
    events: list[NewEvent] = []
    cursor: str | None = None
    for _ in range(MAX_RENEWALS_PER_CALL // RENEWAL_PAGE):
        renewals, cursor = upcoming_renewals(session, today=today, days=days, cursor=cursor, limit=RENEWAL_PAGE)
        for renewal in renewals:
            s = renewal.subscription
            next_price = renewal.next_term.unit_price if renewal.next_term else None
            at_renewal = priced.get(s.id, next_price) if renewal.next_term else None
            key = key_of(UPCOMING, s.id, renewal.renewal_date)
            events.append(NewEvent(UPCOMING, s.id, _data(renewal, at_renewal), now, dedupe_key=key))
        if cursor is None:
            break
    return events


def announce_renewals(session: Session, *, today: date, days: int, now: datetime) -> int:
    """``find_renewals`` written into the outbox; answers how many were new."""
    return emit_many(session, find_renewals(session, today=today, days=days, now=now))
