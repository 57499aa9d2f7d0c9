"""Renewals are capped per call and resumable (SPEC §11): a date far ahead is caught up over several calls, each
a short transaction, and the calls together end exactly where one unbounded run would."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from seatflow.catalog.models import ProductKind, Term
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.renewals import run_renewals
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_product,
    create_subscription,
    load_demo_catalog,
    noon,
)

FAR = date(2126, 12, 1)  # a hundred years after FACTORY_TODAY (2026-12-01): 1,200 monthly terms


def _monthly_subscriptions(session: Session, count: int) -> list[Subscription]:
    catalog = load_demo_catalog(session)
    product = create_product(
        session, account=catalog.partner_center, kind=ProductKind.LICENSE, name="Monthly seat", term=Term.P1M
    )
    contract = create_contract(session, customer=create_customer(session, name="Far Future", tenant_id="far-tenant"))
    return [
        create_subscription(session, contract=contract, product=product, quantity=1, start_date=FACTORY_TODAY)
        for _ in range(count)
    ]


def test_a_century_of_monthly_terms_is_caught_up_in_bounded_calls(session: Session) -> None:
    subscriptions = _monthly_subscriptions(session, 3)
    calls, renewed = 0, 0
    while True:
        calls += 1
        assert calls < 20, "the catch-up never finished"
        result = run_renewals(session, today=FAR, now=noon(FAR), limit=2, term_steps=1_000)
        session.flush()
        assert result.renewed <= 1_000  # one call never renews more terms than its budget
        renewed += result.renewed
        if not result.more:
            break
    # 3 subscriptions x 1,200 monthly terms from 2026-12-01: the term that contains 2126-12-01 is the 1,201st,
    # so each renewed 1,200 times; 3,600 renewals at 1,000 a call take 4 calls.
    assert renewed == 3 * 1_200
    assert calls == 4
    for subscription in subscriptions:
        session.refresh(subscription)
        assert subscription.term_start == FAR
        assert subscription.term_end == date(2126, 12, 31)
    # Nothing is left: another call does nothing.
    again = run_renewals(session, today=FAR, now=noon(FAR))
    assert (again.renewed, again.more) == (0, False)


def test_the_item_limit_leaves_the_rest_for_the_next_call(session: Session) -> None:
    _monthly_subscriptions(session, 5)
    day = date(2027, 1, 1)  # each renews once: the first term ended on 2026-12-31
    first = run_renewals(session, today=day, now=noon(day), limit=2)
    assert (first.renewed, first.more) == (2, True)
    second = run_renewals(session, today=day, now=noon(day), limit=2)
    assert (second.renewed, second.more) == (2, True)
    third = run_renewals(session, today=day, now=noon(day), limit=2)
    assert (third.renewed, third.more) == (1, False)
