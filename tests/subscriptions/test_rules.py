"""The pure subscription rules (SPEC §4, §6): terms, the reduction window, the strictest rule, quantity bounds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seatflow.catalog.models import ReductionBehavior
from seatflow.subscriptions.errors import QuantityOutOfRange, ReductionDisallowed, ReductionOutsideWindow
from seatflow.subscriptions.rules import (
    ReductionRule,
    add_months,
    check_quantity,
    check_reduction,
    next_term,
    reduction_refusal,
    term_for,
)

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
) -> ReductionRule:
    return ReductionRule(
        behavior=behavior, window_days=window_days, term_start=term_start, term_end=term_end, label=label
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
            assert reduction_refusal(allowed, day) is None

    def test_disallowed_is_refused_until_the_renewal(self) -> None:
        refusal = reduction_refusal(rule(ReductionBehavior.DISALLOWED, window_days=None), TERM_START)
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
        refusal = reduction_refusal(rule(), day)
        if allowed:
            assert refusal is None
        else:
            assert refusal is not None
            assert refusal.code == "reduction_outside_window"
            assert refusal.allowed_from == RENEWAL
            assert "2026-12-01 to 2026-12-07" in refusal.reason

    def test_before_the_term_starts_it_is_allowed_from_the_start(self) -> None:
        refusal = reduction_refusal(rule(), date(2026, 11, 30))
        assert refusal is not None
        assert refusal.code == "reduction_outside_window"
        assert refusal.allowed_from == TERM_START


class TestCheckReduction:
    def test_every_rule_allowing_passes(self) -> None:
        check_reduction(
            [rule(), rule(ReductionBehavior.ALLOWED, window_days=None, label="Its linked parent")], TERM_START
        )

    def test_no_rules_passes(self) -> None:
        check_reduction([], TERM_START)

    def test_one_refusing_rule_is_enough_and_is_named(self) -> None:
        child = rule(label="New York's Microsoft 365 E3")
        parent = rule(
            term_start=date(2026, 11, 20), term_end=date(2027, 11, 19), label="Its linked parent"
        )  # window 11-20 to 11-26: closed on 12-03
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([child, parent], date(2026, 12, 3))
        assert raised.value.extra["allowed_from"] == "2027-11-20"
        assert "Its linked parent" in raised.value.message
        assert "New York" not in raised.value.message
        assert "effective=renewal" in raised.value.message

    def test_the_latest_allowed_from_is_reported(self) -> None:
        early = rule(term_start=date(2026, 11, 20), term_end=date(2027, 11, 19), label="The child")
        late = rule(label="Its linked parent")  # renews 2027-12-01
        with pytest.raises(ReductionOutsideWindow) as raised:
            check_reduction([early, late], date(2027, 1, 15))
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
            check_reduction([window, disallowed], date(2027, 1, 15))
        assert raised.value.code == "reduction_disallowed"
        assert raised.value.extra["allowed_from"] == "2029-06-01"

    def test_inside_the_childs_window_the_parents_disallowed_rule_still_refuses(self) -> None:
        disallowed = rule(ReductionBehavior.DISALLOWED, window_days=None, label="Its linked parent")
        with pytest.raises(ReductionDisallowed) as raised:
            check_reduction([rule(), disallowed], date(2026, 12, 2))
        assert raised.value.extra["allowed_from"] == "2027-12-01"


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
    refusal = reduction_refusal(rule(window_days=window, term_start=start, term_end=end), day)
    assert (refusal is None) == (start <= day < start + timedelta(days=window))
    if refusal is not None and day <= end:
        # Within the term, a refusal always names a later day on which the reduction will be allowed.
        assert refusal.allowed_from is not None
        assert refusal.allowed_from > day
