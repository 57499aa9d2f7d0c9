"""Fan-out, claims, outcomes and replay on the service lane (no HTTP: outcomes are given)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.events import delivery
from seatflow.events.delivery import DeliveryPolicy, Result, retry_delay
from seatflow.events.endpoints import add_endpoint, change_endpoint
from seatflow.events.errors import EndpointInactive, EndpointUrlInvalid, UnknownEventType
from seatflow.events.models import Channel, DeliveryStatus, OutboxEvent, WebhookDelivery
from seatflow.events.outbox import NewEvent, emit, emit_many, key_of
from tests.factories import FACTORY_TODAY, noon

NOW = noon(FACTORY_TODAY)
POLICY = DeliveryPolicy(max_attempts=3, backoff_base_seconds=10, backoff_max_seconds=100, batch_size=10)


def deliveries(session: Session) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def one_delivery(session: Session) -> WebhookDelivery:
    add_endpoint(session, url="https://erp.example/hooks", events=["invoice.issued"], created_by="t")
    emit(session, type="invoice.issued", subject_id="inv-1", data={"number": "INV-1"}, occurred_at=NOW)
    delivery.fan_out(session, now=NOW)
    [found] = deliveries(session)
    return found


def attempt(session: Session, found: WebhookDelivery, result: Result, at: object = NOW) -> DeliveryStatus | None:
    [claimed] = delivery.claim(session, now=at, worker_id="w1", policy=POLICY)  # type: ignore[arg-type]
    assert claimed == found.id
    return delivery.record_result(
        session,
        delivery_id=found.id,
        worker_id="w1",
        result=result,
        now=at,
        policy=POLICY,
        jitter=0.0,  # type: ignore[arg-type]
    )


def test_an_event_goes_to_the_active_endpoints_that_chose_it_and_to_the_operators_mail(session: Session) -> None:
    wants = add_endpoint(session, url="https://a.example/h", events=["license_change.failed"], created_by="t")
    add_endpoint(session, url="https://b.example/h", events=["invoice.issued"], created_by="t")
    off = add_endpoint(session, url="https://c.example/h", events=["license_change.failed"], created_by="t")
    change_endpoint(session, off.endpoint, active=False)
    emit(session, type="license_change.failed", subject_id="c-1", data={"id": "c-1"}, occurred_at=NOW)
    made = delivery.fan_out(
        session, now=NOW, mail_to="ops@reseller.example", mail_events=frozenset({"license_change.failed"})
    )
    assert made == 2
    found = deliveries(session)
    assert {(d.channel, d.endpoint_id, d.recipient) for d in found} == {
        (Channel.WEBHOOK, wants.endpoint.id, None),
        (Channel.EMAIL, None, "ops@reseller.example"),
    }
    assert all(d.status is DeliveryStatus.PENDING and d.next_attempt_at == NOW for d in found)
    assert delivery.fan_out(session, now=NOW) == 0, "an event is fanned out once"
    assert session.scalar(select(OutboxEvent.dispatched_at)) == NOW


def test_a_2xx_is_delivered(session: Session) -> None:
    found = one_delivery(session)
    assert attempt(session, found, Result(ok=True, status_code=204)) is DeliveryStatus.DELIVERED
    assert (found.attempts, found.delivered_at, found.claimed_by, found.next_attempt_at) == (1, NOW, None, None)


def test_a_failure_is_retried_with_exponential_backoff_until_dead(session: Session) -> None:
    found = one_delivery(session)
    at = NOW
    for attempts, delay in ((1, 10), (2, 40)):
        assert (
            attempt(session, found, Result(ok=False, status_code=503, error="HTTP 503"), at) is DeliveryStatus.FAILING
        )
        assert found.attempts == attempts
        assert found.next_attempt_at == at + timedelta(seconds=delay)
        assert delivery.claim(session, now=at, worker_id="w1", policy=POLICY) == [], "not before its next attempt"
        at = at + timedelta(seconds=delay)
    assert attempt(session, found, Result(ok=False, error="ConnectError: refused"), at) is DeliveryStatus.DEAD
    assert (found.attempts, found.last_error, found.next_attempt_at) == (3, "ConnectError: refused", None)
    assert delivery.claim(session, now=at + timedelta(days=1), worker_id="w1", policy=POLICY) == []


@pytest.mark.parametrize(
    ("attempts", "retry_after", "jitter", "delay"),
    [
        (1, None, 0.0, 10),
        (2, None, 0.0, 40),
        (3, None, 0.0, 100),
        (9, None, 1.0, 110),
        (1, 30.0, 0.0, 30),
        (1, 1e6, 0, 100),
    ],
)
def test_retry_delays(attempts: int, retry_after: float | None, jitter: float, delay: float) -> None:
    assert retry_delay(attempts, POLICY, retry_after=retry_after, jitter=jitter) == pytest.approx(delay)


def test_gone_is_dead_at_once_and_turns_the_endpoint_off(session: Session) -> None:
    found = one_delivery(session)
    assert (
        attempt(session, found, Result(ok=False, status_code=410, error="HTTP 410", gone=True)) is DeliveryStatus.DEAD
    )
    endpoint = delivery.require_delivery(session, found.id)
    assert endpoint.attempts == 1
    from seatflow.events.endpoints import require_endpoint

    assert found.endpoint_id is not None
    turned_off = require_endpoint(session, found.endpoint_id)
    assert not turned_off.active
    assert turned_off.disabled_reason is not None
    assert "410" in turned_off.disabled_reason


def test_an_endpoint_turned_off_keeps_its_deliveries_waiting(session: Session) -> None:
    found = one_delivery(session)
    assert found.endpoint_id is not None
    from seatflow.events.endpoints import require_endpoint

    endpoint = require_endpoint(session, found.endpoint_id)
    change_endpoint(session, endpoint, active=False)
    assert delivery.claim(session, now=NOW, worker_id="w1", policy=POLICY) == []
    assert not delivery.anything_to_do(session, now=NOW)
    change_endpoint(session, endpoint, active=True)
    assert delivery.anything_to_do(session, now=NOW)


def test_a_lost_lease_records_nothing(session: Session) -> None:
    found = one_delivery(session)
    delivery.claim(session, now=NOW, worker_id="w1", policy=POLICY)
    later = NOW + timedelta(seconds=POLICY.lease_seconds + 1)
    assert delivery.claim(session, now=later, worker_id="w2", policy=POLICY) == [found.id]
    outcome = delivery.record_result(
        session, delivery_id=found.id, worker_id="w1", result=Result(ok=True), now=later, policy=POLICY
    )
    assert outcome is None
    assert found.status is DeliveryStatus.PENDING


def test_replay_sends_again_with_every_attempt_and_is_audited(session: Session) -> None:
    found = one_delivery(session)
    for _ in range(POLICY.max_attempts):
        attempt(session, found, Result(ok=False, error="down"), found.next_attempt_at)
    assert found.status is DeliveryStatus.DEAD
    attach(session, AuditScope(Origin.CONSOLE, AuditActor(ActorKind.OPERATOR, None, "ops@reseller.example")))
    delivery.replay(session, found, now=NOW + timedelta(hours=1))
    assert (found.status, found.attempts, found.next_attempt_at) == (
        DeliveryStatus.PENDING,
        0,
        NOW + timedelta(hours=1),
    )
    [row] = session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(found.id)))
    assert (row.action, row.actor_name) == ("webhook_delivery.replayed", "ops@reseller.example")
    assert row.before is not None
    assert row.before["status"] == "dead"


def test_replay_to_an_endpoint_that_is_off_is_refused(session: Session) -> None:
    found = one_delivery(session)
    from seatflow.events.endpoints import require_endpoint

    assert found.endpoint_id is not None
    change_endpoint(session, require_endpoint(session, found.endpoint_id), active=False)
    with pytest.raises(EndpointInactive):
        delivery.replay(session, found, now=NOW)


def test_a_keyed_event_is_written_once(session: Session) -> None:
    event = NewEvent("renewal.upcoming", "s-1", {"subscription_id": "s-1"}, NOW, dedupe_key=key_of("r", "s-1"))
    assert emit_many(session, [event, event]) == 1
    assert emit_many(session, [event]) == 0
    assert len(list(session.scalars(select(OutboxEvent)))) == 1


@pytest.mark.parametrize(
    "url", ["ftp://x.example/h", "https://user:pw@x.example/h", "/relative", "https://x.example/a b", ""]
)
def test_endpoint_urls_are_absolute_http(session: Session, url: str) -> None:
    with pytest.raises(EndpointUrlInvalid):
        add_endpoint(session, url=url, events=["invoice.issued"], created_by="t")


def test_endpoint_events_are_known_ones(session: Session) -> None:
    with pytest.raises(UnknownEventType):
        add_endpoint(session, url="https://x.example/h", events=["invoice.paid"], created_by="t")
    with pytest.raises(UnknownEventType):
        add_endpoint(session, url="https://x.example/h", events=[], created_by="t")
