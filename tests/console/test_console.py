"""The operator console over HTTP (issue 7): logging in, roles, CSRF, every page with Pine Cone Vet, and errors
as pages."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.auth.models import ConsoleSession, OperatorRole
from seatflow.billing.models import BillingRun, Invoice, InvoiceStatus
from seatflow.billing.runs import run_billing
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from tests.console.conftest import ADMIN, OPERATOR, PASSWORD, READ_ONLY, Login, csrf_of
from tests.factories import FACTORY_TODAY, noon
from tests.subscriptions.helpers import PineConeVet


def _count(session: Session, model: type[object]) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _pages(vet: PineConeVet, invoice_id: uuid.UUID, run_id: uuid.UUID) -> list[str]:
    memphis = vet.locations["Memphis"]
    return [
        "/console/",
        "/console/catalog",
        "/console/catalog?q=teams&kind=addon",
        "/console/customers",
        "/console/customers?q=pine",
        f"/console/customers/{vet.customer.id}",
        f"/console/subscriptions/{vet.parent_e3.id}",
        f"/console/subscriptions/{memphis.e3.id}",
        "/console/queue",
        "/console/queue?status=provisioned&status=not_applicable",
        "/console/billing",
        f"/console/billing/runs/{run_id}",
        "/console/invoices",
        "/console/invoices?status=issued",
        "/console/invoices?number=INV&customer=pine&issued_from=2026-12-01&issued_to=2026-12-31",
        f"/console/invoices/{invoice_id}",
        "/console/credit-notes",
        "/console/subscriptions",
        f"/console/subscriptions?customer={vet.customer.id}&status=active&started_from=2026-12-01",
        f"/console/customers/{vet.customer.id}/contacts",
        "/console/billing?run_from=2026-12-01&run_to=2026-12-31",
        "/console/reconciliation",
        "/console/reconciliation?log_check=1",
    ]


@pytest.fixture
def billed(session: Session, vet: PineConeVet) -> tuple[uuid.UUID, uuid.UUID]:
    """The first billing run of Pine Cone Vet: (New York's invoice, the run)."""
    summary = run_billing(session, run_date=FACTORY_TODAY, now=noon(FACTORY_TODAY), requested_by="tests")
    assert summary.run_id is not None
    invoice = session.scalars(
        select(Invoice).where(Invoice.contract_id == vet.locations["New York City"].contract.id)
    ).one()
    return invoice.id, summary.run_id


# --- logging in ----------------------------------------------------------------------------------------


def test_pages_need_a_login_and_the_login_leads_to_the_dashboard(app_client: TestClient, login: Login) -> None:
    away = app_client.get("/console/customers", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, "/console/login")
    refused = app_client.post("/console/queue/run-once", data={"csrf_token": "x"})
    assert refused.status_code == 401
    assert "Your session has ended" in refused.text

    client = login(OPERATOR)
    dashboard = client.get("/console/")
    assert dashboard.status_code == 200
    assert "<h1>Dashboard</h1>" in dashboard.text
    assert "Ops" in dashboard.text


def test_a_wrong_password_is_refused_and_repeated_ones_are_throttled(
    app_client: TestClient, operators: dict[str, OperatorRole]
) -> None:
    csrf = csrf_of(app_client.get("/console/login").text)
    answers = [
        app_client.post("/console/login", data={"email": OPERATOR, "password": "wrong", "csrf_token": csrf})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 401, 429]
    assert "do not match" in answers[0].text
    assert "Too many failed attempts" in answers[-1].text
    assert int(answers[-1].headers["Retry-After"]) > 0
    right = app_client.post("/console/login", data={"email": OPERATOR, "password": PASSWORD, "csrf_token": csrf})
    assert right.status_code == 429, "even the right password waits out the throttle"


def test_the_session_cookie_has_its_flags(app_client: TestClient, operators: dict[str, OperatorRole]) -> None:
    def cookie_flags(client: TestClient) -> set[str]:
        csrf = csrf_of(client.get("/console/login").text)
        answer = client.post(
            "/console/login",
            data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        cookie = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("seatflow_console=")
        )
        return {part.strip().lower() for part in cookie.split(";")}

    flags = cookie_flags(app_client)
    assert {"httponly", "samesite=lax", "path=/console"} <= flags
    assert "secure" not in flags
    assert "secure" in cookie_flags(TestClient(app_client.app, base_url="https://testserver"))


def test_logging_out_ends_the_session(session: Session, login: Login) -> None:
    client = login(READ_ONLY)
    page = client.get("/console/")
    out = client.post("/console/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert _count(session, ConsoleSession) == 0
    assert client.get("/console/", follow_redirects=False).status_code == 303


# --- roles ---------------------------------------------------------------------------------------------


def test_every_page_renders_for_a_read_only_operator_without_a_form_that_changes_anything(
    login: Login, vet: PineConeVet, billed: tuple[uuid.UUID, uuid.UUID]
) -> None:
    client = login(READ_ONLY)
    for path in _pages(vet, *billed):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[-2000:])
        assert page.headers["content-type"].startswith("text/html")
        actions = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
        assert actions == ["/console/logout"], (path, actions)
        assert "formaction" not in page.text


def test_an_operator_sees_the_work_forms_but_no_void(
    login: Login, vet: PineConeVet, billed: tuple[uuid.UUID, uuid.UUID]
) -> None:
    client = login(OPERATOR)
    assert 'action="/console/queue/run-once"' in client.get("/console/queue").text
    assert 'formaction="/console/billing/confirm"' in client.get("/console/billing").text
    invoice_id, _ = billed
    for path in ("/console/invoices", f"/console/invoices/{invoice_id}"):
        assert "/void" not in client.get(path).text
    admin = login(ADMIN)
    assert "/void" not in admin.get("/console/invoices").text, "void is on an invoice's own page only"
    assert f'action="/console/invoices/{invoice_id}/void"' in admin.get(f"/console/invoices/{invoice_id}").text


def test_a_read_only_operator_is_refused_every_change(
    session: Session, login: Login, vet: PineConeVet, billed: tuple[uuid.UUID, uuid.UUID]
) -> None:
    invoice_id, _ = billed
    change = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == vet.parent_e3.id)).one()
    client = login(READ_ONLY)
    csrf = csrf_of(client.get("/console/").text)
    before = (_count(session, Invoice), _count(session, BillingRun))
    posts: list[tuple[str, dict[str, str]]] = [
        ("/console/queue/run-once", {}),
        (f"/console/queue/{change.id}/requeue", {}),
        (f"/console/queue/{change.id}/confirm", {"status": "provisioned"}),
        ("/console/billing/preview", {"date": "2026-12-01"}),
        ("/console/billing/runs", {"date": "2027-01-01"}),
        (f"/console/invoices/{invoice_id}/void", {"reason": "no"}),
        ("/console/reconciliation/adopt", {"subscription_id": str(vet.parent_e3.id)}),
        ("/console/reconciliation/push", {"subscription_id": str(vet.parent_e3.id)}),
        ("/console/reconciliation/import", {"external_id": "x", "tenant_id": "y", "contract_id": "z"}),
    ]
    for path, data in posts:
        refused = client.post(path, data=data | {"csrf_token": csrf})
        assert refused.status_code == 403, (path, refused.text)
        assert "Your role (read-only) may not do this" in refused.text
    session.expire_all()
    assert (_count(session, Invoice), _count(session, BillingRun)) == before
    assert session.get_one(Invoice, invoice_id).status is InvoiceStatus.ISSUED


def test_an_operator_cannot_void_and_an_admin_can(
    session: Session, login: Login, billed: tuple[uuid.UUID, uuid.UUID]
) -> None:
    invoice_id, _ = billed
    client = login(OPERATOR)
    csrf = csrf_of(client.get("/console/").text)
    refused = client.post(f"/console/invoices/{invoice_id}/void", data={"reason": "wrong", "csrf_token": csrf})
    assert refused.status_code == 403
    assert "it takes an administrator" in refused.text
    session.expire_all()
    assert session.get_one(Invoice, invoice_id).status is InvoiceStatus.ISSUED

    admin = login(ADMIN)
    page = admin.get(f"/console/invoices/{invoice_id}")
    missing = admin.post(f"/console/invoices/{invoice_id}/void", data={"reason": " ", "csrf_token": csrf_of(page.text)})
    assert missing.status_code == 422
    assert "Say why the invoice is voided" in missing.text
    voided = admin.post(
        f"/console/invoices/{invoice_id}/void",
        data={"reason": "Billed on the wrong contract.", "confirmed": "1", "csrf_token": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert voided.status_code == 200
    assert "The invoice is void" in voided.text
    session.expire_all()
    invoice = session.get_one(Invoice, invoice_id)
    assert (invoice.status, invoice.void_reason) == (InvoiceStatus.VOID, "Billed on the wrong contract.")
    again = admin.post(f"/console/invoices/{invoice_id}/void", data={"reason": "x", "csrf_token": csrf_of(page.text)})
    assert again.status_code == 409
    assert "void already" in again.text


# --- CSRF ----------------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    session: Session, login: Login, vet: PineConeVet, billed: tuple[uuid.UUID, uuid.UUID]
) -> None:
    invoice_id, _ = billed
    client = login(ADMIN)
    for token in (None, "forged"):
        data = {"reason": "forged"} | ({"csrf_token": token} if token else {})
        refused = client.post(f"/console/invoices/{invoice_id}/void", data=data)
        assert refused.status_code == 403
        assert "did not come from seatflow" in refused.text
        ran = client.post(
            "/console/billing/runs", data={"date": "2027-01-01"} | ({"csrf_token": token} if token else {})
        )
        assert ran.status_code == 403
    session.expire_all()
    assert session.get_one(Invoice, invoice_id).status is InvoiceStatus.ISSUED
    assert _count(session, BillingRun) == 1
    client.cookies.clear()
    client.get("/console/login")
    bare = client.post("/console/login", data={"email": ADMIN, "password": PASSWORD})
    assert bare.status_code == 403, "the login form needs its token too"


# --- errors are pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/console/nothing-here", 404),
        ("/console/customers/not-an-id", 404),
        (f"/console/customers/{uuid.UUID(int=7)}", 404),
        ("/console/subscriptions/not-an-id", 404),
        (f"/console/subscriptions/{uuid.UUID(int=7)}", 404),
        (f"/console/invoices/{uuid.UUID(int=7)}", 404),
        (f"/console/invoices/{uuid.UUID(int=7)}/pdf", 404),
        ("/console/billing/runs/nope", 404),
        ("/console/catalog?after=!!!", 422),
    ],
)
def test_errors_are_pages_never_json(login: Login, vet: PineConeVet, path: str, status: int) -> None:
    client = login(OPERATOR)
    answer = client.get(path)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "Back to the console" in answer.text


def test_bad_form_input_gives_a_message_and_changes_nothing(session: Session, login: Login, vet: PineConeVet) -> None:
    client = login(OPERATOR)
    csrf = csrf_of(client.get("/console/billing").text)
    for day in ("yesterday", "1999-12-31", ""):
        bad = client.post("/console/billing/runs", data={"date": day, "csrf_token": csrf})
        assert bad.status_code == 422, day
        assert "Enter the run&#39;s date as YYYY-MM-DD" in bad.text
    too_long = client.post("/console/billing/runs", data={"date": "2" * 50, "csrf_token": csrf})
    assert too_long.status_code == 422
    assert too_long.headers["content-type"].startswith("text/html")
    change = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == vet.parent_e3.id)).one()
    nul = client.post(
        f"/console/queue/{change.id}/confirm", data={"status": "failed", "message": "bad\x00byte", "csrf_token": csrf}
    )
    assert nul.status_code == 422
    assert "not allowed" in nul.text
    odd = client.post(f"/console/queue/{change.id}/confirm", data={"status": "maybe", "csrf_token": csrf})
    assert odd.status_code == 422
    assert "Choose provisioned or failed" in odd.text
    session.expire_all()
    assert _count(session, BillingRun) == 0
    assert session.get_one(LicenseChange, change.id).provisioning_status is ProvisioningStatus.AWAITING


def test_reconciling_an_account_that_is_not_partner_center_says_why(login: Login, vet: PineConeVet) -> None:
    client = login(OPERATOR)
    answer = client.get("/console/reconciliation", params={"account": str(vet.catalog.manual.id)})
    assert answer.status_code == 409
    assert "only Partner Center is read" in answer.text
    missing = client.get("/console/reconciliation", params={"account": "Nope"})
    assert missing.status_code == 404
    assert "No provider account" in missing.text


def test_a_nul_character_in_a_search_or_a_name_is_a_page_not_a_database_error(
    app_client: TestClient, login: Login, vet: PineConeVet
) -> None:
    """PostgreSQL refuses NUL in text, and the API's DataError answer is JSON: the console never sends one."""
    csrf = csrf_of(app_client.get("/console/login").text)
    refused = app_client.post("/console/login", data={"email": "a\x00@b.example", "password": "x", "csrf_token": csrf})
    assert refused.status_code == 401
    client = login(OPERATOR)
    for path, params in (
        ("/console/catalog", {"q": "E3\x00"}),
        ("/console/customers", {"q": "pine\x00"}),
        ("/console/reconciliation", {"account": "Partner\x00"}),
    ):
        answer = client.get(path, params=params)
        assert answer.status_code in (200, 404), (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html"), path
    csrf = csrf_of(client.get("/console/").text)
    fix = client.post(
        "/console/reconciliation/import",
        data={"account": "Partner\x00", "tenant_id": "t", "external_id": "e", "contract_id": "c", "csrf_token": csrf},
    )
    assert fix.status_code == 404
    assert fix.headers["content-type"].startswith("text/html")
