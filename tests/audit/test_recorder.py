"""The audit log's flush hook on the service lane: who, what, before and after, in the action's transaction."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.audit import recorder
from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.catalog.models import ProviderKind
from seatflow.customers.models import ContactRole
from seatflow.customers.schemas import ContactCreate
from seatflow.customers.service import invite_contact
from seatflow.events.endpoints import add_endpoint
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import LicenseChange
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import pine_cone_vet

ALICE = AuditActor(ActorKind.OPERATOR, uuid.UUID(int=7), "alice@reseller.example")


@pytest.fixture
def scoped(session: Session) -> AuditScope:
    scope = AuditScope(Origin.CONSOLE, ALICE, ip="198.51.100.4", operation="POST /console/test")
    attach(session, scope)
    return scope


def entries(session: Session, **where: object) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, name) == value)
    return list(session.scalars(stmt))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_creation_is_one_row_with_who_where_and_every_column(session: Session, scoped: AuditScope) -> None:
    customer = create_customer(session, name="Acme Dental")
    session.flush()
    [row] = entries(session, target_id=str(customer.id))
    assert (row.action, row.target_kind) == ("customer_account.created", "customer_account")
    assert (row.actor_kind, row.actor_id, row.actor_name) == (ActorKind.OPERATOR, ALICE.id, ALICE.name)
    assert (row.origin, row.ip, row.operation, row.request_id) == (
        Origin.CONSOLE,
        "198.51.100.4",
        "POST /console/test",
        scoped.request_id,
    )
    assert row.before is None
    assert row.after is not None
    assert row.after["name"] == "Acme Dental"
    assert row.after["currency"] == "USD"
    assert "updated_at" not in row.after


def test_a_quantity_change_names_its_action_and_keeps_before_and_after(session: Session) -> None:
    account = create_provider_account(session, kind=ProviderKind.MANUAL)
    product = create_product(session, account=account)
    contract = create_contract(session, customer=create_customer(session))
    subscription = create_subscription(session, contract=contract, product=product, quantity=5)
    session.commit()
    attach(session, AuditScope(Origin.API, AuditActor(ActorKind.API_KEY, uuid.UUID(int=9), "erp sync")))
    change = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=8,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.flush()
    [sub_row] = entries(session, target_id=str(subscription.id))
    assert sub_row.action == "subscription.quantity_changed"
    assert sub_row.before == {"quantity": 5}
    assert sub_row.after == {"quantity": 8}
    [change_row] = entries(session, target_id=str(change.id))
    assert change_row.action == "license_change.created"
    assert change_row.after is not None
    assert (change_row.after["quantity_before"], change_row.after["quantity_after"]) == (5, 8)
    assert {r.actor_name for r in entries(session)} == {"erp sync"}


def test_changes_of_one_record_in_one_transaction_are_one_row(session: Session, scoped: AuditScope) -> None:
    customer = create_customer(session, name="First")
    session.flush()
    customer.name = "Second"
    session.flush()
    customer.name = "Third"
    session.flush()
    [created] = entries(session, target_id=str(customer.id))
    assert created.action == "customer_account.created"
    assert created.after is not None
    assert created.after["name"] == "Third"
    session.commit()  # a new transaction: a new row, with the first before and the last after
    customer.name = "Fourth"
    session.flush()
    customer.name = "Fifth"
    session.flush()
    rows = entries(session, target_id=str(customer.id))
    assert [(r.action, r.before, r.after) for r in rows[1:]] == [
        ("customer_account.updated", {"name": "Third"}, {"name": "Fifth"})
    ]


def test_what_a_savepoint_undid_leaves_no_row(session: Session, scoped: AuditScope) -> None:
    before = count(session)
    savepoint = session.begin_nested()
    create_customer(session, name="Undone")
    session.flush()
    savepoint.rollback()
    kept = create_customer(session, name="Kept")
    session.flush()
    assert [r.target_id for r in entries(session)][before:] == [str(kept.id)]


def test_secrets_are_redacted_wherever_they_are(session: Session, scoped: AuditScope) -> None:
    account = create_provider_account(
        session, settings={"base_url": "http://127.0.0.1:8100", "client_secret": "s3cr3t-value"}
    )
    made = add_endpoint(session, url="https://hooks.example/seatflow", events=["invoice.issued"], created_by="alice")
    customer = create_customer(session)
    invite_contact(
        session,
        customer=customer,
        data=ContactCreate(email="it@acme.example", name="IT", roles=[ContactRole.ADMINISTRATOR]),
        now=noon(FACTORY_TODAY),
        base_url="http://testserver",
    )
    session.flush()
    text = " ".join(str(r.after) for r in entries(session))
    assert "s3cr3t-value" not in text
    assert made.secret not in text
    [endpoint_row] = entries(session, target_id=str(made.endpoint.id))
    assert endpoint_row.after is not None
    assert endpoint_row.after["secret"] == recorder.REDACTED
    [account_row] = entries(session, target_id=str(account.id))
    assert account_row.after is not None
    assert account_row.after["settings"]["client_secret"] == recorder.REDACTED
    [contact_row] = entries(session, target_kind="contact")
    assert contact_row.after is not None
    assert contact_row.after["invitation_hash"] == recorder.REDACTED


def test_a_deletion_keeps_what_the_record_was(session: Session, scoped: AuditScope) -> None:
    made = add_endpoint(session, url="https://hooks.example/x", events=["invoice.issued"], created_by="alice")
    session.commit()
    session.delete(made.endpoint)
    session.flush()
    deleted = entries(session, target_id=str(made.endpoint.id))[-1]
    assert deleted.action == "webhook_endpoint.deleted"
    assert deleted.after is None
    assert deleted.before is not None
    assert deleted.before["url"] == "https://hooks.example/x"


def test_a_session_without_a_scope_records_nothing(session: Session) -> None:
    """The worker's, the demo loader's: seatflow itself, deliberately not in the log."""
    create_customer(session, name="Loaded by the demo")
    session.flush()
    assert count(session) == 0


def test_a_named_action_takes_the_hooks_changes_of_its_record(session: Session, scoped: AuditScope) -> None:
    customer = create_customer(session, name="Named")
    session.commit()
    customer.name = "Renamed"
    session.flush()
    recorder.record(session, action="customer_account.renamed", target_kind="customer_account", target_id=customer.id)
    rows = entries(session, target_id=str(customer.id))
    assert [(r.action, r.before, r.after) for r in rows[1:]] == [
        ("customer_account.renamed", {"name": "Named"}, {"name": "Renamed"})
    ]


def test_a_named_action_without_a_scope_is_the_systems(session: Session) -> None:
    recorder.record(session, action="thing.happened", target_kind="thing", target_id="t-1", after={"token": "x"})
    [row] = entries(session)
    assert (row.actor_kind, row.actor_name, row.origin) == (ActorKind.SYSTEM, "seatflow", Origin.SYSTEM)
    assert row.after == {"token": recorder.REDACTED}


@pytest.mark.parametrize(
    ("kind", "verb", "changed", "action"),
    [
        ("subscription", "updated", ["unit_price", "quantity"], "subscription.quantity_changed"),
        ("subscription", "updated", ["billable"], "subscription.updated"),
        ("license_change", "updated", ["message", "provisioning_status"], "license_change.provisioning_status_changed"),
        ("webhook_endpoint", "updated", ["active", "disabled_reason"], "webhook_endpoint.active_changed"),
        ("contact", "created", ["email"], "contact.created"),
        ("contact", "deleted", [], "contact.deleted"),
    ],
)
def test_action_names(kind: str, verb: str, changed: list[str], action: str) -> None:
    assert recorder.action_for(kind, verb, changed) == action


@pytest.mark.parametrize(
    ("class_name", "kind"),
    [("LicenseChange", "license_change"), ("ApiKey", "api_key"), ("Subscription", "subscription")],
)
def test_kinds_are_model_names_in_snake_case(class_name: str, kind: str) -> None:
    assert recorder.kind_of(class_name) == kind


def test_a_linked_childs_change_reads_in_the_order_it_was_made(session: Session) -> None:
    """The request's rows: the child's new quantity, the change recording it, then the same for the parent it
    pushed up to, whatever flush wrote them (the quantity and its change are written in one)."""
    vet = pine_cone_vet(session, load_demo_catalog(session))
    session.commit()
    scope = AuditScope(Origin.CONSOLE, AuditActor(ActorKind.OPERATOR, uuid.UUID(int=11), OPERATOR.name))
    attach(session, scope)
    child = vet.locations["New York City"].e3
    change = change_quantity(
        session,
        subscription_id=child.id,
        quantity=35,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.flush()
    parent_change_id = session.scalar(select(LicenseChange.id).where(LicenseChange.caused_by_change_id == change.id))
    rows = [(row.action, row.target_id) for row in entries(session, request_id=scope.request_id)]
    assert rows == [
        ("subscription.quantity_changed", str(child.id)),
        ("license_change.created", str(change.id)),
        ("subscription.quantity_changed", str(vet.parent_e3.id)),
        ("license_change.created", str(parent_change_id)),
    ]
