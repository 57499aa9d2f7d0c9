"""The operator's mail (issue 15 item 6): the events of ``SEATFLOW_NOTIFY_EVENTS`` (failures and upcoming renewals
unless it says otherwise) to ``SEATFLOW_NOTIFY_EMAIL``, as one message per worker pass rather than one per event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from seatflow.events.delivery import Attempt

SendMail = Callable[[str, str, str], None]
"""``(to, subject, body)``: SMTP, or the log when no server is configured (``seatflow.mail``)."""

MAX_LINES = 200


def _line(event_type: str, data: dict[str, Any]) -> str:
    if event_type == "license_change.failed":
        return (
            f"- Failed: {data.get('kind', 'change')} {data.get('quantity_before')} → {data.get('quantity_after')} of "
            f"subscription {data.get('subscription_id')} (change {data.get('id')}): {data.get('message') or ''}"
        )
    if event_type == "renewal.upcoming":
        verb = "renews" if data.get("renews", True) else "expires"
        price = data.get("unit_price")
        after = data.get("unit_price_at_renewal")
        change = f", unit price {price} → {after}" if after and after != price else ""
        return (
            f"- {data.get('customer_name', '')}: {data.get('product_name', '')} x {data.get('quantity')} {verb} on "
            f"{data.get('renewal_date')}{change} (subscription {data.get('subscription_id')})"
        )
    subject = data.get("id") or data.get("subscription_id") or ""
    detail = data.get("detail") or data.get("number") or ""
    return f"- {event_type}: {subject} {detail}".rstrip()


def digest(attempts: Sequence[Attempt], *, console_url: str = "") -> tuple[str, str]:
    """The subject and body of one message telling ``attempts``' events."""
    failed = sum(1 for a in attempts if a.event_type == "license_change.failed")
    renewals = sum(1 for a in attempts if a.event_type == "renewal.upcoming")
    others = len(attempts) - failed - renewals
    parts = []
    if failed:
        parts.append(f"{failed} license change{'s' if failed != 1 else ''} failed")
    if renewals:
        parts.append(f"{renewals} renewal{'s' if renewals != 1 else ''} coming up")
    if others:
        parts.append(f"{others} other event{'s' if others != 1 else ''}")
    subject = "seatflow: " + ", ".join(parts)
    lines = [_line(a.event_type, a.data) for a in attempts[:MAX_LINES]]
    if len(attempts) > MAX_LINES:
        lines.append(f"… and {len(attempts) - MAX_LINES} more.")
    links = []
    if console_url:
        base = console_url.rstrip("/")
        if failed:
            links.append(f"Failed changes: {base}/console/queue?status=failed")
        if renewals:
            links.append(f"Renewals: {base}/console/renewals")
    body = "\n".join([*lines, "", *links]).rstrip() + "\n"
    return subject, body
