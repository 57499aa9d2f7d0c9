"""Operator authentication by API key (SPEC §10): every /api/v1 resource needs a valid, unrevoked key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.auth.service import create_api_key, revoke_api_key
from tests.api.helpers import problem
from tests.factories import FACTORY_TODAY, noon

PROTECTED = [
    ("GET", "/api/v1/products"),
    ("POST", "/api/v1/products"),
    ("GET", "/api/v1/provider-accounts"),
    ("GET", "/api/v1/bundles"),
    ("POST", "/api/v1/catalog/import"),
    ("GET", "/api/v1/catalog/export"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_without_a_key_every_resource_answers_401_problem(app_client: TestClient, method: str, path: str) -> None:
    response = app_client.request(method, path, json={} if method == "POST" else None)
    body = problem(response, 401, "unauthorized")
    assert "Bearer" in body["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_key_is_refused(app_client: TestClient, api_key: str) -> None:
    for header in (f"Bearer {api_key}x", "Bearer sfk_not-a-key", f"Basic {api_key}", api_key, "Bearer "):
        response = app_client.get("/api/v1/products", headers={"Authorization": header})
        problem(response, 401, "unauthorized")


def test_a_revoked_key_is_refused_and_other_keys_keep_working(app_client: TestClient, session: Session) -> None:
    _, revoked = create_api_key(session, name="leaver")
    _, kept = create_api_key(session, name="stayer")
    session.flush()
    assert app_client.get("/api/v1/products", headers={"Authorization": f"Bearer {revoked}"}).status_code == 200

    revoke_api_key(session, prefix_or_name="leaver", now=noon(FACTORY_TODAY))
    session.flush()

    problem(app_client.get("/api/v1/products", headers={"Authorization": f"Bearer {revoked}"}), 401, "unauthorized")
    assert app_client.get("/api/v1/products", headers={"Authorization": f"Bearer {kept}"}).status_code == 200


def test_a_valid_key_works_and_the_scheme_is_case_insensitive(app_client: TestClient, api_key: str) -> None:
    for header in (f"Bearer {api_key}", f"bearer {api_key}"):
        response = app_client.get("/api/v1/products", headers={"Authorization": header})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_cursor": None}


def test_a_refused_write_creates_nothing(app_client: TestClient, api_key: str) -> None:
    response = app_client.post(
        "/api/v1/provider-accounts",
        json={"name": "Sneaky", "kind": "manual", "settings": {}},
        headers={"Authorization": "Bearer sfk_wrong"},
    )
    problem(response, 401, "unauthorized")
    listed = app_client.get("/api/v1/provider-accounts", headers={"Authorization": f"Bearer {api_key}"})
    assert listed.json()["items"] == []


def test_health_needs_no_key(app_client: TestClient) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}


def test_openapi_document_is_served_without_a_key(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/products", "/api/v1/products/{product_id}", "/api/v1/bundles", "/api/v1/catalog/import"):
        assert path in spec["paths"], path
    # The test clock is not part of a normal server's API.
    assert "/api/v1/test/clock" not in spec["paths"]


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    problem(client.get("/api/v1/no-such-thing"), 404, "not_found")
    problem(client.get("/nowhere"), 404, "not_found")


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    problem(client.put("/api/v1/products"), 405, "method_not_allowed")
