"""Customer accounts (a tree), contacts invited by link, contracts, and the lists of subscriptions and of a
subscription's changes through the REST API (SPEC §3, §4, §7, §13)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import all_items, get_json, problem
from tests.api.subscription_helpers import (
    Demo,
    changes_of,
    create_contract,
    create_customer,
    create_subscription,
    load_demo,
    post_json,
)

# --- customers -----------------------------------------------------------------------------------------


def test_a_customer_answers_as_get_shows_it(client: TestClient) -> None:
    created = create_customer(
        client,
        "Pine Cone Vet",
        tenant_id="pinecone.onmicrosoft.com",
        billing_address={"line1": "1 Peachtree St", "city": "Atlanta", "region": "GA", "country": "US"},
    )

    assert created["name"] == "Pine Cone Vet"
    assert created["tenant_id"] == "pinecone.onmicrosoft.com"
    assert created["parent_customer_id"] is None
    assert created["currency"] == "USD"
    assert created["status"] == "active"
    assert created["billing_address"]["city"] == "Atlanta"
    assert created == get_json(client, f"/api/v1/customers/{created['id']}")
    assert all_items(client, "/api/v1/customers", tenant_id="pinecone.onmicrosoft.com") == [created]


def test_customers_form_a_tree(client: TestClient) -> None:
    head = create_customer(client, "Pine Cone Vet", tenant_id="pinecone", currency="EUR")
    atlanta = create_customer(client, "Pine Cone Vet - Atlanta", parent_customer_id=head["id"])
    memphis = create_customer(client, "Pine Cone Vet - Memphis", parent_customer_id=head["id"])
    create_customer(client, "Somebody else")

    assert atlanta["parent_customer_id"] == head["id"]
    assert atlanta["currency"] == "EUR"  # a location bills in its organization's currency by default
    children = all_items(client, "/api/v1/customers", parent_customer_id=head["id"])
    assert [c["id"] for c in children] == [atlanta["id"], memphis["id"]]

    # Memphis moves under Atlanta; the answer is what GET shows.
    response = client.patch(f"/api/v1/customers/{memphis['id']}", json={"parent_customer_id": atlanta["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["parent_customer_id"] == atlanta["id"]
    assert response.json() == get_json(client, f"/api/v1/customers/{memphis['id']}")
    assert [c["id"] for c in all_items(client, "/api/v1/customers", parent_customer_id=head["id"])] == [atlanta["id"]]
    # The head office cannot go under its own grandchild.
    problem(
        client.patch(f"/api/v1/customers/{head['id']}", json={"parent_customer_id": memphis["id"]}),
        409,
        "customer_cycle",
    )
    assert get_json(client, f"/api/v1/customers/{head['id']}")["parent_customer_id"] is None


def test_a_customer_is_renamed_and_its_tenant_changed(client: TestClient) -> None:
    customer = create_customer(client, "Pine Cone", tenant_id="old-tenant")

    response = client.patch(
        f"/api/v1/customers/{customer['id']}", json={"name": "Pine Cone Vet", "tenant_id": "new-tenant"}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["tenant_id"]) == ("Pine Cone Vet", "new-tenant")
    assert response.json() == get_json(client, f"/api/v1/customers/{customer['id']}")
    # The old tenant is free again.
    create_customer(client, "Someone on the old tenant", tenant_id="old-tenant")


# --- contacts ------------------------------------------------------------------------------------------


@pytest.fixture
def customer(client: TestClient) -> dict[str, Any]:
    return create_customer(client, "Pine Cone Vet", tenant_id="pinecone")


def invite(client: TestClient, customer: dict[str, Any], email: str, roles: list[str], name: str = "Ann") -> Any:
    return client.post(
        f"/api/v1/customers/{customer['id']}/contacts", json={"email": email, "name": name, "roles": roles}
    )


def contacts(client: TestClient, customer: dict[str, Any]) -> list[dict[str, Any]]:
    return all_items(client, f"/api/v1/customers/{customer['id']}/contacts")


def test_inviting_a_contact_answers_the_invitation_link_once(client: TestClient, customer: dict[str, Any]) -> None:
    response = invite(client, customer, "Ann.Lee@PineConeVet.example", ["subscription_manager", "administrator"])

    assert response.status_code == 201, response.text
    contact = response.json()
    assert contact["customer_id"] == customer["id"]
    assert contact["email"] == "ann.lee@pineconevet.example"
    assert sorted(contact["roles"]) == ["administrator", "subscription_manager"]
    assert contact["status"] == "invited"
    assert contact["invitation_expires_at"] is not None
    assert "/portal/invitations/" in contact["invitation_link"]
    token = contact["invitation_link"].rsplit("/portal/invitations/", 1)[1]
    assert len(token) >= 32
    # GET shows the same contact, without the link: it is not stored.
    [listed] = contacts(client, customer)
    assert listed == {**contact, "invitation_link": None}
    # Every invitation has its own link.
    other = invite(client, customer, "bob@pineconevet.example", ["finance_manager"], name="Bob")
    assert other.status_code == 201, other.text
    assert other.json()["invitation_link"] != contact["invitation_link"]


@pytest.mark.parametrize("roles", [["owner"], ["administrator", "superuser"], [], "administrator", None])
def test_contact_roles_are_validated(client: TestClient, customer: dict[str, Any], roles: Any) -> None:
    body = problem(invite(client, customer, "ann@pineconevet.example", roles), 422, "validation_failed")
    assert "roles" in body["detail"]
    assert contacts(client, customer) == []


def test_a_contact_email_is_invited_once_per_customer(client: TestClient, customer: dict[str, Any]) -> None:
    first = invite(client, customer, "ann@pineconevet.example", ["administrator"])
    assert first.status_code == 201, first.text

    body = problem(invite(client, customer, " ANN@pineconevet.example ", ["finance_manager"]), 409, "duplicate_contact")

    assert "ann@pineconevet.example" in body["detail"]
    [only] = contacts(client, customer)
    assert only["roles"] == ["administrator"]


@pytest.mark.parametrize("email", ["not-an-email", "ann@", "@example.com", "ann lee@example.com", ""])
def test_a_contact_needs_an_email_address(client: TestClient, customer: dict[str, Any], email: str) -> None:
    problem(invite(client, customer, email, ["administrator"]), 422, "validation_failed")
    assert contacts(client, customer) == []


def test_a_contacts_roles_change(client: TestClient, customer: dict[str, Any]) -> None:
    contact = invite(client, customer, "ann@pineconevet.example", ["finance_manager"]).json()
    path = f"/api/v1/customers/{customer['id']}/contacts/{contact['id']}"

    response = client.patch(path, json={"roles": ["administrator", "access_child_accounts"]})

    assert response.status_code == 200, response.text
    assert sorted(response.json()["roles"]) == ["access_child_accounts", "administrator"]
    assert [response.json()] == contacts(client, customer)
    problem(client.patch(path, json={"roles": ["root"]}), 422, "validation_failed")
    problem(client.patch(path, json={"roles": []}), 422, "validation_failed")
    assert [response.json()] == contacts(client, customer)


def test_a_contact_is_found_only_under_its_own_customer(client: TestClient, customer: dict[str, Any]) -> None:
    contact = invite(client, customer, "ann@pineconevet.example", ["administrator"]).json()
    other = create_customer(client, "Fabrikam")

    response = client.patch(f"/api/v1/customers/{other['id']}/contacts/{contact['id']}", json={"name": "Mallory"})

    problem(response, 404, "not_found")
    assert contacts(client, customer)[0]["name"] == "Ann"


# --- contracts -----------------------------------------------------------------------------------------


def test_contracts_answer_as_get_shows_them_and_filter(client: TestClient, customer: dict[str, Any]) -> None:
    parent = create_contract(client, customer, "Pine Cone Vet - Parent", billable=False, tax_rate="0.08")
    atlanta = create_contract(
        client, customer, "Pine Cone Vet - Atlanta", parent_contract_id=parent["id"], billing_policy="arrears"
    )
    memphis = create_contract(client, customer, "Pine Cone Vet - Memphis", parent_contract_id=parent["id"])
    create_contract(client, create_customer(client, "Fabrikam"), "Fabrikam")

    assert parent == get_json(client, f"/api/v1/contracts/{parent['id']}")
    assert (parent["billable"], parent["tax_rate"], parent["currency"]) == (False, "0.08", "USD")
    assert atlanta["billing_policy"] == "arrears"
    ids = [c["id"] for c in all_items(client, "/api/v1/contracts", customer_id=customer["id"])]
    assert ids == [parent["id"], atlanta["id"], memphis["id"]]
    children = all_items(client, "/api/v1/contracts", parent_contract_id=parent["id"])
    assert [c["id"] for c in children] == [atlanta["id"], memphis["id"]]
    not_billable = all_items(client, "/api/v1/contracts", customer_id=customer["id"], billable="false")
    assert [c["id"] for c in not_billable] == [parent["id"]]


def test_one_default_contract_per_customer(client: TestClient, customer: dict[str, Any]) -> None:
    first = create_contract(client, customer, "First", is_default=True)
    second = create_contract(client, customer, "Second")

    response = client.patch(f"/api/v1/contracts/{second['id']}", json={"is_default": True})

    assert response.status_code == 200, response.text
    assert response.json() == get_json(client, f"/api/v1/contracts/{second['id']}")
    assert response.json()["is_default"] is True
    assert get_json(client, f"/api/v1/contracts/{first['id']}")["is_default"] is False


def test_an_inactive_contract_takes_no_new_subscriptions(client: TestClient, customer: dict[str, Any]) -> None:
    demo = load_demo(client)
    contract = create_contract(client, customer, "Closed")
    response = client.patch(f"/api/v1/contracts/{contract['id']}", json={"status": "inactive"})
    assert response.status_code == 200, response.text

    response = client.post(
        "/api/v1/subscriptions", json={"contract_id": contract["id"], "product_id": demo.products["EMS"], "quantity": 1}
    )

    problem(response, 409, "contract_not_active")
    assert all_items(client, "/api/v1/subscriptions", contract_id=contract["id"]) == []


# --- subscription lists --------------------------------------------------------------------------------


@pytest.fixture
def demo(client: TestClient) -> Demo:
    return load_demo(client)


def test_subscriptions_filter_by_contract_and_page(client: TestClient, customer: dict[str, Any], demo: Demo) -> None:
    mine = create_contract(client, customer, "Atlanta")
    theirs = create_contract(client, customer, "Memphis")
    created = []
    for index in range(7):
        created.append(create_subscription(client, mine, demo.products["EMS"], index + 1))
        if index % 3 == 0:
            create_subscription(client, theirs, demo.products["EMS"], 1)

    pages = []
    cursor = None
    while True:
        params: dict[str, Any] = {"contract_id": mine["id"], "limit": 3} | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/subscriptions", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [s for page in pages for s in page] == created
    assert len(all_items(client, "/api/v1/subscriptions", contract_id=theirs["id"])) == 3
    assert len(all_items(client, "/api/v1/subscriptions")) == 10


def test_subscriptions_filter_by_product_status_and_parents(
    client: TestClient, customer: dict[str, Any], demo: Demo
) -> None:
    contract = create_contract(client, customer, "Atlanta")
    e5 = create_subscription(client, contract, demo.products["ENTERPRISEPREMIUM"], 5)
    phone = create_subscription(client, contract, demo.products["MCOEV"], 5, parent_subscription_id=e5["id"])
    ems = create_subscription(client, contract, demo.products["EMS"], 5)
    post_json(client, f"/api/v1/subscriptions/{ems['id']}/suspend", {}, status=200)

    def ids(**params: Any) -> list[str]:
        return [s["id"] for s in all_items(client, "/api/v1/subscriptions", contract_id=contract["id"], **params)]

    assert ids(product_id=demo.products["EMS"]) == [ems["id"]]
    assert ids(status="active") == [e5["id"], phone["id"]]
    assert ids(status="suspended") == [ems["id"]]
    assert ids(status="cancelled") == []
    assert ids(parent_subscription_id=e5["id"]) == [phone["id"]]


def test_a_subscriptions_changes_are_listed_oldest_first(
    client: TestClient, customer: dict[str, Any], demo: Demo
) -> None:
    contract = create_contract(client, customer, "Atlanta")
    subscription = create_subscription(client, contract, demo.products["EMS"], 5)
    path = f"/api/v1/subscriptions/{subscription['id']}"
    post_json(client, f"{path}/quantity", {"quantity": 8}, status=200)
    patched = client.patch(path, json={"unit_price": "9.90"})
    assert patched.status_code == 200, patched.text
    assert patched.json() == get_json(client, path)
    post_json(client, f"{path}/suspend", {}, status=200)
    post_json(client, f"{path}/reactivate", {}, status=200)
    post_json(client, f"{path}/quantity", {"quantity": 6}, status=200)
    post_json(client, f"{path}/cancel", {}, status=200)

    changes = changes_of(client, subscription["id"])

    assert [(c["kind"], c["quantity_before"], c["quantity_after"]) for c in changes] == [
        ("create", 0, 5),
        ("quantity", 5, 8),
        ("price", 8, 8),
        ("suspend", 8, 8),
        ("reactivate", 8, 8),
        ("quantity", 8, 6),
        ("cancel", 6, 0),
    ]
    assert [(c["price_before"], c["price_after"]) for c in changes[1:3]] == [("10.60", "10.60"), ("10.60", "9.90")]
    assert [c["created_at"] for c in changes] == sorted(c["created_at"] for c in changes)
    assert all(c["subscription_id"] == subscription["id"] for c in changes)
    assert all(c["origin"] == "api" for c in changes)
    by_list = all_items(client, "/api/v1/license-changes", subscription_id=subscription["id"])
    assert sorted(c["id"] for c in by_list) == sorted(c["id"] for c in changes)
