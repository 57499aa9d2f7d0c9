"""An error's extra fields never replace a problem's own members (and never turn it into a 500)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from seatflow.errors import ProviderError, SeatflowError, ValidationFailed
from seatflow.web import errors


def _answer_to(error: SeatflowError) -> dict[str, object]:
    app = FastAPI()
    errors.install(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/fail")
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == response.status_code
    return body


def test_a_providers_status_and_code_are_kept_beside_the_problems_own() -> None:
    body = _answer_to(ProviderError("Partner Center HTTP 503: busy", retryable=True, status=503, code="provider_error"))

    assert (body["status"], body["code"], body["provider_status"]) == (502, "provider_error", 503)
    assert body["detail"] == "Partner Center HTTP 503: busy"


def test_any_other_errors_clashing_field_is_renamed_and_the_rest_kept() -> None:
    body = _answer_to(ValidationFailed("Line 3 is wrong.", title="a title", detail="more", line=3))

    assert (body["status"], body["code"], body["title"], body["detail"]) == (
        422,
        "validation_failed",
        "Validation failed",
        "Line 3 is wrong.",
    )
    assert (body["error_title"], body["error_detail"], body["line"]) == ("a title", "more", 3)
