"""The worker's pass runs the events step: the day's announcements once a day, and the deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderKind
from seatflow.events.models import OutboxEvent
from seatflow.provisioning.events_step import EventsConfig
from seatflow.provisioning.worker import Worker
from tests.factories import (
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
)
from tests.provisioning.conftest import ManualClock, clock, make_worker, session_factory  # noqa: F401


def test_a_pass_announces_the_days_renewals_once(
    session: Session,
    make_worker: Callable[..., Worker],  # noqa: F811
    clock: ManualClock,  # noqa: F811
) -> None:
    account = create_provider_account(session, kind=ProviderKind.DO_NOTHING)
    product = create_product(session, account=account)
    contract = create_contract(session, customer=create_customer(session))
    subscription = create_subscription(session, contract=contract, product=product, term="P1M", billing_plan="monthly")
    clock.move_to(clock.now() + timedelta(days=20))  # the monthly term renews within 30 days
    worker = make_worker(events=EventsConfig(renewal_days=30))
    first = worker.run_once()
    assert first.announced is not None
    assert first.announced.renewals == 1
    assert first.webhooks is not None
    assert worker.run_once(renewals=True).announced is None, "once a day"
    [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "renewal.upcoming"))
    assert event.subject_id == str(subscription.id)
    assert event.dispatched_at is not None, "the same pass fanned it out (to no endpoint)"
