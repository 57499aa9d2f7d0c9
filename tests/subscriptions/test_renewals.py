"""The daily renewal run (SPEC §4, §7): pending subscriptions start, terms renew or end, scheduled changes
apply on their date, and one that is no longer possible fails with a message without stopping the run."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog.models import Product, ProductKind, Term
from seatflow.catalog.schemas import ProductUpdate
from seatflow.catalog.service import update_product
from seatflow.contracts.models import BillingContract
from seatflow.errors import ValidationFailed
from seatflow.subscriptions import lifecycle, repository
from seatflow.subscriptions.changes import cancel_scheduled, change_quantity
from seatflow.subscriptions.models import (
    ChangeKind,
    ChangeOrigin,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.schemas import Actor, SubscriptionUpdate
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    DemoCatalog,
    create_contract,
    create_customer,
    create_product,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import changes_of, fresh, pine_cone_vet, quantity_changes

TODAY = FACTORY_TODAY  # 2026-12-01
API = Actor(ChangeOrigin.API, "psa-integration")


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    return load_demo_catalog(session)


@pytest.fixture
def contract(session: Session) -> BillingContract:
    return create_contract(session, customer=create_customer(session, name="Contoso", tenant_id="contoso-tenant"))


@pytest.fixture
def monthly(session: Session, catalog: DemoCatalog) -> Product:
    return create_product(session, account=catalog.partner_center, kind=ProductKind.LICENSE, name="Teams Essentials")


def renew(session: Session, day: date) -> tuple[int, int, int, int, int]:
    result = run_renewals(session, today=day, now=noon(day))
    session.flush()
    return result.started, result.scheduled_applied, result.scheduled_failed, result.renewed, result.ended


def term(session: Session, subscription: Subscription) -> tuple[date, date]:
    subscription = fresh(session, subscription)
    return subscription.term_start, subscription.term_end


def schedule(
    session: Session, subscription: Subscription, quantity: int, on: date | str, today: date
) -> ScheduledChange:
    scheduled = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective=on,
        today=today,
        now=noon(today),
        actor=API,
    )
    assert isinstance(scheduled, ScheduledChange)
    return scheduled


def reloaded(session: Session, scheduled: ScheduledChange) -> ScheduledChange:
    session.flush()
    session.refresh(scheduled)
    return scheduled


class TestStart:
    def test_a_pending_subscription_starts_on_its_start_date(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        start = date(2027, 1, 10)
        e3 = create_subscription(
            session, contract=contract, product=catalog.e3, quantity=5, start_date=start, today=TODAY
        )
        assert fresh(session, e3).status is SubscriptionStatus.PENDING
        assert term(session, e3) == (start, date(2028, 1, 9))

        assert renew(session, date(2027, 1, 9)) == (0, 0, 0, 0, 0)
        assert fresh(session, e3).status is SubscriptionStatus.PENDING

        assert renew(session, start) == (1, 0, 0, 0, 0)
        assert fresh(session, e3).status is SubscriptionStatus.ACTIVE
        assert term(session, e3) == (start, date(2028, 1, 9))
        assert renew(session, start) == (0, 0, 0, 0, 0)

    def test_a_late_run_starts_it_and_renews_the_terms_that_passed(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(
            session, contract=contract, product=monthly, quantity=2, start_date=date(2026, 12, 15), today=TODAY
        )
        assert renew(session, date(2027, 2, 20)) == (1, 0, 0, 2, 0)
        assert fresh(session, subscription).status is SubscriptionStatus.ACTIVE
        assert term(session, subscription) == (date(2027, 2, 15), date(2027, 3, 14))


class TestRenew:
    def test_a_monthly_term_renews_the_day_after_it_ends(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        assert monthly.term is Term.P1M
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3)
        assert term(session, subscription) == (TODAY, date(2026, 12, 31))

        assert renew(session, date(2026, 12, 31)) == (0, 0, 0, 0, 0)
        assert term(session, subscription) == (TODAY, date(2026, 12, 31))

        assert renew(session, date(2027, 1, 1)) == (0, 0, 0, 1, 0)
        assert term(session, subscription) == (date(2027, 1, 1), date(2027, 1, 31))
        renewed = fresh(session, subscription)
        assert (renewed.status, renewed.quantity, renewed.start_date) == (SubscriptionStatus.ACTIVE, 3, TODAY)
        assert len(changes_of(session, subscription)) == 1  # a renewal is not a license change

    def test_several_passed_terms_renew_one_after_the_other(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract, monthly: Product
    ) -> None:
        month = create_subscription(session, contract=contract, product=monthly, quantity=3)
        year = create_subscription(session, contract=contract, product=catalog.e3, quantity=3)  # P1Y
        assert renew(session, date(2029, 1, 5)) == (0, 0, 0, 25 + 2, 0)
        assert term(session, month) == (date(2029, 1, 1), date(2029, 1, 31))
        assert term(session, year) == (date(2028, 12, 1), date(2029, 11, 30))

    def test_a_three_year_term_renews_after_three_years(
        self, session: Session, contract: BillingContract, catalog: DemoCatalog
    ) -> None:
        product = create_product(session, account=catalog.partner_center, name="E3 (3 years)", term=Term.P3Y)
        subscription = create_subscription(session, contract=contract, product=product, quantity=3)
        assert term(session, subscription) == (TODAY, date(2029, 11, 30))
        assert renew(session, date(2029, 11, 30)) == (0, 0, 0, 0, 0)
        assert renew(session, date(2029, 12, 1)) == (0, 0, 0, 1, 0)
        assert term(session, subscription) == (date(2029, 12, 1), date(2032, 11, 30))

    def test_a_monthly_term_keeps_its_day_of_the_month(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        """Bought on the 31st: February's term ends early, March's runs to the 30th again, never drifting to
        the 28th for good."""
        start = date(2027, 1, 31)
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=1, start_date=start)
        assert term(session, subscription) == (start, date(2027, 2, 27))
        renew(session, date(2027, 2, 28))
        assert term(session, subscription) == (date(2027, 2, 28), date(2027, 3, 30))
        renew(session, date(2027, 3, 31))
        assert term(session, subscription) == (date(2027, 3, 31), date(2027, 4, 29))
        renew(session, date(2027, 6, 1))
        assert term(session, subscription) == (date(2027, 5, 31), date(2027, 6, 29))

    def test_a_suspended_subscription_renews_too(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3)
        lifecycle.suspend(
            session, subscription=subscription, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR
        )
        renew(session, date(2027, 1, 1))
        assert term(session, subscription) == (date(2027, 1, 1), date(2027, 1, 31))
        assert fresh(session, subscription).status is SubscriptionStatus.SUSPENDED


class TestEnd:
    def test_without_auto_renew_the_subscription_expires_it_is_not_cancelled(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3, auto_renew=False)
        assert renew(session, date(2026, 12, 31)) == (0, 0, 0, 0, 0)
        assert fresh(session, subscription).status is SubscriptionStatus.ACTIVE

        assert renew(session, date(2027, 1, 1)) == (0, 0, 0, 0, 1)
        ended = fresh(session, subscription)
        assert ended.status is SubscriptionStatus.EXPIRED  # SPEC §4: never "cancelled" at its term end
        assert ended.cancelled_at is None
        assert ended.expired_at is not None
        assert (ended.term_start, ended.term_end) == (TODAY, date(2026, 12, 31))
        cancel = changes_of(session, subscription)[-1]
        assert cancel.kind is ChangeKind.EXPIRE
        assert cancel.origin is ChangeOrigin.SYSTEM
        assert (cancel.quantity_before, cancel.quantity_after) == (3, 0)
        assert cancel.effective_date == date(2027, 1, 1)
        assert cancel.reason
        assert renew(session, date(2027, 3, 1)) == (0, 0, 0, 0, 0)
        # create, auto_renew off (a Partner Center purchase is made with auto-renew on), expire: nothing more.
        assert [c.kind for c in changes_of(session, subscription)] == [
            ChangeKind.CREATE,
            ChangeKind.AUTO_RENEW,
            ChangeKind.EXPIRE,
        ]

    def test_its_change_scheduled_for_the_renewal_that_never_comes_is_cancelled_saying_why(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3)
        scheduled = schedule(session, subscription, 2, "renewal", TODAY)
        lifecycle.update_subscription(
            session,
            subscription=subscription,
            data=SubscriptionUpdate(auto_renew=False),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        never = reloaded(session, scheduled)
        assert never.status is ScheduledStatus.CANCELLED
        assert never.message == f"Auto-renew was turned off on {TODAY}: the subscription will not renew."
        assert renew(session, date(2027, 1, 1)) == (0, 0, 0, 0, 1)
        assert quantity_changes(session, subscription) == []

    def test_a_change_for_a_renewal_that_will_not_come_is_refused(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3, auto_renew=False)
        with pytest.raises(ValidationFailed) as refused:
            schedule(session, subscription, 2, "renewal", TODAY)
        assert refused.value.code == "not_renewing"
        assert "2026-12-31" in refused.value.message

    def test_an_ending_license_takes_its_addons_with_it(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=4, auto_renew=False)
        phone = create_subscription(session, contract=contract, product=catalog.phone_system, quantity=4, parent=e5)
        renew(session, date(2027, 12, 1))
        assert fresh(session, e5).status is SubscriptionStatus.EXPIRED
        assert fresh(session, phone).status is SubscriptionStatus.EXPIRED
        assert changes_of(session, phone)[-1].origin is ChangeOrigin.SYSTEM

    def test_an_ending_linked_child_takes_its_quantity_off_the_parent(
        self, session: Session, catalog: DemoCatalog
    ) -> None:
        vet = pine_cone_vet(session, catalog)
        atlanta = vet.locations["Atlanta"].e3
        lifecycle.update_subscription(
            session,
            subscription=atlanta,
            data=SubscriptionUpdate(auto_renew=False),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        renew(session, date(2027, 12, 1))
        assert fresh(session, atlanta).status is SubscriptionStatus.EXPIRED
        parent = fresh(session, vet.parent_e3)
        assert parent.quantity == 40
        assert parent.status is SubscriptionStatus.ACTIVE
        assert term(session, parent) == (date(2027, 12, 1), date(2028, 11, 30))
        [pushed] = quantity_changes(session, vet.parent_e3)
        assert pushed.caused_by_change_id == changes_of(session, atlanta)[-1].id


class TestScheduled:
    def test_one_that_is_no_longer_possible_fails_with_a_message_and_the_run_goes_on(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        on = date(2026, 12, 20)
        doomed = create_subscription(session, contract=contract, product=monthly, quantity=3)
        other = create_subscription(session, contract=contract, product=monthly, quantity=3)
        doomed_change = schedule(session, doomed, 5, on, TODAY)
        other_change = schedule(session, other, 6, on, TODAY)
        lifecycle.suspend(session, subscription=doomed, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)

        assert renew(session, on) == (0, 1, 1, 0, 0)

        failed = reloaded(session, doomed_change)
        assert failed.status is ScheduledStatus.FAILED
        assert failed.message
        assert "suspended" in failed.message
        assert failed.applied_change_id is None
        assert fresh(session, doomed).quantity == 3
        assert quantity_changes(session, doomed) == []
        applied = reloaded(session, other_change)
        assert applied.status is ScheduledStatus.APPLIED
        assert fresh(session, other).quantity == 6
        assert renew(session, date(2026, 12, 21)) == (0, 0, 0, 0, 0)  # a failed one is not retried

    def test_one_at_renewal_that_is_no_longer_possible_fails_and_the_term_still_renews(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        product = create_product(session, account=catalog.partner_center, name="Visio Plan 2", max_quantity=100)
        subscription = create_subscription(session, contract=contract, product=product, quantity=50)
        scheduled = schedule(session, subscription, 90, "renewal", TODAY)
        update_product(session, product=product, data=ProductUpdate(max_quantity=80))

        assert renew(session, date(2027, 1, 1)) == (0, 0, 1, 1, 0)

        failed = reloaded(session, scheduled)
        assert failed.status is ScheduledStatus.FAILED
        assert failed.message
        assert "80" in failed.message
        assert fresh(session, subscription).quantity == 50
        assert term(session, subscription) == (date(2027, 1, 1), date(2027, 1, 31))

    def test_cancelling_a_subscription_cancels_its_scheduled_changes_at_once(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3)
        dated = schedule(session, subscription, 5, date(2026, 12, 20), TODAY)
        at_renewal = schedule(session, subscription, 4, "renewal", TODAY)
        lifecycle.cancel(
            session, subscription=subscription, cascade=False, today=date(2026, 12, 5), now=noon(TODAY), actor=OPERATOR
        )
        for scheduled in (dated, at_renewal):
            scheduled = reloaded(session, scheduled)
            assert scheduled.status is ScheduledStatus.CANCELLED
            assert scheduled.message == "The subscription was cancelled on 2026-12-05."
        assert renew(session, date(2027, 1, 1)) == (0, 0, 0, 0, 0)

    def test_cancelled_scheduled_changes_are_not_applied(
        self, session: Session, contract: BillingContract, monthly: Product
    ) -> None:
        subscription = create_subscription(session, contract=contract, product=monthly, quantity=3)
        scheduled = schedule(session, subscription, 5, date(2026, 12, 20), TODAY)
        cancel_scheduled(session, scheduled=scheduled)
        assert renew(session, date(2026, 12, 20)) == (0, 0, 0, 0, 0)
        assert fresh(session, subscription).quantity == 3
        assert reloaded(session, scheduled).status is ScheduledStatus.CANCELLED
        assert repository.due_scheduled(session, date(2026, 12, 31)) == []


class TestCoTerm:
    def test_an_addon_co_termed_with_its_base_renews_with_it_for_whole_terms(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        # E5 from 2026-12-01 for a year: its term ends on 2027-11-30.
        e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=4)
        assert term(session, e5) == (date(2026, 12, 1), date(2027, 11, 30))
        # Phone System bought on 2027-03-15, co-termed: its first term is shortened to end with E5's.
        phone = create_subscription(
            session,
            contract=contract,
            product=catalog.phone_system,
            quantity=4,
            parent=e5,
            start_date=date(2027, 3, 15),
            co_term_subscription_id=str(e5.id),
        )
        assert term(session, phone) == (date(2027, 3, 15), date(2027, 11, 30))

        renew(session, date(2028, 12, 1))  # two renewals of both

        # Whole years from the shared renewal day, never a year counted from 15 March.
        assert term(session, e5) == (date(2028, 12, 1), date(2029, 11, 30))
        assert term(session, phone) == (date(2028, 12, 1), date(2029, 11, 30))
