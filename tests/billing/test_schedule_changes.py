"""Schedule changes (SPEC §8, issue 13 item 3): a contract's billing frequency, policy or proration unit changes
only at a cycle boundary after every period billed, and the invoices record their periods, so a change never
re-bills or skips a period. Every figure has its arithmetic beside it; no test reads today's date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.billing.amounts import prorated
from seatflow.billing.schedules import Segment, SegmentedSchedule, build_schedule, schedule_of
from seatflow.billing.service import void_invoice
from seatflow.catalog.models import BillingFrequency
from seatflow.contracts.models import BillingContract, BillingPolicy, ProrationUnit
from seatflow.contracts.schemas import ContractUpdate
from seatflow.contracts.service import contract_read, update_contract
from seatflow.errors import ValidationFailed
from tests.api.subscription_helpers import freeze_clock
from tests.billing.support import (
    bill,
    contract,
    credit_notes,
    expected_numbers,
    invoices,
    numbers,
    open_shop,
    set_quantity,
    subscribe,
)
from tests.factories import noon

D = date
MONTHLY, QUARTERLY, ANNUAL = BillingFrequency.MONTHLY, BillingFrequency.QUARTERLY, BillingFrequency.ANNUAL
ADVANCE, ARREARS = BillingPolicy.ADVANCE, BillingPolicy.ARREARS
DAYS, MONTHS = ProrationUnit.DAYS, ProrationUnit.MONTHS
ONE_DAY = timedelta(days=1)


def firsts(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s."""
    days, day = [], first.replace(day=1)
    while day <= last:
        days.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return days


def months(first: date, last: date, amount: str) -> list[tuple[date, date, Decimal]]:
    """One whole calendar month per row, each billing ``amount``, from ``first``'s month to ``last``'s."""
    return [(day, (day + timedelta(days=32)).replace(day=1) - ONE_DAY, Decimal(amount)) for day in firsts(first, last)]


def change(
    session: Session,
    on: BillingContract,
    *,
    today: date,
    effective: date | None = None,
    frequency: BillingFrequency | None = None,
    policy: BillingPolicy | None = None,
    unit: ProrationUnit | None = None,
) -> None:
    fields = {
        name: value
        for name, value in (("billing_frequency", frequency), ("billing_policy", policy), ("proration_unit", unit))
        if value is not None
    }
    update_contract(
        session,
        contract=on,
        data=ContractUpdate(**fields, schedule_effective=effective),
        today=today,
        now=noon(today),
    )


# --- the schedule across changes, without I/O ----------------------------------------------------------------


def test_cycles_run_on_across_schedules_anchored_on_the_contracts_start() -> None:
    # From Jan 31, 2027: monthly, quarterly from month 3 (Apr 30), annual from month 12 (Jan 31, 2028).
    schedule = SegmentedSchedule(
        D(2027, 1, 31),
        12,
        None,
        (Segment(0, 1, True, False), Segment(3, 3, True, False), Segment(12, 12, True, False)),
    )
    cycles = [schedule.cycle(index) for index in range(8)]

    assert [(c.start, c.end, c.months) for c in cycles] == [
        (D(2027, 1, 31), D(2027, 2, 27), 1),
        (D(2027, 2, 28), D(2027, 3, 30), 1),
        (D(2027, 3, 31), D(2027, 4, 29), 1),
        (D(2027, 4, 30), D(2027, 7, 30), 3),  # quarterly from month 3: Apr 30 + 3 months = Jul 31
        (D(2027, 7, 31), D(2027, 10, 30), 3),
        (D(2027, 10, 31), D(2028, 1, 30), 3),
        (D(2028, 1, 31), D(2029, 1, 30), 12),  # annual from month 12, still on the 31st
        (D(2029, 1, 31), D(2030, 1, 30), 12),
    ]
    # Every day from the start for four years is in exactly one cycle, the one index_of names.
    day = schedule.start
    while day < D(2031, 1, 31):
        cycle = schedule.cycle_containing(day)
        assert cycle is not None
        assert cycle.contains(day)
        assert schedule.cycle(schedule.index_of(day)) == cycle
        day += ONE_DAY
    assert all(b.start == a.end + ONE_DAY for a, b in pairwise(cycles))


def test_months_of_a_later_schedule_are_counted_from_its_own_first_month() -> None:
    # Quarterly from Apr 30 (month 3 of a Jan 31 start): its months begin Apr 30, May 31, Jun 30 (not the
    # monthly schedule's index x 3 months, which would begin in October).
    schedule = SegmentedSchedule(D(2027, 1, 31), 3, None, (Segment(0, 1, True, True), Segment(3, 3, True, True)))
    quarter = schedule.cycle(3)
    assert [quarter.month_start(m) for m in range(4)] == [
        D(2027, 4, 30),
        D(2027, 5, 31),
        D(2027, 6, 30),
        D(2027, 7, 31),
    ]
    # +2 seats at 12.00 on Jun 15 (in the quarter's 2nd month, May 31 - Jun 29): 2 months left counting it:
    # 2 x 12.00 x 2 = 48.00
    amount, counted = prorated(2, Decimal("12.00"), quarter, D(2027, 6, 15), by_months=True)
    assert (amount, counted) == (Decimal("48.00"), "2/3 months")


def test_a_contract_that_never_changed_keeps_the_plain_schedule() -> None:
    plain = build_schedule(
        start=D(2027, 1, 1), ends=None, frequency=MONTHLY, advance=True, by_months=False, schedule_from=None
    )
    assert not isinstance(plain, SegmentedSchedule)
    assert plain.cycle(13).start == D(2028, 2, 1)


# --- the must-show table: two years across a change at a boundary ------------------------------------------


@dataclass(frozen=True)
class Switch:
    today: date
    effective: date
    frequency: BillingFrequency | None = None
    policy: BillingPolicy | None = None


@dataclass(frozen=True)
class Case:
    id: str
    frequency: BillingFrequency
    policy: BillingPolicy
    quantity: int
    price: str
    switch: Switch
    runs: list[date]
    periods: list[tuple[date, date, Decimal]]
    """Every issued invoice: (period start, period end, subtotal), oldest first."""
    total: str


START = D(2027, 1, 1)
CASES = [
    Case(
        "quarterly-to-monthly-in-advance",
        QUARTERLY,
        ADVANCE,
        10,
        "20.00",
        # On May 10 (inside Q2, billed Apr 1) the operator asks for monthly from Jul 1, the next boundary.
        Switch(D(2027, 5, 10), D(2027, 7, 1), frequency=MONTHLY),
        firsts(D(2027, 1, 1), D(2028, 12, 1)),
        [
            (D(2027, 1, 1), D(2027, 3, 31), Decimal("600.00")),  # 3 months x 10 x 20.00
            (D(2027, 4, 1), D(2027, 6, 30), Decimal("600.00")),  # 3 months x 10 x 20.00
            *months(D(2027, 7, 1), D(2028, 12, 1), "200.00"),  # 18 months, each 10 x 20.00
        ],
        "4800.00",  # 600.00 + 600.00 + 18 x 200.00 = 24 months x 10 x 20.00: every month once
    ),
    Case(
        "monthly-to-annual-in-advance",
        MONTHLY,
        ADVANCE,
        10,
        "30.00",
        # On Mar 15 (March billed Mar 1) the operator asks for annual from Apr 1.
        Switch(D(2027, 3, 15), D(2027, 4, 1), frequency=ANNUAL),
        firsts(D(2027, 1, 1), D(2028, 12, 1)),
        [
            *months(D(2027, 1, 1), D(2027, 3, 1), "300.00"),  # Jan, Feb, Mar: 10 x 30.00 each
            (D(2027, 4, 1), D(2028, 3, 31), Decimal("3600.00")),  # 12 months x 10 x 30.00
            (D(2028, 4, 1), D(2029, 3, 31), Decimal("3600.00")),  # 12 months x 10 x 30.00, billed Apr 1, 2028
        ],
        "8100.00",  # 3 x 300.00 + 2 x 3,600.00 = 27 months x 10 x 30.00 (Jan 2027 - Mar 2029): none skipped
    ),
    Case(
        "monthly-to-annual-in-arrears",
        MONTHLY,
        ARREARS,
        10,
        "30.00",
        # On Mar 15 March is not billed yet (arrears: Apr 1): Apr 1 is the first boundary after every billed period.
        Switch(D(2027, 3, 15), D(2027, 4, 1), frequency=ANNUAL),
        firsts(D(2027, 1, 1), D(2029, 1, 1)),
        [
            *months(D(2027, 1, 1), D(2027, 3, 1), "300.00"),  # Jan, Feb, Mar, billed Feb 1, Mar 1, Apr 1: 10 x 30.00
            (D(2027, 4, 1), D(2028, 3, 31), Decimal("3600.00")),  # 12 x 10 x 30.00, billed Apr 1, 2028 when it ends
        ],
        "4500.00",  # 3 x 300.00 + 3,600.00; Apr 2028 - Mar 2029 is billed on Apr 1, 2029, after these runs
    ),
    Case(
        "quarterly-in-arrears-to-monthly-in-advance",
        QUARTERLY,
        ARREARS,
        10,
        "20.00",
        # Q2 (Apr - Jun) is billed in arrears on Jul 1; July, in advance, on Jul 1 too: both on the same run.
        Switch(D(2027, 6, 20), D(2027, 7, 1), frequency=MONTHLY, policy=ADVANCE),
        firsts(D(2027, 1, 1), D(2028, 12, 1)),
        [
            (D(2027, 1, 1), D(2027, 3, 31), Decimal("600.00")),  # 3 x 10 x 20.00, billed Apr 1
            (D(2027, 4, 1), D(2027, 6, 30), Decimal("600.00")),  # 3 x 10 x 20.00, billed Jul 1
            *months(D(2027, 7, 1), D(2028, 12, 1), "200.00"),  # 18 months of 10 x 20.00, each on its 1st
        ],
        "4800.00",  # 2 x 600.00 + 18 x 200.00 = 24 x 200.00
    ),
    Case(
        "monthly-in-advance-to-arrears",
        MONTHLY,
        ADVANCE,
        4,
        "25.00",
        # June is billed Jun 1 in advance; July, in arrears, on Aug 1: the Jul 1 run bills nothing.
        Switch(D(2027, 6, 3), D(2027, 7, 1), policy=ARREARS),
        firsts(D(2027, 1, 1), D(2028, 12, 1)),
        [*months(D(2027, 1, 1), D(2028, 11, 1), "100.00")],  # Jan 2027 - Nov 2028: 23 months of 4 x 25.00
        "2300.00",  # 23 x 100.00; December 2028 is billed on Jan 1, 2029
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_a_schedule_change_at_a_boundary_bills_every_period_once(session: Session, case: Case) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=START, billing_frequency=case.frequency, billing_policy=case.policy)
    subscribe(session, shop, on, quantity=case.quantity, price=case.price, start=START)

    for day in case.runs:
        if case.switch.today < day and on.schedule_from is None:
            change(
                session,
                on,
                today=case.switch.today,
                effective=case.switch.effective,
                frequency=case.switch.frequency,
                policy=case.switch.policy,
            )
        bill(session, day)
    session.expire_all()

    issued = invoices(session, on)
    periods = [(i.period_start, i.period_end, i.subtotal) for i in issued]
    assert periods == case.periods
    assert sum((i.subtotal for i in issued), Decimal(0)) == Decimal(case.total)
    # No period twice, none skipped: each starts the day after the one before ends.
    assert periods[0][0] == START
    assert all(b[0] == a[1] + ONE_DAY for a, b in pairwise(periods))
    assert numbers(session) == expected_numbers(len(issued))
    assert credit_notes(session, on) == []
    # A rerun of the last day bills nothing.
    assert bill(session, case.runs[-1]).invoices_created == 0
    read = contract_read(session, on)
    assert read.schedule_from == case.switch.effective
    assert [(s.effective_from, s.effective_to) for s in read.earlier_schedules] == [
        (START, case.switch.effective - ONE_DAY)
    ]


def test_a_change_asked_mid_cycle_is_refused_with_the_next_boundary(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=START, billing_frequency=QUARTERLY)
    subscribe(session, shop, on, quantity=10, price="20.00", start=START)
    bill(session, D(2027, 1, 1))
    bill(session, D(2027, 4, 1))  # Q2 (Apr 1 - Jun 30) billed in advance
    may_10 = D(2027, 5, 10)

    refusals = []
    for effective in (None, D(2027, 6, 1), D(2027, 4, 1), D(2027, 8, 1)):
        with pytest.raises(ValidationFailed) as refused:
            change(session, on, today=may_10, effective=effective, frequency=MONTHLY)
        refusals.append((refused.value.code, refused.value.extra["next_boundary"]))

    # Today (May 10) and Jun 1 are inside Q2; Apr 1 is billed already; Aug 1 is inside Q3: Jul 1 and Oct 1 next.
    assert refusals == [
        ("billing_schedule_change_mid_cycle", "2027-07-01"),
        ("billing_schedule_change_mid_cycle", "2027-07-01"),
        ("billing_schedule_change_mid_cycle", "2027-07-01"),
        ("billing_schedule_change_mid_cycle", "2027-10-01"),
    ]
    session.refresh(on)
    assert (on.billing_frequency, on.schedule_from) == (QUARTERLY, None)
    with pytest.raises(ValidationFailed) as inside:
        change(session, on, today=may_10, frequency=MONTHLY)
    assert "2027-05-10 is inside a cycle" in inside.value.message
    assert "the next cycle boundary is 2027-07-01" in inside.value.message


def test_in_arrears_a_boundary_in_the_past_is_allowed_while_its_periods_are_unbilled(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=START, billing_frequency=QUARTERLY, billing_policy=ARREARS)
    subscribe(session, shop, on, quantity=10, price="20.00", start=START)
    bill(session, D(2027, 4, 1))  # Q1 billed in arrears; Q2 (from Apr 1) is not billed yet

    change(session, on, today=D(2027, 5, 10), effective=D(2027, 4, 1), frequency=MONTHLY)
    for day in firsts(D(2027, 5, 1), D(2027, 7, 1)):
        bill(session, day)
    session.expire_all()

    assert [(i.period_start, i.period_end, i.subtotal) for i in invoices(session, on)] == [
        (D(2027, 1, 1), D(2027, 3, 31), Decimal("600.00")),  # 3 x 10 x 20.00
        *months(D(2027, 4, 1), D(2027, 6, 1), "200.00"),  # Apr, May, Jun: 10 x 20.00 each, billed in arrears
    ]


def test_nothing_billed_yet_the_change_applies_from_the_start(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=D(2027, 3, 1), billing_frequency=QUARTERLY)
    subscribe(session, shop, on, quantity=2, price="10.00", start=D(2027, 3, 1))

    change(session, on, today=D(2027, 2, 20), frequency=MONTHLY)
    bill(session, D(2027, 3, 1))

    assert contract_read(session, on).earlier_schedules == []
    assert [(i.period_start, i.period_end, i.subtotal) for i in invoices(session, on)] == [
        (D(2027, 3, 1), D(2027, 3, 31), Decimal("20.00"))  # 2 x 10.00, monthly from the start
    ]


def test_a_pending_change_can_be_taken_back_and_a_new_proration_unit_applies_from_its_boundary(
    session: Session,
) -> None:
    shop = open_shop(session)
    by_days = contract(session, shop, start_date=START, billing_frequency=MONTHLY, proration_unit=DAYS)
    changed = contract(session, shop, start_date=START, billing_frequency=MONTHLY, proration_unit=DAYS)
    kept = subscribe(session, shop, by_days, quantity=10, price="31.00", start=START)
    moved = subscribe(session, shop, changed, quantity=10, price="31.00", start=START)
    bill(session, START)
    change(session, changed, today=D(2027, 1, 10), effective=D(2027, 2, 1), frequency=QUARTERLY)
    change(session, changed, today=D(2027, 1, 11), effective=D(2027, 2, 1), frequency=MONTHLY)  # taken back
    assert contract_read(session, changed).earlier_schedules == []
    assert changed.schedule_from is None

    change(session, changed, today=D(2027, 1, 12), effective=D(2027, 2, 1), unit=MONTHS)
    bill(session, D(2027, 2, 1))
    set_quantity(session, kept, 13, D(2027, 2, 10))
    set_quantity(session, moved, 13, D(2027, 2, 10))
    bill(session, D(2027, 3, 1))
    session.expire_all()

    assert [i.subtotal for i in invoices(session, by_days)] == [
        Decimal("310.00"),  # Jan: 10 x 31.00
        Decimal("310.00"),  # Feb: 10 x 31.00
        Decimal("466.11"),  # Mar: 13 x 31.00 = 403.00 + Feb 10-28 = 19/28 days of 3 x 31.00 = 63.107... -> 63.11
    ]
    assert [i.subtotal for i in invoices(session, changed)] == [
        Decimal("310.00"),  # Jan: 10 x 31.00
        Decimal("310.00"),  # Feb: 10 x 31.00
        Decimal("496.00"),  # Mar: 13 x 31.00 = 403.00 + Feb 10: 1 of 1 month of 3 x 31.00 = 93.00 (by months)
    ]


def test_voiding_an_invoice_of_an_earlier_schedule_rebills_that_period_alone(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=START, billing_frequency=QUARTERLY)
    subscribe(session, shop, on, quantity=10, price="20.00", start=START)
    bill(session, D(2027, 1, 1))
    bill(session, D(2027, 4, 1))
    change(session, on, today=D(2027, 5, 10), effective=D(2027, 7, 1), frequency=MONTHLY)
    bill(session, D(2027, 7, 1))
    bill(session, D(2027, 8, 1))
    session.expire_all()
    q2 = invoices(session, on)[1]
    assert (q2.period_start, q2.period_end, q2.subtotal) == (D(2027, 4, 1), D(2027, 6, 30), Decimal("600.00"))

    void_invoice(session, invoice=q2, reason="Wrong purchase order", now=noon(D(2027, 8, 2)))
    again = bill(session, D(2027, 8, 2))
    session.expire_all()

    assert again.invoices_created == 1
    assert [(i.period_start, i.period_end, i.subtotal) for i in invoices(session, on)] == [
        (D(2027, 1, 1), D(2027, 3, 31), Decimal("600.00")),  # 3 x 10 x 20.00
        (D(2027, 4, 1), D(2027, 6, 30), Decimal("600.00")),  # rebilled as it was: 3 x 10 x 20.00, INV-000005
        (D(2027, 7, 1), D(2027, 7, 31), Decimal("200.00")),  # 10 x 20.00
        (D(2027, 8, 1), D(2027, 8, 31), Decimal("200.00")),  # 10 x 20.00
    ]
    (note,) = credit_notes(session, on)
    assert (note.number, note.total, note.credits_invoice_id) == ("CN-000001", Decimal("-600.00"), q2.id)


def test_the_api_refuses_a_mid_cycle_change_as_problem_json(client: TestClient, session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=D(2026, 10, 1), billing_frequency=QUARTERLY)
    subscribe(session, shop, on, quantity=1, price="10.00", start=D(2026, 10, 1), today=D(2026, 10, 1))
    bill(session, D(2026, 10, 1))  # Oct 1 - Dec 31 billed
    freeze_clock(client)  # the server's today: Dec 1, 2026, whatever the real date

    refused = client.patch(f"/api/v1/contracts/{on.id}", json={"billing_frequency": "monthly"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["code"], refused.json()["next_boundary"]) == (
        "billing_schedule_change_mid_cycle",
        "2027-01-01",
    )
    lone = client.patch(f"/api/v1/contracts/{on.id}", json={"schedule_effective": "2027-01-01"})
    assert (lone.status_code, lone.json()["code"]) == (422, "validation_failed")

    accepted = client.patch(
        f"/api/v1/contracts/{on.id}", json={"billing_frequency": "monthly", "schedule_effective": "2027-01-01"}
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["billing_frequency"], body["schedule_from"]) == ("monthly", "2027-01-01")
    assert body["earlier_schedules"] == [
        {
            "effective_from": "2026-10-01",
            "effective_to": "2026-12-31",
            "billing_frequency": "quarterly",
            "billing_policy": "advance",
            "proration_unit": "days",
        }
    ]
    assert client.get(f"/api/v1/contracts/{on.id}").json() == body
    assert schedule_of(session, on).cycle(1).start == D(2027, 1, 1)
