"""The worker's events step against a real receiver on a loopback port: signed deliveries that the Standard Webhooks
library verifies, retries after the receiver was down, 410 Gone, and the operator's mail as one message a pass."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from seatflow.events.delivery import DeliveryPolicy
from seatflow.events.dispatcher import Dispatcher, Notify
from seatflow.events.endpoints import add_endpoint
from seatflow.events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from seatflow.events.outbox import emit
from tests.factories import FACTORY_TODAY, noon
from tests.provisioning.conftest import ManualClock
from tests.webhooks.receiver import Receiver

POLICY = DeliveryPolicy(max_attempts=3, backoff_base_seconds=60, backoff_max_seconds=600, timeout_seconds=5)
FAILED = {
    "id": "c-1",
    "kind": "quantity",
    "quantity_before": 5,
    "quantity_after": 9,
    "subscription_id": "s-1",
    "message": "Gave up after 2 attempts: HTTP 500",
}


@pytest.fixture
def clock() -> ManualClock:
    start = noon(FACTORY_TODAY)
    return ManualClock(start, datetime.now(UTC))


class Mailbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


def dispatcher(sessions: sessionmaker[Session], clock: ManualClock, **notify: object) -> Dispatcher:
    return Dispatcher(sessions, sessions, clock, "test-worker", POLICY, Notify(**notify))  # type: ignore[arg-type]


def status_of(session: Session) -> list[tuple[DeliveryStatus, int]]:
    session.expire_all()
    return [(d.status, d.attempts) for d in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]


def test_a_signed_delivery_is_verified_by_the_receiver(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock, receiver: Receiver
) -> None:
    made = add_endpoint(session, url=receiver.url, events=["license_change.failed"], created_by="t")
    receiver.secret = made.secret
    emit(session, type="license_change.failed", subject_id="c-1", data=FAILED, occurred_at=clock.now())
    session.commit()
    result = dispatcher(sessions, clock).run_once()
    assert (result.fanned_out, result.delivered) == (1, 1)
    [got] = receiver.received()
    assert got.verified
    assert (got.payload["type"], got.payload["data"]) == ("license_change.failed", FAILED)
    assert datetime.fromisoformat(got.payload["timestamp"]).date() == FACTORY_TODAY, "when it happened, by the clock"
    assert got.headers["content-type"] == "application/json"
    assert status_of(session) == [(DeliveryStatus.DELIVERED, 1)]


def test_a_receiver_that_was_down_gets_the_retry(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock, receiver: Receiver
) -> None:
    made = add_endpoint(session, url=receiver.url, events=["license_change.failed"], created_by="t")
    receiver.secret = made.secret
    emit(session, type="license_change.failed", subject_id="c-1", data=FAILED, occurred_at=clock.now())
    session.commit()
    receiver.answer = 503
    step = dispatcher(sessions, clock)
    assert step.run_once().failed == 1
    assert status_of(session) == [(DeliveryStatus.FAILING, 1)]
    assert step.run_once().delivered == 0, "not before its next attempt"
    receiver.answer = 200
    clock.advance(seconds=POLICY.backoff_base_seconds * 1.2)  # past the first retry delay and its jitter
    assert step.run_once().delivered == 1
    first, second = receiver.received()
    assert (first.answered, second.answered) == (503, 200)
    assert first.webhook_id == second.webhook_id, "the same webhook-id: the receiver can tell it is the same event"
    assert status_of(session) == [(DeliveryStatus.DELIVERED, 2)]


def test_an_unreachable_receiver_dies_after_the_last_attempt(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock, receiver: Receiver
) -> None:
    add_endpoint(session, url=receiver.url, events=["invoice.issued"], created_by="t")
    receiver.stop()  # nobody listens on the port any more
    emit(session, type="invoice.issued", subject_id="i-1", data={"number": "INV-1"}, occurred_at=clock.now())
    session.commit()
    step = dispatcher(sessions, clock)
    for _ in range(POLICY.max_attempts):
        step.run_once()
        clock.advance(seconds=POLICY.backoff_max_seconds * 1.2)
    assert status_of(session) == [(DeliveryStatus.DEAD, POLICY.max_attempts)]
    delivery = session.scalar(select(WebhookDelivery))
    assert delivery is not None
    assert delivery.last_error is not None
    assert "Connect" in delivery.last_error


def test_gone_turns_the_endpoint_off(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock, receiver: Receiver
) -> None:
    made = add_endpoint(session, url=receiver.url, events=["invoice.issued"], created_by="t")
    receiver.secret, receiver.answer = made.secret, 410
    emit(session, type="invoice.issued", subject_id="i-1", data={}, occurred_at=clock.now())
    session.commit()
    assert dispatcher(sessions, clock).run_once().dead == 1
    session.expire_all()
    endpoint = session.get(WebhookEndpoint, made.endpoint.id)
    assert endpoint is not None
    assert not endpoint.active


def test_the_operators_mail_is_one_message_a_pass(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    for n in range(3):
        emit(
            session,
            type="license_change.failed",
            subject_id=f"c-{n}",
            data={**FAILED, "id": f"c-{n}"},
            occurred_at=clock.now(),
        )
    emit(session, type="invoice.issued", subject_id="i-1", data={}, occurred_at=clock.now())  # not chosen for mail
    session.commit()
    mailbox = Mailbox()
    step = dispatcher(
        sessions,
        clock,
        email="ops@reseller.example",
        events=frozenset({"license_change.failed", "renewal.upcoming"}),
        console_url="https://seatflow.example",
        send_mail=mailbox,
    )
    result = step.run_once()
    assert (result.fanned_out, result.mails, result.delivered) == (3, 1, 3)
    [(to, subject, body)] = mailbox.sent
    assert to == "ops@reseller.example"
    assert subject == "seatflow: 3 license changes failed"
    assert body.count("- Failed: quantity 5 → 9 of subscription s-1") == 3
    assert "https://seatflow.example/console/queue?status=failed" in body


def test_a_mail_server_that_refuses_is_retried(
    session: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    def refuse(to: str, subject: str, body: str) -> None:
        raise ConnectionRefusedError("smtp down")

    emit(session, type="license_change.failed", subject_id="c-1", data=FAILED, occurred_at=clock.now())
    session.commit()
    step = dispatcher(sessions, clock, email="ops@reseller.example", send_mail=refuse)
    assert step.run_once().failed == 1
    assert status_of(session) == [(DeliveryStatus.FAILING, 1)]
