"""The portal through HTTP on the test's transaction: Pine Cone Vet with its locations as child accounts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from seatflow.customers import logins as accounts
from seatflow.customers.models import ContactRole, CustomerAccount
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import invite_contact
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

PASSWORD = "correct horse battery"


@pytest.fixture
def app_client(app_client: TestClient) -> TestClient:
    """The app on a clock at noon on the test data's first day, when the invitations were sent and the terms
    began, whatever the real date is (a test may move it)."""
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(FACTORY_TODAY), datetime.now(UTC))
    return app_client


@dataclass(frozen=True)
class Vet:
    vet: PineConeVet
    head_office: CustomerAccount
    new_york: CustomerAccount


@pytest.fixture
def vet(session: Session) -> Vet:
    setup = pine_cone_vet(session, load_demo_catalog(session), location_accounts=True)
    new_york = session.get(CustomerAccount, setup.locations["New York City"].contract.customer_id)
    assert new_york is not None
    return Vet(setup, setup.customer, new_york)


def make_contact(session: Session, account: CustomerAccount, email: str, *roles: ContactRole) -> str:
    """An active contact with PASSWORD (through the invitation, as a person would); returns the email."""
    _, link = invite_contact(
        session,
        customer=account,
        data=ContactCreate(email=email, name=email.split("@")[0].title(), roles=list(roles)),
        now=noon(FACTORY_TODAY),
        base_url="http://testserver",
    )
    accounts.accept_invitation(session, token=link.rsplit("/", 1)[1], password=PASSWORD, now=noon(FACTORY_TODAY))
    session.flush()
    return email


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def confirmation_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and the hidden fields of a confirmation page's form, as the browser would send them."""
    found = re.search(r'<form method="post" action="([^"]+/quantity/confirm)"[^>]*>(.*?)</form>', html, re.S)
    assert found, "the page has no confirmation form"
    return found.group(1), dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(2)))


def confirm(client: TestClient, html: str, *, follow_redirects: bool = True, **changed: str) -> Response:
    """Press "Confirm the change" on a confirmation page (with some of its fields ``changed``, as a forger would)."""
    action, fields = confirmation_form(html)
    return client.post(action, data=fields | changed, follow_redirects=follow_redirects)


def ask_quantity(client: TestClient, subscription_id: object, quantity: str, effective: str = "now") -> Response:
    """Type a quantity on the contract page and press Change (or "At renewal"): the confirmation page, or why not."""
    page = client.get(f"/portal/subscriptions/{subscription_id}")
    return client.post(
        f"/portal/subscriptions/{subscription_id}/quantity",
        data={"quantity": quantity, "effective": effective, "csrf_token": csrf_of(page.text)},
    )


Login = Callable[[str], TestClient]


@pytest.fixture
def login(app_client: TestClient) -> Login:
    def _login(email: str, password: str = PASSWORD) -> TestClient:
        app_client.cookies.clear()
        page = app_client.get("/portal/login")
        response = app_client.post(
            "/portal/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return app_client

    return _login
