"""Customer tenants: create, get, list; request ids echoed; unknown customers (research §3)."""

from __future__ import annotations

import httpx

from tests.simulator.helpers import CUSTOMER, fault_of


def test_create_then_get_and_list_a_customer(pc: httpx.Client) -> None:
    created = pc.post(
        "/v1/customers",
        json={
            "CompanyProfile": {
                "TenantId": "birch-dental-tenant",
                "Domain": "birch.onmicrosoft.com",
                "CompanyName": "Birch Dental",
            }
        },
    )
    assert created.status_code == 201
    customer = created.json()
    assert customer["id"] == "birch-dental-tenant"
    assert customer["companyProfile"]["companyName"] == "Birch Dental"
    assert customer["companyProfile"]["tenantId"] == "birch-dental-tenant"
    assert customer["relationshipToPartner"] == "reseller"
    assert customer["attributes"]["objectType"] == "Customer"
    assert customer["links"]["self"]["uri"] == "/customers/birch-dental-tenant"

    fetched = pc.get("/v1/customers/birch-dental-tenant")
    assert fetched.status_code == 200
    assert fetched.json()["companyProfile"]["domain"] == "birch.onmicrosoft.com"

    listed = pc.get("/v1/customers", params={"size": 10}).json()
    assert listed["attributes"] == {"objectType": "Collection"}
    assert listed["totalCount"] == 2
    assert {c["id"] for c in listed["items"]} == {CUSTOMER, "birch-dental-tenant"}


def test_a_customer_without_tenant_id_gets_a_new_guid(pc: httpx.Client) -> None:
    customer = pc.post("/v1/customers", json={"companyProfile": {"companyName": "Oak Farm"}}).json()
    assert len(customer["id"]) == 36
    assert pc.get(f"/v1/customers/{customer['id']}").status_code == 200


def test_a_customer_needs_a_company_name(pc: httpx.Client) -> None:
    assert fault_of(pc.post("/v1/customers", json={"companyProfile": {}})) == (400, "800002")


def test_an_existing_tenant_cannot_be_created_twice(pc: httpx.Client) -> None:
    body = {"id": CUSTOMER, "companyProfile": {"companyName": "Pine Cone Vet"}}
    assert fault_of(pc.post("/v1/customers", json=body)) == (409, "1001")


def test_unknown_customer_is_1000_on_every_customer_path(pc: httpx.Client) -> None:
    for path in ("", "/orders", "/subscriptions", "/subscriptions/x", "/orders/x"):
        response = pc.get(f"/v1/customers/nobody{path}")
        assert fault_of(response) == (404, "1000")
        assert response.json()["description"] == "Customer nobody not found."
        assert response.json()["source"] == "PartnerFD"


def test_request_ids_are_echoed_or_generated(pc: httpx.Client) -> None:
    echoed = pc.get(f"/v1/customers/{CUSTOMER}", headers={"MS-RequestId": "r-1", "MS-CorrelationId": "c-1"})
    assert (echoed.headers["MS-RequestId"], echoed.headers["MS-CorrelationId"]) == ("r-1", "c-1")
    generated = pc.get(f"/v1/customers/{CUSTOMER}")
    assert len(generated.headers["MS-RequestId"]) == 36
    assert len(generated.headers["MS-CorrelationId"]) == 36


def test_no_authorization_header_is_accepted(pc: httpx.Client) -> None:
    with httpx.Client(base_url=str(pc.base_url)) as anonymous:
        assert anonymous.get(f"/v1/customers/{CUSTOMER}").status_code == 200


def test_unknown_path_and_bad_json(pc: httpx.Client) -> None:
    assert fault_of(pc.get("/v1/nothing-here")) == (404, "1000")
    bad = pc.post(
        f"/v1/customers/{CUSTOMER}/orders", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert fault_of(bad) == (400, "800002")
