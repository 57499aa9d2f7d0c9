"""Scheduled changes keep what the operator asked (force, reason, date); edges of linked setups."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from seatflow.subscriptions import changes, lifecycle
from seatflow.subscriptions.errors import SubscriptionNotLive
from seatflow.subscriptions.linking import link, setup_check
from seatflow.subscriptions.models import ScheduledChange, ScheduledStatus, SubscriptionStatus
from seatflow.subscriptions.renewals import run_renewals
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import changes_of, fresh, pine_cone_vet


def _schedule(session: Session, subscription_id: object, quantity: int, on: date, **kw: object) -> ScheduledChange:
    result = changes.change_quantity(
        session,
        subscription_id=subscription_id,
        quantity=quantity,
        effective=on,
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
        **kw,  # type: ignore[arg-type]
    )
    assert isinstance(result, ScheduledChange)
    return result


class TestScheduledChangesKeepTheRequest:
    def test_a_forced_dated_change_on_a_linked_parent_is_applied_with_its_reason(self, session: Session) -> None:
        pcv = pine_cone_vet(session, load_demo_catalog(session))
        on = FACTORY_TODAY + timedelta(days=3)
        _schedule(session, pcv.parent_e3.id, 55, on, force=True, reason="Five spare licenses for the head office")
        run_renewals(session, today=on, now=noon(on))
        last = changes_of(session, pcv.parent_e3)[-1]
        assert (last.quantity_before, last.quantity_after) == (50, 55)
        assert last.reason == "Five spare licenses for the head office"
        assert last.effective_date == on

    def test_a_dated_change_fails_if_the_subscription_became_a_linked_parent_meanwhile(self, session: Session) -> None:
        catalog = load_demo_catalog(session)
        customer = create_customer(session, name="Contoso", tenant_id="contoso")
        parent_contract = create_contract(session, customer=customer, name="Contoso parent", billable=False)
        parent = create_subscription(
            session, contract=parent_contract, product=catalog.e3, quantity=10, provider_account=catalog.partner_center
        )
        on = FACTORY_TODAY + timedelta(days=2)
        scheduled = _schedule(session, parent.id, 12, on)
        child_contract = create_contract(session, customer=customer, name="Contoso Paris", parent=parent_contract)
        child = create_subscription(
            session, contract=child_contract, product=catalog.e3, quantity=10, provider_account=catalog.do_nothing
        )
        link(session, subscription=child, target=parent, account=catalog.linked)

        result = run_renewals(session, today=on, now=noon(on))
        session.refresh(scheduled)
        assert result.scheduled_failed == 1
        assert scheduled.status is ScheduledStatus.FAILED
        assert "linked parent" in (scheduled.message or "")
        assert fresh(session, parent).quantity == 10

    def test_a_late_run_applies_a_dated_change_on_its_own_date(self, session: Session) -> None:
        catalog = load_demo_catalog(session)
        customer = create_customer(session, name="Fabrikam", tenant_id="fabrikam")
        contract = create_contract(session, customer=customer, name="Fabrikam")
        subscription = create_subscription(session, contract=contract, product=catalog.e3, quantity=10)
        on = FACTORY_TODAY + timedelta(days=5)
        _schedule(session, subscription.id, 14, on)
        late = on + timedelta(days=9)
        run_renewals(session, today=late, now=noon(late))
        last = changes_of(session, subscription)[-1]
        assert last.quantity_after == 14
        assert last.effective_date == on


class TestEdges:
    def test_a_pending_subscription_can_be_reduced_before_it_starts(self, session: Session) -> None:
        catalog = load_demo_catalog(session)
        customer = create_customer(session, name="Northwind", tenant_id="northwind")
        contract = create_contract(session, customer=customer, name="Northwind")
        start = FACTORY_TODAY + timedelta(days=20)
        subscription = create_subscription(
            session,
            contract=contract,
            product=catalog.e3,
            quantity=30,
            start_date=start,
            today=FACTORY_TODAY,
            reduction_behavior="disallowed",
        )
        assert subscription.status is SubscriptionStatus.PENDING
        change = changes.change_quantity(
            session,
            subscription_id=subscription.id,
            quantity=20,
            effective="now",
            today=FACTORY_TODAY,
            now=noon(FACTORY_TODAY),
            actor=OPERATOR,
        )
        assert not isinstance(change, ScheduledChange)
        assert change.quantity_after == 20

    def test_a_child_of_a_cancelled_parent_cannot_push_to_it(self, session: Session) -> None:
        pcv = pine_cone_vet(session, load_demo_catalog(session))
        lifecycle.cancel(
            session,
            subscription=pcv.parent_e3,
            cascade=False,
            today=FACTORY_TODAY,
            now=noon(FACTORY_TODAY),
            actor=OPERATOR,
            force=True,
            reason="Tenant moved to another partner",
        )
        new_york = pcv.locations["New York City"].e3
        with pytest.raises(SubscriptionNotLive, match="linked parent"):
            changes.change_quantity(
                session,
                subscription_id=new_york.id,
                quantity=30,
                effective="now",
                today=FACTORY_TODAY,
                now=noon(FACTORY_TODAY),
                actor=OPERATOR,
            )

    def test_the_location_sees_its_parents_sum_mismatch(self, session: Session) -> None:
        pcv = pine_cone_vet(session, load_demo_catalog(session))
        catalog = pcv.catalog
        memphis = pcv.locations["Memphis"]
        extra = create_subscription(
            session, contract=memphis.contract, product=catalog.e3, quantity=3, provider_account=catalog.do_nothing
        )
        lifecycle.cancel(
            session,
            subscription=memphis.e3,
            cascade=False,
            today=FACTORY_TODAY,
            now=noon(FACTORY_TODAY),
            actor=OPERATOR,
        )
        link(session, subscription=extra, target=pcv.parent_e3, account=catalog.linked)
        codes = {(p.code, p.subscription_id) for p in setup_check(session, memphis.contract)}
        assert ("children_sum_mismatch", str(pcv.parent_e3.id)) in codes
