"""The event types an endpoint can choose, and what each means (docs/events.md shows their payloads)."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "license_change.recorded": "A license change was recorded (any origin: operator, API, portal, linked child, "
    "provider sync, renewal).",
    "license_change.provisioned": "The provider carried out a change (or a person confirmed it).",
    "license_change.failed": "A change failed at the provider (or a person said it failed); the message says why.",
    "invoice.issued": "A billing run issued an invoice.",
    "credit_note.issued": "A credit note was issued (a voided invoice, or a cycle whose total is negative).",
    "renewal.upcoming": "A subscription renews (or expires) within the notice window; sent once per term.",
    "reconciliation.drift_found": "A reconciliation found the provider and seatflow apart; sent once per difference.",
    "margin.leak_found": "The margin report found a leak (cost without revenue, fewer seats billed, …); once a month.",
}

DEFAULT_MAIL_EVENTS = ("license_change.failed", "renewal.upcoming")
"""What the operator's address (``SEATFLOW_NOTIFY_EMAIL``) gets unless ``SEATFLOW_NOTIFY_EVENTS`` says otherwise."""
