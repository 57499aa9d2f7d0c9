"""Reductions against the window of each batch of seats (SPEC §6, 2026-12), through the services: every
purchase, renewal and mid-term addition can be reduced for 7 days, read from the change log; a linked child obeys
its parent's batches too; what can be reduced shows as ``refundable_quantity``."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog.models import ReductionBehavior
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.batches import refundable_quantities
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import ReductionOutsideWindow
from seatflow.subscriptions.models import LicenseChange, ScheduledChange, Subscription, SubscriptionStatus
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.rules import Refundable, RefundableBatch
from seatflow.subscriptions.schemas import SubscriptionUpdate
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
from tests.subscriptions.helpers import PineConeVet, changes_of, fresh, pine_cone_vet

DAY_0 = FACTORY_TODAY  # 2026-12-01: bought; the term runs to 2027-11-30
RENEWAL = date(2027, 12, 1)


def day(n: int) -> date:
    return date.fromordinal(DAY_0.toordinal() + n)


def set_quantity(
    session: Session, subscription: Subscription, quantity: int, on: date, effective: str | date = "now"
) -> LicenseChange | ScheduledChange:
    return change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective=effective,
        today=on,
        now=noon(on),
        actor=OPERATOR,
    )


def refundable_on(session: Session, subscription: Subscription, on: date) -> Refundable | None:
    session.flush()
    return refundable_quantities(session, [fresh(session, subscription)], on=on)[subscription.id]


def batch(quantity: int, until: date) -> RefundableBatch:
    return RefundableBatch(quantity, until)


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    return load_demo_catalog(session)


@pytest.fixture
def e3(session: Session, catalog: DemoCatalog) -> Subscription:
    """10 Microsoft 365 E3 bought on day 0, whose rule is NCE's: reductions within 7 days."""
    contract = create_contract(session, customer=create_customer(session, name="Northwind", tenant_id="northwind"))
    subscription = create_subscription(
        session,
        contract=contract,
        product=catalog.e3,
        quantity=10,
        provider_account=catalog.do_nothing,
        start_date=DAY_0,
    )
    assert (subscription.reduction_behavior, subscription.reduction_window_days) == (
        ReductionBehavior.ALLOWED_WITHIN_WINDOW,
        7,
    )
    return subscription


def test_a_reduction_of_seats_added_three_days_ago_succeeds_mid_term_while_older_seats_are_refused(
    session: Session, e3: Subscription
) -> None:
    set_quantity(session, e3, 15, day(20))

    reduced = set_quantity(session, e3, 10, day(23))

    assert isinstance(reduced, LicenseChange)
    assert (reduced.quantity_before, reduced.quantity_after, reduced.effective_date) == (15, 10, day(23))
    assert fresh(session, e3).quantity == 10
    before = len(changes_of(session, e3))
    with pytest.raises(ReductionOutsideWindow) as raised:
        set_quantity(session, e3, 9, day(23))
    message = raised.value.message
    assert "on 2026-12-24, 0 of its 10 seats can be reduced, not 1" in message
    assert "the other 10 can be reduced from the renewal on 2027-12-01" in message
    assert "effective=renewal" in message
    assert raised.value.extra["allowed_from"] == RENEWAL.isoformat()
    assert raised.value.extra["refundable_quantity"] == {"total": 0, "batches": []}
    assert fresh(session, e3).quantity == 10
    assert len(changes_of(session, e3)) == before


def test_a_reduction_bigger_than_the_new_seats_says_how_many_can_go_and_until_when(
    session: Session, e3: Subscription
) -> None:
    set_quantity(session, e3, 13, day(2))  # 3 added on 12-03, inside the purchase's window too
    set_quantity(session, e3, 18, day(20))  # 5 added on 12-21

    with pytest.raises(ReductionOutsideWindow) as raised:
        set_quantity(session, e3, 12, day(23))

    assert "5 of its 18 seats can be reduced (5 added on 2026-12-21 until 2026-12-27), not 6" in raised.value.message
    assert "the other 13 can be reduced from the renewal on 2027-12-01" in raised.value.message
    assert raised.value.extra["refundable_quantity"] == {
        "total": 5,
        "batches": [{"quantity": 5, "allowed_until": "2026-12-27"}],
    }
    set_quantity(session, e3, 15, day(23))
    assert refundable_on(session, e3, day(23)) == Refundable(2, (batch(2, day(26)),))


def test_each_batch_shows_until_its_seventh_day(session: Session, e3: Subscription) -> None:
    set_quantity(session, e3, 13, day(2))
    set_quantity(session, e3, 18, day(20))

    assert refundable_on(session, e3, day(0)) == Refundable(10, (batch(10, day(6)),))
    assert refundable_on(session, e3, day(4)) == Refundable(13, (batch(10, day(6)), batch(3, day(8))))
    assert refundable_on(session, e3, day(8)) == Refundable(3, (batch(3, day(8)),))
    assert refundable_on(session, e3, day(9)) == Refundable(0)
    assert refundable_on(session, e3, day(20)) == Refundable(5, (batch(5, day(26)),))
    assert refundable_on(session, e3, day(27)) == Refundable(0)


def test_changes_that_do_not_add_seats_open_no_window(session: Session, e3: Subscription) -> None:
    on = day(20)
    lifecycle.update_subscription(
        session,
        subscription=e3,
        data=SubscriptionUpdate.model_validate({"unit_price": "30.00", "auto_renew": False}),
        today=on,
        now=noon(on),
        actor=OPERATOR,
    )
    lifecycle.suspend(session, subscription=e3, cascade=False, today=on, now=noon(on), actor=OPERATOR)
    lifecycle.reactivate(session, subscription=fresh(session, e3), today=on, now=noon(on), actor=OPERATOR)
    lifecycle.update_subscription(
        session,
        subscription=fresh(session, e3),
        data=SubscriptionUpdate(auto_renew=True),
        today=on,
        now=noon(on),
        actor=OPERATOR,
    )
    scheduled = set_quantity(session, e3, 14, on, effective=day(40))  # an increase not made yet
    assert isinstance(scheduled, ScheduledChange)
    kinds = {c.kind.value for c in changes_of(session, e3)}
    assert {"price", "suspend", "reactivate"} <= kinds

    assert refundable_on(session, e3, on) == Refundable(0)
    with pytest.raises(ReductionOutsideWindow):
        set_quantity(session, e3, 9, on)
    assert fresh(session, e3).quantity == 10


def test_the_renewal_opens_one_window_for_every_seat(session: Session, e3: Subscription) -> None:
    set_quantity(session, e3, 15, day(20))
    run_renewals(session, today=RENEWAL, now=noon(RENEWAL))
    assert fresh(session, e3).term_start == RENEWAL
    later = date(2027, 12, 3)

    assert refundable_on(session, e3, later) == Refundable(15, (batch(15, date(2027, 12, 7)),))
    set_quantity(session, e3, 1, later)
    assert fresh(session, e3).quantity == 1


def test_a_dated_reduction_is_checked_against_the_windows_on_its_date(session: Session, e3: Subscription) -> None:
    set_quantity(session, e3, 15, day(20))

    inside = set_quantity(session, e3, 10, day(21), effective=day(26))  # the 7th day of the 12-21 batch
    assert isinstance(inside, ScheduledChange)
    with pytest.raises(ReductionOutsideWindow):
        set_quantity(session, e3, 10, day(21), effective=day(27))
    run_renewals(session, today=day(26), now=noon(day(26)))
    assert fresh(session, e3).quantity == 10


def test_a_pending_subscription_is_not_limited_and_an_ended_one_has_nothing(
    session: Session, catalog: DemoCatalog, e3: Subscription
) -> None:
    contract = create_contract(session, customer=create_customer(session, name="Contoso", tenant_id="contoso"))
    pending = create_subscription(
        session,
        contract=contract,
        product=catalog.e3,
        quantity=5,
        provider_account=catalog.do_nothing,
        start_date=day(30),
        today=DAY_0,
    )
    assert pending.status is SubscriptionStatus.PENDING
    assert refundable_on(session, pending, DAY_0) is None
    lifecycle.cancel(session, subscription=e3, cascade=False, today=day(2), now=noon(day(2)), actor=OPERATOR)
    assert refundable_on(session, e3, day(2)) == Refundable(0)


def test_an_allowed_rule_is_not_limited(session: Session, e3: Subscription) -> None:
    lifecycle.update_subscription(
        session,
        subscription=e3,
        data=SubscriptionUpdate(reduction_behavior=ReductionBehavior.ALLOWED),
        today=DAY_0,
        now=noon(DAY_0),
        actor=OPERATOR,
    )
    assert refundable_on(session, e3, day(100)) is None
    set_quantity(session, e3, 1, day(100))


class TestLinked:
    """Pine Cone Vet (seed 003): every location's E3 is linked to the parent's 50, all bought on day 0."""

    @pytest.fixture
    def vet(self, session: Session, catalog: DemoCatalog) -> PineConeVet:
        return pine_cone_vet(session, catalog, start_date=DAY_0)

    def test_a_location_reduces_the_seats_it_added_and_the_parent_follows(
        self, session: Session, vet: PineConeVet
    ) -> None:
        new_york = vet.locations["New York City"].e3
        set_quantity(session, new_york, 30, day(20))
        assert fresh(session, vet.parent_e3).quantity == 55
        assert refundable_on(session, vet.parent_e3, day(22)) == Refundable(5, (batch(5, day(26)),))

        set_quantity(session, new_york, 25, day(22))

        assert fresh(session, vet.parent_e3).quantity == 50
        assert refundable_on(session, new_york, day(22)) == Refundable(0)
        assert refundable_on(session, vet.parent_e3, day(22)) == Refundable(0)

    def test_another_locations_addition_does_not_make_this_ones_old_seats_reducible(
        self, session: Session, vet: PineConeVet
    ) -> None:
        set_quantity(session, vet.locations["New York City"].e3, 30, day(20))
        atlanta = vet.locations["Atlanta"].e3

        with pytest.raises(ReductionOutsideWindow) as raised:
            set_quantity(session, atlanta, 9, day(22))

        assert "0 of its 10 seats can be reduced" in raised.value.message
        assert refundable_on(session, atlanta, day(22)) == Refundable(0)
        assert fresh(session, vet.parent_e3).quantity == 55

    def test_the_parents_batches_limit_a_child_whose_own_rule_allows_any_reduction(
        self, session: Session, vet: PineConeVet
    ) -> None:
        new_york = vet.locations["New York City"].e3
        lifecycle.update_subscription(
            session,
            subscription=new_york,
            data=SubscriptionUpdate(reduction_behavior=ReductionBehavior.ALLOWED),
            today=DAY_0,
            now=noon(DAY_0),
            actor=OPERATOR,
        )
        set_quantity(session, new_york, 27, day(20))
        assert refundable_on(session, new_york, day(22)) == Refundable(2, (batch(2, day(26)),))

        with pytest.raises(ReductionOutsideWindow) as raised:
            set_quantity(session, new_york, 24, day(22))

        assert "Its linked parent" in raised.value.message
        assert "2 of its 52 seats can be reduced" in raised.value.message
        assert raised.value.extra["refundable_quantity"]["total"] == 2
        set_quantity(session, new_york, 25, day(22))
        assert fresh(session, vet.parent_e3).quantity == 50

    def test_a_child_shows_what_both_rules_allow(self, session: Session, vet: PineConeVet) -> None:
        new_york, memphis = vet.locations["New York City"].e3, vet.locations["Memphis"].e3
        lifecycle.update_subscription(
            session,
            subscription=memphis,
            data=SubscriptionUpdate(reduction_behavior=ReductionBehavior.ALLOWED),
            today=DAY_0,
            now=noon(DAY_0),
            actor=OPERATOR,
        )
        set_quantity(session, new_york, 30, day(20))  # +5 on 12-21, for the parent too
        set_quantity(session, memphis, 13, day(21))  # -2 on 12-22: the parent's newest seats go first

        assert refundable_on(session, new_york, day(21)) == Refundable(3, (batch(3, day(26)),))
        assert refundable_on(session, vet.parent_e3, day(21)) == Refundable(3, (batch(3, day(26)),))
        with pytest.raises(ReductionOutsideWindow):
            set_quantity(session, new_york, 26, day(21))
        set_quantity(session, new_york, 27, day(21))
