"""New subscriptions and bundle orders in the console (issue 15 item 2): the add-on parent picker offers only the
parents the service accepts, the plans are the product's, the price shown is the price rules' (SPEC §15), and the
subscription created is priced as shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.contracts.models import BillingContract
from seatflow.pricing.models import RuleKind
from seatflow.pricing.rules import NewRule, add_rule
from seatflow.subscriptions.lifecycle import cancel
from seatflow.subscriptions.models import Subscription
from tests.console.conftest import OPERATOR, LoginOn
from tests.console.forms import alert, follow, send
from tests.factories import (
    FACTORY_TODAY,
    DemoCatalog,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.factories import OPERATOR as FACTORY_OPERATOR


@dataclass(frozen=True)
class Tenants:
    catalog: DemoCatalog
    contract: BillingContract
    e5: Subscription
    e3: Subscription
    cancelled_e5: Subscription
    other_e5: Subscription


@pytest.fixture
def tenants(session: Session) -> Tenants:
    """Contoso with a live E5, an E3 and a cancelled E5; Fabrikam, another tenant, with an E5 of its own."""
    catalog = load_demo_catalog(session)
    contoso = create_customer(session, name="Contoso", tenant_id="contoso-tenant")
    contract = create_contract(session, customer=contoso, name="Contoso - Main")
    e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=10)
    e3 = create_subscription(session, contract=contract, product=catalog.e3, quantity=5)
    cancelled_e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=2)
    cancel(
        session,
        subscription=cancelled_e5,
        cascade=False,
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=FACTORY_OPERATOR,
    )
    fabrikam = create_customer(session, name="Fabrikam", tenant_id="fabrikam-tenant")
    other = create_contract(session, customer=fabrikam, name="Fabrikam - Main")
    other_e5 = create_subscription(session, contract=other, product=catalog.e5, quantity=3)
    return Tenants(catalog, contract, e5, e3, cancelled_e5, other_e5)


def _options(html: str, select_id: str) -> list[str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert found, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def _subscriptions(session: Session) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(Subscription)).scalar_one())


def test_the_add_on_parent_picker_offers_only_valid_parents(login_on: LoginOn, tenants: Tenants) -> None:
    client = login_on(OPERATOR)
    new = f"/console/contracts/{tenants.contract.id}/subscriptions/new"
    chooser = client.get(new)
    assert chooser.status_code == 200
    assert "Microsoft Teams Phone Standard (Phone System)" in chooser.text

    phone = client.get(new, params={"product": str(tenants.catalog.phone_system.id)})

    assert phone.status_code == 200
    # The live E5 on the same tenant; never the E3 (not a possible parent), the cancelled E5, or Fabrikam's E5.
    assert _options(phone.text, "n-parent") == ["", str(tenants.e5.id)]
    assert "Office 365 E5: 10 on Contoso - Main" in phone.text
    calling = client.get(new, params={"product": str(tenants.catalog.calling_plan.id)})
    assert "No subscription on this tenant can carry it" in calling.text, "no Phone System subscription yet"
    assert _options(phone.text, "n-plan") == ["P1M:monthly", "P1Y:monthly", "P1Y:annual"]
    assert 'value="P1Y:monthly" selected' in phone.text, "the product's default plan"


def test_an_add_on_is_created_under_the_parent_chosen_and_a_wrong_one_is_refused(
    session: Session, login_on: LoginOn, tenants: Tenants
) -> None:
    client = login_on(OPERATOR)
    path = f"/console/contracts/{tenants.contract.id}/subscriptions"
    phone = str(tenants.catalog.phone_system.id)
    base = {"product": phone, "quantity": "10", "plan": "P1Y:monthly", "shown": "1", "billable": "1", "step": "create"}
    before = _subscriptions(session)

    missing = send(client, path, base)
    assert missing.status_code == 422
    assert "it needs a Office 365 E5 subscription as its parent" in alert(missing.text)
    foreign = send(client, path, base | {"parent": str(tenants.other_e5.id)})
    assert foreign.status_code == 422
    assert "on another tenant" in alert(foreign.text)
    wrong = send(client, path, base | {"parent": str(tenants.e3.id)})
    assert "cannot hang under Microsoft 365 E3" in alert(wrong.text)
    assert _subscriptions(session) == before

    created = send(client, path, base | {"parent": str(tenants.e5.id)})

    addon = session.scalars(
        select(Subscription).where(Subscription.product_id == tenants.catalog.phone_system.id)
    ).one()
    assert created.headers["location"] == f"/console/subscriptions/{addon.id}"
    assert (addon.parent_subscription_id, addon.quantity, addon.unit_price) == (tenants.e5.id, 10, Decimal("8.00"))
    page = follow(client, created).text
    assert (
        "Created Microsoft Teams Phone Standard (Phone System) on Contoso - Main: 10 x 8.00 = 80.00 USD a month" in page
    )
    assert f'href="/console/subscriptions/{tenants.e5.id}">Office 365 E5</a>' in page, "its parent on its page"


def test_the_price_shown_is_the_price_rules_and_the_subscription_gets_it(
    session: Session, login_on: LoginOn, tenants: Tenants
) -> None:
    add_rule(
        session,
        NewRule(
            kind=RuleKind.FIXED,
            fixed_price=Decimal("33.00"),
            currency="USD",
            product_id=tenants.catalog.e3.id,
            customer_id=tenants.contract.customer_id,
            reason="Contoso's negotiated E3 price.",
        ),
        now=noon(FACTORY_TODAY),
        actor="tests",
    )
    client = login_on(OPERATOR)
    e3 = str(tenants.catalog.e3.id)
    form = client.get(f"/console/contracts/{tenants.contract.id}/subscriptions/new", params={"product": e3})
    assert re.search(r'data-plan="P1Y:monthly".*?<strong data-rule-price>33.00</strong>', form.text, re.S)
    assert re.search(r'data-plan="P1Y:monthly".*?>36.00<', form.text, re.S), "beside the list price"

    path = f"/console/contracts/{tenants.contract.id}/subscriptions"
    data = {"product": e3, "quantity": "20", "plan": "P1Y:monthly", "shown": "1", "billable": "1", "auto_renew": "1"}
    shown = send(client, path, data | {"step": "price"})
    assert shown.status_code == 200
    assert "P1Y monthly: 20 x 33.00 = 660.00 USD a month" in " ".join(shown.text.split())
    annual = send(client, path, data | {"step": "price", "plan": "P1Y:annual"})
    assert "P1Y annual: 20 x 33.00 = 660.00 USD a month" in " ".join(annual.text.split()), "the rule is per product"
    before = _subscriptions(session)
    assert before == _subscriptions(session), "showing the price writes nothing"

    created = send(client, path, data | {"step": "create"})

    assert created.status_code == 303, alert(created.text)
    bought = session.scalars(
        select(Subscription).where(Subscription.product_id == tenants.catalog.e3.id, Subscription.quantity == 20)
    ).one()
    assert (bought.unit_price, bought.price_rule_id is not None, bought.auto_renew) == (Decimal("33.00"), True, True)
    assert not bought.allow_end_user_modification, "an unchecked box is false"


def test_bad_subscription_input_is_refused_with_a_message_and_creates_nothing(
    session: Session, login_on: LoginOn, tenants: Tenants
) -> None:
    client = login_on(OPERATOR)
    path = f"/console/contracts/{tenants.contract.id}/subscriptions"
    e3 = str(tenants.catalog.e3.id)
    base = {"product": e3, "quantity": "5", "plan": "P1Y:monthly", "shown": "1", "step": "create"}
    before = _subscriptions(session)
    cases = [
        ({"quantity": "abc"}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": "301"}, 422, "Enter a whole number from 1 to 300."),
        ({"quantity": "1.5"}, 422, "Enter a whole number from 1 to 300."),
        ({"plan": "P3Y:triennial"}, 422, "is not sold as P3Y billed triennial"),
        ({"plan": "forever"}, 422, "Choose a term and billing plan from the list."),
        ({"unit_price": "-1"}, 422, "Enter the unit price as a decimal number"),
        ({"unit_price": "1e3"}, 422, "Enter the unit price as a decimal number"),
        ({"start": "2026-13-01"}, 422, "Enter the start date as YYYY-MM-DD"),
        ({"product": ""}, 422, "Choose a product."),
        ({"parent": str(tenants.e5.id)}, 422, "only add-ons have a parent subscription"),
        ({"linked": str(tenants.e3.id)}, 422, "linked_subscription_id needs provider_account_id of a linked"),
    ]
    for change, status, message in cases:
        answer = send(client, path, base | change)
        assert answer.status_code == status, (change, answer.text[-1500:])
        assert message in alert(answer.text), (change, alert(answer.text))
    assert _subscriptions(session) == before


def test_an_operator_orders_the_e5_voice_bundle(session: Session, login_on: LoginOn, tenants: Tenants) -> None:
    client = login_on(OPERATOR)
    form = client.get(f"/console/contracts/{tenants.contract.id}/bundles/new")
    assert form.status_code == 200
    assert "Microsoft Teams Domestic Calling Plan" in form.text
    bundle = str(tenants.catalog.e5_voice.id)
    path = f"/console/contracts/{tenants.contract.id}/bundles"
    before = _subscriptions(session)
    for quantity, message in (("0", "Enter a whole number from 1 to"), ("many", "Enter a whole number from 1 to")):
        bad = send(client, path, {"bundle": bundle, "quantity": quantity})
        assert bad.status_code == 422
        assert message in alert(bad.text)
    unknown = send(client, path, {"bundle": "No such bundle", "quantity": "3"})
    assert "No bundle 'No such bundle'." in alert(unknown.text)
    assert _subscriptions(session) == before

    ordered = send(client, path, {"bundle": bundle, "quantity": "12"})

    session.expire_all()
    created = session.scalars(select(Subscription).where(Subscription.bundle_id == tenants.catalog.e5_voice.id)).all()
    by_product = {s.product_id: s for s in created}
    catalog = tenants.catalog
    e5 = by_product[catalog.e5.id]
    assert len(created) == 4
    assert by_product[catalog.audio_conferencing.id].parent_subscription_id == e5.id
    assert by_product[catalog.phone_system.id].parent_subscription_id == e5.id
    assert by_product[catalog.calling_plan.id].parent_subscription_id == by_product[catalog.phone_system.id].id
    page = follow(client, ordered).text
    assert "Ordered E5 Voice on Contoso - Main: 4 subscriptions (Office 365 E5 12" in page
