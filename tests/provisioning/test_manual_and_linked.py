"""Manual providers and the linked flow-back (SPEC §5, §7), through the worker and the operator's queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.db.session import unit_of_work
from seatflow.errors import Conflict
from seatflow.provisioning import queue
from seatflow.provisioning.models import Notification
from seatflow.provisioning.worker import Worker
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus
from seatflow.subscriptions.schemas import Actor
from tests.factories import FACTORY_TODAY, OPERATOR, load_demo_catalog, noon
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

AWAITING, PROVISIONED, FAILED = (
    ProvisioningStatus.AWAITING,
    ProvisioningStatus.PROVISIONED,
    ProvisioningStatus.FAILED,
)


@pytest.fixture
def manual_vet(session: Session) -> PineConeVet:
    catalog = load_demo_catalog(session)
    vet = pine_cone_vet(session, catalog, parent_account=catalog.manual)
    # The parent's own purchase is confirmed by hand once, so that only New York's change is in the queue.
    for change in session.scalars(select(LicenseChange).where(LicenseChange.provisioning_status == AWAITING)):
        change.provisioning_status = PROVISIONED
    session.flush()
    return vet


def _raise_new_york(
    session: Session, vet: PineConeVet, quantity: int = 35, *, ems: bool = False
) -> tuple[LicenseChange, LicenseChange]:
    new_york = vet.locations["New York City"]
    child = change_quantity(
        session,
        subscription_id=(new_york.ems if ems else new_york.e3).id,
        quantity=quantity,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    assert isinstance(child, LicenseChange)
    parent = session.scalars(select(LicenseChange).where(LicenseChange.caused_by_change_id == child.id)).one()
    return child, parent


def _status(session: Session, change: LicenseChange) -> tuple[ProvisioningStatus, str | None]:
    session.expire_all()
    found = session.get(LicenseChange, change.id)
    assert found is not None
    return found.provisioning_status, found.message


def test_a_manual_change_is_handed_to_people_once_and_waits_for_their_confirmation(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    child, parent = _raise_new_york(session, manual_vet)
    worker = make_worker()

    first = worker.run_once()
    second = worker.run_once()

    assert first.tally.handed_off == 1
    assert second.tally.handed_off == 0, "the same change must not be handed over twice"
    notes = session.scalars(select(Notification).where(Notification.license_change_id == parent.id)).all()
    assert len(notes) == 1
    assert "set Microsoft 365 E3 to 60" in notes[0].subject
    assert _status(session, parent)[0] is AWAITING
    assert _status(session, child)[0] is AWAITING


def test_confirming_the_parent_provisions_the_child_that_caused_it(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    child, parent = _raise_new_york(session, manual_vet)
    make_worker().run_once()

    settled = queue.confirm(
        session, change_id=parent.id, status=PROVISIONED, message=None, actor=OPERATOR, now=noon(FACTORY_TODAY)
    )

    assert [c.id for c in settled] == [parent.id]
    assert _status(session, parent)[0] is PROVISIONED
    assert _status(session, child)[0] is PROVISIONED
    note = session.scalars(select(Notification).where(Notification.license_change_id == parent.id)).one()
    assert note.resolved_at is not None


def test_a_failed_parent_fails_its_children_with_the_reason_and_requeue_brings_both_back(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    child, parent = _raise_new_york(session, manual_vet)
    worker = make_worker()
    worker.run_once()
    queue.confirm(
        session,
        change_id=parent.id,
        status=FAILED,
        message="The distributor is out of E3 seats.",
        actor=OPERATOR,
        now=noon(FACTORY_TODAY),
    )
    assert _status(session, child) == (FAILED, "Its linked parent's change failed: The distributor is out of E3 seats.")

    # Requeueing the child's change goes through the parent change it caused.
    requeued = queue.requeue(session, change_id=child.id, actor=Actor(OPERATOR.origin, "ops"), now=noon(FACTORY_TODAY))

    assert {c.id for c in requeued} == {parent.id, child.id}
    assert _status(session, parent)[0] is AWAITING
    assert _status(session, child)[0] is AWAITING
    session.commit()
    assert worker.run_once().tally.handed_off == 1, "a requeued manual change is handed over again"


def test_requeue_refuses_a_change_that_did_not_fail(session: Session, manual_vet: PineConeVet) -> None:
    _, parent = _raise_new_york(session, manual_vet)
    with pytest.raises(Conflict) as refused:
        queue.requeue(session, change_id=parent.id, actor=OPERATOR, now=noon(FACTORY_TODAY))
    assert refused.value.code == "not_failed"


def test_a_later_manual_change_waits_until_the_earlier_one_is_confirmed(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    _, first_parent = _raise_new_york(session, manual_vet, 35)
    worker = make_worker()
    worker.run_once()
    _, second_parent = _raise_new_york(session, manual_vet, 40)
    session.commit()

    assert worker.run_once().tally.handed_off == 0, "the second change must wait for the first"
    queue.confirm(
        session, change_id=first_parent.id, status=PROVISIONED, message=None, actor=OPERATOR, now=noon(FACTORY_TODAY)
    )
    session.commit()
    assert worker.run_once().tally.handed_off == 1
    notes = session.scalars(select(Notification).where(Notification.license_change_id == second_parent.id)).all()
    assert [n.subject for n in notes] == ["Provision by hand: set Microsoft 365 E3 to 65 (Pine Cone Vet)"]


def test_a_linked_childs_change_cannot_be_confirmed_directly(session: Session, manual_vet: PineConeVet) -> None:
    child, _ = _raise_new_york(session, manual_vet)
    with pytest.raises(Conflict) as refused:
        queue.confirm(
            session, change_id=child.id, status=PROVISIONED, message=None, actor=OPERATOR, now=noon(FACTORY_TODAY)
        )
    assert refused.value.code == "not_confirmable"


def test_a_worker_whose_lease_ran_out_leaves_the_subscription_to_the_one_that_took_it(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker], clock: ManualClock
) -> None:
    _, parent = _raise_new_york(session, manual_vet)
    slow, quick = make_worker(lease_seconds=5), make_worker(lease_seconds=5)
    now = clock.now()
    with session_factory_of(slow) as db:
        (claimed,) = queue.claim(db, worker_id=slow.worker_id, now=now, today=now.date(), limit=10, lease_seconds=5)
    clock.advance(seconds=6)  # the slow worker's lease runs out before it gets to the subscription

    taken = quick.run_once()
    late = queue.Tally()
    slow.process(claimed, late)

    assert taken.tally.handed_off == 1
    assert late.subscriptions == 0, "the slow worker must not work on a subscription it no longer holds"
    notes = session.scalars(select(Notification).where(Notification.license_change_id == parent.id)).all()
    assert len(notes) == 1


@contextmanager
def session_factory_of(worker: Worker) -> Iterator[Session]:
    with unit_of_work(worker.session_factory) as db:
        yield db


def test_a_change_awaiting_confirmation_does_not_hold_back_another_subscriptions_change(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    """The manual provider's gate ("its people have been told already: wait for their confirmation") is the
    subscription's own: New York's E3 waiting for a person must not keep its EMS change from being handed over."""
    _raise_new_york(session, manual_vet)
    worker = make_worker()
    assert worker.run_once().tally.handed_off == 1  # the parent's E3 change: notified, awaiting confirmation
    _, parent_ems = _raise_new_york(session, manual_vet, 12, ems=True)
    assert worker.run_once().tally.handed_off == 1  # the parent's EMS change, although E3 still waits
    notes = session.scalars(select(Notification).where(Notification.license_change_id == parent_ems.id)).all()
    assert len(notes) == 1
