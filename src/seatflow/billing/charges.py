"""A subscription's charges (SPEC §8, revised 2026-12), pure: when it is charged, for which days, and how a part
of a charge is counted.

A subscription is charged per **charge cycle** of its billing plan, not per cycle of its contract: ``monthly``
per month of its term, ``quarterly`` (the reseller's own services) per quarter, ``annual`` once per term year
and ``triennial`` once per term, each upfront. The cycles are anchored on the subscription's start day of the
month (bought on Jan 31: Jan 31, Feb 28, Mar 31, …), as its terms are; a co-termed subscription's on the day
after its term's end, so its shortened first charge is a part of a full one (NCE's ``customTermEndDate``).

A charge is clipped to the days the subscription is billed: from its start and the contract's, to its term end
when it does not renew and to the contract's last day when the contract ends. A part of a charge is counted in
the contract's proration unit: days (charge x days / days of the full charge cycle) or months (charge x the
months it touches, the months anchored like the cycles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from seatflow.subscriptions.rules import add_months

ONE_DAY = timedelta(days=1)


def months_between(anchor: date, day: date) -> int:
    return (day.year - anchor.year) * 12 + day.month - anchor.month


@lru_cache(maxsize=65_536)
def _boundary(anchor: date, month: int) -> date:
    """The first day of the ``month``-th month after ``anchor`` (negative: before it), anchored on its day."""
    return add_months(anchor, month)


def cycle_index(anchor: date, months: int, day: date) -> int:
    """The index of the cycle of ``months`` months anchored on ``anchor`` that holds ``day`` (negative before)."""
    index = months_between(anchor, day) // months
    while _boundary(anchor, index * months) > day:
        index -= 1
    while _boundary(anchor, (index + 1) * months) <= day:
        index += 1
    return index


@dataclass(slots=True)
class Charge:
    """One charge cycle of a subscription, clipped to the days it is billed."""

    start: date
    """The first day billed."""
    end: date
    """The last day billed (inclusive)."""
    full_start: date
    full_end: date
    """The charge cycle's own days: the proration base."""
    months: int
    anchor: date
    index: int

    @property
    def days(self) -> int:
        return (self.full_end - self.full_start).days + 1

    def units(self, by_months: bool) -> int:
        """How many units the full charge cycle has: its months, or its days."""
        return self.months if by_months else self.days

    def unit(self, day: date, by_months: bool) -> int:
        """The unit (0-based) of the charge cycle that holds ``day``."""
        if not by_months:
            return (day - self.full_start).days
        base = self.index * self.months
        month = min(max(months_between(self.full_start, day), 0), self.months - 1)
        while month > 0 and _boundary(self.anchor, base + month) > day:
            month -= 1
        while month < self.months - 1 and _boundary(self.anchor, base + month + 1) <= day:
            month += 1
        return month

    def unit_start(self, day: date, by_months: bool) -> date:
        """The first day billed of the unit that holds ``day``: the day itself, or its month's first day."""
        if not by_months:
            return day
        return max(_boundary(self.anchor, self.index * self.months + self.unit(day, True)), self.start)

    def unit_end(self, day: date, by_months: bool) -> date:
        """The last day billed of the unit that holds ``day``."""
        if not by_months:
            return day
        following = _boundary(self.anchor, self.index * self.months + self.unit(day, True) + 1)
        return min(following - ONE_DAY, self.end)

    def amount(self, quantity: int, price: Decimal, first: date, last: date, by_months: bool) -> Decimal:
        """``quantity`` at ``price`` from ``first`` to ``last`` (inside the charge), unrounded: prices are per unit per
        month, so the whole cycle is quantity x price x its months; a part is counted in units."""
        whole = quantity * price * self.months
        counted = self.unit(last, by_months) - self.unit(first, by_months) + 1
        total = self.units(by_months)
        return whole if counted == total else whole * counted / total


@dataclass(slots=True)
class ChargePlan:
    """How one subscription is charged on one contract."""

    anchor: date
    months: int
    """Months per charge cycle: the billing plan's."""
    term_months: int
    first: date
    """The first day billed: the subscription's start, or the contract's when that is later."""
    last: date | None
    """The last day billed: its term end when it does not renew, the contract's last day when that ends first."""

    def charge(self, index: int) -> Charge | None:
        full_start = _boundary(self.anchor, index * self.months)
        full_end = _boundary(self.anchor, (index + 1) * self.months) - ONE_DAY
        start = max(full_start, self.first)
        end = full_end if self.last is None else min(full_end, self.last)
        if start > end:
            return None
        return Charge(start, end, full_start, full_end, self.months, self.anchor, index)

    def index_of(self, day: date) -> int:
        return cycle_index(self.anchor, self.months, day)

    def starting_between(self, first: date, last: date) -> list[Charge]:
        """The charges whose first billed day lies from ``first`` to ``last``, in order."""
        found: list[Charge] = []
        if self.last is not None and first > self.last:
            return found
        index = self.index_of(max(first, self.first))
        while True:
            start = max(_boundary(self.anchor, index * self.months), self.first)
            if start > last or (self.last is not None and start > self.last):
                return found
            if start >= first:
                charge = self.charge(index)
                assert charge is not None  # noqa: S101 - it starts on or before its last day
                found.append(charge)
            index += 1

    def term_start_on_or_before(self, day: date) -> date:
        """The first day of the term that holds ``day``: every seat held then is one batch bought that day."""
        return _boundary(self.anchor, cycle_index(self.anchor, self.term_months, day) * self.term_months)


def refundable_seats(
    steps: list[tuple[date, int]], *, before: int, window_first: date, term_start: date, seats: int
) -> int:
    """How many of ``seats`` removed now were bought, renewed or added inside the refund window (SPEC §6, §8).

    ``before`` is the quantity at the end of the day before ``window_first`` (the window's first day), ``steps``
    the quantity changes since then, in order, up to the reduction. Seats are taken from the newest batches first,
    so the seats still held that were added inside the window are those above the lowest level the quantity had
    since the window opened (or since the term started, when that is later: the renewal makes every seat new)."""
    level = lowest = before
    renewal_pending = term_start >= window_first  # the term (re)started inside the window: every seat is new then
    for day, delta in steps:
        if renewal_pending and day >= term_start:
            lowest, renewal_pending = 0, False
        level += delta
        lowest = min(lowest, level)
    if renewal_pending:
        lowest = 0
    return max(0, min(seats, level - lowest))
