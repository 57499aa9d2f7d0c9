"""The catalog of SPEC §2 through the REST API of §13: every rule, every error code, every write as GET shows it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderAccount
from tests.api.helpers import all_items, create_account, create_product, get_json, problem

E3_OFFER = "4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c05"


@pytest.fixture
def account(client: TestClient) -> dict[str, Any]:
    return create_account(client)


def product_count(client: TestClient) -> int:
    return len(all_items(client, "/api/v1/products"))


def voice_chain(client: TestClient, account: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Office 365 E5 ← Phone System ← Domestic Calling Plan, and Audio Conferencing under E5."""
    e5 = create_product(client, account, name="Office 365 E5", provisioning_id="ENTERPRISEPREMIUM", list_price="38.00")
    phone = create_product(
        client,
        account,
        kind="addon",
        name="Phone System",
        provisioning_id="MCOEV",
        list_price="8.00",
        parent_product_ids=[e5["id"]],
    )
    calling = create_product(
        client,
        account,
        kind="addon",
        name="Domestic Calling Plan",
        provisioning_id="MCOPSTN1",
        list_price="12.00",
        parent_product_ids=[phone["id"]],
    )
    audio = create_product(
        client,
        account,
        kind="addon",
        name="Audio Conferencing",
        provisioning_id="MCOMEETADV",
        list_price="4.00",
        parent_product_ids=[e5["id"]],
    )
    return e5, phone, calling, audio


# --- provider accounts ---------------------------------------------------------------------------------


def test_create_provider_account_answers_as_get_shows_it(client: TestClient) -> None:
    created = create_account(client, name="PC Europe")
    assert created["name"] == "PC Europe"
    assert created["kind"] == "partner_center"
    assert created["settings"]["base_url"] == "http://127.0.0.1:8100"
    assert isinstance(created["id"], str)
    assert created == get_json(client, f"/api/v1/provider-accounts/{created['id']}")
    assert [a["id"] for a in all_items(client, "/api/v1/provider-accounts")] == [created["id"]]


def test_several_partner_center_accounts_and_every_kind(client: TestClient) -> None:
    create_account(client, name="PC US")
    create_account(client, name="PC EU")
    create_account(client, name="Distributor", kind="manual", settings={"instructions": "Order by phone."})
    create_account(client, name="Nothing", kind="do_nothing")
    create_account(client, name="Linked", kind="linked")
    kinds = [a["kind"] for a in all_items(client, "/api/v1/provider-accounts")]
    assert sorted(kinds) == ["do_nothing", "linked", "manual", "partner_center", "partner_center"]
    only_pc = all_items(client, "/api/v1/provider-accounts", kind="partner_center")
    assert sorted(a["name"] for a in only_pc) == ["PC EU", "PC US"]


def test_partner_center_account_needs_a_base_url(client: TestClient) -> None:
    response = client.post("/api/v1/provider-accounts", json={"name": "PC", "kind": "partner_center", "settings": {}})
    body = problem(response, 422, "invalid_provider_settings")
    assert "base_url" in body["detail"]
    assert all_items(client, "/api/v1/provider-accounts") == []


@pytest.mark.parametrize(
    ("kind", "provider_settings", "named"),
    [
        ("partner_center", {"base_url": "not a url"}, "base_url"),
        ("partner_center", {"base_url": "http://pc", "auth": "client_credentials"}, "token_url"),
        ("manual", {"colour": "blue"}, "colour"),
        ("do_nothing", {"base_url": "http://pc"}, "base_url"),
    ],
)
def test_invalid_provider_settings_are_refused(
    client: TestClient, kind: str, provider_settings: dict[str, Any], named: str
) -> None:
    payload = {"name": "X", "kind": kind, "settings": provider_settings}
    response = client.post("/api/v1/provider-accounts", json=payload)
    body = problem(response, 422, "invalid_provider_settings")
    assert named in body["detail"]
    assert all_items(client, "/api/v1/provider-accounts") == []


def test_provider_account_secrets_are_masked_in_every_answer(client: TestClient, session: Session) -> None:
    settings = {
        "base_url": "https://api.partnercenter.microsoft.com",
        "auth": "client_credentials",
        "token_url": "https://login.microsoftonline.com/t/oauth2/token",
        "client_id": "app-1",
        "client_secret": "s3cr3t-value",
    }
    response = client.post(
        "/api/v1/provider-accounts", json={"name": "PC", "kind": "partner_center", "settings": settings}
    )
    assert response.status_code == 201, response.text
    assert "s3cr3t-value" not in response.text
    created = response.json()
    assert created["settings"]["client_secret"] == "********"
    assert created["settings"]["client_id"] == "app-1"
    for path in (f"/api/v1/provider-accounts/{created['id']}", "/api/v1/provider-accounts", "/api/v1/catalog/export"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "s3cr3t-value" not in answer.text, path

    # Sending the mask back (what a client that read the account does) keeps the stored secret.
    patched = client.patch(
        f"/api/v1/provider-accounts/{created['id']}", json={"settings": {**created["settings"], "client_id": "app-2"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["client_id"] == "app-2"
    assert patched.json() == get_json(client, f"/api/v1/provider-accounts/{created['id']}")
    stored = session.get(ProviderAccount, uuid.UUID(created["id"]))
    assert stored is not None
    assert stored.settings["client_secret"] == "s3cr3t-value"


def test_duplicate_provider_account_name_is_refused(client: TestClient) -> None:
    create_account(client, name="Distributor", kind="manual")
    response = client.post("/api/v1/provider-accounts", json={"name": "Distributor", "kind": "do_nothing"})
    problem(response, 409, "duplicate_name")
    assert len(all_items(client, "/api/v1/provider-accounts")) == 1


def test_unknown_provider_account_is_404(client: TestClient) -> None:
    problem(client.get(f"/api/v1/provider-accounts/{uuid.uuid4()}"), 404, "not_found")
    problem(client.patch(f"/api/v1/provider-accounts/{uuid.uuid4()}", json={"name": "X"}), 404, "not_found")


def test_product_in_unknown_provider_account_is_404(client: TestClient) -> None:
    response = client.post(
        "/api/v1/products", json={"provider_account_id": str(uuid.uuid4()), "kind": "license", "name": "E3"}
    )
    problem(response, 404, "not_found")
    assert product_count(client) == 0


# --- products: create, read, update --------------------------------------------------------------------


def test_create_product_answers_with_the_product_as_get_shows_it(client: TestClient, account: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/products",
        json={
            "provider_account_id": account["id"],
            "kind": "license",
            "name": "Microsoft 365 E3",
            "offer_id": E3_OFFER,
            "provisioning_id": "SPE_E3",
            "description": "The E3 suite.",
            "min_quantity": 1,
            "max_quantity": 300,
            "term": "P1Y",
            "billing_frequency": "monthly",
            "list_price": "36.00",
            "cost_price": "28.8",
            "reduction_behavior": "allowed_within_window",
            "reduction_window_days": 7,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert re.fullmatch(r"P-\d{5}", created["product_code"])
    assert created["status"] == "active"
    assert created["sellable"] is True
    assert created["assignable_to_users"] is True
    assert created["list_price"] == "36.00"
    assert created["cost_price"] == "28.80"
    assert created["currency"] == "USD"
    assert created["term"] == "P1Y"
    assert created["reduction_window_days"] == 7
    assert created["provider_account_id"] == account["id"]
    assert created["parent_product_ids"] == []
    assert created == get_json(client, f"/api/v1/products/{created['id']}")


def test_product_defaults(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="Bare")
    assert created["unit"] == "license"
    assert created["min_quantity"] == 1
    assert created["max_quantity"] is None
    assert created["term"] == "P1M"
    assert created["billing_frequency"] == "monthly"
    assert created["reduction_behavior"] == "allowed"
    assert created["reduction_window_days"] is None
    assert created["list_price"] is None
    assert created["portal_enabled"] is True


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("36", "36.00"),
        ("36.5", "36.50"),
        (36, "36.00"),
        ("0.1875", "0.1875"),
        ("0", "0.00"),
        ("1234567.89", "1234567.89"),
    ],
)
def test_money_is_a_decimal_string(client: TestClient, account: dict[str, Any], sent: Any, shown: str) -> None:
    created = create_product(client, account, name="Priced", list_price=sent, cost_price=sent)
    assert created["list_price"] == shown
    assert created["cost_price"] == shown
    assert get_json(client, f"/api/v1/products/{created['id']}")["list_price"] == shown


def test_product_code_is_assigned_uniquely_and_never_changes(client: TestClient, account: dict[str, Any]) -> None:
    first = create_product(client, account, name="One")
    second = create_product(client, account, name="Two")
    assert first["product_code"] != second["product_code"]
    patched = client.patch(f"/api/v1/products/{first['id']}", json={"name": "One renamed"})
    assert patched.json()["product_code"] == first["product_code"]
    refused = client.patch(f"/api/v1/products/{first['id']}", json={"product_code": "P-99999"})
    problem(refused, 422, "validation_failed")
    assert get_json(client, f"/api/v1/products/{first['id']}")["product_code"] == first["product_code"]


def test_a_product_is_found_by_its_code(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="By code")
    assert get_json(client, f"/api/v1/products/{created['product_code']}")["id"] == created["id"]


def test_patch_changes_only_the_fields_sent_and_answers_as_get(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(
        client, account, name="E3", provisioning_id="SPE_E3", list_price="36.00", cost_price="28.80", term="P1Y"
    )
    response = client.patch(
        f"/api/v1/products/{created['id']}",
        json={"name": "Microsoft 365 E3", "list_price": "37.5", "reduction_behavior": "allowed_within_window"},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched == get_json(client, f"/api/v1/products/{created['id']}")
    assert patched["name"] == "Microsoft 365 E3"
    assert patched["list_price"] == "37.50"
    assert patched["reduction_window_days"] == 7  # the window defaults with the behaviour
    unchanged = {
        k
        for k in created
        if k not in {"name", "list_price", "reduction_behavior", "reduction_window_days", "updated_at", "plans"}
    }
    assert {k: patched[k] for k in unchanged} == {k: created[k] for k in unchanged}
    # The one plan it is sold in is its default: its list price is the product's.
    assert patched["plans"] == [
        {"term": "P1Y", "billing_plan": "monthly", "list_price": "37.50", "cost_price": "28.80"}
    ]

    cleared = client.patch(f"/api/v1/products/{created['id']}", json={"list_price": None})
    assert cleared.json()["list_price"] is None
    assert cleared.json()["cost_price"] == "28.80"


def test_kind_change_is_refused_while_the_graph_needs_it(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, _, _ = voice_chain(client, account)
    problem(client.patch(f"/api/v1/products/{phone['id']}", json={"kind": "license"}), 422, "parent_not_allowed")
    problem(client.patch(f"/api/v1/products/{e5['id']}", json={"kind": "service"}), 422, "parent_not_allowed")
    assert get_json(client, f"/api/v1/products/{phone['id']}")["kind"] == "addon"
    assert get_json(client, f"/api/v1/products/{e5['id']}")["kind"] == "license"


# --- products: uniqueness ------------------------------------------------------------------------------


def test_duplicate_offer_is_refused_naming_the_existing_product(client: TestClient, account: dict[str, Any]) -> None:
    existing = create_product(client, account, name="Microsoft 365 E3", offer_id=E3_OFFER, provisioning_id="SPE_E3")
    response = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": "E3 again", "offer_id": E3_OFFER},
    )
    body = problem(response, 409, "duplicate_offer")
    assert "Microsoft 365 E3" in body["detail"]
    assert existing["product_code"] in body["detail"]
    assert body["existing_product_id"] == existing["id"]
    assert product_count(client) == 1


def test_the_same_offer_in_another_provider_account_is_another_product(
    client: TestClient, account: dict[str, Any]
) -> None:
    """The same offer in another provider account is a different product (e.g. another region)."""
    create_product(client, account, name="E3 US", offer_id=E3_OFFER, provisioning_id="SPE_E3")
    europe = create_account(client, name="PC Europe")
    other = create_product(client, europe, name="E3 EU", offer_id=E3_OFFER, provisioning_id="SPE_E3")
    assert other["provider_account_id"] == europe["id"]
    assert product_count(client) == 2


def test_duplicate_provisioning_id_is_refused_naming_the_existing_product(
    client: TestClient, account: dict[str, Any]
) -> None:
    existing = create_product(
        client, account, name="Extra File Storage", provisioning_id="SHAREPOINTSTORAGE", kind="service"
    )
    response = client.post(
        "/api/v1/products",
        json={
            "provider_account_id": account["id"],
            "kind": "service",
            "name": "Storage",
            "provisioning_id": "SHAREPOINTSTORAGE",
        },
    )
    body = problem(response, 409, "duplicate_provisioning_id")
    assert "Extra File Storage" in body["detail"]
    assert existing["product_code"] in body["detail"]
    assert body["existing_product_id"] == existing["id"]
    assert product_count(client) == 1


def test_patch_onto_a_taken_key_is_refused_and_changes_nothing(client: TestClient, account: dict[str, Any]) -> None:
    create_product(client, account, name="E3", provisioning_id="SPE_E3", offer_id=E3_OFFER)
    other = create_product(client, account, name="EMS", provisioning_id="EMS")
    problem(
        client.patch(f"/api/v1/products/{other['id']}", json={"provisioning_id": "SPE_E3", "name": "X"}),
        409,
        "duplicate_provisioning_id",
    )
    problem(client.patch(f"/api/v1/products/{other['id']}", json={"offer_id": E3_OFFER}), 409, "duplicate_offer")
    assert get_json(client, f"/api/v1/products/{other['id']}") == other


def test_patching_a_product_with_its_own_keys_is_allowed(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="E3", provisioning_id="SPE_E3", offer_id=E3_OFFER)
    response = client.patch(
        f"/api/v1/products/{created['id']}", json={"provisioning_id": "SPE_E3", "offer_id": E3_OFFER}
    )
    assert response.status_code == 200, response.text


# --- products: shape rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"unit": "GB", "assignable_to_users": True},
        {"unit": "license", "description": "Extra storage. Priced per gigabyte.", "assignable_to_users": True},
    ],
)
def test_per_gb_addon_marked_assignable_is_refused(
    client: TestClient, account: dict[str, Any], fields: dict[str, Any]
) -> None:
    parent = create_product(client, account, name="Business Premium")
    before = product_count(client)
    response = client.post(
        "/api/v1/products",
        json={
            "provider_account_id": account["id"],
            "kind": "addon",
            "name": "Extra File Storage",
            "parent_product_ids": [parent["id"]],
            **fields,
        },
    )
    problem(response, 422, "per_gb_assignable")
    assert product_count(client) == before


def test_per_gb_addon_is_not_assignable_by_default(client: TestClient, account: dict[str, Any]) -> None:
    parent = create_product(client, account, name="Business Premium")
    storage = create_product(
        client, account, kind="addon", name="Storage", unit="GB", list_price="0.20", parent_product_ids=[parent["id"]]
    )
    assert storage["assignable_to_users"] is False
    assert storage["list_price"] == "0.20"
    # Making it assignable later is refused too, and leaves it as it was.
    problem(
        client.patch(f"/api/v1/products/{storage['id']}", json={"assignable_to_users": True}), 422, "per_gb_assignable"
    )
    assert get_json(client, f"/api/v1/products/{storage['id']}")["assignable_to_users"] is False


def test_changing_an_assignable_product_to_per_gb_is_refused(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="Seats")
    problem(client.patch(f"/api/v1/products/{created['id']}", json={"unit": "GB"}), 422, "per_gb_assignable")
    assert get_json(client, f"/api/v1/products/{created['id']}")["unit"] == "license"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"list_price": "-1.00"}, "list_price"),
        ({"cost_price": -5}, "cost_price"),
        ({"list_price": "12.345678"}, "list_price"),
        ({"list_price": "lots"}, "list_price"),
        ({"min_quantity": -1}, "min_quantity"),
        ({"term": "P2Y"}, "term"),
        ({"kind": "hardware"}, "kind"),
        ({"billing_frequency": "weekly"}, "billing_frequency"),
        ({"offer_id": "has spaces"}, "offer_id"),
        ({"sku_id": "not-a-guid"}, "sku_id"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_field_values_are_422_validation_failed(
    client: TestClient, account: dict[str, Any], fields: dict[str, Any], named: str
) -> None:
    payload = {"provider_account_id": account["id"], "kind": "license", "name": "Bad", **fields}
    body = problem(client.post("/api/v1/products", json=payload), 422, "validation_failed")
    assert named in body["detail"]
    assert any(named in e["field"] for e in body["errors"])
    assert product_count(client) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"min_quantity": 10, "max_quantity": 5},
        {"term": "P1M", "billing_frequency": "annual"},
        {"reduction_behavior": "allowed", "reduction_window_days": 7},
    ],
)
def test_inconsistent_fields_are_422(client: TestClient, account: dict[str, Any], fields: dict[str, Any]) -> None:
    payload = {"provider_account_id": account["id"], "kind": "license", "name": "Bad", **fields}
    problem(client.post("/api/v1/products", json=payload), 422, "validation_failed")
    assert product_count(client) == 0


def test_missing_required_field_is_422_naming_it(client: TestClient, account: dict[str, Any]) -> None:
    body = problem(
        client.post("/api/v1/products", json={"provider_account_id": account["id"], "kind": "license"}),
        422,
        "validation_failed",
    )
    assert "name" in body["detail"]
    assert product_count(client) == 0


@pytest.mark.parametrize("content", [b'{"name": "E3", ', b"not json", b"[1, 2]", b""])
def test_malformed_json_body_is_422_validation_failed(client: TestClient, content: bytes) -> None:
    response = client.post("/api/v1/products", content=content, headers={"content-type": "application/json"})
    problem(response, 422, "validation_failed")
    assert product_count(client) == 0


def test_malformed_json_on_patch_is_422(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="E3")
    response = client.patch(
        f"/api/v1/products/{created['id']}", content=b"{", headers={"content-type": "application/json"}
    )
    problem(response, 422, "validation_failed")
    assert get_json(client, f"/api/v1/products/{created['id']}") == created


# --- products: not found -------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [str(uuid.uuid4()), "P-99999", "not-an-id"])
def test_unknown_product_is_404_everywhere(client: TestClient, ref: str) -> None:
    problem(client.get(f"/api/v1/products/{ref}"), 404, "not_found")
    problem(client.patch(f"/api/v1/products/{ref}", json={"name": "X"}), 404, "not_found")
    problem(client.delete(f"/api/v1/products/{ref}"), 404, "not_found")
    problem(client.post(f"/api/v1/products/{ref}/retire"), 404, "not_found")
    problem(client.post(f"/api/v1/products/{ref}/reactivate"), 404, "not_found")
    problem(client.post(f"/api/v1/products/{ref}/parents", json={"parent_product_id": ref}), 404, "not_found")


def test_unknown_parent_is_404_and_creates_nothing(client: TestClient, account: dict[str, Any]) -> None:
    missing = str(uuid.uuid4())
    response = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "addon", "name": "Orphan", "parent_product_ids": [missing]},
    )
    body = problem(response, 404, "not_found")
    assert missing in body["detail"]
    assert product_count(client) == 0

    addon = create_product(client, account, kind="addon", name="Addon")
    problem(
        client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": missing}), 404, "not_found"
    )
    assert get_json(client, f"/api/v1/products/{addon['id']}")["parent_product_ids"] == []


# --- possible parents ----------------------------------------------------------------------------------


def test_addon_needs_a_parent_to_be_sellable_and_parents_can_change(
    client: TestClient, account: dict[str, Any]
) -> None:
    e5 = create_product(client, account, name="Office 365 E5")
    e3 = create_product(client, account, name="Microsoft 365 E3")
    addon = create_product(client, account, kind="addon", name="Audio Conferencing")
    assert addon["sellable"] is False
    assert addon["parent_product_ids"] == []

    response = client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": e5["id"]})
    assert response.status_code == 200, response.text
    added = response.json()
    assert added["parent_product_ids"] == [e5["id"]]
    assert added["sellable"] is True
    assert added == get_json(client, f"/api/v1/products/{addon['id']}")

    # Adding the same parent again is harmless; a parent may be named by its product code.
    again = client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": e5["id"]})
    assert again.json()["parent_product_ids"] == [e5["id"]]
    by_code = client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": e3["product_code"]})
    assert sorted(by_code.json()["parent_product_ids"]) == sorted([e5["id"], e3["id"]])

    response = client.delete(f"/api/v1/products/{addon['id']}/parents/{e5['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["parent_product_ids"] == [e3["id"]]
    assert response.json() == get_json(client, f"/api/v1/products/{addon['id']}")

    removed = client.delete(f"/api/v1/products/{addon['id']}/parents/{e3['id']}").json()
    assert removed["parent_product_ids"] == []
    assert removed["sellable"] is False


def test_removing_a_parent_that_is_not_one_is_404(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, _ = voice_chain(client, account)
    problem(client.delete(f"/api/v1/products/{calling['id']}/parents/{e5['id']}"), 404, "not_found")
    assert get_json(client, f"/api/v1/products/{calling['id']}")["parent_product_ids"] == [phone["id"]]


def test_addons_of_addons_are_first_class(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    assert calling["parent_product_ids"] == [phone["id"]]
    assert calling["sellable"] is True
    children = all_items(client, "/api/v1/products", parent_product_id=e5["id"])
    assert sorted(p["id"] for p in children) == sorted([phone["id"], audio["id"]])


def test_a_cycle_is_refused_and_the_graph_is_unchanged(client: TestClient, account: dict[str, Any]) -> None:
    _, phone, calling, _ = voice_chain(client, account)
    response = client.post(f"/api/v1/products/{phone['id']}/parents", json={"parent_product_id": calling["id"]})
    body = problem(response, 409, "catalog_cycle")
    assert "Phone System" in body["detail"]
    assert "Domestic Calling Plan" in body["detail"]
    assert set(body["cycle"]) == {phone["id"], calling["id"]}
    assert get_json(client, f"/api/v1/products/{phone['id']}") == phone


def test_a_product_cannot_be_its_own_parent(client: TestClient, account: dict[str, Any]) -> None:
    _, phone, _, _ = voice_chain(client, account)
    response = client.post(f"/api/v1/products/{phone['id']}/parents", json={"parent_product_id": phone["id"]})
    problem(response, 409, "catalog_cycle")
    assert get_json(client, f"/api/v1/products/{phone['id']}") == phone


def test_a_license_has_no_parents(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    e3 = create_product(client, account, name="E3")
    problem(
        client.post(f"/api/v1/products/{e3['id']}/parents", json={"parent_product_id": e5["id"]}),
        422,
        "parent_not_allowed",
    )
    response = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": "X", "parent_product_ids": [e5["id"]]},
    )
    problem(response, 422, "parent_not_allowed")
    assert product_count(client) == 2


def test_a_service_cannot_be_a_parent(client: TestClient, account: dict[str, Any]) -> None:
    service = create_product(client, account, kind="service", name="Managed backup")
    addon = create_product(client, account, kind="addon", name="Addon")
    problem(
        client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": service["id"]}),
        422,
        "parent_not_allowed",
    )


def test_a_parent_from_another_provider_account_is_refused(client: TestClient, account: dict[str, Any]) -> None:
    other_account = create_account(client, name="Distributor", kind="manual")
    foreign = create_product(client, other_account, name="E5 via distributor")
    addon = create_product(client, account, kind="addon", name="Addon")
    problem(
        client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": foreign["id"]}),
        422,
        "parent_not_allowed",
    )
    assert get_json(client, f"/api/v1/products/{addon['id']}")["parent_product_ids"] == []


# --- retire, reactivate, delete ------------------------------------------------------------------------


def test_retire_stops_selling_and_reactivate_restores(client: TestClient, account: dict[str, Any]) -> None:
    created = create_product(client, account, name="E3")
    response = client.post(f"/api/v1/products/{created['id']}/retire")
    assert response.status_code == 200, response.text
    retired = response.json()
    assert retired["status"] == "retired"
    assert retired["sellable"] is False
    assert retired["retired_at"] is not None
    assert retired == get_json(client, f"/api/v1/products/{created['id']}")

    reactivated = client.post(f"/api/v1/products/{created['id']}/reactivate").json()
    assert reactivated["status"] == "active"
    assert reactivated["sellable"] is True
    assert reactivated["retired_at"] is None
    assert reactivated == get_json(client, f"/api/v1/products/{created['id']}")


def test_a_retired_product_cannot_become_a_parent(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    addon = create_product(client, account, kind="addon", name="Addon")
    client.post(f"/api/v1/products/{e5['id']}/retire")
    problem(
        client.post(f"/api/v1/products/{addon['id']}/parents", json={"parent_product_id": e5["id"]}),
        409,
        "product_retired",
    )


def test_delete_of_a_product_used_as_a_parent_is_refused(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, _, _ = voice_chain(client, account)
    body = problem(client.delete(f"/api/v1/products/{e5['id']}"), 409, "product_in_use")
    assert "retire" in body["detail"]
    assert product_count(client) == 4
    assert get_json(client, f"/api/v1/products/{e5['id']}") == e5
    assert get_json(client, f"/api/v1/products/{phone['id']}")["parent_product_ids"] == [e5["id"]]


def test_delete_of_an_unused_product_answers_204_then_404(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, _ = voice_chain(client, account)
    response = client.delete(f"/api/v1/products/{calling['id']}")
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get(f"/api/v1/products/{calling['id']}"), 404, "not_found")
    problem(client.delete(f"/api/v1/products/{calling['id']}"), 404, "not_found")
    assert product_count(client) == 3
    # Its parent is no longer used by it.
    assert all_items(client, "/api/v1/products", parent_product_id=phone["id"]) == []
    assert get_json(client, f"/api/v1/products/{e5['id']}")["status"] == "active"


# --- listing -------------------------------------------------------------------------------------------


def test_list_walks_every_product_once_with_the_cursor(client: TestClient, account: dict[str, Any]) -> None:
    created = [create_product(client, account, name=f"Product {i}")["id"] for i in range(7)]
    seen: list[str] = []
    pages = []
    cursor = None
    while True:
        response = client.get("/api/v1/products", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(len(page["items"]))
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert pages == [3, 3, 1]
    assert seen == created  # oldest first, each exactly once


def test_list_with_exactly_limit_items_has_no_next_cursor(client: TestClient, account: dict[str, Any]) -> None:
    for i in range(3):
        create_product(client, account, name=f"P{i}")
    page = client.get("/api/v1/products", params={"limit": 3}).json()
    assert len(page["items"]) == 3
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "validation_failed"),
        ({"limit": 501}, "validation_failed"),
        ({"limit": "many"}, "validation_failed"),
        ({"cursor": "%%%"}, "invalid_cursor"),
        ({"kind": "hardware"}, "validation_failed"),
        ({"status": "gone"}, "validation_failed"),
        ({"provider_account_id": "nope"}, "validation_failed"),
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, params: dict[str, Any], code: str) -> None:
    response = client.get("/api/v1/products", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_list_filters(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    e3 = create_product(client, account, name="Microsoft 365 E3", provisioning_id="SPE_E3")
    service = create_product(client, account, kind="service", name="Onboarding", provisioning_id="ONBOARD")
    distributor = create_account(client, name="Distributor", kind="manual")
    foreign = create_product(client, distributor, name="Microsoft 365 E3 (distributor)", provisioning_id="SPE_E3")
    client.post(f"/api/v1/products/{audio['id']}/retire")

    def ids(**params: Any) -> set[str]:
        return {p["id"] for p in all_items(client, "/api/v1/products", **params)}

    assert ids(kind="addon") == {phone["id"], calling["id"], audio["id"]}
    assert ids(kind="service") == {service["id"]}
    assert ids(status="retired") == {audio["id"]}
    assert audio["id"] not in ids(status="active")
    assert ids(provider_account_id=distributor["id"]) == {foreign["id"]}
    assert len(ids(provider_account_id=account["id"])) == 6
    assert ids(provisioning_id="SPE_E3") == {e3["id"], foreign["id"]}
    assert ids(provisioning_id="SPE_E3", provider_account_id=account["id"]) == {e3["id"]}
    assert ids(q="microsoft 365") == {e3["id"], foreign["id"]}
    assert ids(q="CALLING") == {calling["id"]}
    assert ids(q="no such name") == set()
    assert ids(kind="addon", status="active") == {phone["id"], calling["id"]}
    assert ids(product_code=e5["product_code"]) == {e5["id"]}
    assert ids(provider_account_id=str(uuid.uuid4())) == set()


# --- bundles -------------------------------------------------------------------------------------------


def voice_bundle_payload(
    e5: dict[str, Any], phone: dict[str, Any], calling: dict[str, Any], audio: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": "E5 Voice",
        "description": "E5 with voice.",
        "items": [
            {"product_id": e5["id"]},
            {"product_id": audio["id"], "parent_item": 0},
            {"product_id": phone["id"], "parent_item": 0},
            {"product_id": calling["id"], "parent_item": 2, "quantity_multiplier": 2},
        ],
    }


def test_create_bundle_answers_as_get_shows_it(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    response = client.post("/api/v1/bundles", json=voice_bundle_payload(e5, phone, calling, audio))
    assert response.status_code == 201, response.text
    bundle = response.json()
    assert bundle == get_json(client, f"/api/v1/bundles/{bundle['id']}")
    assert bundle["status"] == "active"
    assert bundle["sellable"] is True
    assert [i["product_id"] for i in bundle["items"]] == [e5["id"], audio["id"], phone["id"], calling["id"]]
    assert [i["parent_item"] for i in bundle["items"]] == [None, 0, 0, 2]
    assert bundle["items"][3]["quantity_multiplier"] == 2
    assert bundle["items"][0]["product_code"] == e5["product_code"]
    assert bundle["items"][0]["unit_price"] == "38.00"
    # 38 + 4 + 8 + 2 * 12
    assert bundle["list_price"] == "74.00"
    assert [b["id"] for b in all_items(client, "/api/v1/bundles")] == [bundle["id"]]


def test_a_non_billable_item_is_not_in_the_bundle_price(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    payload = voice_bundle_payload(e5, phone, calling, audio)
    payload["items"][1]["billable"] = False
    payload["items"][2]["unit_price"] = "6.5"
    bundle = client.post("/api/v1/bundles", json=payload).json()
    assert bundle["items"][2]["unit_price"] == "6.50"
    assert bundle["list_price"] == "68.50"  # 38 + 6.50 + 2 * 12


@pytest.mark.parametrize(
    "items_of",
    [
        # Domestic Calling Plan under Office 365 E5: its possible parent is Phone System.
        lambda e5, phone, calling, audio: [
            {"product_id": e5["id"]},
            {"product_id": phone["id"], "parent_item": 0},
            {"product_id": calling["id"], "parent_item": 0},
        ],
        # An add-on that hangs under nothing.
        lambda e5, phone, calling, audio: [{"product_id": e5["id"]}, {"product_id": audio["id"]}],
        # A parent item that comes later, or does not exist.
        lambda e5, phone, calling, audio: [{"product_id": e5["id"]}, {"product_id": audio["id"], "parent_item": 5}],
        # A license hanging under another item.
        lambda e5, phone, calling, audio: [{"product_id": e5["id"]}, {"product_id": e5["id"], "parent_item": 0}],
        # No license at all.
        lambda e5, phone, calling, audio: [{"product_id": phone["id"]}],
        # Nothing.
        lambda e5, phone, calling, audio: [],
    ],
)
def test_invalid_bundle_is_refused_and_creates_nothing(
    client: TestClient, account: dict[str, Any], items_of: Any
) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    response = client.post("/api/v1/bundles", json={"name": "Broken", "items": items_of(e5, phone, calling, audio)})
    problem(response, 422, "invalid_bundle")
    assert all_items(client, "/api/v1/bundles") == []


def test_invalid_bundle_names_the_wrong_item(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, _ = voice_chain(client, account)
    items = [
        {"product_id": e5["id"]},
        {"product_id": phone["id"], "parent_item": 0},
        {"product_id": calling["id"], "parent_item": 0},
    ]
    body = problem(client.post("/api/v1/bundles", json={"name": "Broken", "items": items}), 422, "invalid_bundle")
    assert "Item 2" in body["detail"]
    assert "Domestic Calling Plan" in body["detail"]


def test_bundle_with_unknown_product_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/bundles", json={"name": "B", "items": [{"product_id": str(uuid.uuid4())}]})
    problem(response, 404, "not_found")
    assert all_items(client, "/api/v1/bundles") == []


def test_bundle_with_bad_multiplier_is_422(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    response = client.post(
        "/api/v1/bundles", json={"name": "B", "items": [{"product_id": e5["id"], "quantity_multiplier": 0}]}
    )
    problem(response, 422, "validation_failed")


def test_duplicate_bundle_name_is_refused(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    assert client.post("/api/v1/bundles", json={"name": "B", "items": [{"product_id": e5["id"]}]}).status_code == 201
    problem(
        client.post("/api/v1/bundles", json={"name": "B", "items": [{"product_id": e5["id"]}]}), 409, "duplicate_name"
    )
    assert len(all_items(client, "/api/v1/bundles")) == 1


def test_patch_bundle_answers_as_get_and_checks_the_items(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    bundle = client.post("/api/v1/bundles", json=voice_bundle_payload(e5, phone, calling, audio)).json()

    response = client.patch(
        f"/api/v1/bundles/{bundle['id']}",
        json={
            "name": "E5 Conferencing",
            "items": [{"product_id": e5["id"]}, {"product_id": audio["id"], "parent_item": 0}],
        },
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched == get_json(client, f"/api/v1/bundles/{bundle['id']}")
    assert patched["name"] == "E5 Conferencing"
    assert patched["description"] == "E5 with voice."
    assert [i["product_id"] for i in patched["items"]] == [e5["id"], audio["id"]]
    assert patched["list_price"] == "42.00"

    wrong = [{"product_id": e5["id"]}, {"product_id": calling["id"], "parent_item": 0}]
    problem(client.patch(f"/api/v1/bundles/{bundle['id']}", json={"items": wrong}), 422, "invalid_bundle")
    assert get_json(client, f"/api/v1/bundles/{bundle['id']}") == patched


def test_retire_bundle(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    bundle = client.post("/api/v1/bundles", json=voice_bundle_payload(e5, phone, calling, audio)).json()
    response = client.post(f"/api/v1/bundles/{bundle['id']}/retire")
    assert response.status_code == 200, response.text
    retired = response.json()
    assert retired["status"] == "retired"
    assert retired["sellable"] is False
    assert retired == get_json(client, f"/api/v1/bundles/{bundle['id']}")
    assert [b["id"] for b in all_items(client, "/api/v1/bundles", status="retired")] == [bundle["id"]]
    assert all_items(client, "/api/v1/bundles", status="active") == []
    reactivated = client.post(f"/api/v1/bundles/{bundle['id']}/reactivate").json()
    assert reactivated["status"] == "active"
    assert reactivated["sellable"] is True


def test_a_bundle_with_a_retired_product_is_not_sellable(client: TestClient, account: dict[str, Any]) -> None:
    e5, phone, calling, audio = voice_chain(client, account)
    bundle = client.post("/api/v1/bundles", json=voice_bundle_payload(e5, phone, calling, audio)).json()
    client.post(f"/api/v1/products/{audio['id']}/retire")
    assert get_json(client, f"/api/v1/bundles/{bundle['id']}")["sellable"] is False
    # A retired product cannot be put in a new bundle, and a product in a bundle cannot be deleted.
    response = client.post(
        "/api/v1/bundles",
        json={"name": "Old", "items": [{"product_id": e5["id"]}, {"product_id": audio["id"], "parent_item": 0}]},
    )
    problem(response, 409, "product_retired")
    body = problem(client.delete(f"/api/v1/products/{audio['id']}"), 409, "product_in_use")
    assert "E5 Voice" in body["detail"]


def test_unknown_bundle_is_404(client: TestClient) -> None:
    ref = str(uuid.uuid4())
    problem(client.get(f"/api/v1/bundles/{ref}"), 404, "not_found")
    problem(client.patch(f"/api/v1/bundles/{ref}", json={"name": "X"}), 404, "not_found")
    problem(client.post(f"/api/v1/bundles/{ref}/retire"), 404, "not_found")


def test_bundle_pagination(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    made = [
        client.post("/api/v1/bundles", json={"name": f"B{i}", "items": [{"product_id": e5["id"]}]}).json()["id"]
        for i in range(5)
    ]
    first = client.get("/api/v1/bundles", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    assert [b["id"] for b in all_items(client, "/api/v1/bundles", limit=2)] == made


# --- bad input is never a 500 --------------------------------------------------------------------------


def test_search_is_literal_text(client: TestClient, account: dict[str, Any]) -> None:
    percent = create_product(client, account, name="Storage 100%")
    create_product(client, account, name="Storage 1000")
    underscore = create_product(client, account, name="E3_ANNUAL")
    create_product(client, account, name="E3 ANNUAL")

    def ids(q: str) -> list[str]:
        return [p["id"] for p in all_items(client, "/api/v1/products", q=q)]

    assert ids("100%") == [percent["id"]]
    assert ids("_") == [underscore["id"]]
    assert ids("%") == [percent["id"]]


def test_names_longer_than_their_column_are_422(client: TestClient, account: dict[str, Any]) -> None:
    e5 = create_product(client, account, name="E5")
    long_name = "N" * 201
    body = problem(
        client.post("/api/v1/provider-accounts", json={"name": long_name, "kind": "manual"}), 422, "validation_failed"
    )
    assert "name" in body["detail"]
    response = client.post("/api/v1/bundles", json={"name": long_name, "items": [{"product_id": e5["id"]}]})
    problem(response, 422, "validation_failed")
    problem(
        client.patch(f"/api/v1/provider-accounts/{account['id']}", json={"name": long_name}), 422, "validation_failed"
    )
    assert [a["name"] for a in all_items(client, "/api/v1/provider-accounts")] == [account["name"]]
    assert all_items(client, "/api/v1/bundles") == []
    # The longest names that fit are kept whole.
    assert create_account(client, name="A" * 200, kind="manual")["name"] == "A" * 200
    assert create_product(client, account, name="P" * 300)["name"] == "P" * 300


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/products/P-0%0001"),
        ("GET", "/api/v1/products?q=a%00b"),
        ("GET", "/api/v1/products?provisioning_id=a%00b"),
        ("GET", "/api/v1/bundles/a%00b"),
        ("GET", "/api/v1/provider-accounts/a%00b"),
        ("DELETE", "/api/v1/products/a%00b"),
    ],
)
def test_a_nul_character_in_the_url_is_never_a_500(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code in {200, 404, 422}, response.text
    if response.status_code != 200:
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_nul_character_in_a_name_is_stored_whole_or_refused(client: TestClient, account: dict[str, Any]) -> None:
    """SQLite keeps it; PostgreSQL text cannot hold it, which is the client's 422, never a 500."""
    response = client.post(
        "/api/v1/products", json={"provider_account_id": account["id"], "kind": "license", "name": "E3\x00"}
    )
    if response.status_code == 201:
        assert get_json(client, f"/api/v1/products/{response.json()['id']}")["name"] == "E3\x00"
    else:
        problem(response, 422, "validation_failed")
        assert product_count(client) == 0
