"""Quantity reductions through the services (SPEC §6): the 7-day window, the strictest rule of child and
linked parent, scheduling for the renewal or a later date, and quantity bounds."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProductKind, ReductionBehavior
from seatflow.catalog.schemas import ProductUpdate
from seatflow.catalog.service import update_product
from seatflow.errors import ValidationFailed
from seatflow.subscriptions import lifecycle, repository
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import QuantityOutOfRange, ReductionDisallowed, ReductionOutsideWindow
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import (
    ChangeOrigin,
    LicenseChange,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
)
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.schemas import Actor, SubscriptionUpdate
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_product,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import PineConeVet, fresh, pine_cone_vet, quantity_changes

TERM_START = FACTORY_TODAY  # 2026-12-01; E3 is P1Y with a 7-day window
DAY_3 = date(2026, 12, 3)
DAY_10 = date(2026, 12, 10)
RENEWAL = date(2027, 12, 1)
PORTAL = Actor(ChangeOrigin.PORTAL, "it@pineconevet.example")


@pytest.fixture
def vet(session: Session) -> PineConeVet:
    return pine_cone_vet(session, load_demo_catalog(session), start_date=TERM_START)


@pytest.fixture
def new_york(vet: PineConeVet) -> Subscription:
    return vet.locations["New York City"].e3


def request(
    session: Session,
    subscription: Subscription,
    quantity: int,
    *,
    today: date,
    effective: str | date = "now",
    actor: Actor = PORTAL,
) -> LicenseChange | ScheduledChange:
    return change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective=effective,
        today=today,
        now=noon(today),
        actor=actor,
    )


def set_rule(session: Session, subscription: Subscription, behavior: ReductionBehavior, window: int | None) -> None:
    lifecycle.update_subscription(
        session,
        subscription=subscription,
        data=SubscriptionUpdate(reduction_behavior=behavior, reduction_window_days=window),
        today=TERM_START,
        now=noon(TERM_START),
        actor=OPERATOR,
    )


def test_both_rules_are_the_seven_day_window(session: Session, vet: PineConeVet, new_york: Subscription) -> None:
    for subscription in (new_york, vet.parent_e3):
        subscription = fresh(session, subscription)
        assert subscription.reduction_behavior is ReductionBehavior.ALLOWED_WITHIN_WINDOW
        assert subscription.reduction_window_days == 7
        assert (subscription.term_start, subscription.term_end) == (TERM_START, date(2027, 11, 30))


class TestWindow:
    def test_day_three_is_accepted(self, session: Session, vet: PineConeVet, new_york: Subscription) -> None:
        change = request(session, new_york, 20, today=DAY_3)
        assert isinstance(change, LicenseChange)
        assert (change.quantity_before, change.quantity_after, change.effective_date) == (25, 20, DAY_3)
        assert fresh(session, new_york).quantity == 20
        assert fresh(session, vet.parent_e3).quantity == 45

    def test_day_ten_is_refused_saying_when_it_will_be_allowed(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        with pytest.raises(ReductionOutsideWindow) as raised:
            request(session, new_york, 20, today=DAY_10)
        assert raised.value.code == "reduction_outside_window"
        assert raised.value.extra["allowed_from"] == RENEWAL.isoformat()
        # Was "2026-12-01 to 2026-12-07" (the term's one window). Each batch of seats now has its own window
        # (SPEC §6, 2026-12), so the refusal says how many seats can be reduced that day (none of the 25 bought
        # on 12-01) and from when they can be.
        assert "on 2026-12-10, 0 of its 25 seats can be reduced, not 5" in raised.value.message
        assert f"the other 25 can be reduced from the renewal on {RENEWAL}" in raised.value.message
        assert raised.value.extra["refundable_quantity"] == {"total": 0, "batches": []}
        assert fresh(session, new_york).quantity == 25
        assert fresh(session, vet.parent_e3).quantity == 50
        assert quantity_changes(session, new_york) == []

    def test_an_increase_on_day_ten_is_accepted(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        request(session, new_york, 30, today=DAY_10)
        assert fresh(session, vet.parent_e3).quantity == 55

    def test_the_window_opens_again_after_the_renewal(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        run_renewals(session, today=date(2027, 12, 2), now=noon(date(2027, 12, 2)))
        request(session, new_york, 20, today=date(2027, 12, 2))
        assert fresh(session, vet.parent_e3).quantity == 45
        with pytest.raises(ReductionOutsideWindow) as raised:
            request(session, new_york, 19, today=date(2027, 12, 8))
        assert raised.value.extra["allowed_from"] == "2028-12-01"


class TestAtRenewal:
    def test_a_reduction_for_the_renewal_is_applied_by_run_renewals_on_that_day(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        scheduled = request(session, new_york, 20, today=DAY_10, effective="renewal")
        assert isinstance(scheduled, ScheduledChange)
        assert scheduled.at_renewal is True
        assert scheduled.effective_date == RENEWAL
        assert scheduled.status is ScheduledStatus.SCHEDULED
        assert fresh(session, new_york).quantity == 25  # nothing changes now
        assert quantity_changes(session, new_york) == []

        eve = date(2027, 11, 30)
        run_renewals(session, today=eve, now=noon(eve))
        assert fresh(session, new_york).quantity == 25
        assert fresh(session, new_york).term_start == TERM_START
        assert scheduled_of(session, new_york).status is ScheduledStatus.SCHEDULED

        result = run_renewals(session, today=RENEWAL, now=noon(RENEWAL))

        assert result.scheduled_applied == 1
        child = fresh(session, new_york)
        assert child.quantity == 20
        assert (child.term_start, child.term_end) == (RENEWAL, date(2028, 11, 30))
        [change] = quantity_changes(session, new_york)
        assert change.origin is ChangeOrigin.PORTAL  # who asked, not the system that applied it
        assert change.requested_by == PORTAL.name
        assert (change.quantity_before, change.quantity_after, change.effective_date) == (25, 20, RENEWAL)
        applied = scheduled_of(session, new_york)
        assert applied.status is ScheduledStatus.APPLIED
        assert applied.applied_change_id == change.id
        # The linked parent follows, caused by the child's change.
        parent = fresh(session, vet.parent_e3)
        assert parent.quantity == 45
        assert (parent.term_start, parent.term_end) == (RENEWAL, date(2028, 11, 30))
        [parent_change] = quantity_changes(session, vet.parent_e3)
        assert parent_change.caused_by_change_id == change.id
        assert parent_change.origin is ChangeOrigin.LINKED_CHILD
        assert parent_change.effective_date == RENEWAL

    def test_running_again_applies_nothing_twice(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        request(session, new_york, 20, today=DAY_10, effective="renewal")
        run_renewals(session, today=RENEWAL, now=noon(RENEWAL))
        again = run_renewals(session, today=RENEWAL, now=noon(RENEWAL))
        assert (again.scheduled_applied, again.renewed) == (0, 0)
        assert fresh(session, new_york).quantity == 20
        assert fresh(session, vet.parent_e3).quantity == 45
        assert len(quantity_changes(session, new_york)) == 1


class TestStrictestWins:
    def test_the_parents_closed_window_refuses_what_the_child_allows(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        set_rule(session, new_york, ReductionBehavior.ALLOWED, None)
        with pytest.raises(ReductionOutsideWindow) as raised:
            request(session, new_york, 20, today=DAY_10)
        assert "linked parent" in raised.value.message
        assert raised.value.extra["allowed_from"] == RENEWAL.isoformat()
        assert fresh(session, new_york).quantity == 25
        assert fresh(session, vet.parent_e3).quantity == 50

    def test_a_disallowing_parent_refuses_inside_the_childs_window(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        set_rule(session, vet.parent_e3, ReductionBehavior.DISALLOWED, None)
        with pytest.raises(ReductionDisallowed) as raised:
            request(session, new_york, 20, today=DAY_3)
        assert raised.value.extra["allowed_from"] == RENEWAL.isoformat()
        assert fresh(session, new_york).quantity == 25

    def test_a_parent_whose_term_started_earlier_refuses_on_the_childs_day_three(
        self, session: Session, vet: PineConeVet
    ) -> None:
        # A location that joined later: its own term started on 12-01, the parent's on 11-20.
        customer = create_customer(session, name="Birch Dental", tenant_id="birch-tenant")
        parent_contract = create_contract(session, customer=customer, billable=False, start_date=date(2026, 11, 20))
        parent = create_subscription(
            session,
            contract=parent_contract,
            product=vet.catalog.e3,
            quantity=10,
            start_date=date(2026, 11, 20),
            allow_end_user_modification=False,
        )
        child_contract = create_contract(session, customer=customer, parent=parent_contract)
        child = create_subscription(
            session,
            contract=child_contract,
            product=vet.catalog.e3,
            quantity=10,
            provider_account=vet.catalog.do_nothing,
            start_date=TERM_START,
        )
        link(session, subscription=child, target=parent, account=vet.catalog.linked)
        with pytest.raises(ReductionOutsideWindow) as raised:
            request(session, child, 8, today=DAY_3)
        assert raised.value.extra["allowed_from"] == "2027-11-20"
        assert fresh(session, child).quantity == 10


class TestBounds:
    @pytest.mark.parametrize("quantity", [0, -1])
    def test_zero_is_refused_cancel_instead(
        self, session: Session, vet: PineConeVet, new_york: Subscription, quantity: int
    ) -> None:
        with pytest.raises(QuantityOutOfRange) as raised:
            request(session, new_york, quantity, today=DAY_3)
        assert "cancel" in raised.value.message
        assert fresh(session, new_york).quantity == 25

    def test_below_the_minimum_and_above_the_maximum_are_refused(self, session: Session, vet: PineConeVet) -> None:
        product = create_product(
            session,
            account=vet.catalog.partner_center,
            kind=ProductKind.LICENSE,
            name="Teams Rooms Pro",
            min_quantity=5,
            max_quantity=100,
        )
        contract = create_contract(session, customer=vet.customer)
        subscription = create_subscription(session, contract=contract, product=product, quantity=10)
        with pytest.raises(QuantityOutOfRange) as low:
            request(session, subscription, 4, today=TERM_START)
        assert "at least 5" in low.value.message
        with pytest.raises(QuantityOutOfRange) as high:
            request(session, subscription, 101, today=TERM_START)
        assert "at most 100" in high.value.message
        request(session, subscription, 5, today=TERM_START)
        request(session, subscription, 100, today=TERM_START)
        assert fresh(session, subscription).quantity == 100

    def test_a_child_change_that_would_take_the_parent_above_its_maximum_changes_nothing(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        update_product(session, product=vet.catalog.e3, data=ProductUpdate(max_quantity=55))
        with pytest.raises(QuantityOutOfRange) as raised, session.begin_nested():  # the boundary's rollback
            request(session, new_york, 35, today=DAY_3)
        assert "linked parent" in raised.value.message
        assert fresh(session, new_york).quantity == 25
        assert fresh(session, vet.parent_e3).quantity == 50
        assert quantity_changes(session, new_york) == []


class TestDated:
    def test_a_future_dated_change_is_applied_on_its_date_not_before(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        on = date(2026, 12, 20)
        scheduled = request(session, new_york, 30, today=DAY_3, effective=on)
        assert isinstance(scheduled, ScheduledChange)
        assert (scheduled.at_renewal, scheduled.effective_date, scheduled.quantity) == (False, on, 30)
        assert fresh(session, new_york).quantity == 25

        eve = date(2026, 12, 19)
        assert run_renewals(session, today=eve, now=noon(eve)).scheduled_applied == 0
        assert fresh(session, new_york).quantity == 25
        assert fresh(session, vet.parent_e3).quantity == 50
        assert quantity_changes(session, new_york) == []

        assert run_renewals(session, today=on, now=noon(on)).scheduled_applied == 1
        assert fresh(session, new_york).quantity == 30
        assert fresh(session, vet.parent_e3).quantity == 55
        [change] = quantity_changes(session, new_york)
        assert (change.effective_date, change.origin, change.requested_by) == (on, ChangeOrigin.PORTAL, PORTAL.name)
        applied = scheduled_of(session, new_york)
        assert (applied.status, applied.applied_change_id) == (ScheduledStatus.APPLIED, change.id)

    def test_a_dated_reduction_inside_the_window_is_applied_on_its_date(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        on = date(2026, 12, 6)
        request(session, new_york, 21, today=DAY_3, effective=on)
        run_renewals(session, today=on, now=noon(on))
        assert fresh(session, new_york).quantity == 21
        assert fresh(session, vet.parent_e3).quantity == 46

    def test_a_dated_reduction_outside_the_window_is_refused_when_asked(
        self, session: Session, vet: PineConeVet, new_york: Subscription
    ) -> None:
        with pytest.raises(ReductionOutsideWindow):
            request(session, new_york, 21, today=DAY_3, effective=DAY_10)
        assert repository.scheduled_of(session, new_york.id) == []

    def test_a_date_in_the_past_is_refused(self, session: Session, new_york: Subscription) -> None:
        with pytest.raises(ValidationFailed) as raised:
            request(session, new_york, 30, today=DAY_3, effective=date(2026, 12, 2))
        assert raised.value.code == "effective_date_past"
        assert repository.scheduled_of(session, new_york.id) == []


def scheduled_of(session: Session, subscription: Subscription) -> ScheduledChange:
    session.flush()
    [scheduled] = repository.scheduled_of(session, subscription.id)
    session.refresh(scheduled)
    return scheduled
