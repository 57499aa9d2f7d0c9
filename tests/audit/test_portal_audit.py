"""A portal contact's change is in the audit log as the contact's, from the portal (SPEC §17)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, Origin
from seatflow.customers.models import ContactRole
from tests.portal.conftest import Login, Vet, ask_quantity, confirm, login, make_contact, vet  # noqa: F401


def test_a_contacts_quantity_change_is_audited_as_theirs(session: Session, vet: Vet, login: Login) -> None:  # noqa: F811
    make_contact(session, vet.new_york, "manager@ny.example", ContactRole.SUBSCRIPTION_MANAGER)
    manager: TestClient = login("manager@ny.example")
    e3 = vet.vet.locations["New York City"].e3
    asked = ask_quantity(manager, e3.id, "30")
    assert asked.status_code == 200, asked.text
    done = confirm(manager, asked.text)
    assert done.status_code == 200, done.text
    [row] = session.scalars(
        select(AuditEntry).where(
            AuditEntry.target_id == str(e3.id), AuditEntry.action == "subscription.quantity_changed"
        )
    )
    assert (row.actor_kind, row.actor_name, row.origin) == (ActorKind.CONTACT, "manager@ny.example", Origin.PORTAL)
    assert (row.before, row.after) == ({"quantity": 25}, {"quantity": 30})
    assert row.operation is not None
    assert row.operation.startswith("POST /portal/subscriptions/{")
