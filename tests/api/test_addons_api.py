"""Add-on subscriptions through the REST API: the parent chain up to a license, bundles as virtual parents
only, and cancel/suspend refused while add-ons are active unless cascading (SPEC §2, §3, §4, §13)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import all_items, create_product, get_json, problem
from tests.api.subscription_helpers import (
    Demo,
    changes_of,
    create_contract,
    create_customer,
    create_subscription,
    load_demo,
    post_json,
    snapshot,
)


@pytest.fixture
def demo(client: TestClient) -> Demo:
    return load_demo(client)


@pytest.fixture
def contract(client: TestClient) -> dict[str, Any]:
    customer = create_customer(client, "Contoso Dental", tenant_id="contoso-dental.onmicrosoft.com")
    return create_contract(client, customer, "Contoso Dental")


def voice_chain(client: TestClient, demo: Demo, contract: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Office 365 E5 ← Phone System ← Domestic Calling Plan, each created through the API."""
    e5 = create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    phone = create_subscription(client, contract, demo.products["MCOEV"], 5, parent_subscription_id=e5["id"])
    calling = create_subscription(client, contract, demo.products["MCOPSTN1"], 5, parent_subscription_id=phone["id"])
    return e5, phone, calling


def test_an_addon_of_an_addon_hangs_under_its_real_parent(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    e5, phone, calling = voice_chain(client, demo, contract)

    assert e5["parent_subscription_id"] is None
    assert phone["parent_subscription_id"] == e5["id"]
    assert calling["parent_subscription_id"] == phone["id"]
    assert calling["product_id"] == demo.products["MCOPSTN1"]
    assert calling["status"] == "active"
    assert [c["kind"] for c in changes_of(client, calling["id"])] == ["create"]
    addons = all_items(client, "/api/v1/subscriptions", parent_subscription_id=phone["id"])
    assert [a["id"] for a in addons] == [calling["id"]]


def test_an_addon_without_a_parent_names_the_missing_one(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    before = snapshot(client)

    response = client.post(
        "/api/v1/subscriptions",
        json={"contract_id": contract["id"], "product_id": demo.products["MCOPSTN1"], "quantity": 5},
    )

    body = problem(response, 422, "addon_parent_missing")
    assert "Phone System" in body["detail"]
    assert body["missing"] == [demo.products["MCOEV"]]
    assert snapshot(client) == before


def test_an_addon_under_a_parent_of_the_wrong_product_is_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    e5 = create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    before = snapshot(client)

    response = client.post(
        "/api/v1/subscriptions",
        json={
            "contract_id": contract["id"],
            "product_id": demo.products["MCOPSTN1"],
            "quantity": 5,
            "parent_subscription_id": e5["id"],
        },
    )

    body = problem(response, 422, "addon_parent_invalid")
    assert "Phone System" in body["detail"]
    assert snapshot(client) == before


def test_a_bundle_is_never_a_parent(client: TestClient, demo: Demo, contract: dict[str, Any]) -> None:
    create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    before = snapshot(client)

    response = client.post(
        "/api/v1/subscriptions",
        json={
            "contract_id": contract["id"],
            "product_id": demo.products["MCOEV"],
            "quantity": 5,
            "parent_subscription_id": demo.bundles["E5 Voice"],
        },
    )

    body = problem(response, 422, "addon_parent_is_bundle")
    assert "Office 365 E5" in body["detail"]
    assert snapshot(client) == before


def test_an_addon_under_another_tenants_license_is_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    other = create_customer(client, "Fabrikam Clinics", tenant_id="fabrikam-clinics.onmicrosoft.com")
    others_e5 = create_subscription(
        client, create_contract(client, other, "Fabrikam"), demo.products["ENTERPRISEPREMIUM"], 5
    )
    before = snapshot(client)

    response = client.post(
        "/api/v1/subscriptions",
        json={
            "contract_id": contract["id"],
            "product_id": demo.products["MCOEV"],
            "quantity": 5,
            "parent_subscription_id": others_e5["id"],
        },
    )

    body = problem(response, 422, "addon_parent_invalid")
    assert "tenant" in body["detail"]
    assert snapshot(client) == before


def test_an_addon_on_a_location_under_the_tenants_license_is_accepted(client: TestClient, demo: Demo) -> None:
    """A child account without a tenant of its own provisions on its parent account's tenant."""
    head_office = create_customer(client, "Pine Cone Vet", tenant_id="pinecone.onmicrosoft.com")
    atlanta = create_customer(client, "Pine Cone Vet - Atlanta", parent_customer_id=head_office["id"])
    e5 = create_subscription(
        client, create_contract(client, head_office, "Head office"), demo.products["ENTERPRISEPREMIUM"], 5
    )

    phone = create_subscription(
        client, create_contract(client, atlanta, "Atlanta"), demo.products["MCOEV"], 2, parent_subscription_id=e5["id"]
    )

    assert phone["parent_subscription_id"] == e5["id"]


@pytest.mark.parametrize("status_call", ["cancel", "suspend"])
def test_an_addon_under_a_parent_that_is_not_live_is_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any], status_call: str
) -> None:
    e5 = create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    phone = create_subscription(client, contract, demo.products["MCOEV"], 5, parent_subscription_id=e5["id"])
    response = client.post(f"/api/v1/subscriptions/{phone['id']}/{status_call}", json={})
    assert response.status_code == 200, response.text
    before = snapshot(client)

    response = client.post(
        "/api/v1/subscriptions",
        json={
            "contract_id": contract["id"],
            "product_id": demo.products["MCOPSTN1"],
            "quantity": 5,
            "parent_subscription_id": phone["id"],
        },
    )

    body = problem(response, 422, "addon_parent_missing")
    assert "Phone System" in body["detail"]
    assert snapshot(client) == before


def test_ordering_a_bundle_creates_real_subscriptions(client: TestClient, demo: Demo, contract: dict[str, Any]) -> None:
    bundle_id = demo.bundles["E5 Voice"]

    response = client.post(f"/api/v1/bundles/{bundle_id}/order", json={"contract_id": contract["id"], "quantity": 3})

    assert response.status_code == 201, response.text
    created = response.json()
    by_product = {s["product_id"]: s for s in created}
    assert len(created) == len(by_product) == 4
    e5 = by_product[demo.products["ENTERPRISEPREMIUM"]]
    phone = by_product[demo.products["MCOEV"]]
    assert e5["parent_subscription_id"] is None
    assert by_product[demo.products["MCOMEETADV"]]["parent_subscription_id"] == e5["id"]
    assert phone["parent_subscription_id"] == e5["id"]
    assert by_product[demo.products["MCOPSTN1"]]["parent_subscription_id"] == phone["id"]
    ids = {s["id"] for s in created}
    for subscription in created:
        assert subscription["parent_subscription_id"] in ids | {None}
        assert subscription["parent_subscription_id"] != bundle_id
        assert subscription["bundle_id"] == bundle_id
        assert subscription["quantity"] == 3
        assert subscription["contract_id"] == contract["id"]
        assert subscription["status"] == "active"
        assert subscription == get_json(client, f"/api/v1/subscriptions/{subscription['id']}")
        assert [c["kind"] for c in changes_of(client, subscription["id"])] == ["create"]
    assert {s["id"] for s in all_items(client, "/api/v1/subscriptions", contract_id=contract["id"])} == ids


def test_ordering_a_bundle_on_an_unknown_contract_creates_nothing(client: TestClient, demo: Demo) -> None:
    before = snapshot(client)

    response = client.post(
        f"/api/v1/bundles/{demo.bundles['E5 Voice']}/order",
        json={"contract_id": "01a20000-0000-7000-8000-000000000000", "quantity": 1},
    )

    problem(response, 404, "not_found")
    assert snapshot(client) == before


def test_a_bundle_order_that_fails_on_a_later_item_creates_nothing(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    """Office 365 E5 is created first; the Rooms add-on (at most 5) then refuses 8: the E5 must not stay."""
    account = {"id": demo.accounts["Partner Center"]}
    rooms = create_product(
        client,
        account,
        kind="addon",
        name="Teams Rooms Pro",
        provisioning_id="MTR_PRO",
        offer_id="CFQ7TTC0QW7C:0001",  # a new-commerce SKU: Partner Center sells nothing else
        list_price="40.00",
        max_quantity=5,
        parent_product_ids=[demo.products["ENTERPRISEPREMIUM"]],
    )
    bundle = post_json(
        client,
        "/api/v1/bundles",
        {
            "name": "E5 Rooms",
            "items": [
                {"product_id": demo.products["ENTERPRISEPREMIUM"]},
                {"product_id": rooms["id"], "parent_item": 0},
            ],
        },
    )
    before = snapshot(client)

    response = client.post(f"/api/v1/bundles/{bundle['id']}/order", json={"contract_id": contract["id"], "quantity": 8})

    body = problem(response, 422, "quantity_out_of_range")
    assert "Teams Rooms Pro" in body["detail"]
    assert snapshot(client) == before


def test_cancelling_a_license_with_active_addons_is_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    e5, phone, _ = voice_chain(client, demo, contract)
    before = snapshot(client)

    response = client.post(f"/api/v1/subscriptions/{e5['id']}/cancel", json={})

    body = problem(response, 409, "has_active_addons")
    assert body["addon_ids"] == [phone["id"]]
    assert "Phone System" in body["detail"]
    assert snapshot(client) == before


def test_cancelling_with_cascade_cancels_the_whole_tree(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    created = client.post(
        f"/api/v1/bundles/{demo.bundles['E5 Voice']}/order", json={"contract_id": contract["id"], "quantity": 2}
    )
    assert created.status_code == 201, created.text
    tree = {s["product_id"]: s for s in created.json()}
    e5 = tree[demo.products["ENTERPRISEPREMIUM"]]

    response = client.post(f"/api/v1/subscriptions/{e5['id']}/cancel", json={"cascade": True})

    assert response.status_code == 200, response.text
    cancels = response.json()
    assert sorted(c["subscription_id"] for c in cancels) == sorted(s["id"] for s in tree.values())
    assert all((c["kind"], c["quantity_before"], c["quantity_after"]) == ("cancel", 2, 0) for c in cancels)
    # Add-ons go before the subscription they hang under.
    order = [c["subscription_id"] for c in cancels]
    for subscription in tree.values():
        if subscription["parent_subscription_id"] is not None:
            assert order.index(subscription["id"]) < order.index(subscription["parent_subscription_id"])
    for subscription in tree.values():
        shown = get_json(client, f"/api/v1/subscriptions/{subscription['id']}")
        assert shown["status"] == "cancelled"
        assert shown["cancelled_at"] is not None
        assert changes_of(client, subscription["id"])[-1]["kind"] == "cancel"
    assert all_items(client, "/api/v1/subscriptions", contract_id=contract["id"], status="active") == []


def test_suspending_needs_cascade_and_an_addon_cannot_come_back_alone(
    client: TestClient, demo: Demo, contract: dict[str, Any]
) -> None:
    e5, phone, calling = voice_chain(client, demo, contract)
    problem(client.post(f"/api/v1/subscriptions/{phone['id']}/suspend", json={}), 409, "has_active_addons")
    assert get_json(client, f"/api/v1/subscriptions/{phone['id']}")["status"] == "active"

    response = client.post(f"/api/v1/subscriptions/{e5['id']}/suspend", json={"cascade": True})

    assert response.status_code == 200, response.text
    assert sorted(c["subscription_id"] for c in response.json()) == sorted([e5["id"], phone["id"], calling["id"]])
    for subscription in (e5, phone, calling):
        assert get_json(client, f"/api/v1/subscriptions/{subscription['id']}")["status"] == "suspended"
    # The Calling Plan cannot be reactivated while Phone System above it is suspended.
    body = problem(
        client.post(f"/api/v1/subscriptions/{calling['id']}/reactivate", json={}), 422, "addon_parent_missing"
    )
    assert "Phone System" in body["detail"]
    assert get_json(client, f"/api/v1/subscriptions/{calling['id']}")["status"] == "suspended"
    # From the top down it works.
    for subscription in (e5, phone, calling):
        answer = client.post(f"/api/v1/subscriptions/{subscription['id']}/reactivate", json={})
        assert answer.status_code == 200, answer.text
        assert get_json(client, f"/api/v1/subscriptions/{subscription['id']}")["status"] == "active"
