from fastapi.testclient import TestClient


def test_products_listing_needs_a_key_and_lists_what_was_created(app_client: TestClient, api_key: str) -> None:
    assert app_client.get("/api/v1/products").status_code == 401
    headers = {"Authorization": f"Bearer {api_key}"}
    account = app_client.post(
        "/api/v1/provider-accounts",
        json={"name": "PC", "kind": "partner_center", "settings": {"base_url": "http://127.0.0.1:8100"}},
        headers=headers,
    )
    assert account.status_code == 201, account.text
    created = app_client.post(
        "/api/v1/products",
        json={
            "provider_account_id": account.json()["id"],
            "kind": "license",
            "name": "Microsoft 365 E3",
            "provisioning_id": "SPE_E3",
            "list_price": "36.00",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    listed = app_client.get("/api/v1/products", headers=headers).json()
    assert [p["name"] for p in listed["items"]] == ["Microsoft 365 E3"]
    assert listed["items"][0]["list_price"] == "36.00"
