"""A product that has subscriptions is in use: it can be retired, never deleted, and its kind is fixed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

DEMO = Path(__file__).resolve().parents[2] / "src" / "seatflow" / "catalog" / "demo_catalog.yaml"


def test_a_product_with_subscriptions_is_retired_not_deleted(client: TestClient) -> None:
    assert (
        client.post(
            "/api/v1/catalog/import", content=DEMO.read_bytes(), headers={"content-type": "application/yaml"}
        ).status_code
        == 200
    )
    e3 = client.get("/api/v1/products", params={"provisioning_id": "SPE_E3"}).json()["items"][0]
    customer = client.post("/api/v1/customers", json={"name": "Contoso"}).json()
    contract = client.post(
        "/api/v1/contracts", json={"customer_id": customer["id"], "name": "Contoso", "start_date": "2026-11-01"}
    ).json()
    created = client.post(
        "/api/v1/subscriptions", json={"contract_id": contract["id"], "product_id": e3["id"], "quantity": 5}
    )
    assert created.status_code == 201, created.text

    deleted = client.delete(f"/api/v1/products/{e3['id']}")
    assert deleted.status_code == 409
    assert deleted.json()["code"] == "product_in_use"
    assert "1 subscription" in deleted.json()["detail"]
    assert client.patch(f"/api/v1/products/{e3['id']}", json={"kind": "addon"}).json()["code"] == "product_in_use"

    retired = client.post(f"/api/v1/products/{e3['id']}/retire")
    assert retired.json()["status"] == "retired"
    assert client.get(f"/api/v1/subscriptions/{created.json()['id']}").json()["status"] == "active"
    again = client.post(
        "/api/v1/subscriptions", json={"contract_id": contract["id"], "product_id": e3["id"], "quantity": 1}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "product_not_sellable"


def test_a_product_in_a_bundle_keeps_its_kind(client: TestClient) -> None:
    assert (
        client.post(
            "/api/v1/catalog/import", content=DEMO.read_bytes(), headers={"content-type": "application/yaml"}
        ).status_code
        == 200
    )
    e5 = client.get("/api/v1/products", params={"provisioning_id": "ENTERPRISEPREMIUM"}).json()["items"][0]
    answer = client.patch(f"/api/v1/products/{e5['id']}", json={"kind": "addon"})
    assert answer.status_code == 409
    assert answer.json()["code"] == "product_in_use"
    assert "E5 Voice" in answer.json()["detail"]
    assert client.get(f"/api/v1/products/{e5['id']}").json()["kind"] == "license"
