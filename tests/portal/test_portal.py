"""The customer portal over HTTP (issue 6): scope, quantity changes, invoices, users, and its security."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.billing.runs import run_billing
from seatflow.customers.models import Contact, ContactRole, ContactStatus
from seatflow.subscriptions.models import ChangeOrigin, LicenseChange
from tests.factories import create_contract, create_customer, create_subscription, noon
from tests.portal.conftest import PASSWORD, Login, Vet, confirm, csrf_of, make_contact
from tests.provisioning.conftest import ManualClock

MANAGER, ADMIN, FINANCE, CHILDREN = (
    ContactRole.SUBSCRIPTION_MANAGER,
    ContactRole.ADMINISTRATOR,
    ContactRole.FINANCE_MANAGER,
    ContactRole.ACCESS_CHILD_ACCOUNTS,
)


def _contract_links(html: str) -> list[str]:
    return re.findall(r'href="/portal/contracts/([^"]+)"', html)


def test_new_yorks_manager_sees_new_york_only_and_changes_its_e3(session: Session, vet: Vet, login: Login) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    client = login("manager@ny.example")
    new_york = vet.vet.locations["New York City"]

    home = client.get("/portal/")
    assert _contract_links(home.text) == [str(new_york.contract.id)]
    page = client.get(f"/portal/contracts/{new_york.contract.id}")
    assert "Microsoft 365 E3" in page.text
    asked = client.post(
        f"/portal/subscriptions/{new_york.e3.id}/quantity",
        data={"quantity": "35", "effective": "now", "csrf_token": csrf_of(page.text)},
    )
    assert asked.status_code == 200, asked.text
    assert "Confirm the change" in asked.text
    changed = confirm(client, asked.text)

    assert changed.status_code == 200, changed.text
    assert "awaiting provisioning" in changed.text
    assert '<meta http-equiv="refresh"' in changed.text
    change = session.scalars(
        select(LicenseChange).where(LicenseChange.subscription_id == new_york.e3.id, LicenseChange.quantity_after == 35)
    ).one()
    assert change.origin is ChangeOrigin.PORTAL
    assert change.requested_by == "portal manager@ny.example"


def test_the_head_office_administrator_sees_every_location_and_never_the_parent_contract(
    session: Session, vet: Vet, login: Login
) -> None:
    make_contact(session, vet.head_office, "admin@pcv.example", ADMIN, CHILDREN)
    client = login("admin@pcv.example")

    links = set(_contract_links(client.get("/portal/").text))

    assert links == {str(location.contract.id) for location in vet.vet.locations.values()}
    parent = client.get(f"/portal/contracts/{vet.vet.parent_contract.id}")
    assert parent.status_code == 404
    assert "Pine Cone Vet - Parent" not in client.get("/portal/").text


def test_a_reduction_outside_the_window_says_when_and_offers_the_renewal(
    session: Session, vet: Vet, login: Login, app_client: TestClient
) -> None:
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(date(2026, 12, 10)), datetime.now(UTC))  # the 7-day window has closed
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    client = login("manager@ny.example")
    new_york = vet.vet.locations["New York City"]
    page = client.get(f"/portal/contracts/{new_york.contract.id}")

    refused = client.post(
        f"/portal/subscriptions/{new_york.e3.id}/quantity",
        data={"quantity": "20", "effective": "now", "csrf_token": csrf_of(page.text)},
    )

    assert refused.status_code == 409, refused.text
    assert (
        "Microsoft 365 E3 cannot be reduced by that much now: licenses can be removed only in the first days after "
        "they were bought, renewed or added. Licenses can be removed at its renewal on 1 December 2027: choose “At "
        "renewal” to schedule the reduction for 1 December 2027."
    ) in refused.text
    assert re.search(r'name="effective" value="renewal"[^>]*>At renewal on 1 December 2027</button>', refused.text)
    asked = client.post(
        f"/portal/subscriptions/{new_york.e3.id}/quantity",
        data={"quantity": "20", "effective": "renewal", "csrf_token": csrf_of(page.text)},
    )
    assert "Nothing changes before the renewal on <strong>1 December 2027</strong>" in asked.text
    scheduled = confirm(client, asked.text)
    assert "Change scheduled" in scheduled.text
    assert "Changes to 20 at renewal on 1 December 2027" in scheduled.text
    session.refresh(new_york.e3)
    assert new_york.e3.quantity == 25


def test_a_contact_asking_for_another_customers_things_by_id_gets_404(session: Session, vet: Vet, login: Login) -> None:
    other = create_customer(session, name="Other Clinic", tenant_id="other-tenant")
    other_contract = create_contract(session, customer=other, name="Other - Main")
    other_sub = create_subscription(session, contract=other_contract, product=vet.vet.catalog.e3, quantity=3)
    run_billing(session, run_date=other_contract.start_date, now=noon(other_contract.start_date), requested_by="t")
    other_invoice = session.scalars(select(Invoice).where(Invoice.contract_id == other_contract.id)).one()
    make_contact(session, vet.head_office, "admin@pcv.example", ADMIN, CHILDREN)
    client = login("admin@pcv.example")
    csrf = csrf_of(client.get("/portal/").text)

    assert client.get(f"/portal/contracts/{other_contract.id}").status_code == 404
    assert client.get(f"/portal/invoices/{other_invoice.id}").status_code == 404
    assert client.get(f"/portal/invoices/{other_invoice.id}/pdf").status_code == 404
    posted = client.post(
        f"/portal/subscriptions/{other_sub.id}/quantity", data={"quantity": "9", "effective": "now", "csrf_token": csrf}
    )
    assert posted.status_code == 404
    assert client.get(f"/portal/subscriptions/{other_sub.id}").status_code == 404
    confirmed = client.post(
        f"/portal/subscriptions/{other_sub.id}/quantity/confirm",
        data={"quantity": "9", "effective": "now", "csrf_token": csrf},
    )
    assert confirmed.status_code == 404
    assert client.get("/portal/contracts/not-an-id").status_code == 404
    session.refresh(other_sub)
    assert other_sub.quantity == 3


def test_a_post_without_the_csrf_token_is_refused(session: Session, vet: Vet, login: Login) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    client = login("manager@ny.example")
    e3 = vet.vet.locations["New York City"].e3

    for token in (None, "forged"):
        data = {"quantity": "40", "effective": "now"} | ({"csrf_token": token} if token else {})
        for path in ("quantity", "quantity/confirm"):
            refused = client.post(f"/portal/subscriptions/{e3.id}/{path}", data=data)
            assert refused.status_code == 403
            assert "did not come from seatflow" in refused.text
    session.refresh(e3)
    assert e3.quantity == 25
    page = client.get("/portal/login")
    bare = client.post("/portal/login", data={"email": "manager@ny.example", "password": PASSWORD})
    assert bare.status_code == 403, "the login form needs its token too"
    del page


def test_no_form_and_no_change_where_end_users_may_not_modify(session: Session, vet: Vet, login: Login) -> None:
    e3 = vet.vet.locations["New York City"].e3
    e3.allow_end_user_modification = False
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    client = login("manager@ny.example")

    page = client.get(f"/portal/contracts/{vet.vet.locations['New York City'].contract.id}")

    assert f"/portal/subscriptions/{e3.id}/quantity" not in page.text
    assert "Microsoft 365 E3" in page.text
    for path in ("quantity", "quantity/confirm"):
        refused = client.post(
            f"/portal/subscriptions/{e3.id}/{path}",
            data={"quantity": "30", "effective": "now", "csrf_token": csrf_of(page.text)},
        )
        assert refused.status_code == 403
    session.refresh(e3)
    assert e3.quantity == 25


def test_a_finance_manager_reads_subscriptions_and_downloads_invoices_but_changes_nothing(
    session: Session, vet: Vet, login: Login
) -> None:
    make_contact(session, vet.new_york, "finance@ny.example", FINANCE)
    run_billing(
        session,
        run_date=vet.vet.parent_contract.start_date,
        now=noon(vet.vet.parent_contract.start_date),
        requested_by="t",
    )
    client = login("finance@ny.example")
    contract = vet.vet.locations["New York City"].contract

    page = client.get(f"/portal/contracts/{contract.id}")
    assert "/quantity" not in page.text
    invoices = client.get("/portal/invoices")
    (invoice_id,) = re.findall(r'href="/portal/invoices/([0-9a-f-]{36})"', invoices.text)
    pdf = client.get(f"/portal/invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "1006.00" in client.get(f"/portal/invoices/{invoice_id}").text  # 25 x 36.00 + 10 x 10.60


def test_a_subscription_manager_has_no_invoices(session: Session, vet: Vet, login: Login) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    client = login("manager@ny.example")
    assert client.get("/portal/invoices").status_code == 404
    assert client.get("/portal/users").status_code == 404


def test_repeated_wrong_passwords_are_throttled(session: Session, vet: Vet, app_client: TestClient) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    csrf = csrf_of(app_client.get("/portal/login").text)

    answers = [
        app_client.post("/portal/login", data={"email": "manager@ny.example", "password": "wrong", "csrf_token": csrf})
        for _ in range(6)
    ]

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 401, 429]
    assert "Too many failed attempts" in answers[-1].text
    assert int(answers[-1].headers["Retry-After"]) > 0
    right = app_client.post(
        "/portal/login", data={"email": "manager@ny.example", "password": PASSWORD, "csrf_token": csrf}
    )
    assert right.status_code == 429, "even the right password waits out the throttle"


def test_the_session_cookie_has_its_flags(session: Session, vet: Vet, app_client: TestClient) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    csrf = csrf_of(app_client.get("/portal/login").text)
    response = app_client.post(
        "/portal/login",
        data={"email": "manager@ny.example", "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("seatflow_portal=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/portal" in flags
    secure = TestClient(app_client.app, base_url="https://testserver")
    csrf = csrf_of(secure.get("/portal/login").text)
    over_https = secure.post(
        "/portal/login",
        data={"email": "manager@ny.example", "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in over_https.headers.multi_items() if k == "set-cookie" and v.startswith("seatflow_portal=")
    )
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_an_administrator_invites_a_user_sets_roles_and_revokes_access(
    session: Session, vet: Vet, login: Login, caplog: object
) -> None:
    make_contact(session, vet.new_york, "admin@ny.example", ADMIN)
    client = login("admin@ny.example")
    page = client.get("/portal/users")

    invited = client.post(
        "/portal/users",
        data={
            "name": "Fin Ance",
            "email": "fin@ny.example",
            "roles": ["finance_manager"],
            "csrf_token": csrf_of(page.text),
        },
    )

    assert invited.status_code == 200, invited.text
    assert "Invitation sent to fin@ny.example" in invited.text
    contact = session.scalars(select(Contact).where(Contact.email == "fin@ny.example")).one()
    assert (contact.customer_id, contact.roles, contact.status) == (
        vet.new_york.id,
        ["finance_manager"],
        ContactStatus.INVITED,
    )
    saved = client.post(
        f"/portal/users/{contact.id}",
        data={
            "action": "roles",
            "roles": ["finance_manager", "subscription_manager"],
            "csrf_token": csrf_of(page.text),
        },
    )
    assert "roles are saved" in saved.text
    session.refresh(contact)
    assert contact.roles == ["finance_manager", "subscription_manager"]
    revoked = client.post(f"/portal/users/{contact.id}", data={"action": "revoke", "csrf_token": csrf_of(page.text)})
    assert "can no longer log in" in revoked.text
    session.refresh(contact)
    assert contact.status is ContactStatus.DISABLED
    duplicate = client.post(
        "/portal/users",
        data={"name": "X", "email": "fin@ny.example", "roles": ["finance_manager"], "csrf_token": csrf_of(page.text)},
    )
    assert duplicate.status_code == 409, duplicate.text
    assert "already a contact" in duplicate.text
    bad = client.post("/portal/users", data={"name": "X", "email": "not-an-address", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422


def test_an_invitation_link_sets_the_password_once_and_expires(
    session: Session, vet: Vet, app_client: TestClient
) -> None:
    from seatflow.customers.schemas import ContactCreate
    from seatflow.customers.service import invite_contact
    from tests.factories import FACTORY_TODAY

    _, link = invite_contact(
        session,
        customer=vet.new_york,
        data=ContactCreate(email="new@ny.example", name="New Person", roles=[MANAGER]),
        now=noon(FACTORY_TODAY),
        base_url="http://testserver",
    )
    path = link.removeprefix("http://testserver")
    page = app_client.get(path)
    assert page.status_code == 200
    short = app_client.post(path, data={"password": "short", "confirm": "short", "csrf_token": csrf_of(page.text)})
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    accepted = app_client.post(
        path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert accepted.status_code == 303
    assert app_client.get(path).status_code == 409, "the link works once"


def test_a_password_reset_link_from_the_log_sets_a_new_password(
    session: Session, vet: Vet, app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    make_contact(session, vet.new_york, "manager@ny.example", MANAGER)
    csrf = csrf_of(app_client.get("/portal/password-reset").text)

    with caplog.at_level(logging.INFO, logger="seatflow.mail"):
        sent = app_client.post("/portal/password-reset", data={"email": "Manager@NY.example", "csrf_token": csrf})
        unknown = app_client.post("/portal/password-reset", data={"email": "nobody@ny.example", "csrf_token": csrf})

    assert "a link to set a new password is on its way" in sent.text
    assert "a link to set a new password is on its way" in unknown.text, "nothing tells whether an address exists"
    (link,) = re.findall(r"http://\S+/portal/password-reset/\S+", caplog.text)
    path = "/portal/password-reset/" + link.rsplit("/", 1)[1]
    page = app_client.get(path)
    new_password = "a brand new passphrase"
    done = app_client.post(
        path,
        data={"password": new_password, "confirm": new_password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert app_client.get(path).status_code == 409, "a reset link works once"
    login_page = app_client.get("/portal/login")
    old = app_client.post(
        "/portal/login",
        data={"email": "manager@ny.example", "password": PASSWORD, "csrf_token": csrf_of(login_page.text)},
    )
    assert old.status_code == 401
    new = app_client.post(
        "/portal/login",
        data={"email": "manager@ny.example", "password": new_password, "csrf_token": csrf_of(login_page.text)},
        follow_redirects=False,
    )
    assert new.status_code == 303
