"""Price changes are dated (SPEC §8 "Price history"): a new unit price applies from the renewal (the term's price
is protected) unless the operator sets the day; bad days are refused with a stable code, never a 500."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.models import BillingPlan, Term
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.lifecycle import update_subscription
from seatflow.subscriptions.models import ChangeKind, LicenseChange, Subscription
from seatflow.subscriptions.schemas import SubscriptionUpdate
from tests.billing.nce_support import nce_shop
from tests.billing.support import contract, subscribe
from tests.factories import OPERATOR, noon
from tests.provisioning.conftest import ManualClock

JAN_1 = date(2027, 1, 1)


def one_year(session: Session, *, start: date = JAN_1, ordered: date | None = None) -> Subscription:
    """P1Y billed monthly, 10 x 36.00: its term runs to the day before the same date a year later."""
    shop = nce_shop(session)
    on = contract(session, shop, start_date=JAN_1)
    return subscribe(
        session,
        shop,
        on,
        quantity=10,
        price="36.00",
        start=start,
        today=ordered,
        term=Term.P1Y,
        billing_plan=BillingPlan.MONTHLY,
    )


def price_changes(session: Session, subscription: Subscription) -> list[tuple[date, Decimal | None, Decimal | None]]:
    stmt = select(LicenseChange).where(
        LicenseChange.subscription_id == subscription.id, LicenseChange.kind == ChangeKind.PRICE
    )
    return [(c.effective_date, c.price_before, c.price_after) for c in session.scalars(stmt)]


def set_price(session: Session, subscription: Subscription, on: date, **fields: Any) -> Subscription:
    return update_subscription(
        session,
        subscription=subscription,
        data=SubscriptionUpdate.model_validate(fields),
        today=on,
        now=noon(on),
        actor=OPERATOR,
    )


def test_a_new_price_applies_from_the_renewal_by_default(session: Session) -> None:
    subscription = one_year(session)  # term Jan 1 - Dec 31 2027
    set_price(session, subscription, date(2027, 3, 10), unit_price="40.00")
    assert price_changes(session, subscription) == [(date(2028, 1, 1), Decimal("36.00"), Decimal("40.00"))]
    assert subscription.unit_price == Decimal("40.00")  # the latest price set; the change says from when


def test_a_subscription_not_started_takes_a_new_price_from_its_start(session: Session) -> None:
    subscription = one_year(session, start=date(2027, 2, 1), ordered=JAN_1)
    set_price(session, subscription, date(2027, 1, 10), unit_price="40.00")
    assert price_changes(session, subscription) == [(date(2027, 2, 1), Decimal("36.00"), Decimal("40.00"))]


def test_the_operator_may_set_the_day(session: Session) -> None:
    subscription = one_year(session)
    set_price(session, subscription, date(2027, 3, 10), unit_price="40.00", price_effective_date="2027-03-16")
    set_price(session, subscription, date(2027, 3, 20), unit_price="41.00", price_effective_date="2027-03-16")
    assert price_changes(session, subscription) == [
        (date(2027, 3, 16), Decimal("36.00"), Decimal("40.00")),
        (date(2027, 3, 16), Decimal("40.00"), Decimal("41.00")),  # the same day again: the later one applies
    ]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"unit_price": "40.00", "price_effective_date": "2026-12-31"}, "price_effective_before_start"),
        ({"unit_price": "40.00", "price_effective_date": "2027-06-01"}, "price_change_pending"),
        ({"price_effective_date": "2027-09-01"}, "price_effective_date_alone"),
    ],
)
def test_a_day_that_cannot_be_is_refused(session: Session, fields: dict[str, str], code: str) -> None:
    subscription = one_year(session)
    set_price(session, subscription, date(2027, 3, 10), unit_price="38.00", price_effective_date="2027-07-01")
    with pytest.raises(ValidationFailed) as refused:
        set_price(session, subscription, date(2027, 3, 11), **fields)
    assert refused.value.code == code
    assert price_changes(session, subscription) == [(date(2027, 7, 1), Decimal("36.00"), Decimal("38.00"))]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"unit_price": "40.00", "price_effective_date": "2026-12-31"}, "price_effective_before_start"),
        ({"unit_price": "40.00", "price_effective_date": "2027-06-01"}, "price_change_pending"),
        ({"price_effective_date": "2027-09-01"}, "price_effective_date_alone"),
        ({"unit_price": "40.00", "price_effective_date": "2027-02-30"}, "validation_failed"),
        ({"unit_price": "40.00", "price_effective_date": 20270301}, "validation_failed"),
    ],
)
def test_the_api_answers_problem_json_with_a_stable_code(
    client: TestClient, session: Session, body: dict[str, Any], code: str
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(date(2027, 3, 10)), datetime.now(UTC))
    subscription = one_year(session)
    path = f"/api/v1/subscriptions/{subscription.id}"
    first = client.patch(path, json={"unit_price": "38.00", "price_effective_date": "2027-07-01"})
    assert first.status_code == 200, first.text
    assert first.json()["unit_price"] == "38.00"

    answer = client.patch(path, json=body)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
