"""``margin.leak_found`` (SPEC §16, §17): the leaks of the margin report, found by the worker's daily step for the
month that ended (a month's costs and invoices are complete after it; a leak of the month in progress may be only
a cost imported before its invoice). Each leak is announced once per month and subscription (its key)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from seatflow.events.outbox import NewEvent, emit_many, key_of
from seatflow.margin.service import Leak, has_costs, margin_report, month_of

LEAK_FOUND = "margin.leak_found"


def _data(leak: Leak, month: date) -> dict[str, object]:
    return {
        "kind": leak.kind,
        "month": month,
        "currency": leak.currency,
        "amount": leak.amount,
        "detail": leak.detail,
        "customer_id": leak.customer_id,
        "customer_name": leak.customer_name,
        "subscription_id": leak.subscription_id,
        "external_id": leak.provider_subscription_id,
        "product_name": leak.product_name,
        "day": leak.day,
        "seats_paid": leak.seats_paid,
        "seats_billed": leak.seats_billed,
        "cost_lines": leak.cost_line_count,
        "invoice_lines": leak.invoice_line_count,
    }


def last_month(today: date) -> tuple[date, date]:
    end = month_of(today) - timedelta(days=1)
    return month_of(end), end


def find_leaks(session: Session, *, today: date, now: datetime) -> list[NewEvent]:
    """The leaks of the month before ``today``'s (only reads: the outbox skips those already announced)."""
    if not has_costs(session):
        return []
    start, end = last_month(today)
    events = []
    for leak in margin_report(session, start=start, end=end).leaks:
        who = leak.provider_subscription_id or leak.subscription_id
        key = key_of(LEAK_FOUND, leak.kind, who, start)
        subject = str(who or leak.customer_id or start)
        events.append(NewEvent(LEAK_FOUND, subject, _data(leak, start), now, dedupe_key=key))
    return events


def announce_leaks(session: Session, *, today: date, now: datetime) -> int:
    """``find_leaks`` written into the outbox; answers how many were new."""
    return emit_many(session, find_leaks(session, today=today, now=now))
