"""A contract's billing schedules over time, and which periods a run bills (SPEC §8 "Schedule changes").

A contract's billing frequency, policy and proration unit change only at a cycle boundary, and only at one no
issued document has billed past: the schedule before the change is kept (``ContractSchedule``), and the periods
after it are the new schedule's cycles, still anchored on the contract's start (a contract starting on Jan 31
keeps billing on the 31st, the 30th or the end of February). Cycles are numbered across the schedules (cycle
``k`` of the whole contract), so a late change is still billed for the rest of its cycle and every whole cycle
billed without it, whatever schedule each was in.

What a run bills is decided from **periods**, not from cycle indexes: the periods after the last one an issued
document billed, and the periods of voided invoices not billed again. So no schedule change can make a run bill a
period twice or skip one.

A ``bill_from`` day (a cycle start) is where billing begins for a contract imported with a start in the past:
nothing before it is billed, and the changes before it are in its first cycle's starting quantity.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatflow.billing.cycles import Cycle, Schedule
from seatflow.billing.models import INVOICE_COUNTER, Invoice, bills_period
from seatflow.catalog.models import BillingFrequency
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractSchedule, ProrationUnit
from seatflow.db.sequences import allocate
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.rules import add_months

ONE_DAY = timedelta(days=1)


class ScheduleChangeMidCycle(ValidationFailed):
    code = "billing_schedule_change_mid_cycle"


class BillFromMidCycle(ValidationFailed):
    code = "bill_from_mid_cycle"


class BillFromAfterBilling(ValidationFailed):
    code = "bill_from_after_billing"


def months_between(anchor: date, day: date) -> int:
    """Whole calendar months from ``anchor``'s month to ``day``'s (a boundary is ``add_months(anchor, n)``)."""
    return (day.year - anchor.year) * 12 + day.month - anchor.month


@dataclass(frozen=True)
class Segment:
    """One schedule of a contract: from ``first_month`` months after the contract's start, ``months`` per cycle."""

    first_month: int
    months: int
    advance: bool
    by_months: bool


@dataclass(frozen=True, order=False)
class SegmentCycle(Cycle):
    """A cycle of a schedule that began after the contract's start: its months are counted from its own first
    month (``index * months`` no longer says where it starts). It orders with plain cycles (a run sorts both) by
    index, then start and end."""

    first_month: int = 0

    def month_start(self, month: int) -> date:
        return add_months(self.anchor, self.first_month + month)

    def _key(self) -> tuple[int, date, date]:
        return (self.index, self.start, self.end)

    def __lt__(self, other: object) -> bool:
        return self._key() < _key_of(other)

    def __le__(self, other: object) -> bool:
        return self._key() <= _key_of(other)

    def __gt__(self, other: object) -> bool:
        return self._key() > _key_of(other)

    def __ge__(self, other: object) -> bool:
        return self._key() >= _key_of(other)


def _key_of(other: object) -> tuple[int, date, date]:
    if not isinstance(other, Cycle):
        raise TypeError(f"a cycle compared with {type(other).__name__}")
    return (other.index, other.start, other.end)


@dataclass(frozen=True)
class SegmentedSchedule(Schedule):
    """The cycles of a contract whose schedule changed: ``segments`` in order, the first from the start.

    ``months`` (the base's) is the latest segment's. Cycle indexes run on across segments."""

    segments: tuple[Segment, ...] = ()
    bases: tuple[int, ...] = field(default=(), compare=False)
    """The index of each segment's first cycle."""
    firsts: tuple[date, ...] = field(default=(), compare=False)
    """Each segment's first day."""

    def __post_init__(self) -> None:
        bases, firsts, index = [], [], 0
        for position, segment in enumerate(self.segments):
            bases.append(index)
            firsts.append(add_months(self.start, segment.first_month))
            if position + 1 < len(self.segments):
                index += (self.segments[position + 1].first_month - segment.first_month) // segment.months
        object.__setattr__(self, "bases", tuple(bases))
        object.__setattr__(self, "firsts", tuple(firsts))

    def segment_of(self, index: int) -> Segment:
        return self.segments[bisect.bisect_right(self.bases, index) - 1]

    def cycle(self, index: int) -> Cycle:
        position = bisect.bisect_right(self.bases, index) - 1
        segment = self.segments[position]
        first_month = segment.first_month + (index - self.bases[position]) * segment.months
        start = add_months(self.start, first_month)
        full_end = add_months(self.start, first_month + segment.months) - ONE_DAY
        end = min(full_end, self.ends) if self.ends else full_end
        return SegmentCycle(index, start, end, full_end, segment.months, self.start, first_month)

    def index_of(self, day: date) -> int:
        position = max(0, bisect.bisect_right(self.firsts, day) - 1)
        segment, base = self.segments[position], self.bases[position]
        elapsed = months_between(self.start, day) - segment.first_month
        local = max(0, elapsed // segment.months)
        last = None if position + 1 == len(self.segments) else self.bases[position + 1] - 1 - base
        if last is not None:
            local = min(local, last)
        while local > 0 and self.cycle(base + local).start > day:
            local -= 1
        while (last is None or local < last) and self.cycle(base + local + 1).start <= day:
            local += 1
        return base + local


@dataclass(frozen=True)
class Terms:
    """How one cycle is billed: its schedule's policy and proration unit."""

    advance: bool
    by_months: bool


def terms_of(schedule: Schedule, cycle: Cycle, current: Terms) -> Terms:
    if isinstance(schedule, SegmentedSchedule):
        segment = schedule.segment_of(cycle.index)
        return Terms(segment.advance, segment.by_months)
    return current


def build_schedule(
    *,
    start: date,
    ends: date | None,
    frequency: BillingFrequency,
    advance: bool,
    by_months: bool,
    schedule_from: date | None,
    earlier: Sequence[ContractSchedule] = (),
) -> Schedule:
    """The contract's schedule: a plain ``Schedule`` while it never changed, otherwise the segments."""
    if not earlier and (schedule_from is None or schedule_from <= start):
        return Schedule(start, frequency.months, ends)
    segments = [
        Segment(
            months_between(start, row.effective_from),
            row.billing_frequency.months,
            row.billing_policy is BillingPolicy.ADVANCE,
            row.proration_unit is ProrationUnit.MONTHS,
        )
        for row in sorted(earlier, key=lambda row: row.effective_from)
    ]
    current_from = schedule_from if schedule_from is not None else start
    segments.append(Segment(months_between(start, current_from), frequency.months, advance, by_months))
    return SegmentedSchedule(start, frequency.months, ends, tuple(segments))


def contract_ends(contract: BillingContract) -> date | None:
    return None if contract.auto_renew else add_months(contract.start_date, contract.term_months) - ONE_DAY


def earlier_schedules(session: Session, contract_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[ContractSchedule]]:
    ids = list(contract_ids)
    found: dict[uuid.UUID, list[ContractSchedule]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        select(ContractSchedule).where(ContractSchedule.contract_id.in_(ids)).order_by(ContractSchedule.effective_from)
    )
    for row in session.execute(stmt).scalars():
        found[row.contract_id].append(row)
    return found


def schedule_of(session: Session, contract: BillingContract) -> Schedule:
    return build_schedule(
        start=contract.start_date,
        ends=contract_ends(contract),
        frequency=contract.billing_frequency,
        advance=contract.billing_policy is BillingPolicy.ADVANCE,
        by_months=contract.proration_unit is ProrationUnit.MONTHS,
        schedule_from=contract.schedule_from,
        earlier=earlier_schedules(session, [contract.id]).get(contract.id, []),
    )


# --- which periods a run bills -------------------------------------------------------------------------------


def is_boundary(schedule: Schedule, day: date) -> bool:
    cycle = schedule.cycle_containing(day)
    return cycle is not None and cycle.start == day


def next_boundary(schedule: Schedule, day: date) -> date | None:
    """The first cycle start on or after ``day`` (None: the contract ends before one)."""
    if day <= schedule.start:
        return schedule.start
    cycle = schedule.cycle(schedule.index_of(day))
    if cycle.start < day:
        cycle = schedule.cycle(cycle.index + 1)
    return cycle.start if schedule.exists(cycle) else None


def due_from(
    schedule: Schedule, *, first: date, run_date: date, current: Terms, limit: int | None = None
) -> list[Cycle]:
    """The cycles that start on ``first`` or later, each due by ``run_date`` under its own schedule's policy (in
    advance from its first day, in arrears from the day after its last). ``first`` is a cycle start (the day after
    a billed period); were it not, the cycle around it is left out rather than billed over a billed period."""
    cycles: list[Cycle] = []
    if schedule.ends is not None and first > schedule.ends:
        return cycles
    index = schedule.index_of(max(first, schedule.start))
    if schedule.cycle(index).start < first:
        index += 1
    while limit is None or len(cycles) < limit:
        cycle = schedule.cycle(index)
        if not schedule.exists(cycle):
            break
        advance = terms_of(schedule, cycle, current).advance
        if (cycle.start if advance else cycle.end + ONE_DAY) > run_date:
            break
        cycles.append(cycle)
        index += 1
    return cycles


@dataclass(frozen=True)
class Billed:
    """What a contract's issued documents billed: the first period's start and the last period's end."""

    first_start: date
    last_end: date


def billed_periods(session: Session, contract_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Billed]:
    stmt = (
        select(
            Invoice.contract_id,
            func.min(Invoice.period_start).label("first"),
            func.max(Invoice.period_end).label("last"),
        )
        .where(Invoice.contract_id.in_(contract_ids), bills_period())
        .group_by(Invoice.contract_id)
    )
    return {row.contract_id: Billed(row.first, row.last) for row in session.connection().execute(stmt)}


# --- changing the schedule -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleValues:
    billing_frequency: BillingFrequency
    billing_policy: BillingPolicy
    proration_unit: ProrationUnit


def values_of(contract: BillingContract) -> ScheduleValues:
    return ScheduleValues(contract.billing_frequency, contract.billing_policy, contract.proration_unit)


def change_schedule(
    session: Session,
    *,
    contract: BillingContract,
    values: ScheduleValues,
    effective: date | None,
    today: date,
    now: datetime,
) -> None:
    """Give the contract ``values`` from ``effective`` (default: today; while nothing is billed, from the start or
    the bill-from date).

    ``effective`` must be a cycle boundary of the schedule in force, on or after the current schedule's first day
    and ``bill_from``, and after every period an issued document billed; otherwise it is refused with
    ``billing_schedule_change_mid_cycle`` naming the next boundary."""
    if values == values_of(contract):
        return
    allocate(session, INVOICE_COUNTER, 0)  # queue with billing runs: none bills this contract meanwhile
    billed = billed_periods(session, [contract.id]).get(contract.id)
    schedule = schedule_of(session, contract)
    current_from = contract.schedule_from or contract.start_date
    floor = max(current_from, contract.bill_from or contract.start_date)
    if billed is not None:
        floor = max(floor, billed.last_end + ONE_DAY)
    if effective is None:
        effective = today if billed is not None else floor
    if effective < floor or not is_boundary(schedule, effective):
        boundary = next_boundary(schedule, max(effective, floor))
        inside = schedule.cycle_containing(effective)
        if inside is not None and inside.start != effective:
            why = f"{effective.isoformat()} is inside a cycle ({inside.start.isoformat()} to {inside.end.isoformat()})"
        elif billed is not None and effective <= billed.last_end:
            why = f"the periods up to {billed.last_end.isoformat()} are billed already"
        else:
            why = (
                f"nothing before {floor.isoformat()} can change (the current schedule's first day, the bill-from "
                "date, or the first day not billed)"
            )
        where = (
            f"the next cycle boundary is {boundary.isoformat()}"
            if boundary
            else "the contract ends before its next cycle"
        )
        raise ScheduleChangeMidCycle(
            f"A contract's billing frequency, policy or proration unit changes only at a cycle boundary: {why}; "
            f"{where}.",
            next_boundary=boundary.isoformat() if boundary else None,
        )
    if effective > current_from:
        session.add(
            ContractSchedule(
                contract_id=contract.id,
                effective_from=current_from,
                effective_to=effective - ONE_DAY,
                billing_frequency=contract.billing_frequency,
                billing_policy=contract.billing_policy,
                proration_unit=contract.proration_unit,
                changed_at=now,
            )
        )
        contract.schedule_from = effective
    else:
        # At the current schedule's first day: it is replaced. Going back to the schedule before it undoes that
        # change (one schedule again, not two alike).
        previous = session.execute(
            select(ContractSchedule)
            .where(ContractSchedule.contract_id == contract.id, ContractSchedule.effective_to == current_from - ONE_DAY)
            .limit(1)
        ).scalar_one_or_none()
        if (
            previous is not None
            and ScheduleValues(previous.billing_frequency, previous.billing_policy, previous.proration_unit) == values
        ):
            contract.schedule_from = previous.effective_from if previous.effective_from > contract.start_date else None
            session.execute(delete(ContractSchedule).where(ContractSchedule.id == previous.id))
    contract.billing_frequency = values.billing_frequency
    contract.billing_policy = values.billing_policy
    contract.proration_unit = values.proration_unit
    session.flush()


def check_bill_from(session: Session, contract: BillingContract, bill_from: date | None) -> None:
    """``bill_from`` must be a cycle start on or after the contract's start, set before anything is billed."""
    if bill_from is None or bill_from == (contract.bill_from or contract.start_date):
        return
    if contract.id is not None and billed_periods(session, [contract.id]):
        raise BillFromAfterBilling(
            "The bill-from date can only be set before the contract's first invoice: void its invoices first."
        )
    schedule = (
        schedule_of(session, contract)
        if contract.id is not None
        else Schedule(contract.start_date, contract.billing_frequency.months, contract_ends(contract))
    )
    if bill_from < contract.start_date or not is_boundary(schedule, bill_from):
        boundary = next_boundary(schedule, max(bill_from, contract.start_date))
        where = f"the next cycle start is {boundary.isoformat()}" if boundary else "the contract ends before it"
        raise BillFromMidCycle(
            f"Billing starts at a cycle start on or after the contract's start ({contract.start_date.isoformat()}): "
            f"{bill_from.isoformat()} is not one; {where}.",
            next_boundary=boundary.isoformat() if boundary else None,
        )
