"""The seat batches read from the refund window (``batches_of`` with ``on``) answer as the whole term's read does:
the same refundable batches and the same total for every subscription asked about together, on SQLite and
PostgreSQL, with back-dated changes recorded late, changes dated before the term, changes recorded at the same
instant, purchases, and a log with a gap. Every date is relative to FACTORY_TODAY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from seatflow.catalog.models import ReductionBehavior
from seatflow.subscriptions.batches import _window_changes, batches_of, refundable_quantities
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import ReductionOutsideWindow
from seatflow.subscriptions.models import (
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
)
from seatflow.subscriptions.rules import (
    QuantityStep,
    SeatBatch,
    logged_seat_batches,
    refundable,
    window_cutoff,
)
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    DemoCatalog,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import fresh, pine_cone_vet
from tests.subscriptions.window_reference import steps_from_window, term_batches

DAY_0 = FACTORY_TODAY  # 2026-12-01


def day(n: int) -> date:
    return DAY_0 + timedelta(days=n)


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    return load_demo_catalog(session)


def new_subscription(session: Session, catalog: DemoCatalog, name: str) -> Subscription:
    contract = create_contract(session, customer=create_customer(session, name=name, tenant_id=name.lower()))
    return create_subscription(
        session,
        contract=contract,
        product=catalog.e3,
        quantity=10,
        provider_account=catalog.do_nothing,
        start_date=DAY_0,
    )


def log(
    session: Session,
    subscription: Subscription,
    *,
    before: int,
    after: int,
    effective: date,
    at: datetime,
    kind: ChangeKind = ChangeKind.QUANTITY,
) -> None:
    """A change written into the log as recorded at ``at`` (the services stamp their own time)."""
    session.add(
        LicenseChange(
            subscription_id=subscription.id,
            kind=kind,
            quantity_before=before,
            quantity_after=after,
            effective_date=effective,
            origin=ChangeOrigin.OPERATOR,
            requested_by="operator@reseller.example",
            provisioning_status=ProvisioningStatus.NOT_APPLICABLE,
            created_at=at,
        )
    )


def term_steps(session: Session, subscription: Subscription) -> list[QuantityStep]:
    """The whole term's seat steps in recording order, read plainly: what the window read must agree with."""
    session.flush()
    rows = session.scalars(
        select(LicenseChange)
        .where(
            LicenseChange.subscription_id == subscription.id,
            LicenseChange.kind.in_([ChangeKind.CREATE, ChangeKind.QUANTITY]),
            LicenseChange.effective_date >= subscription.term_start,
        )
        .order_by(LicenseChange.created_at, LicenseChange.id)
    )
    return [
        QuantityStep(c.effective_date, c.quantity_after, c.kind is ChangeKind.CREATE, c.quantity_before) for c in rows
    ]


def window_rows(session: Session, subscriptions: list[Subscription], on: date) -> dict[object, list[QuantityStep]]:
    """The rows the window read's SQL returns (the term's only), per subscription."""
    found: dict[object, list[QuantityStep]] = {s.id: [] for s in subscriptions}
    for subscription_id, kind, before, after, effective, in_term in session.execute(
        *_window_changes(subscriptions, on)
    ):
        if in_term:
            found[subscription_id].append(QuantityStep(effective, after, kind is ChangeKind.CREATE, before))
    return found


def assert_same_answers(session: Session, subscriptions: list[Subscription], on: date) -> None:
    """The window read against the whole term's: the rows ``steps_from_window`` keeps, exactly; the same batches
    from the cut-off, the same total, the same refundable on ``on`` and the days after; and the same
    ``refundable_quantities``."""
    whole = term_batches(session, subscriptions)
    read = batches_of(session, subscriptions, on=on)
    rows = window_rows(session, subscriptions, on)
    for s in subscriptions:
        cutoff = window_cutoff(on, s.reduction_window_days)
        steps = term_steps(session, s)
        assert rows[s.id] == list(steps_from_window(steps, cutoff))
        assert read[s.id] == logged_seat_batches(
            steps_from_window(steps, cutoff), term_start=s.term_start, quantity=s.quantity
        )
        assert whole[s.id] == logged_seat_batches(steps, term_start=s.term_start, quantity=s.quantity)
        assert sum(b.quantity for b in read[s.id]) == sum(b.quantity for b in whole[s.id]) == s.quantity
        assert [b for b in read[s.id] if b.added_on >= cutoff] == [b for b in whole[s.id] if b.added_on >= cutoff]
        window = s.reduction_window_days or 0
        for later in range(10):
            when = on + timedelta(days=later)
            assert refundable(read[s.id], window_days=window, on=when) == refundable(
                whole[s.id], window_days=window, on=when
            )


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_long_history_is_read_from_its_window_with_the_same_answers(session: Session, catalog: DemoCatalog) -> None:
    """Four months of changes (two a day, some recorded at the same instant, some back-dated and recorded days
    later, some dated before the term), a purchase again on day 50 and a gap on day 80; asked on many days."""
    e3 = new_subscription(session, catalog, "Northwind")
    quantity = 10
    for n in range(1, 120):
        at = noon(day(n))
        for k in range(2):
            after = 10 + (n * 7 + k * 3) % 9
            kind = ChangeKind.CREATE if (n, k) == (50, 0) else ChangeKind.QUANTITY
            before = quantity + 5 if (n, k) == (80, 1) else quantity  # a quantity written without its change
            log(session, e3, before=before, after=after, effective=day(n), at=at, kind=kind)  # both at noon
            quantity = after
        if n % 10 == 0:  # a change dated three days back, recorded now
            log(
                session,
                e3,
                before=quantity,
                after=quantity + 4,
                effective=day(n - 3),
                at=noon(day(n)) + timedelta(hours=1),
            )
            quantity += 4
        if n % 25 == 0:  # one dated before the term: not one of the term's, though its seats are counted next
            log(
                session,
                e3,
                before=quantity,
                after=quantity + 2,
                effective=day(-5),
                at=noon(day(n)) + timedelta(hours=2),
            )
            quantity += 2
    e3.quantity = quantity
    session.flush()

    for on in [
        day(-3),
        day(0),
        day(3),
        day(6),
        day(7),
        day(8),
        day(45),
        day(52),
        day(57),
        day(78),
        day(83),
        day(119),
        day(121),
        day(200),
    ]:
        assert_same_answers(session, [e3], on)
    rows = window_rows(session, [e3], day(119))[e3.id]
    assert len(rows) < 25  # the window's changes (and the one before), not the term's 260


def test_many_subscriptions_with_different_windows_and_terms_in_one_statement(
    session: Session, catalog: DemoCatalog
) -> None:
    """One read for a 7-day window, a 1-day one, none, a term that starts inside the window, a subscription whose
    window holds no change, one with no change in its term at all, and an ``allowed`` one."""
    seven, one, none, renewed, quiet, bare, allowed = (
        new_subscription(session, catalog, name)
        for name in ("Seven", "One", "Nowindow", "Renewed", "Quiet", "Bare", "Allowed")
    )
    one.reduction_window_days = 1
    none.reduction_window_days = None
    none.reduction_behavior = ReductionBehavior.DISALLOWED
    allowed.reduction_behavior = ReductionBehavior.ALLOWED
    for s in (seven, one, none, renewed, quiet, allowed):
        quantity = 10
        for n in range(1, 40):
            log(session, s, before=quantity, after=quantity + 1, effective=day(n), at=noon(day(n)))
            quantity += 1
        s.quantity = quantity
    renewed.term_start = day(36)  # its window on day 40 reaches back before its term's start
    quiet.quantity = 49
    session.execute(
        LicenseChange.__table__.delete().where(
            LicenseChange.subscription_id == quiet.id, LicenseChange.effective_date > day(20)
        )
    )
    session.execute(LicenseChange.__table__.delete().where(LicenseChange.subscription_id == bare.id))
    session.flush()
    subscriptions = [seven, one, none, renewed, quiet, bare, allowed]

    with statements(session) as seen:
        batches_of(session, subscriptions, on=day(40))
    assert len(seen) == 1
    for on in (day(38), day(40), day(45)):
        assert_same_answers(session, subscriptions, on)
    assert batches_of(session, [quiet], on=day(40))[quiet.id] == (SeatBatch(49, DAY_0),)
    assert batches_of(session, [bare], on=day(40))[bare.id] == (SeatBatch(10, DAY_0),)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[int, int, int, int, bool]]:
    """(effective day, recorded day, quantity before, quantity after, purchase) in recording order: recorded days
    never go back, several changes can be recorded on one day (the same instant), effective days can be earlier
    than recorded (back-dated) or before the term."""
    rows = []
    recorded, quantity = 0, 10
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        recorded += draw(st.integers(min_value=0, max_value=3))
        effective = recorded - draw(st.sampled_from([0, 0, 0, 1, 4, 9]))
        before = quantity if draw(st.integers(0, 5)) else draw(st.integers(0, 30))
        quantity = draw(st.integers(min_value=0, max_value=30))
        rows.append((effective, recorded, before, quantity, draw(st.integers(0, 9)) == 0))
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories(),
    term_start=st.integers(min_value=-2, max_value=10),
    window=st.sampled_from([None, 0, 1, 3, 7]),
    asked=st.integers(min_value=-3, max_value=60),
)
def test_random_histories_read_from_the_window_answer_as_the_whole_term(
    session: Session,
    catalog: DemoCatalog,
    history: list[tuple[int, int, int, int, bool]],
    term_start: int,
    window: int | None,
    asked: int,
) -> None:
    savepoint = session.begin_nested()
    try:
        e3 = new_subscription(session, catalog, "Random")
        e3.term_start = day(term_start)
        e3.reduction_window_days = window
        for effective, recorded, before, after, purchase in history:
            kind = ChangeKind.CREATE if purchase else ChangeKind.QUANTITY
            log(session, e3, before=before, after=after, effective=day(effective), at=noon(day(recorded)), kind=kind)
        e3.quantity = history[-1][3] if history else 10
        session.flush()
        assert_same_answers(session, [e3], day(asked))
    finally:
        savepoint.rollback()


def test_a_linked_parents_long_term_gives_its_children_the_same_answers(session: Session, catalog: DemoCatalog) -> None:
    """Through the services: New York's E3 moved up and down twice a day for 60 days (each a change of the
    parent); Atlanta's reduction and what every location can reduce are as the whole term says."""
    vet = pine_cone_vet(session, catalog, start_date=DAY_0)
    new_york, atlanta = vet.locations["New York City"].e3, vet.locations["Atlanta"].e3
    quantity = 25
    for n in range(1, 61):
        for k in range(2):
            quantity = 27 if quantity == 25 else 25
            change_quantity(
                session,
                subscription_id=new_york.id,
                quantity=quantity,
                effective="now",
                today=day(n),
                now=noon(day(n)) + timedelta(minutes=k),
                actor=OPERATOR,
            )
    change_quantity(
        session,
        subscription_id=atlanta.id,
        quantity=13,
        effective="now",
        today=day(61),
        now=noon(day(61)),
        actor=OPERATOR,
    )
    session.flush()
    parent = fresh(session, vet.parent_e3)
    children = [fresh(session, location.e3) for location in vet.locations.values()]
    assert_same_answers(session, [parent, *children], day(62))

    on = day(62)
    everyone = [parent, *children]
    whole = term_batches(session, everyone)
    by_window = refundable_quantities(session, everyone, on=on)
    assert by_window[parent.id] == refundable(whole[parent.id], window_days=7, on=on)
    atlanta_now = by_window[atlanta.id]
    assert atlanta_now is not None
    assert atlanta_now.total == 3
    with pytest.raises(ReductionOutsideWindow) as raised:
        change_quantity(
            session, subscription_id=atlanta.id, quantity=9, effective="now", today=on, now=noon(on), actor=OPERATOR
        )
    held = sum(b.quantity for b in whole[parent.id])
    assert f"3 of its {held} seats can be reduced" in raised.value.message
