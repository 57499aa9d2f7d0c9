"""What a client generator and an HTTP client read from the API besides bodies: the OpenAPI document declares the
problem+json errors, and a 405 says which methods the path takes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OPERATIONS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def api_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in OPERATIONS
    ]


def test_the_document_has_a_problem_schema(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["Problem"]

    assert set(schema["required"]) >= {"type", "title", "status", "detail", "code"}
    assert schema["properties"]["status"]["type"] == "integer"
    assert "errors" in schema["properties"], "validation_failed names every field refused"


def test_every_api_operation_declares_its_errors_as_problem_json(document: dict[str, Any]) -> None:
    operations = api_operations(document)
    assert len(operations) > 40, "the whole API is in the document"

    for method, path, operation in operations:
        for status in ("401", "404", "409", "422"):
            declared = operation["responses"].get(status)
            assert declared is not None, f"{method.upper()} {path} does not declare {status}"
            assert declared["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (method, path)
            assert declared["description"]


def test_routes_that_call_the_provider_declare_502(document: dict[str, Any]) -> None:
    report = document["paths"]["/api/v1/reconciliations"]["post"]["responses"]

    assert report["502"]["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_fastapis_own_validation_error_shape_is_not_declared(document: dict[str, Any]) -> None:
    """The API never answers FastAPI's default ``{"detail": [...]}``: a generator must not be told it does."""
    for method, path, operation in api_operations(document):
        assert "application/json" not in operation["responses"]["422"].get("content", {}), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/customers/00000000-0000-0000-0000-000000000000", {"GET", "PATCH"}),
        ("PUT", "/api/v1/products", {"GET", "POST"}),
        ("POST", "/api/v1/invoices/export.csv", {"GET"}),
    ],
)
def test_a_405_names_every_method_the_path_takes(client: TestClient, method: str, path: str, allowed: set[str]) -> None:
    response = client.request(method, path)

    problem(response, 405, "method_not_allowed")
    named = {m.strip() for m in response.headers["allow"].split(",")}
    assert named - {"HEAD"} == allowed


def test_a_405_on_a_static_file_says_get_and_head(app_client: TestClient) -> None:
    response = app_client.post("/portal/static/portal.css")

    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}
