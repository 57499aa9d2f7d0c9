"""Billing cycles and money (SPEC §8), pure: every expected figure below was worked out by hand, on a calendar."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from seatflow.billing.amounts import cycle_amount, minor_unit, prorated, round_money, tax_of
from seatflow.billing.cycles import Cycle, Schedule, due_cycles
from seatflow.billing.drafts import ContractTerms, SubscriptionRow, draft_invoice

D = date
MONTHLY, QUARTERLY, ANNUAL = 1, 3, 12


# --- cycles ------------------------------------------------------------------------------------------------

CYCLES = [
    # (schedule, index, start, end, full_end, days)
    # Anchored on the 31st: each cycle starts on the 31st or the month's last day, never drifting to the 28th.
    (Schedule(D(2027, 1, 31), MONTHLY), 0, D(2027, 1, 31), D(2027, 2, 27), D(2027, 2, 27), 28),
    (Schedule(D(2027, 1, 31), MONTHLY), 1, D(2027, 2, 28), D(2027, 3, 30), D(2027, 3, 30), 31),
    (Schedule(D(2027, 1, 31), MONTHLY), 2, D(2027, 3, 31), D(2027, 4, 29), D(2027, 4, 29), 30),
    (Schedule(D(2027, 1, 31), MONTHLY), 3, D(2027, 4, 30), D(2027, 5, 30), D(2027, 5, 30), 31),
    (Schedule(D(2027, 1, 31), MONTHLY), 11, D(2027, 12, 31), D(2028, 1, 30), D(2028, 1, 30), 31),
    # The same in a leap year: Jan 31 → Feb 29 → Mar 31.
    (Schedule(D(2028, 1, 31), MONTHLY), 0, D(2028, 1, 31), D(2028, 2, 28), D(2028, 2, 28), 29),
    (Schedule(D(2028, 1, 31), MONTHLY), 1, D(2028, 2, 29), D(2028, 3, 30), D(2028, 3, 30), 31),
    # Quarterly on the 31st: Jan 31 → Apr 30 → Jul 31: 1 + 28 + 31 + 29 = 89 days, then 1 + 31 + 30 + 30 = 92.
    (Schedule(D(2027, 1, 31), QUARTERLY), 0, D(2027, 1, 31), D(2027, 4, 29), D(2027, 4, 29), 89),
    (Schedule(D(2027, 1, 31), QUARTERLY), 1, D(2027, 4, 30), D(2027, 7, 30), D(2027, 7, 30), 92),
    (Schedule(D(2027, 1, 31), QUARTERLY), 2, D(2027, 7, 31), D(2027, 10, 30), D(2027, 10, 30), 92),
    # Quarterly on Nov 30 across a leap February: Nov 30 → Feb 29 → May 30 (1 + 31 + 31 + 28 = 91; 1 + 31 + 30
    # + 29 = 91).
    (Schedule(D(2027, 11, 30), QUARTERLY), 0, D(2027, 11, 30), D(2028, 2, 28), D(2028, 2, 28), 91),
    (Schedule(D(2027, 11, 30), QUARTERLY), 1, D(2028, 2, 29), D(2028, 5, 29), D(2028, 5, 29), 91),
    # Plain calendar quarters: 90 days (Jan-Mar 2027), 91 (Jan-Mar 2028).
    (Schedule(D(2027, 1, 1), QUARTERLY), 0, D(2027, 1, 1), D(2027, 3, 31), D(2027, 3, 31), 90),
    (Schedule(D(2027, 1, 1), QUARTERLY), 4, D(2028, 1, 1), D(2028, 3, 31), D(2028, 3, 31), 91),
    # Annual: 365 days, 366 across Feb 29.
    (Schedule(D(2027, 1, 1), ANNUAL), 0, D(2027, 1, 1), D(2027, 12, 31), D(2027, 12, 31), 365),
    (Schedule(D(2027, 1, 1), ANNUAL), 1, D(2028, 1, 1), D(2028, 12, 31), D(2028, 12, 31), 366),
    (Schedule(D(2027, 3, 1), ANNUAL), 0, D(2027, 3, 1), D(2028, 2, 29), D(2028, 2, 29), 366),
    # Anchored on Feb 29: Feb 28 in common years, back to Feb 29 in the next leap year.
    (Schedule(D(2028, 2, 29), ANNUAL), 0, D(2028, 2, 29), D(2029, 2, 27), D(2029, 2, 27), 365),
    (Schedule(D(2028, 2, 29), ANNUAL), 3, D(2031, 2, 28), D(2032, 2, 28), D(2032, 2, 28), 366),
    (Schedule(D(2028, 2, 29), ANNUAL), 4, D(2032, 2, 29), D(2033, 2, 27), D(2033, 2, 27), 365),
    # A contract that ends mid-cycle (4-month term, quarterly, no renewal: ends Apr 30): the last cycle is
    # partial, its full length (Apr-Jun: 30 + 31 + 30 = 91) stays the proration base.
    (Schedule(D(2027, 1, 1), QUARTERLY, ends=D(2027, 4, 30)), 0, D(2027, 1, 1), D(2027, 3, 31), D(2027, 3, 31), 90),
    (Schedule(D(2027, 1, 1), QUARTERLY, ends=D(2027, 4, 30)), 1, D(2027, 4, 1), D(2027, 4, 30), D(2027, 6, 30), 91),
    # An annual contract of 6 months from Mar 15: Mar 15 2027 - Sep 14 2027 of a 366-day year (Feb 29 2028).
    (Schedule(D(2027, 3, 15), ANNUAL, ends=D(2027, 9, 14)), 0, D(2027, 3, 15), D(2027, 9, 14), D(2028, 3, 14), 366),
]


@pytest.mark.parametrize(("schedule", "index", "start", "end", "full_end", "days"), CYCLES)
def test_cycles_are_anchored_on_the_start_day(
    schedule: Schedule, index: int, start: date, end: date, full_end: date, days: int
) -> None:
    cycle = schedule.cycle(index)
    assert (cycle.index, cycle.start, cycle.end, cycle.full_end, cycle.days) == (index, start, end, full_end, days)
    assert cycle.months == schedule.months
    assert cycle.partial is (end != full_end)
    assert schedule.cycle_containing(start) == cycle
    assert schedule.cycle_containing(end) == cycle


CONTAINING = [
    # (schedule, day, index or None)
    (Schedule(D(2027, 1, 31), MONTHLY), D(2027, 1, 30), None),  # before the contract starts
    (Schedule(D(2027, 1, 31), MONTHLY), D(2027, 2, 27), 0),
    (Schedule(D(2027, 1, 31), MONTHLY), D(2027, 2, 28), 1),
    (Schedule(D(2027, 1, 31), MONTHLY), D(2027, 3, 30), 1),
    (Schedule(D(2027, 1, 31), MONTHLY), D(2027, 3, 31), 2),
    (Schedule(D(2027, 1, 31), MONTHLY), D(2028, 1, 15), 11),  # Dec 31 2027 - Jan 30 2028
    (Schedule(D(2027, 1, 31), QUARTERLY), D(2027, 4, 29), 0),
    (Schedule(D(2027, 1, 31), QUARTERLY), D(2027, 4, 30), 1),
    (Schedule(D(2028, 2, 29), ANNUAL), D(2029, 2, 27), 0),
    (Schedule(D(2028, 2, 29), ANNUAL), D(2029, 2, 28), 1),
    (Schedule(D(2027, 1, 1), QUARTERLY, ends=D(2027, 4, 30)), D(2027, 4, 30), 1),
    (Schedule(D(2027, 1, 1), QUARTERLY, ends=D(2027, 4, 30)), D(2027, 5, 1), None),  # after the contract ended
]


@pytest.mark.parametrize(("schedule", "day", "index"), CONTAINING)
def test_the_cycle_containing_a_day(schedule: Schedule, day: date, index: int | None) -> None:
    found = schedule.cycle_containing(day)
    if index is None:
        assert found is None
    else:
        assert found is not None
        assert found.index == index
        assert found.contains(day)


END_OF_JANUARY = Schedule(D(2027, 1, 31), MONTHLY)
"""Cycles start Jan 31, Feb 28, Mar 31, Apr 30; they end Feb 27, Mar 30, Apr 29, May 30."""
FOUR_MONTHS = Schedule(D(2027, 1, 1), QUARTERLY, ends=D(2027, 4, 30))
"""Two cycles: Jan 1 - Mar 31 and Apr 1 - Apr 30 (partial)."""

DUE = [
    # (schedule, after, run date, advance, indices due)
    # Advance: due from the first day; a first run on Apr 30 catches up four cycles.
    (END_OF_JANUARY, None, D(2027, 4, 30), True, [0, 1, 2, 3]),
    # Arrears: due from the day after the last day (Feb 28, Mar 31, Apr 30; the 4th on May 31).
    (END_OF_JANUARY, None, D(2027, 4, 30), False, [0, 1, 2]),
    (END_OF_JANUARY, None, D(2027, 5, 30), False, [0, 1, 2]),
    (END_OF_JANUARY, None, D(2027, 5, 31), False, [0, 1, 2, 3]),
    # After cycle 1 was billed only the later ones.
    (END_OF_JANUARY, 1, D(2027, 4, 30), True, [2, 3]),
    (END_OF_JANUARY, 1, D(2027, 4, 30), False, [2]),
    (END_OF_JANUARY, 3, D(2027, 4, 30), True, []),
    # On the start day: advance bills the first cycle, arrears nothing; the day before, nothing at all.
    (END_OF_JANUARY, None, D(2027, 1, 31), True, [0]),
    (END_OF_JANUARY, None, D(2027, 1, 31), False, []),
    (END_OF_JANUARY, None, D(2027, 1, 30), True, []),
    # A contract that ended: its partial last cycle, then nothing, however late the run.
    (FOUR_MONTHS, None, D(2030, 12, 31), True, [0, 1]),
    (FOUR_MONTHS, None, D(2030, 12, 31), False, [0, 1]),
    (FOUR_MONTHS, None, D(2027, 4, 30), False, [0]),  # the partial cycle ends Apr 30: due May 1
    (FOUR_MONTHS, None, D(2027, 5, 1), False, [0, 1]),
    (FOUR_MONTHS, 1, D(2030, 12, 31), True, []),
]


@pytest.mark.parametrize(("schedule", "after", "run_date", "advance", "indices"), DUE)
def test_due_cycles(schedule: Schedule, after: int | None, run_date: date, advance: bool, indices: list[int]) -> None:
    due = due_cycles(schedule, after=after, run_date=run_date, advance=advance)
    assert [cycle.index for cycle in due] == indices
    assert due == [schedule.cycle(index) for index in indices]


# --- amounts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "price", "months", "amount"),
    [
        (10, "36.00", MONTHLY, "360.00"),
        (4, "25.00", QUARTERLY, "300.00"),  # 3 months x 4 x 25.00
        (3, "20.00", ANNUAL, "720.00"),  # 12 x 3 x 20.00
        (7, "0.1875", QUARTERLY, "3.9375"),  # unrounded: rounding is the line's business
        (-2, "12.50", MONTHLY, "-25.00"),
    ],
)
def test_cycle_amount_is_months_times_quantity_times_the_monthly_price(
    quantity: int, price: str, months: int, amount: str
) -> None:
    assert cycle_amount(quantity, Decimal(price), months) == Decimal(amount)


Q1_2027 = Schedule(D(2027, 1, 1), QUARTERLY).cycle(0)
"""Jan 1 - Mar 31 2027: 90 days."""
JANUARY_2027 = Schedule(D(2027, 1, 1), MONTHLY).cycle(0)
"""31 days."""
YEAR_2028 = Schedule(D(2028, 1, 1), ANNUAL).cycle(0)
"""366 days."""
YEAR_FROM_JAN_31 = Schedule(D(2027, 1, 31), ANNUAL).cycle(0)
"""Jan 31 2027 - Jan 30 2028; its months start Jan 31, Feb 28, Mar 31, …"""
APRIL_OF_A_QUARTER = FOUR_MONTHS.cycle(1)
"""Apr 1 - Apr 30 2027, partial: the full quarter Apr 1 - Jun 30 has 91 days."""

PRORATED = [
    # (quantity, price, cycle, effective, by months, exact amount, rounded, counted)
    # Quarter of 90 days, change on Feb 15: Feb 15-28 (14) + March (31) = 45 days → 2 x 25.00 x 3 x 45/90.
    (2, "25.00", Q1_2027, D(2027, 2, 15), False, Fraction(75), "75.00", "45/90 days"),
    # By months: February and March (the month the change falls in counts) → 2 x 25.00 x 2.
    (2, "25.00", Q1_2027, D(2027, 2, 15), True, Fraction(100), "100.00", "2/3 months"),
    # From the first day: the whole cycle, either way.
    (2, "25.00", Q1_2027, D(2027, 1, 1), False, Fraction(150), "150.00", "90/90 days"),
    (2, "25.00", Q1_2027, D(2027, 1, 1), True, Fraction(150), "150.00", "3/3 months"),
    # From the last day: 150 x 1/90 = 1.666… → 1.67; by months all of March.
    (2, "25.00", Q1_2027, D(2027, 3, 31), False, Fraction(150, 90), "1.67", "1/90 days"),
    (2, "25.00", Q1_2027, D(2027, 3, 31), True, Fraction(50), "50.00", "1/3 months"),
    # Pine Cone Vet: +10 x 36.00 from Dec 16 of a 31-day month: 360 x 16/31 = 185.806… → 185.81.
    (10, "36.00", JANUARY_2027, D(2027, 1, 16), False, Fraction(360 * 16, 31), "185.81", "16/31 days"),
    (10, "36.00", JANUARY_2027, D(2027, 1, 16), True, Fraction(360), "360.00", "1/1 months"),
    # A reduction: -6 x 12.50 from Jan 25 (7 days): -75 x 7/31 = -16.935… → -16.94.
    (-6, "12.50", JANUARY_2027, D(2027, 1, 25), False, Fraction(-75 * 7, 31), "-16.94", "7/31 days"),
    # Leap year: Jul 1 - Dec 31 = 184 of 366 days: 1 x 10.00 x 12 x 184/366 = 60.327… → 60.33; by months 6.
    (1, "10.00", YEAR_2028, D(2028, 7, 1), False, Fraction(120 * 184, 366), "60.33", "184/366 days"),
    (1, "10.00", YEAR_2028, D(2028, 7, 1), True, Fraction(60), "60.00", "6/12 months"),
    # Months anchored on the 31st: the cycle's first month runs Jan 31 - Feb 27, so Feb 27 is still in it
    # (12 months left) and Feb 28 starts the second (11 left).
    (1, "10.00", YEAR_FROM_JAN_31, D(2027, 2, 27), True, Fraction(120), "120.00", "12/12 months"),
    (1, "10.00", YEAR_FROM_JAN_31, D(2027, 2, 28), True, Fraction(110), "110.00", "11/12 months"),
    # The partial last cycle (Apr 1-30 of a 91-day quarter): 2 x 30.00 x 3 x 30/91 = 59.340… → 59.34;
    # by months only April is left of the contract.
    (2, "30.00", APRIL_OF_A_QUARTER, D(2027, 4, 1), False, Fraction(180 * 30, 91), "59.34", "30/91 days"),
    (2, "30.00", APRIL_OF_A_QUARTER, D(2027, 4, 1), True, Fraction(60), "60.00", "1/3 months"),
    # Inside it, from Apr 21: 10 days of 91 → 180 x 10/91 = 19.780… → 19.78.
    (2, "30.00", APRIL_OF_A_QUARTER, D(2027, 4, 21), False, Fraction(180 * 10, 91), "19.78", "10/91 days"),
]


@pytest.mark.parametrize(
    ("quantity", "price", "cycle", "effective", "by_months", "exact", "rounded", "counted"), PRORATED
)
def test_prorated(
    quantity: int,
    price: str,
    cycle: Cycle,
    effective: date,
    by_months: bool,
    exact: Fraction,
    rounded: str,
    counted: str,
) -> None:
    amount, how = prorated(quantity, Decimal(price), cycle, effective, by_months=by_months)
    assert abs(Fraction(amount) - exact) < Fraction(1, 10**20)
    assert round_money(amount, "USD") == Decimal(rounded)
    assert how == counted


MONTHS_OF_THE_CONTRACT = [
    # A cycle that starts on a clamped day has months anchored on the contract's day, like its cycles: monthly
    # from Jan 31, the cycle Feb 28 - Mar 30 is one month, Mar 29 lies in it.
    (1, "10.00", END_OF_JANUARY.cycle(1), D(2027, 3, 29), "10.00", "1/1 months"),
    (1, "10.00", END_OF_JANUARY.cycle(1), D(2027, 3, 30), "10.00", "1/1 months"),
    # Quarterly from Jan 31: the cycle Apr 30 - Jul 30 has the months Apr 30 - May 30, May 31 - Jun 29 and
    # Jun 30 - Jul 30. From May 30: all three; from Jul 30: the last one.
    (1, "10.00", Schedule(D(2027, 1, 31), QUARTERLY).cycle(1), D(2027, 5, 30), "30.00", "3/3 months"),
    (1, "10.00", Schedule(D(2027, 1, 31), QUARTERLY).cycle(1), D(2027, 7, 30), "10.00", "1/3 months"),
    # The same contract ending after 4 months (May 30): its last cycle Apr 30 - May 30 is one month.
    (
        2,
        "30.00",
        Schedule(D(2027, 1, 31), QUARTERLY, ends=D(2027, 5, 30)).cycle(1),
        D(2027, 4, 30),
        "60.00",
        "1/3 months",
    ),
]
"""A cycle's months are anchored on the contract's start, as the cycles are: counted from the cycle's own start
day (Feb 28 + 1 month = Mar 28), Mar 29 would find no month left and May 30 only two (a bug once fixed)."""


@pytest.mark.parametrize(("quantity", "price", "cycle", "effective", "amount", "counted"), MONTHS_OF_THE_CONTRACT)
def test_prorated_by_months_counts_the_contracts_months(
    quantity: int, price: str, cycle: Cycle, effective: date, amount: str, counted: str
) -> None:
    assert prorated(quantity, Decimal(price), cycle, effective, by_months=True) == (Decimal(amount), counted)


ROUNDING = [
    # (amount, currency, rounded)
    ("185.806451", "USD", "185.81"),
    ("1.005", "USD", "1.01"),  # binary floating point would give 1.00
    ("2.675", "USD", "2.68"),
    ("0.125", "USD", "0.13"),  # half-up, not half-even (0.12)
    ("0.135", "USD", "0.14"),
    ("1.0049999", "USD", "1.00"),
    ("7.00", "USD", "7.00"),
    # Negative amounts: Decimal's ROUND_HALF_UP rounds a tie away from zero, so -0.005 → -0.01 (not 0.00, which
    # "half towards +∞" would give). A credit is then exactly the negative of the same charge.
    ("-0.005", "USD", "-0.01"),
    ("-1.005", "USD", "-1.01"),
    ("-16.935483", "USD", "-16.94"),
    ("-0.0049", "USD", "0.00"),
    # JPY has no minor unit: whole yen, half-up.
    ("1234.5", "JPY", "1235"),
    ("1234.4999", "JPY", "1234"),
    ("516.129", "JPY", "516"),
    ("-0.5", "JPY", "-1"),
    ("516.5", "jpy", "517"),  # the currency code's case does not matter
    # Three-decimal currencies.
    ("1.0005", "BHD", "1.001"),
    ("1.0004", "KWD", "1.000"),
]


@pytest.mark.parametrize(("amount", "currency", "rounded"), ROUNDING)
def test_round_money_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    result = round_money(Decimal(amount), currency)
    assert result == Decimal(rounded)
    assert result.as_tuple().exponent == Decimal(rounded).as_tuple().exponent  # the minor unit's places


@pytest.mark.parametrize(("currency", "unit"), [("USD", "0.01"), ("EUR", "0.01"), ("JPY", "1"), ("BHD", "0.001")])
def test_minor_units(currency: str, unit: str) -> None:
    assert minor_unit(currency) == Decimal(unit)


TAX = [
    # (subtotal, rate, currency, tax)
    # Lines 10.00 + 10.00 + 30.00: on the subtotal 50.00 x 0.0825 = 4.125 → 4.13 (half-even would give 4.12);
    # per line it would have been 0.83 + 0.83 + 2.48 = 4.14.
    ("50.00", "0.0825", "USD", "4.13"),
    # 20.00 x 0.0825 = 1.65 exactly; per line 0.83 + 0.83 = 1.66.
    ("20.00", "0.0825", "USD", "1.65"),
    # A credit: -110.00 x 0.0825 = -9.075 → -9.08.
    ("-110.00", "0.0825", "USD", "-9.08"),
    ("103.38", "0.0825", "USD", "8.53"),  # 8.52885
    ("100.00", "0", "USD", "0.00"),
    # Yen: 4,516 x 10% = 451.6 → 452; 999 x 8.25% = 82.4175 → 82.
    ("4516", "0.10", "JPY", "452"),
    ("999", "0.0825", "JPY", "82"),
]


@pytest.mark.parametrize(("subtotal", "rate", "currency", "tax"), TAX)
def test_tax_is_rounded_once_on_the_subtotal(subtotal: str, rate: str, currency: str, tax: str) -> None:
    assert tax_of(Decimal(subtotal), Decimal(rate), currency) == Decimal(tax)


def _terms(currency: str, tax_rate: str) -> ContractTerms:
    return ContractTerms(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        currency=currency,
        schedule=Schedule(D(2027, 1, 1), MONTHLY),
        advance=True,
        by_months=False,
        refunds=False,
        tax_rate=Decimal(tax_rate),
        payment_terms_days=30,
    )


def _row(quantity: int, price: str, name: str) -> SubscriptionRow:
    return SubscriptionRow(uuid.uuid4(), uuid.uuid4(), name, Decimal(price), quantity)


def test_a_draft_taxes_its_subtotal_not_each_line() -> None:
    # 1 x 10.00, 2 x 5.00 and 3 x 10.00 for January: lines 10.00, 10.00, 30.00; subtotal 50.00; tax 4.125 →
    # 4.13 (per line it would be 0.83 + 0.83 + 2.48 = 4.14); total 54.13.
    terms = _terms("USD", "0.0825")
    rows = [_row(1, "10.00", "A"), _row(2, "5.00", "B"), _row(3, "10.00", "C")]
    draft = draft_invoice(terms, terms.schedule.cycle(0), rows, {}, first_billed_index=0, settled=set())
    assert [line.amount for line in draft.lines] == [Decimal("10.00"), Decimal("10.00"), Decimal("30.00")]
    assert (draft.subtotal, draft.tax, draft.total) == (Decimal("50.00"), Decimal("4.13"), Decimal("54.13"))


def test_a_yen_draft_has_whole_yen_lines_and_tax() -> None:
    # 3 x ¥1,234.5 a month = ¥3,703.5 → ¥3,704; tax 10% = 370.4 → ¥370; total ¥4,074.
    terms = _terms("JPY", "0.10")
    draft = draft_invoice(
        terms, terms.schedule.cycle(0), [_row(3, "1234.5", "A")], {}, first_billed_index=0, settled=set()
    )
    assert [line.amount for line in draft.lines] == [Decimal("3704")]
    assert (draft.subtotal, draft.tax, draft.total) == (Decimal("3704"), Decimal("370"), Decimal("4074"))
