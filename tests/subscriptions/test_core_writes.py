"""``record_change`` writes a quantity change with Core statements (``_written_with_core``) where a flush would have
written it: everything a user or a reader of the database can see must be what the flush wrote. Each scenario
runs twice on the same data, rolled back in between: through the flush (``_written_with_core`` patched to answer
None, the path it takes when it cannot write with Core), then through the Core statements; the license changes,
the subscriptions, the audit rows and the outbox events must be the same, with the new records' ids and the
wall-clock columns set aside."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import attributes as orm_attributes

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.catalog.models import ProviderKind
from seatflow.events.models import OutboxEvent
from seatflow.subscriptions import changes
from seatflow.subscriptions.changes import change_quantity, record_price_change
from seatflow.subscriptions.errors import QuantityOutOfRange
from seatflow.subscriptions.models import (
    BillingStatus,
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
)
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
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

SCOPE = AuditScope(Origin.API, AuditActor(ActorKind.API_KEY, uuid.UUID(int=9), "erp sync"), ip="203.0.113.9")

Scenario = Callable[[Session], None]


def _change(session: Session, subscription: Subscription, quantity: int, **extra: Any) -> Any:
    """Now, on the factories' day, as the operator."""
    return change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
        **extra,
    )


def _transcript(session: Session, before: set[uuid.UUID], subscriptions: list[uuid.UUID]) -> dict[str, Any]:
    """What the scenario left, with the ids it made numbered in the order the change log has them."""
    session.flush()
    new = session.scalars(
        select(LicenseChange)
        .where(LicenseChange.id.not_in(before))
        .order_by(LicenseChange.created_at, LicenseChange.subscription_id)
    ).all()
    names = {str(change.id): f"change-{n}" for n, change in enumerate(new)}

    def named(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: named(v) for k, v in value.items()}
        if isinstance(value, uuid.UUID | str) and str(value) in names:
            return names[str(value)]
        return value

    rows = [
        {column.key: named(getattr(change, column.key)) for column in LicenseChange.__table__.columns} for change in new
    ]
    quantities = {
        sid: session.scalar(select(Subscription.quantity).where(Subscription.id == sid)) for sid in subscriptions
    }
    audit = [
        (row.action, row.target_kind, named(row.target_id), named(row.before), named(row.after), row.actor_name)
        for row in session.scalars(
            select(AuditEntry).where(AuditEntry.request_id == SCOPE.request_id).order_by(AuditEntry.id)
        )
    ]
    events = sorted(
        (row.type, named(row.subject_id), named(row.data))
        for row in session.scalars(select(OutboxEvent).where(OutboxEvent.subject_id.in_(list(names))))
    )
    return {"changes": rows, "quantities": quantities, "audit": audit, "events": events}


def _flush_only(*args: Any, **kwargs: Any) -> None:
    """``_written_with_core`` answering that it cannot write with Core: ``record_change`` goes through the flush."""
    return None


def _both_ways(session: Session, scenario: Scenario, subscriptions: list[uuid.UUID], *, scoped: bool = True) -> None:
    session.commit()
    before = set(session.scalars(select(LicenseChange.id)))
    seen: list[dict[str, Any]] = []
    written = 0
    original = changes._written_with_core

    def counting(*args: Any, **kwargs: Any) -> LicenseChange | None:
        nonlocal written
        change = original(*args, **kwargs)
        written += change is not None
        return change

    for core in (False, True):
        savepoint = session.begin_nested()
        if scoped:
            attach(session, SCOPE)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(changes, "_written_with_core", counting if core else _flush_only)
            scenario(session)
        seen.append(_transcript(session, before, subscriptions))
        savepoint.rollback()
        session.expire_all()
    flushed, core_written = seen
    assert written > 0, "the Core statements were never used"
    assert core_written["changes"], "the scenario recorded nothing"
    assert core_written == flushed


@pytest.fixture
def vet(session: Session) -> PineConeVet:
    return pine_cone_vet(session, load_demo_catalog(session))


def test_a_standalone_change_is_written_as_the_flush_wrote_it(session: Session) -> None:
    account = create_provider_account(session, kind=ProviderKind.MANUAL)
    contract = create_contract(session, customer=create_customer(session))
    subscription = create_subscription(
        session, contract=contract, product=create_product(session, account=account), quantity=5
    )
    _both_ways(session, lambda s: _change(s, subscription, 8), [subscription.id])


def test_a_linked_childs_increase_and_its_push_are_written_as_the_flush_wrote_them(
    session: Session, vet: PineConeVet
) -> None:
    child = vet.locations["New York City"].e3
    _both_ways(session, lambda s: _change(s, child, 35), [child.id, vet.parent_e3.id])


def test_a_linked_childs_reduction_is_written_as_the_flush_wrote_it(session: Session, vet: PineConeVet) -> None:
    child = vet.locations["Atlanta"].e3
    _both_ways(session, lambda s: _change(s, child, 7), [child.id, vet.parent_e3.id])


def test_a_forced_change_on_a_linked_parent_is_written_as_the_flush_wrote_it(
    session: Session, vet: PineConeVet
) -> None:
    parent = vet.parent_e3
    _both_ways(session, lambda s: _change(s, parent, 60, force=True, reason="true-up"), [parent.id])


def test_a_child_settled_with_its_do_nothing_parent_is_written_as_the_flush_wrote_it(session: Session) -> None:
    """The parent has nothing to provision, so the child's change is marked not applicable after it was written:
    a flush then updates it, and its audit row is the one created row with the final status."""
    catalog = load_demo_catalog(session)
    vet = pine_cone_vet(session, catalog, parent_account=catalog.do_nothing)
    child = vet.locations["Memphis"].e3

    def scenario(s: Session) -> None:
        _change(s, child, 18)
        statuses = s.scalars(select(LicenseChange.provisioning_status).where(LicenseChange.subscription_id == child.id))
        assert ProvisioningStatus.NOT_APPLICABLE in set(statuses)

    _both_ways(session, scenario, [child.id, vet.parent_e3.id])


def test_without_a_scope_nothing_is_audited_either_way(session: Session, vet: PineConeVet) -> None:
    child = vet.locations["Atlanta"].e3
    _both_ways(session, lambda s: _change(s, child, 12), [child.id, vet.parent_e3.id], scoped=False)


def test_the_records_are_left_as_a_flush_leaves_them(session: Session, vet: PineConeVet) -> None:
    """Nothing left to write (the commit's flush has nothing to do), and the change's columns that were not
    written read as NULL without a query."""
    child = vet.locations["Atlanta"].e3
    session.commit()
    attach(session, SCOPE)
    change = _change(session, child, 12)
    assert not session.dirty
    assert not session.new
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert (change.message, change.invoice_id, change.provisioned_at) == (None, None, None)
        assert change.quantity_after == 12
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_a_price_change_goes_through_the_flush(session: Session, vet: PineConeVet) -> None:
    """The subscription's new price is pending when its change is recorded: the flush writes both, and the audit
    row of the subscription has the price's before and after, as always."""
    child = vet.locations["Atlanta"].e3
    session.commit()
    attach(session, SCOPE)
    used: list[LicenseChange | None] = []
    original = changes._written_with_core

    def spy(*args: Any, **kwargs: Any) -> LicenseChange | None:
        used.append(original(*args, **kwargs))
        return used[-1]

    old_price = child.unit_price
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes, "_written_with_core", spy)
        change = record_price_change(
            session, child, price=Decimal("31.50"), effective_date=FACTORY_TODAY, actor=OPERATOR,
            now=noon(FACTORY_TODAY),
        )  # fmt: skip
    assert change is not None
    assert used == [None]
    session.flush()
    [row] = session.scalars(
        select(AuditEntry).where(AuditEntry.request_id == SCOPE.request_id, AuditEntry.target_id == str(child.id))
    )
    assert (row.action, row.before, row.after) == (
        "subscription.unit_price_changed",
        {"unit_price": str(old_price)},
        {"unit_price": "31.50"},
    )


@pytest.mark.parametrize("core", [False, True], ids=["flush", "core"])
def test_a_savepoint_rolled_back_leaves_the_records_as_before(session: Session, vet: PineConeVet, core: bool) -> None:
    """A quote tries the change in a savepoint and rolls it back; a renewal applies a scheduled change in one and
    rolls it back when the parent refuses the push, after the child's change was written. Either way the
    subscriptions read their quantities from before, and the change is gone from the session, whichever way the
    change was written."""
    child, parent = vet.locations["Atlanta"].e3, vet.parent_e3
    session.commit()
    with pytest.MonkeyPatch.context() as patch:
        if not core:
            patch.setattr(changes, "_written_with_core", _flush_only)
        tried = session.begin_nested()
        change = _change(session, child, 12)
        assert (child.quantity, parent.quantity) == (12, 52)
        tried.rollback()
        assert (child.quantity, parent.quantity) == (10, 50)
        assert change not in session

        vet.catalog.e3.max_quantity = 51  # the parent (50) can take one more seat, not three
        session.flush()
        with pytest.raises(QuantityOutOfRange), session.begin_nested():
            _change(session, child, 13)
        assert (child.quantity, parent.quantity) == (10, 50)
        recorded = session.scalars(
            select(LicenseChange.quantity_after).where(LicenseChange.subscription_id == child.id)
        )
        assert 13 not in set(recorded)
        assert not session.new
        assert all(not orm_attributes.instance_state(obj).committed_state for obj in session.dirty)


def test_a_change_is_stamped_after_one_of_its_subscription_added_but_not_yet_flushed(session: Session) -> None:
    """The change log orders by stamp, and the worker sends the last step's quantity: a change must be stamped
    after every change of its subscription, those the session holds unflushed too (``change_facts`` flushes
    them before it reads the latest stamp, as ``record_change`` does)."""
    account = create_provider_account(session, kind=ProviderKind.MANUAL)
    contract = create_contract(session, customer=create_customer(session))
    subscription = create_subscription(
        session, contract=contract, product=create_product(session, account=account), quantity=5
    )
    session.flush()
    later = noon(FACTORY_TODAY).replace(hour=13)  # an hour after the change below reads the clock
    pending = LicenseChange(
        subscription_id=subscription.id,
        kind=ChangeKind.QUANTITY,
        quantity_before=4,
        quantity_after=5,
        price_before=subscription.unit_price,
        price_after=subscription.unit_price,
        effective_date=FACTORY_TODAY,
        origin=ChangeOrigin.API,
        requested_by="an earlier step of this transaction",
        provisioning_status=ProvisioningStatus.NOT_APPLICABLE,
        billing_status=BillingStatus.OPEN,
        attempts=0,
        created_at=later,
    )
    session.add(pending)
    change = _change(session, subscription, 8, locked=subscription)  # locked: no read that would autoflush
    assert change.created_at > later
