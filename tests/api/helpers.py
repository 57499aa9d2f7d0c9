"""Small helpers for the HTTP tests: create through the API, read problems, walk pages."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

SIMULATOR_SETTINGS = {"base_url": "http://127.0.0.1:8100"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with this status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def create_account(
    client: TestClient,
    *,
    name: str = "Partner Center",
    kind: str = "partner_center",
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if settings is None:
        settings = SIMULATOR_SETTINGS if kind == "partner_center" else {}
    response = client.post("/api/v1/provider-accounts", json={"name": name, "kind": kind, "settings": settings})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def create_product(client: TestClient, account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload = {"provider_account_id": account["id"], "kind": "license", **fields}
    response = client.post("/api/v1/products", json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def all_items(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def get_json(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
