"""SPEC §18: every answer (API, console, portal, static files, errors) carries the security headers; HTML has a
Content-Security-Policy without inline script; portal pages and invoice documents are not stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import seatflow
from seatflow.config import Settings
from seatflow.web.app import create_app
from tests.web.invoices import FEB_28, JAN_1, invoice_and_credit

TEMPLATES = sorted(Path(seatflow.__file__).parent.glob("*/templates/*.html"))


def assert_protected(response: httpx.Response) -> None:
    """The headers every answer has, whatever it is."""
    assert response.headers["x-content-type-options"] == "nosniff", response.headers
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def script_sources(response: httpx.Response) -> str:
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";") if part.strip()
    )
    return policy.get("script-src", policy.get("default-src", ""))


def assert_html_policy(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert_protected(response)
    scripts = script_sources(response)
    assert scripts, "an HTML answer's policy says where scripts may come from"
    assert "'unsafe-inline'" not in scripts
    assert "*" not in scripts.split()
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy, "no inline style either: the templates have none"


def test_an_api_answer(client: TestClient) -> None:
    response = client.get("/api/v1/customers")

    assert response.status_code == 200
    assert_protected(response)


@pytest.mark.parametrize(
    ("path", "status"), [("/api/v1/customers/nobody", 404), ("/api/v1/nothing-here", 404), ("/nothing-here", 404)]
)
def test_an_error_answer(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)

    assert response.status_code == status
    assert_protected(response)


def test_a_401_without_a_key(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/customers")

    assert response.status_code == 401
    assert_protected(response)


@pytest.fixture
def failing_client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The app with a route that fails as a bug would: the 500 comes from Starlette's outermost layer."""
    app = create_app(settings, engine=engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_even_the_500_of_a_bug(failing_client: TestClient) -> None:
    response = failing_client.get("/boom")

    assert response.status_code == 500
    assert_protected(response)


@pytest.mark.parametrize("path", ["/console/login", "/portal/login", "/portal/password-reset"])
def test_login_pages_have_a_policy_without_inline_script_and_are_not_stored(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)

    assert response.status_code == 200
    assert_html_policy(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/console/customers", "/portal/"])
def test_a_page_that_needs_a_login_redirects_with_the_headers(app_client: TestClient, path: str) -> None:
    response = app_client.get(path, follow_redirects=False)

    assert response.status_code in (302, 303, 307)
    assert_protected(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/portal/nothing-here", "/console/nothing-here"])
def test_an_html_error_page(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)

    assert response.status_code == 404
    assert_html_policy(response)


@pytest.mark.parametrize("path", ["/portal/static/portal.css", "/console/static/console.css"])
def test_static_files_are_protected_and_may_be_cached(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert_protected(response)
    assert "no-store" not in response.headers.get("cache-control", "")


def test_invoice_documents_are_not_stored(client: TestClient, session: Session) -> None:
    january, credit = invoice_and_credit(session)

    pdf = client.get(f"/api/v1/invoices/{january.id}.pdf")
    csv = client.get("/api/v1/invoices/export.csv", params={"date_from": str(JAN_1), "date_to": str(FEB_28)})
    json = client.get(f"/api/v1/invoices/{january.id}")
    credit_pdf = client.get(f"/api/v1/credit-notes/{credit.id}.pdf")
    credit_csv = client.get("/api/v1/credit-notes/export.csv", params={"date_from": str(JAN_1), "date_to": str(FEB_28)})

    documents = ((pdf, "application/pdf"), (csv, "text/csv"), (credit_pdf, "application/pdf"), (credit_csv, "text/csv"))
    for document, media in documents:
        assert document.status_code == 200, document.text
        assert document.headers["content-type"].startswith(media)
        assert_protected(document)
        assert document.headers["cache-control"] == "no-store"
    assert_protected(json)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_templates_have_no_inline_script_handler_or_style(template: Path) -> None:
    """What the policy would block: the pages must not need it."""
    html = template.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>: move it to a static file"
    assert not re.search(r"\son[a-z]+\s*=", html), "an on… handler: attach it from a static script"
    assert not re.search(r"\sstyle\s*=", html), "a style attribute: use a class in the stylesheet"
    assert "javascript:" not in html
