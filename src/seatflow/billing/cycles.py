"""Billing cycles (SPEC §8), pure: anchored on the contract's start date, one, three or twelve months long.

Cycle ``k`` of a contract starting on ``S`` billed every ``m`` months runs from ``S + k*m months`` to the day
before ``S + (k+1)*m months``, each anchored on S's day of the month (a contract starting on Jan 31 bills
Jan 31, Feb 28, Mar 31, …). A contract that does not renew ends after ``term_months``: its last cycle may be
partial, and nothing is billed after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from seatflow.subscriptions.rules import add_months

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class Cycle:
    index: int
    start: date
    end: date
    """The last day of the cycle (inclusive)."""
    full_end: date
    """The last day the cycle would have without the contract ending early; the proration base."""
    months: int
    anchor: date
    """The contract's start date: every cycle's months are counted from it (Jan 31, Feb 28, Mar 31, …)."""

    def month_start(self, month: int) -> date:
        """The first day of this cycle's ``month``-th month (0-based), anchored on the contract's start."""
        return add_months(self.anchor, self.index * self.months + month)

    @property
    def days(self) -> int:
        """Days of the full cycle (the proration denominator)."""
        return (self.full_end - self.start).days + 1

    @property
    def partial(self) -> bool:
        return self.end != self.full_end

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Schedule:
    """How one contract is billed."""

    start: date
    months: int
    """Months per cycle: 1 monthly, 3 quarterly, 12 annual."""
    ends: date | None = None
    """The contract's last day when it does not renew."""

    def cycle(self, index: int) -> Cycle:
        return _cycle(self.start, self.months, self.ends, index)

    def index_of(self, day: date) -> int:
        """The cycle containing ``day`` (which is on or after the start)."""
        elapsed = (day.year - self.start.year) * 12 + day.month - self.start.month
        index = max(0, elapsed // self.months)
        while index > 0 and self.cycle(index).start > day:
            index -= 1
        while self.cycle(index + 1).start <= day:
            index += 1
        return index

    def cycle_containing(self, day: date) -> Cycle | None:
        if day < self.start or (self.ends is not None and day > self.ends):
            return None
        return self.cycle(self.index_of(day))

    def exists(self, cycle: Cycle) -> bool:
        return self.ends is None or cycle.start <= self.ends


@lru_cache(maxsize=65_536)
def _cycle(first: date, months: int, ends: date | None, index: int) -> Cycle:
    """Cycle ``index`` of a schedule. Cached (Cycle is immutable): a billing run asks for the same few cycles of
    every contract that shares a start date and frequency, six times per contract."""
    start = add_months(first, index * months)
    full_end = add_months(first, (index + 1) * months) - ONE_DAY
    end = min(full_end, ends) if ends else full_end
    return Cycle(index, start, end, full_end, months, first)


def due_cycles(schedule: Schedule, *, after: int | None, run_date: date, advance: bool) -> list[Cycle]:
    """The cycles to bill on ``run_date`` after cycle index ``after`` (None: none billed yet).

    In advance a cycle is due from its first day; in arrears from the day after its last day.
    """
    cycles = []
    index = 0 if after is None else after + 1
    while True:
        cycle = schedule.cycle(index)
        if not schedule.exists(cycle):
            break
        if (cycle.start if advance else cycle.end + ONE_DAY) > run_date:
            break
        cycles.append(cycle)
        index += 1
    return cycles
