"""The queue's order is the order changes were committed in, not the order their requests read the clock in
(SPEC §5: never lose an update). Two requests that read 'now' as T+2 s and T+1 s may commit in that order; the
worker sends the last step's quantity as the absolute target, so the later commit must be the last step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.changes import change_quantity, record_change
from seatflow.subscriptions.models import ChangeKind, LicenseChange
from tests.factories import FACTORY_TODAY, OPERATOR, DemoCatalog, load_demo_catalog, noon
from tests.provisioning.test_partner_center import fresh, sim_subscription
from tests.subscriptions.helpers import pine_cone_vet


@pytest.fixture
def catalog(session: Session, simulator: SimulatorServer) -> DemoCatalog:
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    return catalog


def test_changes_committed_against_the_clock_order_provision_the_last_committed_quantity(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    vet = pine_cone_vet(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    parent = fresh(session, vet.parent_e3)
    assert sim_subscription(simulator, parent.external_id)["quantity"] == 50  # 10 + 25 + 15
    t = noon(FACTORY_TODAY)

    # Atlanta's request read the clock at T+2 s and commits first: parent 50 -> 52.
    change_quantity(
        session,
        subscription_id=vet.locations["Atlanta"].e3.id,
        quantity=12,
        effective="now",
        today=FACTORY_TODAY,
        now=t + timedelta(seconds=2),
        actor=OPERATOR,
    )
    session.commit()
    # Memphis's request read the clock earlier, at T+1 s, and commits second: parent 52 -> 57.
    change_quantity(
        session,
        subscription_id=vet.locations["Memphis"].e3.id,
        quantity=20,
        effective="now",
        today=FACTORY_TODAY,
        now=t + timedelta(seconds=1),
        actor=OPERATOR,
    )
    session.commit()
    worker.drain(max_wait_seconds=30)

    parent = fresh(session, vet.parent_e3)
    assert parent.quantity == 57  # 12 + 25 + 20
    assert sim_subscription(simulator, parent.external_id)["quantity"] == 57
    stamps = session.scalars(
        select(LicenseChange.created_at)
        .where(LicenseChange.subscription_id == parent.id, LicenseChange.quantity_after.in_((52, 57)))
        .order_by(LicenseChange.quantity_after)
    ).all()
    assert stamps[0] < stamps[1]  # the change committed second is stamped after the first


def test_a_change_added_but_not_yet_flushed_counts_for_the_next_changes_stamp(session: Session) -> None:
    """record_change reads the latest stamp without autoflush (one flush for the subscription and its change); a
    change some other code added to the session and has not flushed must still count, or the next change would be
    stamped before it and the queue would send its quantity out of order."""
    vet = pine_cone_vet(session, load_demo_catalog(session))
    atlanta = vet.locations["Atlanta"].e3
    t = noon(FACTORY_TODAY)
    pending = record_change(
        session,
        subscription=atlanta,
        kind=ChangeKind.QUANTITY,
        quantity_before=10,
        quantity_after=12,
        effective_date=FACTORY_TODAY,
        actor=OPERATOR,
        now=t,
    )
    session.expunge(pending)
    pending = LicenseChange(
        **{c.key: getattr(pending, c.key) for c in LicenseChange.__table__.columns if c.key != "id"}
        | {"created_at": t + timedelta(seconds=5)}
    )
    session.add(pending)  # added by some other code, not flushed
    atlanta.quantity = 14
    second = record_change(
        session,
        subscription=atlanta,
        kind=ChangeKind.QUANTITY,
        quantity_before=12,
        quantity_after=14,
        effective_date=FACTORY_TODAY,
        actor=OPERATOR,
        now=t + timedelta(seconds=1),  # read the clock before the pending change's stamp
    )
    assert second.created_at > pending.created_at  # stamped after T+5 s, not at T+1 s
