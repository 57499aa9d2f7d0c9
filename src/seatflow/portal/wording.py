"""What the portal says, in a customer's words (SPEC §10): dates as people write them, every refusal as what to
do next, a failed change with a plain reason, and never a word about the linked parent contract, which
customers never see.

The domain's messages are written for operators (they name the linked parent and the API's fields); the
portal builds its own from the error's code and fields instead of showing them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from seatflow.catalog.models import BillingPlan, Term
from seatflow.errors import SeatflowError
from seatflow.money import format_money
from seatflow.subscriptions.models import ChangeKind, LicenseChange, ProvisioningStatus
from seatflow.subscriptions.rules import range_message

ASK_RESELLER = "Please contact your reseller."


def day(value: date | str | None) -> str:
    """1 March 2027."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value.day} {value:%B %Y}"


def licenses(count: int) -> str:
    """1 license, 35 licenses."""
    return f"{count} license" if count == 1 else f"{count} licenses"


def signed_money(value: Decimal) -> str:
    """+360.00, -180.00, 0.00: a difference, its sign always said."""
    text = format_money(abs(value)) or ""
    if value > 0:
        return f"+{text}"
    return f"-{text}" if value < 0 else text


_TERMS = {Term.P1M: "1 month", Term.P1Y: "1 year", Term.P3Y: "3 years"}
_PLANS = {
    BillingPlan.MONTHLY: "billed monthly",
    BillingPlan.QUARTERLY: "billed every 3 months",
    BillingPlan.ANNUAL: "paid yearly in advance",
    BillingPlan.TRIENNIAL: "paid for the 3 years in advance",
}
_BILLS = {
    BillingPlan.MONTHLY: "each monthly bill",
    BillingPlan.QUARTERLY: "each quarterly bill",
    BillingPlan.ANNUAL: "each yearly bill",
    BillingPlan.TRIENNIAL: "the bill for the 3 years",
}


def term_words(term: Term) -> str:
    """How long the commitment is: "1 year", never ``P1Y``."""
    return _TERMS[term]


def plan_words(plan: BillingPlan) -> str:
    return _PLANS[plan]


def bill_words(plan: BillingPlan) -> str:
    """What one bill of the plan is called in a sentence: "each yearly bill"."""
    return _BILLS[plan]


def change_problem(error: SeatflowError, *, product: str, renewal: date) -> str:
    """Why a quantity change was refused, and what the customer can do instead."""
    extra = error.extra
    if error.code in ("quantity_out_of_range", "quantity_invalid") and "minimum" in extra:
        return range_message(int(extra["minimum"]), int(extra["maximum"]))
    if error.code in ("reduction_outside_window", "reduction_disallowed"):
        allowed = extra.get("allowed_from")
        when = (
            f"from {day(allowed)}"
            if allowed and allowed != renewal.isoformat()
            else f"at its renewal on {day(renewal)}"
        )
        if error.code == "reduction_disallowed":
            why = "cannot be reduced during its term"
        else:
            why = "cannot be reduced by that much now: licenses can be removed only in the first days after they were "
            why += "bought, renewed or added"
            reducible = extra.get("refundable_quantity") or {}
            batches = reducible.get("batches") or []
            if reducible.get("total"):
                last = max(batch["allowed_until"] for batch in batches)
                why += f", and {reducible['total']} can still be removed, until {day(last)}"
        return (
            f"{product} {why}. Licenses can be removed {when}: "
            f"choose “At renewal” to schedule the reduction for {day(renewal)}."
        )
    if error.code == "no_change":
        return f"{product} has this quantity already."
    if error.code == "not_renewing":
        return f"{product} does not renew, so nothing can be changed at its renewal. {ASK_RESELLER}"
    if error.code == "subscription_not_live" and not extra.get("linked_parent"):
        return f"{product} cannot be changed while it is not active. {ASK_RESELLER}"
    return f"This change could not be made. {ASK_RESELLER}"


_OUT_OF_RANGE = re.compile(r"Quantity (\d+) is outside the allowed range (\d+)\.\.(\d+)")


def failure_reason(message: str | None) -> str:
    """A failed change's reason as the customer reads it: the provider's refusal in plain words, never its code,
    the offer's id or the linked parent's quantity."""
    text = message or ""
    found = _OUT_OF_RANGE.search(text)
    if found:
        quantity, low, high = (int(n) for n in found.groups())
        limit = f"above {high}" if quantity > high else f"below {low}"
        return f"The provider refused it: the quantity would be {limit}."
    if "Gave up after" in text:
        return f"The provider could not be reached. {ASK_RESELLER}"
    return f"The provider refused it. {ASK_RESELLER}"


_STATUS_WORDS = {
    ProvisioningStatus.AWAITING: "awaiting provisioning",
    ProvisioningStatus.PROVISIONED: "provisioned",
    ProvisioningStatus.FAILED: "failed",
    ProvisioningStatus.NOT_APPLICABLE: "done",
}


def status_words(status: ProvisioningStatus) -> str:
    return _STATUS_WORDS[status]


def change_words(change: LicenseChange) -> str:
    """What a change did: "Quantity 25 → 35", "Bought 25", "Cancelled"."""
    words = {
        ChangeKind.QUANTITY: f"Quantity {change.quantity_before} → {change.quantity_after}",
        ChangeKind.CREATE: f"Bought {change.quantity_after}",
        ChangeKind.CANCEL: "Cancelled",
        ChangeKind.SUSPEND: "Suspended",
        ChangeKind.REACTIVATE: "Reactivated",
        ChangeKind.EXPIRE: "Ended at its term end (not renewed)",
        ChangeKind.AUTO_RENEW: "Set to renew" if change.auto_renew_after else "Set not to renew",
        ChangeKind.NEXT_TERM: "Changes for the renewal updated",
        ChangeKind.PRICE: "Price changed",
    }
    return words.get(change.kind, "Changed")


_FIELD_PROBLEMS = {
    "email": "Enter a valid e-mail address.",
    "name": "Enter a name (300 characters at most).",
    "roles": "Choose at least one role.",
}


def form_problem(errors: Iterable[Mapping[str, object]]) -> str:
    """The first problem of a form that failed validation, without pydantic's wording."""
    for error in errors:
        location = error.get("loc")
        field = str(location[0]) if isinstance(location, tuple) and location else ""
        if field in _FIELD_PROBLEMS:
            return _FIELD_PROBLEMS[field]
    return "Something in the form is not valid: check it and try again."
