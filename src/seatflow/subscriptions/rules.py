"""Pure subscription rules: terms, the quantity-reduction window of each batch of seats (SPEC §6), quantity bounds."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
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


def renewed_term(start_date: date, term_end: date, term_months: int, *, co_termed: bool) -> tuple[date, date]:
    """The term after the one ending on ``term_end``: anchored on the start date's day of the month (``next_term``),
    or, for a subscription co-termed with another, a whole term from its renewal day (its shortened term ended
    with the other's, and the next ones run with it)."""
    if co_termed:
        return term_for(term_end + timedelta(days=1), term_months)
    return next_term(start_date, term_end, term_months)


def initial_provisioning_status(provider_kind: ProviderKind) -> ProvisioningStatus:
    if provider_kind is ProviderKind.DO_NOTHING:
        return ProvisioningStatus.NOT_APPLICABLE
    return ProvisioningStatus.AWAITING


@dataclass(frozen=True)
class QuantityStep:
    """A ``create`` or ``quantity`` change of the log, as the seat batches need it (SPEC §6)."""

    effective_date: date
    quantity_after: int
    purchase: bool = False
    """A ``create``: every seat is bought anew on that date (the first purchase, or an order placed again after
    reconciliation found the subscription gone at the provider), so earlier batches are replaced."""
    quantity_before: int | None = None
    """The quantity the change found: the seats held before the first step read (``logged_seat_batches``)."""


@dataclass(frozen=True)
class SeatBatch:
    """Seats added together (a purchase, the renewal, a mid-term addition), dated the day they were added."""

    quantity: int
    added_on: date


@dataclass(frozen=True)
class RefundableBatch:
    """Seats that can be reduced now, until ``allowed_until``: the last day of their window, inclusive."""

    quantity: int
    allowed_until: date


@dataclass(frozen=True)
class Refundable:
    """What can be reduced on a day (Partner Center's ``refundableQuantity``): ``total`` is the batches' sum."""

    total: int
    batches: tuple[RefundableBatch, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The API's shape: ``{"total": n, "batches": [{"quantity": n, "allowed_until": "YYYY-MM-DD"}]}``."""
        return {
            "total": self.total,
            "batches": [{"quantity": b.quantity, "allowed_until": b.allowed_until.isoformat()} for b in self.batches],
        }


NOTHING_REFUNDABLE = Refundable(0)


def seat_batches(steps: Iterable[QuantityStep], *, term_start: date, held: int = 0) -> tuple[SeatBatch, ...]:
    """The batches of seats a subscription holds in its current term, oldest first, from its change log.

    ``held`` is the quantity before the first step (the seats held when the term started, when ``steps`` are the
    term's only); ``steps`` are its ``create`` and ``quantity`` changes in the order they were recorded. Seats held
    at the start of the term are one batch dated ``term_start`` (bought then, or renewed then), whatever their
    step's date; each later increase is a batch of its delta dated on its effective date; each reduction takes
    seats from the newest batches first. A step's ``quantity_after`` is the quantity it leaves, so the batches
    always add up to the last step's quantity."""
    batches: list[SeatBatch] = [SeatBatch(held, term_start)] if held > 0 else []
    total = max(held, 0)
    for step in steps:
        day = max(step.effective_date, term_start)
        target = max(step.quantity_after, 0)
        if step.purchase:
            batches, total = [], 0
        if target > total:
            batches = _add_batch(batches, SeatBatch(target - total, day))
        elif target < total:
            batches = _take_newest(batches, total - target)
        total = target
    return tuple(batches)


def logged_seat_batches(steps: Sequence[QuantityStep], *, term_start: date, quantity: int) -> tuple[SeatBatch, ...]:
    """``seat_batches`` of the steps read from a subscription's log (``batches_of``): the seats held before them
    are the first step's ``quantity_before`` (``quantity`` when there is none). The subscription's ``quantity``
    has the last word: steps that do not end on it (a subscription written without its changes) are brought to
    it as if by one more step, dated ``term_start``. So the batches always add up to ``quantity``."""
    held = quantity if not steps or steps[0].quantity_before is None else steps[0].quantity_before
    if not steps or steps[-1].quantity_after != quantity:
        steps = [*steps, QuantityStep(term_start, quantity)]
    return seat_batches(steps, term_start=term_start, held=held)


def window_cutoff(on: date, window_days: int | None) -> date:
    """The earliest day a batch can be dated and still be inside its window on ``on`` or any later day: with 7
    days, six days before ``on``. Without a window (None or 0), the day after ``on``: no batch is inside one."""
    return on - timedelta(days=max(window_days or 0, 0) - 1)


def _add_batch(batches: list[SeatBatch], added: SeatBatch) -> list[SeatBatch]:
    """Kept in date order, one batch a day."""
    same = next((b for b in batches if b.added_on == added.added_on), None)
    if same is not None:
        added = SeatBatch(same.quantity + added.quantity, added.added_on)
    return sorted([b for b in batches if b is not same] + [added], key=lambda b: b.added_on)


def _take_newest(batches: list[SeatBatch], seats: int) -> list[SeatBatch]:
    kept: list[SeatBatch] = []
    for batch in reversed(batches):
        taken = min(seats, batch.quantity)
        seats -= taken
        if batch.quantity > taken:
            kept.append(SeatBatch(batch.quantity - taken, batch.added_on))
    return kept[::-1]


def refundable(batches: Iterable[SeatBatch], *, window_days: int, on: date) -> Refundable:
    """The batches still inside their window on ``on``: a batch dated D can be reduced while D <= on < D + window
    (with 7 days, seats added on the 1st can be reduced on the 1st to the 7th)."""
    inside = [
        RefundableBatch(b.quantity, b.added_on + timedelta(days=window_days - 1))
        for b in batches
        if b.quantity > 0 and window_days > 0 and b.added_on <= on < b.added_on + timedelta(days=window_days)
    ]
    inside.sort(key=lambda b: b.allowed_until)
    return Refundable(sum(b.quantity for b in inside), tuple(inside))


def strictest_refundable(parts: Sequence[Refundable]) -> Refundable | None:
    """What every rule allows together (a linked child's and its parent's): on each later day, the least any
    rule still allows, as batches of the days the amount drops. None when no rule limits reductions."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    days = sorted({b.allowed_until for part in parts for b in part.batches})
    levels = [min(sum(b.quantity for b in part.batches if b.allowed_until >= day) for part in parts) for day in days]
    following = [*levels[1:], 0] if levels else []
    batches = tuple(
        RefundableBatch(level - after, day)
        for day, level, after in zip(days, levels, following, strict=True)
        if level > after
    )
    return Refundable(sum(b.quantity for b in batches), batches)


@dataclass(frozen=True)
class ReductionRule:
    behavior: ReductionBehavior
    window_days: int | None
    term_start: date
    term_end: date
    label: str
    """Whose rule it is, for the message ("New York's Microsoft 365 E3", "the linked parent")."""
    batches: tuple[SeatBatch, ...] = ()
    """The subscription's seat batches in its current term (``seat_batches``): a window belongs to each batch."""

    def refundable(self, on: date) -> Refundable | None:
        """What this rule lets be reduced on ``on``; None when it sets no limit (``allowed``)."""
        if self.behavior is ReductionBehavior.ALLOWED:
            return None
        if self.behavior is ReductionBehavior.DISALLOWED:
            return NOTHING_REFUNDABLE
        return refundable(self.batches, window_days=self.window_days or 0, on=on)


@dataclass(frozen=True)
class ReductionRefusal:
    code: str
    reason: str
    allowed_from: date | None


def reduction_refusal(rule: ReductionRule, on: date, seats: int) -> ReductionRefusal | None:
    """None when ``rule`` allows reducing ``seats`` seats on ``on``; otherwise why, and from when it will be.

    With a window, each batch of seats (bought or renewed at the term's start, or added later) can be reduced in
    the first ``window_days`` days from its date: with 7 days, seats added on the 3rd on the 3rd to the 9th.
    A reduction is allowed up to the seats still inside a window; more is allowed from the renewal.
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
    if on < rule.term_start:
        return ReductionRefusal(
            "reduction_outside_window",
            f"{rule.label} allows reductions from the start of its term on {rule.term_start}.",
            rule.term_start,
        )
    reducible = refundable(rule.batches, window_days=window, on=on)
    if seats <= reducible.total:
        return None
    held = sum(b.quantity for b in rule.batches)
    inside = "; ".join(
        f"{b.quantity} added on {b.allowed_until - timedelta(days=window - 1)} until {b.allowed_until}"
        for b in reducible.batches
    )
    return ReductionRefusal(
        "reduction_outside_window",
        f"{rule.label} allows reducing seats only in the {window} days after they were bought, renewed or added: "
        f"on {on}, {reducible.total} of its {held} seats can be reduced{f' ({inside})' if inside else ''}, "
        f"not {seats}; the other {held - reducible.total} can be reduced from the renewal on {renewal}.",
        renewal,
    )


def check_reduction(rules: Iterable[ReductionRule], on: date, seats: int) -> None:
    """Reducing ``seats`` seats on ``on``: the strictest rule wins. Every rule must allow it; the error says what
    can be reduced now under all of them (``refundable_quantity``) and from when the rest can be
    (``allowed_from``, the latest of the refusing rules)."""
    rules = list(rules)
    refusals = [r for r in (reduction_refusal(rule, on, seats) for rule in rules) if r is not None]
    if not refusals:
        return
    latest = max(refusals, key=lambda r: r.allowed_from or date.max)
    error = ReductionDisallowed if latest.code == "reduction_disallowed" else ReductionOutsideWindow
    allowed_from = latest.allowed_from.isoformat() if latest.allowed_from else None
    limits = [part for part in (rule.refundable(on) for rule in rules) if part is not None]
    now = strictest_refundable(limits) or NOTHING_REFUNDABLE
    raise error(
        " ".join(r.reason for r in refusals) + " Or ask for it with effective=renewal.",
        allowed_from=allowed_from,
        refundable_quantity=now.as_json(),
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
