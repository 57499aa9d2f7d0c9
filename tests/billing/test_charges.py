"""A subscription's charge cycles and their parts (SPEC §8, revised 2026-12), pure: every figure worked out by hand
on a calendar."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from seatflow.billing.amounts import round_money
from seatflow.billing.charges import ChargePlan, refundable_seats

D = date


def bounds(plan: ChargePlan, first: date, last: date) -> list[tuple[date, date, date, date]]:
    return [(c.start, c.end, c.full_start, c.full_end) for c in plan.starting_between(first, last)]


CHARGES = [
    # (plan, first, last, [(start, end, full start, full end)])
    # Monthly from Jan 31: anchored on the 31st, never drifting to the 28th (Jan 31, Feb 28, Mar 31, Apr 30).
    (
        ChargePlan(D(2027, 1, 31), 1, 12, D(2027, 1, 31), None),
        D(2027, 1, 1),
        D(2027, 4, 30),
        [
            (D(2027, 1, 31), D(2027, 2, 27), D(2027, 1, 31), D(2027, 2, 27)),
            (D(2027, 2, 28), D(2027, 3, 30), D(2027, 2, 28), D(2027, 3, 30)),
            (D(2027, 3, 31), D(2027, 4, 29), D(2027, 3, 31), D(2027, 4, 29)),
            (D(2027, 4, 30), D(2027, 5, 30), D(2027, 4, 30), D(2027, 5, 30)),
        ],
    ),
    # Annual from Feb 29 2028: Feb 28 in common years, Feb 29 again in 2032.
    (
        ChargePlan(D(2028, 2, 29), 12, 12, D(2028, 2, 29), None),
        D(2028, 1, 1),
        D(2032, 12, 31),
        [
            (D(2028, 2, 29), D(2029, 2, 27), D(2028, 2, 29), D(2029, 2, 27)),
            (D(2029, 2, 28), D(2030, 2, 27), D(2029, 2, 28), D(2030, 2, 27)),
            (D(2030, 2, 28), D(2031, 2, 27), D(2030, 2, 28), D(2031, 2, 27)),
            (D(2031, 2, 28), D(2032, 2, 28), D(2031, 2, 28), D(2032, 2, 28)),
            (D(2032, 2, 29), D(2033, 2, 27), D(2032, 2, 29), D(2033, 2, 27)),
        ],
    ),
    # Co-termed, bought Mar 16 2027 to end with a term ending Dec 31 2027: anchored on Jan 1 2028, its first annual
    # charge is the part from Mar 16 of the cycle Jan 1 - Dec 31 2027.
    (
        ChargePlan(D(2028, 1, 1), 12, 12, D(2027, 3, 16), None),
        D(2027, 1, 1),
        D(2028, 12, 31),
        [
            (D(2027, 3, 16), D(2027, 12, 31), D(2027, 1, 1), D(2027, 12, 31)),
            (D(2028, 1, 1), D(2028, 12, 31), D(2028, 1, 1), D(2028, 12, 31)),
        ],
    ),
    # A contract ending Apr 30 cuts the annual charge there, and nothing starts after it.
    (
        ChargePlan(D(2027, 1, 1), 12, 12, D(2027, 1, 1), D(2027, 4, 30)),
        D(2027, 1, 1),
        D(2030, 1, 1),
        [(D(2027, 1, 1), D(2027, 4, 30), D(2027, 1, 1), D(2027, 12, 31))],
    ),
    # Triennial: once per term.
    (
        ChargePlan(D(2027, 1, 1), 36, 36, D(2027, 1, 1), None),
        D(2027, 1, 1),
        D(2030, 1, 1),
        [
            (D(2027, 1, 1), D(2029, 12, 31), D(2027, 1, 1), D(2029, 12, 31)),
            (D(2030, 1, 1), D(2032, 12, 31), D(2030, 1, 1), D(2032, 12, 31)),
        ],
    ),
]


@pytest.mark.parametrize(("plan", "first", "last", "expected"), CHARGES)
def test_charge_cycles_follow_the_subscriptions_plan(
    plan: ChargePlan, first: date, last: date, expected: list[tuple[date, date, date, date]]
) -> None:
    assert bounds(plan, first, last) == expected


AMOUNTS = [
    # (plan, a day of the charge, quantity, price, first, last, by months, rounded)
    # The co-termed part: Mar 16 - Dec 31 = 16 + 30 + 31 + 30 + 31 + 31 + 30 + 31 + 30 + 31 = 291 of 365 days:
    # 1 x 24.00 x 12 x 291/365 = 229.610… → 229.61
    (
        ChargePlan(D(2028, 1, 1), 12, 12, D(2027, 3, 16), None),
        D(2027, 3, 16),
        1,
        "24.00",
        D(2027, 3, 16),
        D(2027, 12, 31),
        False,
        "229.61",
    ),
    # The same by months: March (the month it starts in counts) to December, 10 months: 1 x 24.00 x 10 = 240.00
    (
        ChargePlan(D(2028, 1, 1), 12, 12, D(2027, 3, 16), None),
        D(2027, 3, 16),
        1,
        "24.00",
        D(2027, 3, 16),
        D(2027, 12, 31),
        True,
        "240.00",
    ),
    # A whole monthly charge: 10 x 36.00, whatever the month's length.
    (
        ChargePlan(D(2027, 1, 31), 1, 12, D(2027, 1, 31), None),
        D(2027, 2, 28),
        10,
        "36.00",
        D(2027, 2, 28),
        D(2027, 3, 30),
        False,
        "360.00",
    ),
    # Its last day, Mar 30, of the 31-day charge Feb 28 - Mar 30: 36.00 x 1/31 = 1.161… → 1.16
    (
        ChargePlan(D(2027, 1, 31), 1, 12, D(2027, 1, 31), None),
        D(2027, 2, 28),
        1,
        "36.00",
        D(2027, 3, 30),
        D(2027, 3, 30),
        False,
        "1.16",
    ),
    # Months of an annual charge from Jan 31 are anchored on the 31st: Feb 27 is in its first month, Feb 28 starts the
    # second, so from Feb 28 to the end is 11 months: 1 x 10.00 x 11 = 110.00
    (
        ChargePlan(D(2027, 1, 31), 12, 12, D(2027, 1, 31), None),
        D(2027, 1, 31),
        1,
        "10.00",
        D(2027, 2, 28),
        D(2028, 1, 30),
        True,
        "110.00",
    ),
    (
        ChargePlan(D(2027, 1, 31), 12, 12, D(2027, 1, 31), None),
        D(2027, 1, 31),
        1,
        "10.00",
        D(2027, 2, 27),
        D(2028, 1, 30),
        True,
        "120.00",
    ),
]


@pytest.mark.parametrize(("plan", "day", "quantity", "price", "first", "last", "by_months", "rounded"), AMOUNTS)
def test_a_part_of_a_charge(
    plan: ChargePlan,
    day: date,
    quantity: int,
    price: str,
    first: date,
    last: date,
    by_months: bool,
    rounded: str,
) -> None:
    charge = plan.charge(plan.index_of(day))
    assert charge is not None
    assert round_money(charge.amount(quantity, Decimal(price), first, last, by_months), "USD") == Decimal(rounded)


def test_the_units_of_a_charge_by_months_are_its_anchored_months() -> None:
    charge = ChargePlan(D(2027, 1, 31), 12, 12, D(2027, 1, 31), None).charge(0)
    assert charge is not None
    # Months: Jan 31 - Feb 27, Feb 28 - Mar 30, Mar 31 - Apr 29, …
    assert [charge.unit(day, True) for day in (D(2027, 2, 27), D(2027, 2, 28), D(2027, 3, 30), D(2027, 3, 31))] == [
        0,
        1,
        1,
        2,
    ]
    assert (charge.unit_start(D(2027, 3, 15), True), charge.unit_end(D(2027, 3, 15), True)) == (
        D(2027, 2, 28),
        D(2027, 3, 30),
    )
    assert (charge.unit_start(D(2027, 3, 15), False), charge.unit_end(D(2027, 3, 15), False)) == (
        D(2027, 3, 15),
        D(2027, 3, 15),
    )


REFUNDABLE = [
    # (steps before the reduction, quantity the day before the window, window's first day, term start, seats removed,
    #  refundable)
    # Bought Jan 1 (10), reduced on Jan 3 (window Dec 28 - Jan 3): all 10 were bought inside it.
    ([(D(2027, 1, 1), 10)], 0, D(2026, 12, 28), D(2027, 1, 1), 2, 2),
    # Then reduced again on Jan 9 (window Jan 3 - 9): the 8 left were bought Jan 1, before it: none.
    ([(D(2027, 1, 3), -2)], 10, D(2027, 1, 3), D(2027, 1, 1), 2, 0),
    # +4 on Jan 12, -5 on Jan 15 (window Jan 9 - 15): the 4 added inside it go first; the 5th was bought Jan 1.
    ([(D(2027, 1, 12), 4)], 10, D(2027, 1, 9), D(2027, 1, 1), 5, 4),
    # +4 on Jan 12, -3 on Jan 13, -5 on Jan 16 (window Jan 10 - 16): 1 of the 4 is left inside it.
    ([(D(2027, 1, 12), 4), (D(2027, 1, 13), -3)], 10, D(2027, 1, 10), D(2027, 1, 1), 5, 1),
    # Renewed Jan 1 2028 with 10; reduced by 3 on Jan 4 (window Dec 29 - Jan 4): every seat was renewed inside it.
    ([], 10, D(2027, 12, 29), D(2028, 1, 1), 3, 3),
]


@pytest.mark.parametrize(("steps", "before", "first", "term_start", "seats", "refundable"), REFUNDABLE)
def test_refundable_seats_are_those_bought_renewed_or_added_inside_the_window(
    steps: list[tuple[date, int]], before: int, first: date, term_start: date, seats: int, refundable: int
) -> None:
    assert refundable_seats(steps, before=before, window_first=first, term_start=term_start, seats=seats) == refundable
