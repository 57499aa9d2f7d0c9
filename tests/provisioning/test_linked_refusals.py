"""One location's refused change must not block the other locations' changes on the same linked parent
(SPEC §5, §7): a failed parent change holds back only what depends on it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.db.session import unit_of_work
from seatflow.errors import Conflict
from seatflow.provisioning import queue
from seatflow.provisioning.models import Notification
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.errors import QuantityOutOfRange
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from tests.factories import FACTORY_TODAY, OPERATOR, DemoCatalog, load_demo_catalog, noon
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, caused_by, pine_cone_vet, raise_quantity

AWAITING, PROVISIONED, FAILED = (
    ProvisioningStatus.AWAITING,
    ProvisioningStatus.PROVISIONED,
    ProvisioningStatus.FAILED,
)


def _change(session: Session, subscription: Subscription, quantity: int) -> tuple[LicenseChange, LicenseChange]:
    """The location's change and the change it caused on the linked parent, committed."""
    child = raise_quantity(session, subscription, quantity)
    parent = caused_by(session, child)
    session.commit()
    return child, parent


def _statuses(session: Session, *changes: LicenseChange) -> list[ProvisioningStatus]:
    session.expire_all()
    return [session.get_one(LicenseChange, c.id).provisioning_status for c in changes]


def _subjects(session: Session, change: LicenseChange) -> list[str]:
    return list(session.scalars(select(Notification.subject).where(Notification.license_change_id == change.id)))


# --- a manual parent: a person refuses one location's change -----------------------------------------------


@pytest.fixture
def manual_vet(session: Session) -> PineConeVet:
    catalog = load_demo_catalog(session)
    vet = pine_cone_vet(session, catalog, parent_account=catalog.manual)
    for change in session.scalars(select(LicenseChange).where(LicenseChange.provisioning_status == AWAITING)):
        change.provisioning_status = PROVISIONED  # the parents' purchase was confirmed by hand
    session.flush()
    return vet


def test_a_refused_location_does_not_block_the_next_locations_change_on_the_parent(
    session: Session, manual_vet: PineConeVet, make_worker: Callable[..., Worker]
) -> None:
    new_york, atlanta = manual_vet.locations["New York City"].e3, manual_vet.locations["Atlanta"].e3
    ny_child, ny_parent = _change(session, new_york, 35)  # parent 50 -> 60
    worker = make_worker()
    worker.run_once()
    queue.confirm(
        session,
        change_id=ny_parent.id,
        status=FAILED,
        message="The distributor refused New York's ten.",
        actor=OPERATOR,
        now=noon(FACTORY_TODAY),
    )
    at_child, at_parent = _change(session, atlanta, 12)  # parent 60 -> 62

    assert worker.run_once().tally.handed_off == 1, "Atlanta's change must not wait for New York's refused one"
    assert _subjects(session, at_parent) == ["Provision by hand: set Microsoft 365 E3 to 52 (Pine Cone Vet)"]
    queue.confirm(
        session, change_id=at_parent.id, status=PROVISIONED, message=None, actor=OPERATOR, now=noon(FACTORY_TODAY)
    )
    assert _statuses(session, at_parent, at_child, ny_parent, ny_child) == [PROVISIONED, PROVISIONED, FAILED, FAILED]

    # New York's next change assumed its refused one: it waits until that is dealt with.
    _, ny_again_parent = _change(session, new_york, 30)  # parent 62 -> 57
    assert worker.run_once().tally.handed_off == 0
    with pytest.raises(Conflict) as refused:
        queue.confirm(
            session,
            change_id=ny_again_parent.id,
            status=PROVISIONED,
            message=None,
            actor=OPERATOR,
            now=noon(FACTORY_TODAY),
        )
    assert refused.value.code == "earlier_change_pending"

    # Requeued, New York's changes go together, on top of what Atlanta's already did at the provider.
    queue.requeue(session, change_id=ny_parent.id, actor=OPERATOR, now=noon(FACTORY_TODAY))
    session.commit()
    assert worker.run_once().tally.handed_off == 2
    assert _subjects(session, ny_again_parent) == ["Provision by hand: set Microsoft 365 E3 to 57 (Pine Cone Vet)"]


# --- Partner Center: the provider refuses one location's quantity ------------------------------------------


@pytest.fixture
def catalog(session: Session, simulator: SimulatorServer) -> DemoCatalog:
    """The demo catalog, its Partner Center account pointed at this test's simulator; Microsoft 365 E3 without
    the maximum in seatflow's catalog, so that only the provider refuses (its offer allows 300)."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    catalog.e3.max_quantity = None
    session.flush()
    return catalog


def _provider_quantity(simulator: SimulatorServer, session: Session, subscription: Subscription) -> int:
    session.expire_all()
    external_id = session.get_one(Subscription, subscription.id).external_id
    found = [s for s in httpx.get(f"{simulator.url}/_sim/state").json()["subscriptions"] if s["id"] == external_id]
    assert len(found) == 1
    quantity: int = found[0]["quantity"]
    return quantity


def test_the_provider_refusing_one_locations_quantity_leaves_the_others_to_provision(
    session: Session,
    catalog: DemoCatalog,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    vet = pine_cone_vet(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    assert _provider_quantity(simulator, session, vet.parent_e3) == 50

    ny_child, ny_parent = _change(session, vet.locations["New York City"].e3, 325)  # parent 350: above 300
    worker.drain(max_wait_seconds=30)
    assert _statuses(session, ny_parent, ny_child) == [FAILED, FAILED]

    at_child, at_parent = _change(session, vet.locations["Atlanta"].e3, 15)  # parent 355 here, 55 at the provider
    result = worker.drain(max_wait_seconds=30)

    assert _statuses(session, at_parent, at_child) == [PROVISIONED, PROVISIONED]
    assert result.tally.provisioned == 1
    assert _provider_quantity(simulator, session, vet.parent_e3) == 55
    assert _statuses(session, ny_parent, ny_child) == [FAILED, FAILED], "New York's refusal stays for the operator"

    # New York's own next change assumed its refused one: it is held back, Atlanta's next one goes past it.
    _, ny_again_parent = _change(session, vet.locations["New York City"].e3, 30)  # parent 60 here
    at_again, at_again_parent = _change(session, vet.locations["Atlanta"].e3, 20)  # parent 65 here, 60 there
    worker.drain(max_wait_seconds=30)

    assert _statuses(session, ny_again_parent, at_again_parent, at_again) == [AWAITING, PROVISIONED, PROVISIONED]
    assert _provider_quantity(simulator, session, vet.parent_e3) == 60
    now = clock.now()
    with unit_of_work(worker.session_factory) as db:
        assert queue.next_wakeup(db, now=now, today=now.date()) is None, "nothing the worker can do is left"


def test_a_location_change_the_parents_limit_refuses_records_nothing_and_blocks_nobody(
    session: Session, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    vet = pine_cone_vet(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    changes_before = len(session.scalars(select(LicenseChange)).all())

    with pytest.raises(QuantityOutOfRange) as refused, session.begin_nested():
        _change(session, vet.locations["New York City"].e3, 276)  # parent 301: the catalog allows 300

    assert refused.value.extra == {"minimum": 1, "maximum": 275, "linked_parent": True}
    assert len(session.scalars(select(LicenseChange)).all()) == changes_before
    at_child, at_parent = _change(session, vet.locations["Atlanta"].e3, 15)
    worker.drain(max_wait_seconds=30)
    assert _statuses(session, at_parent, at_child) == [PROVISIONED, PROVISIONED]
    assert _provider_quantity(simulator, session, vet.parent_e3) == 55
