"""The console's reconciliation page with new commerce (SPEC §9, §10): an add-on Partner Center gives no parent
is imported under the seatflow parent the operator chooses in the form; a subscription matched by product is
adopted with the provider's id."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription
from tests.console.conftest import OPERATOR, Login, csrf_of
from tests.factories import create_contract, create_subscription
from tests.reconciliation.helpers import TENANT, bought_in_seatflow, buy, change
from tests.subscriptions.helpers import PineConeVet


def test_an_nce_addon_is_imported_under_the_parent_chosen_in_the_form(
    session: Session, login: Login, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    catalog = vet.catalog
    assert catalog.e5.offer_id
    assert catalog.audio_conferencing.offer_id
    office = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    e5_at_provider = buy(simulator, catalog.e5.offer_id, 10)
    e5 = bought_in_seatflow(
        session,
        create_subscription(session, contract=office, product=catalog.e5, quantity=10),
        external_id=e5_at_provider["id"],
    )
    session.commit()
    audio = buy(simulator, catalog.audio_conferencing.offer_id, 10)
    client = login(OPERATOR)
    account = str(catalog.partner_center.id)

    page = client.get("/console/reconciliation", params={"account": account})

    assert page.status_code == 200, page.text
    assert 'data-classification="unknown_to_seatflow"' in page.text
    assert "Partner Center names no parent for a new-commerce add-on" in page.text
    assert f'<option value="{e5.id}">Office 365 E5 on Pine Cone Vet - Head office: 10</option>' in page.text
    form = {
        "account": account,
        "tenant_id": TENANT,
        "external_id": audio["id"],
        "contract_id": str(office.id),
        "csrf_token": csrf_of(page.text),
    }
    refused = client.post("/console/reconciliation/import", data=form)
    assert refused.status_code == 422
    assert "choose the seatflow subscription it goes under" in refused.text

    imported = client.post(
        "/console/reconciliation/import", data=form | {"parent_subscription_id": str(e5.id)}, follow_redirects=True
    )

    assert "Imported" in imported.text
    assert "In sync" in imported.text
    found = session.scalars(select(Subscription).where(Subscription.external_id == audio["id"])).one()
    assert (found.parent_subscription_id, found.product_id, found.quantity) == (
        e5.id,
        catalog.audio_conferencing.id,
        10,
    )


def test_a_subscription_matched_by_product_is_adopted_with_the_providers_id(
    session: Session, login: Login, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    ems = session.get_one(Subscription, vet.parent_ems.id)
    external_id = ems.external_id
    assert external_id
    ems.external_id = None
    session.commit()
    change(simulator, external_id, quantity=23)
    client = login(OPERATOR)
    account = str(vet.catalog.partner_center.id)

    page = client.get("/console/reconciliation", params={"account": account})

    assert 'data-classification="changed_at_provider"' in page.text
    assert f'<input type="hidden" name="external_id" value="{external_id}">' in page.text
    assert re.search(r"Adopt the provider(&#39;|')s 23 and its id", page.text)
    atlanta = vet.locations["Atlanta"].ems
    adopted = client.post(
        "/console/reconciliation/adopt",
        data={
            "account": account,
            "subscription_id": str(ems.id),
            "child_subscription_id": str(atlanta.id),
            "external_id": external_id,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=True,
    )

    assert "Adopted the provider" in adopted.text
    assert "In sync" in adopted.text
    session.expire_all()
    assert (session.get_one(Subscription, ems.id).external_id, session.get_one(Subscription, ems.id).quantity) == (
        external_id,
        23,
    )
    assert session.get_one(Subscription, atlanta.id).quantity == 8
