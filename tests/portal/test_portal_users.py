"""A head office's administrator with ``access_child_accounts`` manages its locations' users (SPEC §3, §10; issue 15
item 4): it sees every location's people, invites someone to a location, sets roles, revokes and restores access;
it still cannot give anyone access to child accounts, which only the reseller grants. Without that access, or as a
location's administrator, nobody else's people are reachable (404)."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.customers.models import Contact, ContactRole, ContactStatus
from tests.portal.conftest import Login, Vet, csrf_of, make_contact

ADMIN, MANAGER, FINANCE, CHILDREN = (
    ContactRole.ADMINISTRATOR,
    ContactRole.SUBSCRIPTION_MANAGER,
    ContactRole.FINANCE_MANAGER,
    ContactRole.ACCESS_CHILD_ACCOUNTS,
)


def _contact(session: Session, email: str) -> Contact:
    session.expire_all()
    return session.scalars(select(Contact).where(Contact.email == email)).one()


@pytest.fixture
def people(session: Session, vet: Vet) -> None:
    make_contact(session, vet.new_york, "dana@ny.example", MANAGER)


@pytest.fixture
def head_admin(session: Session, vet: Vet, login: Login, people: None) -> TestClient:
    make_contact(session, vet.head_office, "sam@head.example", ADMIN, CHILDREN)
    return login("sam@head.example")


def test_the_head_office_administrator_sees_every_locations_users(head_admin: TestClient) -> None:
    page = head_admin.get("/portal/users").text

    assert "<h1>Users of Pine Cone Vet and its locations</h1>" in page
    sections = re.findall(r'<h2 id="account-[^"]+">([^<]+)</h2>', page)
    assert sections == [
        "Pine Cone Vet",
        "Pine Cone Vet Atlanta",
        "Pine Cone Vet Memphis",
        "Pine Cone Vet New York City",
    ]  # its own account first, then the locations by name
    assert "dana@ny.example" in page
    assert '<label for="invite-account">Account</label>' in page
    assert "access_child_accounts" not in page


def test_the_head_office_administrator_invites_someone_to_a_location(
    session: Session, vet: Vet, head_admin: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = csrf_of(head_admin.get("/portal/users").text)

    with caplog.at_level(logging.INFO, logger="seatflow.mail"):
        invited = head_admin.post(
            "/portal/users",
            data={
                "account": str(vet.new_york.id),
                "name": "Robin Lake",
                "email": "robin@ny.example",
                "roles": ["finance_manager"],
                "csrf_token": csrf,
            },
        )

    assert invited.status_code == 200, invited.text
    assert "Invitation sent to robin@ny.example (Pine Cone Vet New York City)." in invited.text
    robin = _contact(session, "robin@ny.example")
    assert (robin.customer_id, robin.roles, robin.status) == (
        vet.new_york.id,
        ["finance_manager"],
        ContactStatus.INVITED,
    )
    assert "invited you to manage Pine Cone Vet New York City's licenses" in caplog.text


def test_the_head_office_administrator_sets_a_locations_roles_and_revokes_and_restores_access(
    session: Session, vet: Vet, head_admin: TestClient
) -> None:
    dana = _contact(session, "dana@ny.example")
    csrf = csrf_of(head_admin.get("/portal/users").text)

    saved = head_admin.post(
        f"/portal/users/{dana.id}",
        data={"action": "roles", "roles": ["subscription_manager", "finance_manager"], "csrf_token": csrf},
    )
    assert "roles are saved" in saved.text
    assert _contact(session, "dana@ny.example").roles == ["finance_manager", "subscription_manager"]

    revoked = head_admin.post(f"/portal/users/{dana.id}", data={"action": "revoke", "csrf_token": csrf})
    assert "can no longer log in" in revoked.text
    assert _contact(session, "dana@ny.example").status is ContactStatus.DISABLED

    restored = head_admin.post(f"/portal/users/{dana.id}", data={"action": "restore", "csrf_token": csrf})
    assert "can log in again" in restored.text
    assert _contact(session, "dana@ny.example").status is ContactStatus.ACTIVE


def test_the_head_office_administrator_cannot_give_a_location_access_to_child_accounts(
    session: Session, vet: Vet, head_admin: TestClient
) -> None:
    dana = _contact(session, "dana@ny.example")
    csrf = csrf_of(head_admin.get("/portal/users").text)

    forged_roles = head_admin.post(
        f"/portal/users/{dana.id}",
        data={"action": "roles", "roles": [MANAGER.value, CHILDREN.value], "csrf_token": csrf},
    )
    forged_invitation = head_admin.post(
        "/portal/users",
        data={
            "account": str(vet.new_york.id),
            "name": "Wide",
            "email": "wide@ny.example",
            "roles": [ADMIN.value, CHILDREN.value],
            "csrf_token": csrf,
        },
    )

    assert forged_roles.status_code == 403
    assert forged_invitation.status_code == 403
    assert "Only your reseller can give access to child accounts" in forged_roles.text
    assert _contact(session, "dana@ny.example").roles == [MANAGER.value]
    assert session.scalars(select(Contact).where(Contact.email == "wide@ny.example")).first() is None


def test_an_unknown_action_changes_nothing(session: Session, head_admin: TestClient) -> None:
    dana = _contact(session, "dana@ny.example")
    csrf = csrf_of(head_admin.get("/portal/users").text)

    answer = head_admin.post(f"/portal/users/{dana.id}", data={"action": "promote", "csrf_token": csrf})

    assert answer.status_code == 422
    assert _contact(session, "dana@ny.example").roles == [MANAGER.value]


def test_without_access_to_child_accounts_a_head_office_administrator_reaches_only_its_own_people(
    session: Session, vet: Vet, login: Login, people: None
) -> None:
    make_contact(session, vet.head_office, "own@head.example", ADMIN)
    client = login("own@head.example")
    dana = _contact(session, "dana@ny.example")
    page = client.get("/portal/users").text
    csrf = csrf_of(page)

    assert "<h1>Users of Pine Cone Vet</h1>" in page
    assert "dana@ny.example" not in page
    assert 'name="account"' not in page
    revoke = client.post(f"/portal/users/{dana.id}", data={"action": "revoke", "csrf_token": csrf})
    invite = client.post(
        "/portal/users",
        data={
            "account": str(vet.new_york.id),
            "name": "X",
            "email": "x@ny.example",
            "roles": ["finance_manager"],
            "csrf_token": csrf,
        },
    )
    assert (revoke.status_code, invite.status_code) == (404, 404)
    assert _contact(session, "dana@ny.example").status is ContactStatus.ACTIVE
    assert session.scalars(select(Contact).where(Contact.email == "x@ny.example")).first() is None


def test_a_locations_administrator_never_reaches_the_head_offices_people(
    session: Session, vet: Vet, login: Login
) -> None:
    make_contact(session, vet.head_office, "sam@head.example", ADMIN, CHILDREN)
    make_contact(session, vet.new_york, "admin@ny.example", ADMIN)
    client = login("admin@ny.example")
    sam = _contact(session, "sam@head.example")
    page = client.get("/portal/users").text

    assert "sam@head.example" not in page
    refused = client.post(f"/portal/users/{sam.id}", data={"action": "revoke", "csrf_token": csrf_of(page)})
    assert refused.status_code == 404
    assert _contact(session, "sam@head.example").status is ContactStatus.ACTIVE
