"""Pure subscription rules: terms, the quantity-reduction window (SPEC §6), quantity bounds."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from seatflow.catalog.models import ProviderKind, ReductionBehavior
from seatflow.subscriptions.errors import (
    QuantityInvalid,
    QuantityOutOfRange,
    ReductionDisallowed,
    ReductionOutsideWindow,
)
from seatflow.subscriptions.models import ProvisioningStatus

QUANTITY_CAP = 10_000_000
"""The most any quantity may be, whatever the product says (the API's schemas allow no more either)."""


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_for(term_start: date, term_months: int) -> tuple[date, date]:
    """(first day, last day) of a term of ``term_months`` starting on ``term_start``."""
    return term_start, add_months(term_start, term_months) - timedelta(days=1)


def next_term(start_date: date, term_end: date, term_months: int) -> tuple[date, date]:
    """The term after the one ending on ``term_end``, anchored on the start date's day of the month: bought
    on Jan 31, monthly terms renew on Feb 28, Mar 31, Apr 30, … rather than drifting to the 28th for good."""
    renewal = term_end + timedelta(days=1)
    elapsed = (renewal.year - start_date.year) * 12 + renewal.month - start_date.month
    return renewal, add_months(start_date, elapsed + term_months) - timedelta(days=1)


def initial_provisioning_status(provider_kind: ProviderKind) -> ProvisioningStatus:
    if provider_kind is ProviderKind.DO_NOTHING:
        return ProvisioningStatus.NOT_APPLICABLE
    return ProvisioningStatus.AWAITING


@dataclass(frozen=True)
class ReductionRule:
    behavior: ReductionBehavior
    window_days: int | None
    term_start: date
    term_end: date
    label: str
    """Whose rule it is, for the message ("New York's Microsoft 365 E3", "the linked parent")."""


@dataclass(frozen=True)
class ReductionRefusal:
    code: str
    reason: str
    allowed_from: date | None


def reduction_refusal(rule: ReductionRule, on: date) -> ReductionRefusal | None:
    """None when a reduction on ``on`` is allowed by ``rule``; otherwise why, and from when it will be.

    The window counts days from the start of the current term (the start date, then each renewal):
    with 7 days, a term starting on the 1st allows reductions on the 1st to the 7th.
    """
    renewal = rule.term_end + timedelta(days=1)
    if rule.behavior is ReductionBehavior.ALLOWED:
        return None
    if rule.behavior is ReductionBehavior.DISALLOWED:
        return ReductionRefusal(
            "reduction_disallowed",
            f"{rule.label} does not allow reductions during its term; schedule it for the renewal on {renewal}.",
            renewal,
        )
    window = rule.window_days or 0
    closes = rule.term_start + timedelta(days=window)
    if rule.term_start <= on < closes:
        return None
    if on < rule.term_start:
        return ReductionRefusal(
            "reduction_outside_window",
            f"{rule.label} allows reductions from the start of its term on {rule.term_start}.",
            rule.term_start,
        )
    return ReductionRefusal(
        "reduction_outside_window",
        f"{rule.label} allows reductions only in the first {window} days of its term "
        f"({rule.term_start} to {closes - timedelta(days=1)}); the next window opens at the renewal on "
        f"{renewal}.",
        renewal,
    )


def check_reduction(rules: Iterable[ReductionRule], on: date) -> None:
    """The strictest rule wins: every rule must allow it, and it is allowed again from the latest date."""
    refusals = [r for r in (reduction_refusal(rule, on) for rule in rules) if r is not None]
    if not refusals:
        return
    latest = max(refusals, key=lambda r: r.allowed_from or date.max)
    error = ReductionDisallowed if latest.code == "reduction_disallowed" else ReductionOutsideWindow
    allowed_from = latest.allowed_from.isoformat() if latest.allowed_from else None
    raise error(
        " ".join(r.reason for r in refusals) + " Or ask for it with effective=renewal.",
        allowed_from=allowed_from,
    )


def quantity_limits(*, minimum: int, maximum: int | None) -> tuple[int, int]:
    """The lowest and highest quantity a product allows: never below 1 while the subscription lives, never above
    the product's maximum nor ``QUANTITY_CAP``."""
    ceiling = QUANTITY_CAP if maximum is None else min(maximum, QUANTITY_CAP)
    return max(minimum, 1), ceiling


def check_quantity(quantity: int, *, minimum: int, maximum: int | None, product: str) -> None:
    """Never below the product's minimum (or 1 while the subscription lives), never above its maximum.

    The error carries the range (``minimum``, ``maximum``) so that a form can say what to enter."""
    floor, ceiling = quantity_limits(minimum=minimum, maximum=maximum)
    if quantity < floor:
        raise QuantityOutOfRange(
            f"{product} needs a quantity of at least {floor}; cancel it to end it.", minimum=floor, maximum=ceiling
        )
    if quantity > ceiling:
        raise QuantityOutOfRange(
            f"{product} allows at most {ceiling}; {quantity} is more.", minimum=floor, maximum=ceiling
        )


_DIGITS = re.compile(r"[0-9]+")
"""Plain ASCII digits: Python's int() and str.isdigit() also take other scripts' digits, superscripts,
signs, underscores and spaces, none of which is a quantity a person meant."""


def parse_quantity(text: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """A quantity typed by a person (a form, a command line): plain ASCII digits, within the product's limits
    (``minimum`` and ``maximum`` as the catalog has them; see ``quantity_limits``).

    Raises QuantityInvalid when it is not a whole number, QuantityOutOfRange when it is outside the limits;
    both carry the range and say it ("Enter a whole number from 1 to 300.")."""
    floor, ceiling = quantity_limits(minimum=minimum, maximum=maximum)
    digits = text.strip(" \t\r\n")
    if not _DIGITS.fullmatch(digits):
        raise QuantityInvalid(range_message(floor, ceiling), minimum=floor, maximum=ceiling)
    # Compared as text first: a string of a thousand digits is out of range, never a huge int to build.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(QUANTITY_CAP)) or not floor <= int(significant) <= ceiling:
        raise QuantityOutOfRange(range_message(floor, ceiling), minimum=floor, maximum=ceiling)
    return int(significant)


def range_message(minimum: int, maximum: int) -> str:
    """What to enter, in a person's words."""
    if minimum > maximum:
        return "The quantity cannot be changed now."
    if minimum == maximum:
        return f"Enter {maximum}: it is the only quantity allowed."
    return f"Enter a whole number from {minimum} to {maximum}."
