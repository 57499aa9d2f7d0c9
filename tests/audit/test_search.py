"""Searching the log: by actor (id or part of a name), action (or a kind's every action), record and time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from seatflow.audit.queries import AuditFilters, search
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.errors import ValidationFailed
from tests.factories import create_customer

BOB = AuditActor(ActorKind.OPERATOR, uuid.uuid4(), "bob@reseller.example")
ERP = AuditActor(ActorKind.API_KEY, uuid.uuid4(), "ERP sync")


def test_filters_and_pages(session: Session) -> None:
    attach(session, AuditScope(Origin.CONSOLE, BOB))
    acme = create_customer(session, name="Acme")
    session.commit()
    attach(session, AuditScope(Origin.API, ERP))
    acme.name = "Acme Inc"
    birch = create_customer(session, name="Birch")
    session.commit()

    def actions(**filters: object) -> list[str]:
        rows, _ = search(session, AuditFilters(**filters))  # type: ignore[arg-type]
        return [f"{r.action}:{r.target_id[-4:]}" for r in rows]

    every = actions()
    assert len(every) == 3
    assert actions(actor="BOB@") == [f"customer_account.created:{str(acme.id)[-4:]}"]
    assert actions(actor=str(ERP.id)) == actions(actor="erp")
    assert len(actions(actor="erp")) == 2
    assert actions(action="customer_account.updated") == [f"customer_account.updated:{str(acme.id)[-4:]}"]
    assert len(actions(action="customer_account.*")) == 3
    assert actions(action="subscription.*") == []
    assert len(actions(target_id=str(acme.id))) == 2
    assert len(actions(origin=Origin.API, target_kind="customer_account")) == 2
    rows, _ = search(session, AuditFilters())
    newest, oldest = rows[0].at, rows[-1].at
    assert actions(at_from=newest + timedelta(seconds=1)) == []
    assert len(actions(at_to=oldest)) >= 1
    assert rows[0].target_id == str(birch.id) or rows[0].target_id == str(acme.id), "newest first"

    first, cursor = search(session, AuditFilters(), limit=2)
    assert cursor is not None
    rest, end = search(session, AuditFilters(), cursor=cursor, limit=2)
    assert end is None
    assert [r.id for r in [*first, *rest]] == [r.id for r in rows]


def test_a_backwards_range_is_refused(session: Session) -> None:
    rows, _ = search(session, AuditFilters())
    assert rows == []
    from datetime import UTC, datetime

    later = datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        search(session, AuditFilters(at_from=later, at_to=later - timedelta(days=1)))
