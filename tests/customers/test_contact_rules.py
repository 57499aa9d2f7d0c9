"""Contacts' rules in one place (issue 15, SPEC §10): the customers service decides who may grant which role,
revoke and restore; the API (the reseller) and the portal (a customer's administrator) both go through it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.customers import logins
from seatflow.customers.models import Contact, ContactRole, ContactStatus
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import (
    OwnAccess,
    RoleReserved,
    invite_contact,
    restore_contact,
    revoke_contact,
    set_contact_roles,
)
from tests.api.helpers import problem
from tests.factories import create_customer

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
PASSWORD = "a long enough password"
ADMIN = ContactRole.ADMINISTRATOR
CHILDREN = ContactRole.ACCESS_CHILD_ACCOUNTS


def _contact(session: Session, email: str, *roles: ContactRole, by: Contact | None = None) -> Contact:
    customer = create_customer(session, name=f"Account of {email}")
    contact, link = invite_contact(
        session,
        customer=customer,
        data=ContactCreate(email=email, name=email.split("@")[0], roles=list(roles)),
        now=NOW,
        base_url="http://testserver",
        by=by,
    )
    logins.accept_invitation(session, token=link.rsplit("/", 1)[1], password=PASSWORD, now=NOW)
    return contact


def test_only_the_reseller_grants_access_to_child_accounts(session: Session) -> None:
    head = _contact(session, "head@example.com", ADMIN, CHILDREN)  # the reseller invited it: allowed
    assert CHILDREN.value in head.roles
    colleague = _contact(session, "colleague@example.com", ADMIN)
    with pytest.raises(RoleReserved):
        set_contact_roles(session, colleague, {ADMIN.value, CHILDREN.value}, by=head)
    assert colleague.roles == [ADMIN.value]
    with pytest.raises(RoleReserved):
        _contact(session, "new@example.com", ADMIN, CHILDREN, by=head)


def test_an_administrator_keeps_what_the_reseller_granted_and_their_own_administrator_role(session: Session) -> None:
    head = _contact(session, "head@example.com", ADMIN, CHILDREN)
    set_contact_roles(session, head, {ADMIN.value, ContactRole.FINANCE_MANAGER.value}, by=head)
    assert head.roles == sorted([ADMIN.value, CHILDREN.value, ContactRole.FINANCE_MANAGER.value])
    with pytest.raises(OwnAccess):
        set_contact_roles(session, head, {ContactRole.FINANCE_MANAGER.value}, by=head)
    set_contact_roles(session, head, {ADMIN.value})  # the reseller takes the child accounts away
    assert head.roles == [ADMIN.value]


def test_revoking_ends_every_session_and_restoring_keeps_the_password(session: Session) -> None:
    contact = _contact(session, "ny@example.com", ADMIN)
    started = logins.login(session, email="ny@example.com", password=PASSWORD, ip="192.0.2.1", now=NOW)
    assert logins.current(session, started.token, NOW) is not None
    with pytest.raises(OwnAccess):
        revoke_contact(session, contact, by=contact)
    revoke_contact(session, contact)
    assert contact.status is ContactStatus.DISABLED
    assert logins.current(session, started.token, NOW) is None
    restore_contact(session, contact)
    assert contact.status is ContactStatus.ACTIVE  # it has a password: no new invitation needed
    assert logins.current(session, started.token, NOW) is None  # the old session stays ended


def test_the_api_revokes_and_restores_through_the_same_rules(client: TestClient, session: Session) -> None:
    contact = _contact(session, "api@example.com", ADMIN)
    started = logins.login(session, email="api@example.com", password=PASSWORD, ip="192.0.2.1", now=NOW)
    path = f"/api/v1/customers/{contact.customer_id}/contacts/{contact.id}"
    assert client.patch(path, json={"status": "disabled"}).json()["status"] == "disabled"
    assert logins.current(session, started.token, NOW) is None
    assert client.patch(path, json={"status": "invited"}).json()["status"] == "active"  # what its password allows
    answer = client.patch(path, json={"roles": ["administrator", "access_child_accounts"]})
    assert answer.status_code == 200  # the reseller may grant it
    assert answer.json()["roles"] == ["access_child_accounts", "administrator"]
    problem(client.patch(path, json={"roles": ["emperor"]}), 422, "validation_failed")
