"""Concurrent changes on the children of one linked parent never lose an update (SPEC §5).

Each change is its own committed transaction in its own session, as concurrent API requests are; nothing is
retried. On PostgreSQL the child row and then the parent row are locked FOR UPDATE; on SQLite writers queue
on the database lock (BEGIN IMMEDIATE, 30 s busy timeout).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.catalog.models import ReductionBehavior
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.subscriptions import repository
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeKind, ChangeOrigin, LicenseChange, Subscription
from seatflow.subscriptions.schemas import Actor
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)

TODAY = FACTORY_TODAY
PORTAL = Actor(ChangeOrigin.PORTAL, "it@pineconevet.example")


@dataclass(frozen=True)
class Setup:
    parent_id: uuid.UUID
    child_ids: list[uuid.UUID]


@pytest.fixture
def factory(committed_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(committed_engine)


def linked_setup(factory: sessionmaker[Session], *, children: int, child_quantity: int) -> Setup:
    """A parent whose quantity is its linked children's sum, committed. Reductions are allowed, so any
    absolute quantity is a valid request."""
    with unit_of_work(factory) as session:
        catalog = load_demo_catalog(session)
        customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
        parent_contract = create_contract(session, customer=customer, name="Parent", billable=False)
        parent = create_subscription(
            session,
            contract=parent_contract,
            product=catalog.e3,
            quantity=children * child_quantity,
            allow_end_user_modification=False,
            reduction_behavior=ReductionBehavior.ALLOWED,
        )
        child_ids = []
        for n in range(children):
            contract = create_contract(session, customer=customer, name=f"Location {n}", parent=parent_contract)
            child = create_subscription(
                session,
                contract=contract,
                product=catalog.e3,
                quantity=child_quantity,
                provider_account=catalog.do_nothing,
                reduction_behavior=ReductionBehavior.ALLOWED,
            )
            link(session, subscription=child, target=parent, account=catalog.linked)
            child_ids.append(child.id)
        return Setup(parent.id, child_ids)


def set_quantity(factory: sessionmaker[Session], subscription_id: uuid.UUID, quantity: int) -> None:
    """One request: its own session, its own transaction, committed."""
    with unit_of_work(factory) as session:
        change_quantity(
            session,
            subscription_id=subscription_id,
            quantity=quantity,
            effective="now",
            today=TODAY,
            now=noon(TODAY),
            actor=PORTAL,
        )


def run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker at the same moment; any exception in one fails the test."""
    barrier = threading.Barrier(len(workers), timeout=60)

    def start(worker: Callable[[], None]) -> None:
        barrier.wait()
        worker()

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(start, worker) for worker in workers]
        for future in futures:
            future.result(timeout=300)


def read(factory: sessionmaker[Session], subscription_id: uuid.UUID) -> Subscription:
    with factory() as session:
        subscription = repository.get(session, subscription_id)
        assert subscription is not None
        return subscription


def quantity_changes(factory: sessionmaker[Session], subscription_id: uuid.UUID) -> list[LicenseChange]:
    """In the order they were written (ids are time-ordered and taken while the row is locked)."""
    with factory() as session:
        stmt = select(LicenseChange).where(
            LicenseChange.subscription_id == subscription_id, LicenseChange.kind == ChangeKind.QUANTITY
        )
        return list(session.execute(stmt.order_by(LicenseChange.id)).scalars())


def assert_a_chain(changes: list[LicenseChange], start: int, end: int) -> None:
    """Each change starts where the one before ended: no update was lost or applied to a stale quantity."""
    assert changes[0].quantity_before == start
    for before, after in pairwise(changes):
        assert after.quantity_before == before.quantity_after
    assert changes[-1].quantity_after == end


def test_twenty_children_adding_one_ten_times_each_lose_nothing(factory: sessionmaker[Session]) -> None:
    setup = linked_setup(factory, children=20, child_quantity=1)

    def add_ten(child_id: uuid.UUID) -> Callable[[], None]:
        def worker() -> None:
            for quantity in range(2, 12):  # this thread owns this child: 1 → 2 → … → 11
                set_quantity(factory, child_id, quantity)

        return worker

    run_together([add_ten(child_id) for child_id in setup.child_ids])

    children = [read(factory, child_id) for child_id in setup.child_ids]
    assert [child.quantity for child in children] == [11] * 20
    parent = read(factory, setup.parent_id)
    assert parent.quantity == 20 + 200
    assert parent.quantity == sum(child.quantity for child in children)

    parent_changes = quantity_changes(factory, setup.parent_id)
    assert len(parent_changes) == 200
    assert {c.origin for c in parent_changes} == {ChangeOrigin.LINKED_CHILD}
    assert all(c.quantity_after - c.quantity_before == 1 for c in parent_changes)
    assert_a_chain(parent_changes, 20, 220)
    child_change_ids = {c.id for child_id in setup.child_ids for c in quantity_changes(factory, child_id)}
    assert len(child_change_ids) == 200
    assert {c.caused_by_change_id for c in parent_changes} == child_change_ids


def test_two_requests_racing_on_the_same_child_keep_the_parent_equal_to_the_sum(
    factory: sessionmaker[Session],
) -> None:
    setup = linked_setup(factory, children=3, child_quantity=2)
    contested = setup.child_ids[0]
    odd = list(range(3, 42, 2))  # one thread asks for 3, 5, …, 41
    even = list(range(4, 43, 2))  # the other for 4, 6, …, 42: targets never repeat, so none is a no-op

    def asks_for(quantities: list[int]) -> Callable[[], None]:
        def worker() -> None:
            for quantity in quantities:
                set_quantity(factory, contested, quantity)

        return worker

    run_together([asks_for(odd), asks_for(even)])

    child = read(factory, contested)
    assert child.quantity in (41, 42)
    others = [read(factory, child_id).quantity for child_id in setup.child_ids[1:]]
    parent = read(factory, setup.parent_id)
    assert parent.quantity == child.quantity + sum(others)

    child_changes = quantity_changes(factory, contested)
    assert len(child_changes) == 40
    assert_a_chain(child_changes, 2, child.quantity)
    parent_changes = quantity_changes(factory, setup.parent_id)
    assert len(parent_changes) == 40
    assert_a_chain(parent_changes, 6, parent.quantity)
    delta_of = {c.id: c.quantity_after - c.quantity_before for c in child_changes}
    for change in parent_changes:
        assert change.caused_by_change_id is not None
        assert change.quantity_after - change.quantity_before == delta_of[change.caused_by_change_id]
