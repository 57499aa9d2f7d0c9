"""The pure subscription rules (SPEC §4, §6): terms, the reduction window of each batch of seats, the strictest rule,
quantity bounds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seatflow.catalog.models import ReductionBehavior
from seatflow.subscriptions.errors import QuantityOutOfRange, ReductionDisallowed, ReductionOutsideWindow
from seatflow.subscriptions.rules import (
    QuantityStep,
    ReductionRule,
    Refundable,
    RefundableBatch,
    SeatBatch,
    add_months,
    check_quantity,
    check_reduction,
    logged_seat_batches,
    next_term,
    reduction_refusal,
    refundable,
    seat_batches,
    strictest_refundable,
    term_for,
    window_cutoff,
)
from tests.subscriptions.window_reference import steps_from_window

TERM_START = date(2026, 12, 1)
TERM_END = date(2027, 11, 30)
RENEWAL = date(2027, 12, 1)


def rule(
    behavior: ReductionBehavior = ReductionBehavior.ALLOWED_WITHIN_WINDOW,
    *,
    window_days: int | None = 7,
    term_start: date = TERM_START,
    term_end: date = TERM_END,
    label: str = "The Microsoft 365 E3 subscription",
    batches: tuple[SeatBatch, ...] | None = None,
) -> ReductionRule:
    """By default the 10 seats held since the term started: one batch dated ``term_start``."""
    return ReductionRule(
        behavior=behavior,
        window_days=window_days,
        term_start=term_start,
        term_end=term_end,
        label=label,
        batches=(SeatBatch(10, term_start),) if batches is None else batches,
    )


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 12, 1), 0, date(2026, 12, 1)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2026, 12, 1), 36, date(2029, 12, 1)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2027, 1, 15), -1, date(2026, 12, 15)),
    ],
)
def test_add_months_clamps_to_the_end_of_shorter_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        (date(2026, 12, 1), 1, date(2026, 12, 31)),  # P1M
        (date(2026, 2, 1), 1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 14)),
        (date(2026, 12, 1), 12, date(2027, 11, 30)),  # P1Y
        (date(2028, 3, 1), 12, date(2029, 2, 28)),
        (date(2027, 3, 1), 12, date(2028, 2, 29)),  # the year holds the leap day
        (date(2026, 12, 1), 36, date(2029, 11, 30)),  # P3Y
    ],
)
def test_term_for_ends_the_day_before_the_anniversary(start: date, months: int, last_day: date) -> None:
    assert term_for(start, months) == (start, last_day)


@pytest.mark.parametrize(
    ("start", "term_end", "months", "expected"),
    [
        (date(2026, 12, 1), date(2026, 12, 31), 1, (date(2027, 1, 1), date(2027, 1, 31))),
        (date(2026, 12, 1), date(2027, 11, 30), 12, (date(2027, 12, 1), date(2028, 11, 30))),
        (date(2026, 12, 1), date(2029, 11, 30), 36, (date(2029, 12, 1), date(2032, 11, 30))),
        # Bought on the 31st: February's term is short, March's runs to the 30th again.
        (date(2027, 1, 31), date(2027, 2, 27), 1, (date(2027, 2, 28), date(2027, 3, 30))),
        (date(2027, 1, 31), date(2027, 3, 30), 1, (date(2027, 3, 31), date(2027, 4, 29))),
        # Bought on a leap day: the anniversary is Feb 28, and Feb 29 again in a leap year.
        (date(2028, 2, 29), date(2029, 2, 27), 12, (date(2029, 2, 28), date(2030, 2, 27))),
        (date(2028, 2, 29), date(2031, 2, 27), 12, (date(2031, 2, 28), date(2032, 2, 28))),
    ],
)
def test_next_term_stays_on_the_start_dates_day(
    start: date, term_end: date, months: int, expected: tuple[date, date]
) -> None:
    assert next_term(start, term_end, months) == expected


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    months=st.sampled_from([1, 12, 36]),
    renewals=st.integers(min_value=1, max_value=40),
)
def test_renewed_terms_follow_each_other_and_keep_the_anniversary(start: date, months: int, renewals: int) -> None:
    term_start, term_end = term_for(start, months)
    for k in range(1, renewals + 1):
        following = next_term(start, term_end, months)
        assert following[0] == term_end + timedelta(days=1)  # no gap, no overlap
        assert following == (add_months(start, k * months), add_months(start, (k + 1) * months) - timedelta(days=1))
        term_start, term_end = following
    assert term_start <= term_end


class TestReductionRefusal:
    def test_allowed_is_never_refused(self) -> None:
        allowed = rule(ReductionBehavior.ALLOWED, window_days=None)
        for day in (TERM_START, date(2027, 6, 30), TERM_END):
            assert reduction_refusal(allowed, day, 10) is None

    def test_disallowed_is_refused_until_the_renewal(self) -> None:
        refusal = reduction_refusal(rule(ReductionBehavior.DISALLOWED, window_days=None), TERM_START, 1)
        assert refusal is not None
        assert refusal.code == "reduction_disallowed"
        assert refusal.allowed_from == RENEWAL
        assert "2027-12-01" in refusal.reason

    @pytest.mark.parametrize(
        ("day", "allowed"),
        [
            (date(2026, 12, 1), True),  # day 1 of the term
            (date(2026, 12, 3), True),
            (date(2026, 12, 7), True),  # day 7: the last day of the window
            (date(2026, 12, 8), False),
            (date(2027, 6, 1), False),
            (date(2027, 11, 30), False),  # the term's last day
        ],
    )
    def test_a_seven_day_window_counts_from_the_term_start(self, day: date, allowed: bool) -> None:
        refusal = reduction_refusal(rule(), day, 2)
        if allowed:
            assert refusal is None
        else:
            assert refusal is not None
            assert refusal.code == "reduction_outside_window"
            assert refusal.allowed_from == RENEWAL
            # Was "2026-12-01 to 2026-12-07" (the term's one window); the window now belongs to each batch of
            # seats, so the refusal says how many can be reduced that day (none) and from when the rest can be.
            assert f"on {day}, 0 of its 10 seats can be reduced, not 2" in refusal.reason
            assert "the other 10 can be reduced from the renewal on 2027-12-01" in refusal.reason

    def test_before_the_term_starts_it_is_allowed_from_the_start(self) -> None:
        refusal = reduction_refusal(rule(), date(2026, 11, 30), 1)
        assert refusal is not None
        assert refusal.code == "reduction_outside_window"
        assert refusal.allowed_from == TERM_START


class TestCheckReduction:
    def test_every_rule_allowing_passes(self) -> None:
        check_reduction(
            [rule(), rule(ReductionBehavior.ALLOWED, window_days=None, label="Its linked parent")], TERM_START, 10
        )

    def test_no_rules_passes(self) -> None:
        check_reduction([], TERM_START, 10)

    def test_one_refusing_rule_is_enough_and_is_named(self) -> None:
        child = rule(label="New York's Microsoft 365 E3")
        parent = rule(
            term_start=date(2026, 11, 20), term_end=date(2027, 11, 19), label="Its linked parent"
        )  # window 11-20 to 11-26: closed on 12-03
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([child, parent], date(2026, 12, 3), 2)
        assert raised.value.extra["allowed_from"] == "2027-11-20"
        assert "Its linked parent" in raised.value.message
        assert "New York" not in raised.value.message
        assert "effective=renewal" in raised.value.message

    def test_the_latest_allowed_from_is_reported(self) -> None:
        early = rule(term_start=date(2026, 11, 20), term_end=date(2027, 11, 19), label="The child")
        late = rule(label="Its linked parent")  # renews 2027-12-01
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([early, late], date(2027, 1, 15), 2)
        assert raised.value.extra["allowed_from"] == "2027-12-01"
        assert "The child" in raised.value.message
        assert "Its linked parent" in raised.value.message

    def test_a_disallowing_rule_with_the_latest_date_makes_it_disallowed(self) -> None:
        window = rule(label="The child")
        disallowed = rule(
            ReductionBehavior.DISALLOWED,
            window_days=None,
            term_start=date(2026, 6, 1),
            term_end=date(2029, 5, 31),
            label="Its linked parent",
        )
        with pytest.raises(ReductionDisallowed) as raised:
            check_reduction([window, disallowed], date(2027, 1, 15), 2)
        assert raised.value.code == "reduction_disallowed"
        assert raised.value.extra["allowed_from"] == "2029-06-01"

    def test_inside_the_childs_window_the_parents_disallowed_rule_still_refuses(self) -> None:
        disallowed = rule(ReductionBehavior.DISALLOWED, window_days=None, label="Its linked parent")
        with pytest.raises(ReductionDisallowed) as raised:
            check_reduction([rule(), disallowed], date(2026, 12, 2), 2)
        assert raised.value.extra["allowed_from"] == "2027-12-01"


# --- the window of each batch of seats (SPEC §6, 2026-12: Partner Center's refundableQuantity) -------------

DEC = {day: date(2026, 12, day) for day in range(1, 32)}


def step(day: date, after: int, *, purchase: bool = False) -> QuantityStep:
    return QuantityStep(effective_date=day, quantity_after=after, purchase=purchase)


@pytest.mark.parametrize(
    ("held", "steps", "expected"),
    [
        pytest.param(0, [step(DEC[1], 10, purchase=True)], [(10, DEC[1])], id="bought in this term"),
        pytest.param(10, [], [(10, DEC[1])], id="renewed: the seats held are one batch dated the renewal"),
        pytest.param(
            0,
            [step(date(2025, 12, 1), 10, purchase=True), step(date(2026, 3, 1), 12)],
            [(12, DEC[1])],
            id="changes of an earlier term all fold into the renewal batch",
        ),
        pytest.param(
            0,
            [step(DEC[1], 10, purchase=True), step(DEC[21], 15)],
            [(10, DEC[1]), (5, DEC[21])],
            id="a mid-term addition is a batch of its own",
        ),
        pytest.param(
            0,
            [step(DEC[1], 10, purchase=True), step(DEC[21], 12), step(DEC[21], 15)],
            [(10, DEC[1]), (5, DEC[21])],
            id="additions of one day are one batch",
        ),
        pytest.param(
            0,
            [step(DEC[1], 10, purchase=True), step(DEC[21], 15), step(DEC[23], 12)],
            [(10, DEC[1]), (2, DEC[21])],
            id="a reduction takes the newest seats first",
        ),
        pytest.param(
            0,
            [step(DEC[1], 10, purchase=True), step(DEC[21], 15), step(DEC[22], 18), step(DEC[23], 8)],
            [(8, DEC[1])],
            id="a bigger reduction goes on into older batches",
        ),
        pytest.param(12, [step(DEC[1], 8)], [(8, DEC[1])], id="a reduction applied at the renewal"),
        pytest.param(10, [step(DEC[1], 15)], [(15, DEC[1])], id="an increase applied at the renewal"),
        pytest.param(
            10,
            [step(DEC[10], 15), step(DEC[20], 15, purchase=True)],
            [(15, DEC[20])],
            id="ordered again (reconciliation): every seat is bought anew",
        ),
        pytest.param(
            0,
            [step(DEC[1], 10, purchase=True), step(DEC[21], 10)],
            [(10, DEC[1])],
            id="a change that keeps the quantity adds no batch",
        ),
    ],
)
def test_seat_batches_from_the_change_log(
    held: int, steps: list[QuantityStep], expected: list[tuple[int, date]]
) -> None:
    assert seat_batches(steps, term_start=DEC[1], held=held) == tuple(SeatBatch(q, d) for q, d in expected)


BATCHES = (SeatBatch(10, DEC[1]), SeatBatch(5, DEC[21]))


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (DEC[1], [(10, DEC[7])]),
        (DEC[7], [(10, DEC[7])]),  # the window's seventh and last day
        (DEC[8], []),
        (DEC[20], []),
        (DEC[21], [(5, DEC[27])]),
        (DEC[27], [(5, DEC[27])]),
        (DEC[28], []),
        (date(2026, 11, 30), []),  # before any seat was added
    ],
)
def test_each_batch_is_refundable_for_seven_days(on: date, expected: list[tuple[int, date]]) -> None:
    result = refundable(BATCHES, window_days=7, on=on)
    assert result.batches == tuple(RefundableBatch(q, d) for q, d in expected)
    assert result.total == sum(q for q, _ in expected)


def test_batches_in_their_window_together_soonest_to_close_first() -> None:
    batches = (SeatBatch(10, DEC[1]), SeatBatch(3, DEC[3]), SeatBatch(2, DEC[5]))
    assert refundable(batches, window_days=7, on=DEC[5]) == Refundable(
        15, (RefundableBatch(10, DEC[7]), RefundableBatch(3, DEC[9]), RefundableBatch(2, DEC[11]))
    )
    assert refundable(batches, window_days=0, on=DEC[5]) == Refundable(0)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param([], None, id="no rule limits it"),
        pytest.param(
            [Refundable(5, (RefundableBatch(5, DEC[27]),))],
            Refundable(5, (RefundableBatch(5, DEC[27]),)),
            id="one rule",
        ),
        pytest.param(
            [
                Refundable(5, (RefundableBatch(5, DEC[27]),)),
                Refundable(8, (RefundableBatch(5, DEC[27]), RefundableBatch(3, DEC[28]))),
            ],
            Refundable(5, (RefundableBatch(5, DEC[27]),)),
            id="the parent holds the child's addition and another child's",
        ),
        pytest.param(
            [
                Refundable(5, (RefundableBatch(5, DEC[27]),)),
                Refundable(5, (RefundableBatch(3, DEC[20]), RefundableBatch(2, DEC[30]))),
            ],
            Refundable(5, (RefundableBatch(3, DEC[20]), RefundableBatch(2, DEC[27]))),
            id="on each later day the least any rule still allows",
        ),
        pytest.param(
            [Refundable(5, (RefundableBatch(5, DEC[27]),)), Refundable(0)],
            Refundable(0),
            id="a disallowing rule allows nothing",
        ),
    ],
)
def test_the_strictest_refundable(parts: list[Refundable], expected: Refundable | None) -> None:
    assert strictest_refundable(parts) == expected


class TestBatchReductions:
    """The must-show case at the rule's level: 10 bought on 12-01, 5 added on 12-21."""

    def test_seats_added_two_days_ago_can_be_reduced_older_ones_cannot(self) -> None:
        check_reduction([rule(batches=BATCHES)], DEC[23], 5)
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([rule(batches=BATCHES)], DEC[23], 6)
        message = raised.value.message
        assert "on 2026-12-23, 5 of its 15 seats can be reduced (5 added on 2026-12-21 until 2026-12-27), not 6" in (
            message
        )
        assert "the other 10 can be reduced from the renewal on 2027-12-01" in message
        assert "effective=renewal" in message
        assert raised.value.extra["allowed_from"] == "2027-12-01"
        assert raised.value.extra["refundable_quantity"] == {
            "total": 5,
            "batches": [{"quantity": 5, "allowed_until": "2026-12-27"}],
        }

    def test_once_the_window_closed_nothing_can_be_reduced(self) -> None:
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([rule(batches=BATCHES)], DEC[28], 1)
        assert "0 of its 15 seats can be reduced, not 1" in raised.value.message
        assert raised.value.extra["refundable_quantity"] == {"total": 0, "batches": []}

    def test_a_linked_parent_without_the_seats_in_a_window_refuses(self) -> None:
        child = rule(ReductionBehavior.ALLOWED, window_days=None, label="The child")
        parent = rule(batches=(SeatBatch(50, DEC[1]), SeatBatch(2, DEC[21])), label="Its linked parent")
        check_reduction([child, parent], DEC[23], 2)
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([child, parent], DEC[23], 3)
        assert "Its linked parent" in raised.value.message
        assert "The child" not in raised.value.message
        assert raised.value.extra["refundable_quantity"]["total"] == 2

    def test_the_childs_batches_and_the_parents_both_limit(self) -> None:
        child = rule(batches=BATCHES, label="The child")
        parent = rule(batches=(SeatBatch(50, DEC[1]), SeatBatch(3, DEC[20])), label="Its linked parent")
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([child, parent], DEC[23], 4)
        assert raised.value.extra["refundable_quantity"] == {
            "total": 3,
            "batches": [{"quantity": 3, "allowed_until": "2026-12-26"}],
        }


steps_strategy = st.lists(
    st.builds(
        QuantityStep,
        effective_date=st.dates(min_value=date(2025, 6, 1), max_value=date(2027, 11, 30)),
        quantity_after=st.integers(min_value=1, max_value=500),
        purchase=st.booleans(),
    ),
    max_size=25,
)


@given(
    held=st.integers(min_value=0, max_value=500),
    steps=steps_strategy,
    window=st.integers(min_value=0, max_value=30),
    offset=st.integers(min_value=-30, max_value=400),
)
def test_what_is_refundable_never_exceeds_the_quantity_nor_goes_negative(
    held: int, steps: list[QuantityStep], window: int, offset: int
) -> None:
    batches = seat_batches(steps, term_start=DEC[1], held=held)
    quantity = steps[-1].quantity_after if steps else held
    assert sum(b.quantity for b in batches) == quantity
    assert all(b.quantity > 0 and b.added_on >= DEC[1] for b in batches)
    assert [b.added_on for b in batches] == sorted({b.added_on for b in batches})  # one batch a day, in order
    on = DEC[1] + timedelta(days=offset)
    now = refundable(batches, window_days=window, on=on)
    assert 0 <= now.total <= quantity
    assert now.total == sum(b.quantity for b in now.batches)
    assert all(b.quantity > 0 and on <= b.allowed_until < on + timedelta(days=window) for b in now.batches)


@given(
    parts=st.lists(
        st.lists(st.tuples(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=20)), max_size=5),
        min_size=1,
        max_size=3,
    )
)
def test_the_strictest_is_the_least_on_every_day(parts: list[list[tuple[int, int]]]) -> None:
    refundables = [
        Refundable(sum(q for q, _ in part), tuple(RefundableBatch(q, DEC[1] + timedelta(days=d)) for q, d in part))
        for part in parts
    ]
    combined = strictest_refundable(refundables)
    assert combined is not None
    assert combined.total == min(r.total for r in refundables) >= 0
    assert combined.total == sum(b.quantity for b in combined.batches)
    for day in range(22):
        on = DEC[1] + timedelta(days=day)
        left = sum(b.quantity for b in combined.batches if b.allowed_until >= on)
        assert left == min(sum(b.quantity for b in r.batches if b.allowed_until >= on) for r in refundables)


@pytest.mark.parametrize(
    ("quantity", "minimum", "maximum", "ok"),
    [
        (0, 1, None, False),
        (1, 1, None, True),
        (0, 0, None, False),  # 1 at least while the subscription lives
        (1, 0, None, True),
        (4, 5, None, False),
        (5, 5, None, True),
        (10_000, 1, None, True),
        (300, 1, 300, True),
        (301, 1, 300, False),
        (-1, 1, 300, False),
    ],
)
def test_check_quantity_bounds(quantity: int, minimum: int, maximum: int | None, ok: bool) -> None:
    if ok:
        check_quantity(quantity, minimum=minimum, maximum=maximum, product="Microsoft 365 E3")
        return
    with pytest.raises(QuantityOutOfRange) as raised:
        check_quantity(quantity, minimum=minimum, maximum=maximum, product="Microsoft 365 E3")
    assert "Microsoft 365 E3" in raised.value.message
    bound = str(maximum) if maximum is not None and quantity > maximum else str(max(minimum, 1))
    assert bound in raised.value.message


@given(
    term_start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    term_months=st.sampled_from([1, 12, 36]),
    window=st.integers(min_value=1, max_value=366),
    offset=st.integers(min_value=-400, max_value=800),
)
def test_a_day_is_in_the_window_exactly_when_it_is_in_the_first_window_days(
    term_start: date, term_months: int, window: int, offset: int
) -> None:
    start, end = term_for(term_start, term_months)
    day = start + timedelta(days=offset)
    refusal = reduction_refusal(rule(window_days=window, term_start=start, term_end=end), day, 1)
    assert (refusal is None) == (start <= day < start + timedelta(days=window))
    if refusal is not None and day <= end:
        # Within the term, a refusal always names a later day on which the reduction will be allowed.
        assert refusal.allowed_from is not None
        assert refusal.allowed_from > day


# --- the window read (batches_of): folding the steps before the window changes no answer ----------------------


def logged(day: date, before: int, after: int, *, purchase: bool = False) -> QuantityStep:
    return QuantityStep(effective_date=day, quantity_after=after, purchase=purchase, quantity_before=before)


@pytest.mark.parametrize(
    ("on", "window", "expected"),
    [
        (DEC[21], 7, DEC[15]),  # seats added on the 15th can be reduced until the 21st
        (DEC[21], 1, DEC[21]),
        (DEC[21], 0, DEC[22]),  # no window: nothing is refundable, no batch needs to be exact
        (DEC[21], None, DEC[22]),
    ],
)
def test_the_window_cutoff_is_the_oldest_day_still_refundable(on: date, window: int | None, expected: date) -> None:
    assert window_cutoff(on, window) == expected
    if window:
        assert refundable([SeatBatch(1, expected)], window_days=window, on=on).total == 1
        assert refundable([SeatBatch(1, expected - timedelta(days=1))], window_days=window, on=on).total == 0


def test_the_read_starts_just_before_the_first_change_in_the_window() -> None:
    history = [logged(DEC[1], 0, 10, purchase=True)] + [
        logged(DEC[1] + timedelta(days=n), 10 + n % 2, 10 + (n + 1) % 2) for n in range(1, 60)
    ]
    kept = steps_from_window(history, DEC[21])
    assert kept[0] is history[19]  # effective on the 20th, the last before the cut-off
    assert kept[1].effective_date == DEC[21]
    assert len(kept) == 41
    assert steps_from_window(history, DEC[1]) == history  # the term's start is inside the window: no folding
    assert steps_from_window(history, date(2027, 3, 1)) == ()  # nothing in the window: nothing to read


def test_a_log_with_a_gap_is_read_from_the_change_before_the_window_not_from_the_first_ones_quantity_before() -> None:
    """A subscription written without its change (10 -> 15 unrecorded): a full replay counts the 6 seats of the
    next change as added on its day; starting from the first change in the window with its ``quantity_before``
    (15) would count 1."""
    steps = [logged(DEC[1], 0, 10, purchase=True), logged(DEC[20], 15, 16)]
    full = logged_seat_batches(steps, term_start=DEC[1], quantity=16)
    folded = logged_seat_batches(steps_from_window(steps, DEC[15]), term_start=DEC[1], quantity=16)
    assert refundable(full, window_days=7, on=DEC[21]) == Refundable(6, (RefundableBatch(6, DEC[26]),))
    assert refundable(folded, window_days=7, on=DEC[21]) == refundable(full, window_days=7, on=DEC[21])
    naive = seat_batches(steps[1:], term_start=DEC[1], held=15)
    assert refundable(naive, window_days=7, on=DEC[21]).total == 1


@st.composite
def logs(draw: st.DrawFn) -> tuple[date, list[QuantityStep], int]:
    """A term's start and its ``create``/``quantity`` steps in recording order, with effective dates in any order
    (back-dated changes recorded late, some before the term's start), purchases, and ``quantity_before`` that
    follows the previous step or not (a subscription written without its change); and the quantity."""
    term_start = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 1, 1)))
    consistent = draw(st.booleans())
    steps: list[QuantityStep] = []
    quantity = draw(st.integers(min_value=0, max_value=30))
    for _ in range(draw(st.integers(min_value=0, max_value=30))):
        before = quantity if consistent else draw(st.integers(min_value=0, max_value=30))
        quantity = draw(st.integers(min_value=0, max_value=30))
        day = term_start + timedelta(days=draw(st.integers(min_value=-3, max_value=25)))
        steps.append(logged(day, before, quantity, purchase=draw(st.integers(0, 9)) == 0))
    if not consistent and draw(st.booleans()):
        quantity = draw(st.integers(min_value=0, max_value=30))  # the log does not end on the quantity
    return term_start, steps, quantity


@given(
    log=logs(),
    window=st.sampled_from([None, 0, 1, 2, 3, 7, 14]),
    offset=st.integers(min_value=-5, max_value=35),
)
@settings(max_examples=400)
def test_the_steps_from_the_window_give_the_same_answers_as_the_whole_term(
    log: tuple[date, list[QuantityStep], int], window: int | None, offset: int
) -> None:
    term_start, steps, quantity = log
    on = term_start + timedelta(days=offset)
    cutoff = window_cutoff(on, window)
    full = logged_seat_batches(steps, term_start=term_start, quantity=quantity)
    folded = logged_seat_batches(steps_from_window(steps, cutoff), term_start=term_start, quantity=quantity)

    assert sum(b.quantity for b in folded) == sum(b.quantity for b in full) == quantity
    assert [b for b in folded if b.added_on >= cutoff] == [b for b in full if b.added_on >= cutoff]
    assert all(b.added_on >= term_start for b in folded)
    for later in range(20):  # what is refundable on ``on`` and every later day
        day = on + timedelta(days=later)
        assert refundable(folded, window_days=window or 0, on=day) == refundable(full, window_days=window or 0, on=day)
    for behavior in ReductionBehavior:
        whole = rule(behavior, window_days=window, term_start=term_start, term_end=TERM_END, batches=full)
        read = rule(behavior, window_days=window, term_start=term_start, term_end=TERM_END, batches=folded)
        assert read.refundable(on) == whole.refundable(on)
        for seats in range(quantity + 2):  # the refusal's message counts the seats held and those in a window
            assert reduction_refusal(read, on, seats) == reduction_refusal(whole, on, seats)
