"""The console's pricing page (SPEC §15): the rules in force and the prices that change at renewal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.pricing.models import RuleKind
from seatflow.pricing.rules import NewRule, add_rule
from seatflow.pricing.service import import_price_sheet
from tests.api.subscription_helpers import FrozenClock
from tests.console.conftest import OPERATOR, Login
from tests.factories import create_contract, create_customer, create_subscription, load_demo_catalog, noon
from tests.pricing.helpers import E3, row, sheet


def test_the_page_lists_the_rules_and_a_price_that_changes_at_renewal(
    session: Session, login: Login, app_client: TestClient, factory_clock: object
) -> None:
    catalog = load_demo_catalog(session)
    # E3 P1Y billed monthly: 37.80 a month in December 2026, 39.60 from December 2027.
    import_price_sheet(
        session,
        account=catalog.partner_center,
        content=sheet(
            [
                row(E3, plan="Monthly", price="37.8", erp="47.25"),
                row(E3, plan="Monthly", price="39.6", erp="49.5", start="12/1/2027 12:00:00 AM", end=""),
            ]
        ),
        now=noon(date(2026, 12, 1)),
    )
    acme = create_customer(session, name="Acme Dental")
    add_rule(session, NewRule(kind=RuleKind.MARKUP, percent=Decimal(20)), now=noon(date(2026, 12, 1)), actor="t")
    add_rule(
        session,
        NewRule(kind=RuleKind.ERP_DISCOUNT, percent=Decimal("12.5"), customer_id=acme.id),
        now=noon(date(2026, 12, 1)),
        actor="t",
    )
    contract = create_contract(session, customer=acme)
    subscription = create_subscription(session, contract=contract, product=catalog.e3, quantity=5, auto_renew=True)
    assert subscription.unit_price == Decimal("41.3438")  # 47.25 x 0.875 = 41.34375, half up to four decimals
    session.commit()

    page = login(OPERATOR).get("/console/pricing")
    assert page.status_code == 200
    assert "ERP - 12.5 %" in page.text
    assert "cost + 20 %" in page.text
    assert page.text.index("<td>customer</td>") < page.text.index("<td>everything</td>")  # the most specific first
    assert 'data-count="notices">0<' in page.text  # on 2026-12-01 the renewal is a year away

    app_client.app.state.clock = FrozenClock(noon(date(2027, 11, 15)))  # type: ignore[attr-defined]
    soon = login(OPERATOR).get("/console/pricing?days=30")  # a year on: the session has expired, log in again
    assert 'data-count="notices">1<' in soon.text
    # At renewal on 2027-12-01: 49.50 x 0.875 = 43.3125; cost 37.80 -> 39.60.
    assert "43.3125" in soon.text
    assert "39.60" in soon.text
