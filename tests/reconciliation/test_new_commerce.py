"""Reconciliation against new commerce (SPEC §9): subscriptions matched by external ID first, then by
``productId:skuId`` (the availability inside an NCE ``offerId`` changes); Partner Center's ended statuses; an NCE
add-on, which Partner Center gives no parent, imported under the seatflow parent the operator picks.

The provider side is the simulator, bought and changed the documented way (carts; PATCH of the full resource)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderKind
from seatflow.reconciliation import service
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription, SubscriptionStatus
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    noon,
)
from tests.partner_center.helpers import Script, documented
from tests.provisioning.conftest import ManualClock
from tests.reconciliation.helpers import (
    TENANT,
    bought_in_seatflow,
    buy,
    change,
    import_,
    move_clock,
    report,
    subscription,
)
from tests.subscriptions.helpers import PineConeVet


def _sku(product_offer_id: str | None) -> str:
    assert product_offer_id is not None
    assert product_offer_id.count(":") == 1, "the demo catalog's NCE products are productId:skuId"
    return product_offer_id


def _new_availability(simulator: SimulatorServer, sku: str, availability_id: str) -> None:
    """Microsoft replaces a SKU's availability: later purchases name the new one in their offerId."""
    product_id, sku_id = sku.split(":")
    offers = httpx.get(f"{simulator.url}/_sim/offers").json()["items"]
    (offer,) = [o for o in offers if (o.get("productId"), o.get("skuId")) == (product_id, sku_id)]
    httpx.post(f"{simulator.url}/_sim/offers", json=offer | {"availabilityId": availability_id}).raise_for_status()


def _adopt(client: TestClient, subscription_id: object, **extra: Any) -> httpx.Response:
    answer: httpx.Response = client.post(
        "/api/v1/reconciliations/adopt", json={"subscription_id": str(subscription_id), **extra}
    )
    return answer


# --- matching --------------------------------------------------------------------------------------------


def test_an_nce_subscription_is_known_by_product_and_sku_whatever_its_availability(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    e3 = vet.catalog.e3
    _new_availability(simulator, _sku(e3.offer_id), "CFQ7TTC0ZZZZ")
    bought = buy(simulator, _sku(e3.offer_id), 7)
    assert bought["offerId"] == f"{e3.offer_id}:CFQ7TTC0ZZZZ"
    assert "parentSubscriptionId" not in bought

    (item,) = report(client)  # the 50 E3 bought before the change still match by their id: no difference

    assert item["classification"] == "unknown_to_seatflow"
    assert (item["external_id"], item["offer_id"], item["provider_quantity"]) == (bought["id"], bought["offerId"], 7)
    assert (item["product_id"], item["product_name"], item["fixes"]) == (str(e3.id), e3.name, ["import"])
    contract = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    session.commit()

    imported = import_(client, bought["id"], contract.id)

    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert (body["product_id"], body["quantity"], body["external_id"]) == (str(e3.id), 7, bought["id"])
    assert (body["term"], body["billing_plan"]) == ("P1Y", "monthly")
    assert report(client) == []


def test_microsofts_documented_answers_expired_and_another_availability_of_the_same_sku(session: Session) -> None:
    """Partner Center's documented customer page and new-commerce subscription (get-a-list-of-customers.md,
    get-a-subscription-by-id.md: ``CFQ7TTC0LH18:0001:CFQ7TTC0K971``, ``expired``, no ``parentSubscriptionId``) through
    the real client: the customers of both pages are seen; the expired one seatflow bills is a difference; a
    second one of the SKU under another availability is seatflow's subscription that has no provider id."""
    documented_customer, documented_id = "d8202a51-69f9-4228-b900-d0e081af17d7", "a4c1340d-6911-4758-bba3-0c4c6007d161"
    account = create_provider_account(session, name="Partner Center (documented)", kind=ProviderKind.PARTNER_CENTER)
    basic = create_product(session, account=account, name="Microsoft 365 Business Basic", offer_id="CFQ7TTC0LH18:0001")
    customer = create_customer(session, name="Documented Co", tenant_id=documented_customer.upper())
    contract = create_contract(session, customer=customer)
    billed = bought_in_seatflow(
        session,
        create_subscription(session, contract=contract, product=basic, quantity=15, provider_account=account),
        external_id=documented_id,
    )
    unnamed = bought_in_seatflow(
        session,
        create_subscription(session, contract=contract, product=basic, quantity=10, provider_account=account),
        external_id=None,
    )
    expired = documented("client_subscription_nce")
    assert (expired["id"], expired["status"], expired["offerId"]) == (
        documented_id,
        "expired",
        "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
    )
    assert "parentSubscriptionId" not in expired
    other = expired | {"id": "5b1f7c2e-0d3a-4a8e-9a57-2f1e0c6b9d11", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5QR"}
    other |= {"status": "active", "quantity": 12, "autoRenewEnabled": True}
    first_page = documented("client_customers_page") | {"continuationToken": "page-2"}
    second_page = documented("client_customers_page")
    second_page["items"] = [second_page["items"][0] | {"id": documented_customer}]
    second_page["totalCount"] = 1
    collection = {"totalCount": 2, "items": [expired, other], "attributes": {"objectType": "Collection"}}
    script = Script(
        httpx.Response(200, json=first_page),
        httpx.Response(200, json=second_page),
        httpx.Response(200, json=collection),
    )

    found = service.reconcile(session, account=account, client=script.client(), now=noon(FACTORY_TODAY))

    assert (found.provider_customers, found.tenants, found.provider_subscriptions) == (3, 1, 1)
    assert [r.url.path for r in script.requests] == [
        "/v1/customers",
        "/v1/customers",
        f"/v1/customers/{documented_customer}/subscriptions",
    ]
    by_kind = {i.classification.value: i for i in found.items if i.classification.value != "unmapped_tenant"}
    unmapped = sorted(str(i.tenant_id) for i in found.items if i.classification.value == "unmapped_tenant")
    assert unmapped == ["45c44870-ef77-4fdd-b6fe-3dacb075cff2", "b44bb1fb-c595-45b0-9e09-d657365580bf"]
    gone, paired = by_kind["missing_at_provider"], by_kind["changed_at_provider"]
    assert (gone.subscription_id, gone.provider_status, gone.fixes) == (billed.id, "expired", ())
    assert (paired.subscription_id, paired.external_id, paired.matched_by) == (unnamed.id, other["id"], "product")
    assert (paired.provider_quantity, paired.seatflow_quantity, paired.fixes) == (12, 10, ("adopt",))


def test_a_subscription_without_the_providers_id_is_paired_by_product_and_adopt_records_the_id(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    ems = session.get_one(Subscription, vet.parent_ems.id)
    external_id = ems.external_id
    assert external_id
    ems.external_id = None  # e.g. moved from another system without its Partner Center id
    session.commit()
    change(simulator, external_id, quantity=22)

    (item,) = report(client)

    assert item["classification"] == "changed_at_provider"
    assert (item["matched_by"], item["subscription_id"], item["external_id"]) == ("product", str(ems.id), external_id)
    assert (item["provider_quantity"], item["seatflow_quantity"], item["fixes"]) == (22, 20, ["adopt"])
    assert "matches this subscription by product" in item["detail"]

    without_id = _adopt(client, ems.id)
    assert (without_id.status_code, without_id.json()["code"]) == (409, "not_reconcilable")
    assert "external_id" in without_id.json()["detail"]
    e3_id = session.get_one(Subscription, vet.parent_e3.id).external_id
    taken = _adopt(client, ems.id, external_id=e3_id)
    assert (taken.status_code, taken.json()["code"]) == (409, "already_mapped")
    other_product = buy(simulator, _sku(vet.catalog.business_premium.offer_id), 1)
    wrong = _adopt(client, ems.id, external_id=other_product["id"])
    assert (wrong.status_code, wrong.json()["code"]) == (409, "product_mismatch")

    memphis = vet.locations["Memphis"].ems
    adopted = _adopt(client, ems.id, external_id=external_id, child_subscription_id=str(memphis.id))

    assert adopted.status_code == 200, adopted.text
    assert {(c["subscription_id"], c["quantity_before"], c["quantity_after"]) for c in adopted.json()} == {
        (str(memphis.id), 5, 7),
        (str(ems.id), 20, 22),
    }
    session.expire_all()
    assert session.get_one(Subscription, ems.id).external_id == external_id
    assert [i["classification"] for i in report(client)] == ["unknown_to_seatflow"]  # only the Business Premium


def test_an_order_still_in_flight_is_pending_not_an_unknown_subscription_to_import_twice(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    """The worker's purchase went through, its answer has not been recorded yet: the provider's subscription of
    that product is seatflow's order, not a stranger to import."""
    contract = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    ordered = create_subscription(session, contract=contract, product=vet.catalog.business_premium, quantity=4)
    session.commit()
    bought = buy(simulator, _sku(vet.catalog.business_premium.offer_id), 4)

    (item,) = report(client)

    assert item["classification"] == "provisioning_pending"
    assert (item["subscription_id"], item["external_id"]) == (str(ordered.id), bought["id"])
    assert item["matched_by"] == "product"
    assert item["fixes"] == []


def test_two_of_one_product_are_not_guessed_at(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    contract = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    ours = bought_in_seatflow(
        session,
        create_subscription(session, contract=contract, product=vet.catalog.business_premium, quantity=4),
        external_id=None,
    )
    session.commit()
    first = buy(simulator, _sku(vet.catalog.business_premium.offer_id), 4)
    second = buy(simulator, _sku(vet.catalog.business_premium.offer_id), 6)

    items = report(client)

    assert sorted((i["classification"], i["external_id"] or i["subscription_id"]) for i in items) == sorted(
        [
            ("unknown_to_seatflow", first["id"]),
            ("unknown_to_seatflow", second["id"]),
            ("missing_at_provider", str(ours.id)),
        ]
    )


# --- Partner Center's ended statuses ---------------------------------------------------------------------


def test_expired_and_disabled_at_the_provider_are_a_difference_only_while_seatflow_has_it_live(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    ems = session.get_one(Subscription, vet.parent_ems.id)
    assert ems.external_id
    change(simulator, ems.external_id, autoRenewEnabled=False)
    term_end = datetime.fromisoformat(subscription(simulator, ems.external_id)["commitmentEndDate"])
    move_clock(simulator, (term_end + timedelta(days=2)).isoformat())
    assert subscription(simulator, ems.external_id)["status"] == "expired"

    (item,) = report(client)

    assert item["classification"] == "missing_at_provider"
    assert (item["subscription_id"], item["provider_status"], item["seatflow_quantity"]) == (str(ems.id), "expired", 20)
    assert item["fixes"] == []  # nothing seatflow could push revives it
    assert "expired" in item["detail"]

    ems.status, ems.expired_at = SubscriptionStatus.EXPIRED, datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    session.commit()
    assert report(client) == []  # expired on both sides
    move_clock(simulator, (term_end + timedelta(days=40)).isoformat())
    assert subscription(simulator, ems.external_id)["status"] == "disabled"
    assert report(client) == []


def test_cancelled_at_the_provider_is_ended_and_one_seatflow_never_knew_is_no_difference(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    stranger = buy(simulator, _sku(vet.catalog.business_premium.offer_id), 2)
    change(simulator, stranger["id"], status="deleted")
    e3 = session.get_one(Subscription, vet.parent_e3.id)
    assert e3.external_id
    change(simulator, e3.external_id, status="deleted")

    (item,) = report(client)

    assert (item["classification"], item["subscription_id"], item["provider_status"]) == (
        "missing_at_provider",
        str(e3.id),
        "deleted",
    )


def test_ended_in_seatflow_but_active_at_the_provider_is_a_difference_once_the_provider_had_time(
    client: TestClient, session: Session, vet: PineConeVet, clock: ManualClock
) -> None:
    ems = session.get_one(Subscription, vet.parent_ems.id)
    ems.status, ems.expired_at = SubscriptionStatus.EXPIRED, clock.now() - timedelta(hours=2)
    session.commit()

    (pending,) = report(client)

    assert (pending["classification"], pending["subscription_id"]) == ("provisioning_pending", str(ems.id))
    assert "24 hours" in pending["detail"]

    ems.expired_at = clock.now() - timedelta(days=3)
    session.commit()
    (item,) = report(client)

    assert item["classification"] == "changed_at_provider"
    assert (item["provider_quantity"], item["seatflow_quantity"], item["provider_status"]) == (20, 0, "active")
    assert "Microsoft bills it" in item["detail"]
    assert item["fixes"] == []


# --- an NCE add-on: the operator picks the seatflow parent ----------------------------------------------


def test_an_nce_addon_is_imported_under_the_seatflow_parent_the_operator_picks(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    catalog = vet.catalog
    office = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    session.commit()
    e5_at_provider = buy(simulator, _sku(catalog.e5.offer_id), 10)
    e5 = import_(client, e5_at_provider["id"], office.id)
    assert e5.status_code == 201, e5.text
    audio = buy(simulator, _sku(catalog.audio_conferencing.offer_id), 10)
    assert "parentSubscriptionId" not in audio

    (item,) = report(client)

    assert item["classification"] == "unknown_to_seatflow"
    assert (item["product_id"], item["needs_parent"]) == (str(catalog.audio_conferencing.id), True)
    assert "choose its seatflow parent" in item["detail"]

    no_parent = import_(client, audio["id"], office.id)
    assert (no_parent.status_code, no_parent.json()["code"]) == (422, "parent_required")
    assert no_parent.json()["possible_parents"] == [e5.json()["id"]]
    assert "Office 365 E5" in no_parent.json()["detail"]
    wrong_product = import_(client, audio["id"], office.id, parent_subscription_id=str(vet.parent_e3.id))
    assert (wrong_product.status_code, wrong_product.json()["code"]) == (422, "addon_parent_invalid")
    elsewhere = create_customer(session, name="Elsewhere Ltd", tenant_id="elsewhere-tenant")
    elsewhere_contract = create_contract(session, customer=elsewhere, name="Elsewhere")
    their_e5 = create_subscription(session, contract=elsewhere_contract, product=catalog.e5, quantity=10)
    session.commit()
    other_tenant = import_(client, audio["id"], office.id, parent_subscription_id=str(their_e5.id))
    assert (other_tenant.status_code, other_tenant.json()["code"]) == (422, "addon_parent_invalid")
    assert "another tenant" in other_tenant.json()["detail"]
    wrong_contract = import_(client, audio["id"], elsewhere_contract.id, parent_subscription_id=e5.json()["id"])
    assert (wrong_contract.status_code, wrong_contract.json()["code"]) == (422, "tenant_mismatch")

    imported = import_(client, audio["id"], office.id, parent_subscription_id=e5.json()["id"])

    assert imported.status_code == 201, imported.text
    assert (imported.json()["parent_subscription_id"], imported.json()["quantity"]) == (e5.json()["id"], 10)
    assert [i for i in report(client) if i["tenant_id"] == TENANT] == []


def test_a_license_is_never_imported_under_a_parent(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    office = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    session.commit()
    e5 = buy(simulator, _sku(vet.catalog.e5.offer_id), 3)

    refused = import_(client, e5["id"], office.id, parent_subscription_id=str(vet.parent_e3.id))

    assert (refused.status_code, refused.json()["code"]) == (422, "addon_parent_invalid")
    (still,) = report(client)  # nothing was imported
    assert (still["classification"], still["external_id"]) == ("unknown_to_seatflow", e5["id"])
