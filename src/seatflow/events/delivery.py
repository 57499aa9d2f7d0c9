"""Deliveries (SPEC §17): the worker fans events out to endpoints (and the operator's address), claims the due
ones, sends each with no transaction open, and writes how it went; operators replay.

At least once: a delivery is marked delivered only after the receiver answered 2xx, so a worker that dies after
sending sends again (the receiver recognises it by ``webhook-id``). A failure (any other status, a timeout, a
refused connection) is tried again after ``retry_delay``: exponential (times 4 from ``backoff_base_seconds``, at most
``backoff_max_seconds``, a tenth of jitter, never sooner than a ``Retry-After``) until ``max_attempts``, then dead.
``410 Gone`` is dead at once and turns the endpoint off. Deliveries of an endpoint that is off wait.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from seatflow.audit import recorder as audit
from seatflow.errors import ValidationFailed
from seatflow.events.errors import DeliveryNotFound, EndpointInactive
from seatflow.events.models import Channel, DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from seatflow.ids import parse_id
from seatflow.pagination import MAX_LIMIT, decode_cursor, encode_cursor

DUE = (DeliveryStatus.PENDING, DeliveryStatus.FAILING)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 43200.0
    timeout_seconds: float = 10.0
    batch_size: int = 50
    lease_seconds: float = 120.0


def retry_delay(
    attempts: int, policy: DeliveryPolicy, *, retry_after: float | None = None, jitter: float = 0.0
) -> float:
    """Seconds before attempt ``attempts + 1``: base * 4^(attempts-1), capped, plus ``jitter`` (0…1) tenths, and
    no sooner than the receiver's ``Retry-After`` (itself capped)."""
    delay = min(policy.backoff_max_seconds, policy.backoff_base_seconds * 4.0 ** max(0, attempts - 1))
    delay *= 1 + 0.1 * jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max_seconds))
    return delay


@dataclass(frozen=True)
class Result:
    """How one attempt went."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    gone: bool = False
    """410 Gone: the receiver wants no more."""


@dataclass(frozen=True)
class Attempt:
    """What sending a claimed delivery needs, read before the call."""

    delivery_id: uuid.UUID
    channel: Channel
    url: str | None
    secret: str | None
    recipient: str | None
    event_id: uuid.UUID
    event_type: str
    occurred_at: datetime
    data: dict[str, Any] = field(hash=False)
    attempts: int = 0


# --- fan-out ----------------------------------------------------------------------------------------------


def fan_out(
    session: Session,
    *,
    now: datetime,
    mail_to: str = "",
    mail_events: frozenset[str] = frozenset(),
    limit: int = 500,
) -> int:
    """Deliveries for the oldest undispatched events: one per active endpoint that chose the event's type, and
    one to ``mail_to`` for ``mail_events``. Answers how many deliveries were made."""
    stmt = select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id).limit(limit)
    if session.connection().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    events = session.execute(stmt).scalars().all()
    if not events:
        return 0
    endpoints = session.execute(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))).scalars().all()
    made = 0
    for event in events:
        for endpoint in endpoints:
            if event.type in endpoint.events:
                session.add(_delivery(event, now, channel=Channel.WEBHOOK, endpoint_id=endpoint.id))
                made += 1
        if mail_to and event.type in mail_events:
            session.add(_delivery(event, now, channel=Channel.EMAIL, recipient=mail_to))
            made += 1
        event.dispatched_at = now
    session.flush()
    return made


def _delivery(event: OutboxEvent, now: datetime, **fields: Any) -> WebhookDelivery:
    return WebhookDelivery(
        event_id=event.id,
        event_type=event.type,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


# --- claiming and recording ---------------------------------------------------------------------------------


def _free(now: datetime) -> Any:
    d = WebhookDelivery
    return or_(d.claimed_until.is_(None), d.claimed_until < now)


def _sendable() -> Any:
    """Mail, or a webhook whose endpoint is on."""
    on = exists().where(WebhookEndpoint.id == WebhookDelivery.endpoint_id, WebhookEndpoint.active.is_(True))
    return or_(WebhookDelivery.channel == Channel.EMAIL, on)


def anything_to_do(session: Session, *, now: datetime) -> bool:
    """An event to fan out or a delivery due (a read: an idle worker takes no write lock for it)."""
    d = WebhookDelivery
    undispatched = exists().where(OutboxEvent.dispatched_at.is_(None))
    due = exists().where(d.status.in_(DUE), d.next_attempt_at <= now, _free(now), _sendable())
    return bool(session.execute(select(or_(undispatched, due))).scalar())


def claim(session: Session, *, now: datetime, worker_id: str, policy: DeliveryPolicy) -> list[uuid.UUID]:
    """Lease up to ``batch_size`` due deliveries, soonest first (``SKIP LOCKED`` on PostgreSQL; SQLite's writers
    take turns)."""
    d = WebhookDelivery
    stmt = (
        select(d.id)
        .where(d.status.in_(DUE), d.next_attempt_at <= now, _free(now), _sendable())
        .order_by(d.next_attempt_at, d.id)
        .limit(policy.batch_size)
    )
    if session.connection().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.execute(stmt).scalars())
    if not ids:
        return []
    session.execute(
        update(d)
        .where(d.id.in_(ids), _free(now))
        .values(claimed_by=worker_id, claimed_until=now + timedelta(seconds=policy.lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return list(session.execute(select(d.id).where(d.id.in_(ids), d.claimed_by == worker_id)).scalars())


def load(session: Session, ids: Sequence[uuid.UUID]) -> list[Attempt]:
    d, e, w = WebhookDelivery, OutboxEvent, WebhookEndpoint
    rows = session.execute(
        select(d, e, w)
        .join(e, e.id == d.event_id)
        .outerjoin(w, w.id == d.endpoint_id)
        .where(d.id.in_(ids))
        .order_by(d.next_attempt_at, d.id)
    ).all()
    return [
        Attempt(
            delivery_id=delivery.id,
            channel=delivery.channel,
            url=endpoint.url if endpoint else None,
            secret=endpoint.secret if endpoint else None,
            recipient=delivery.recipient,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            data=event.data,
            attempts=delivery.attempts,
        )
        for delivery, event, endpoint in rows
    ]


def release(session: Session, ids: Sequence[uuid.UUID], worker_id: str) -> None:
    """Claims given back unsent (the worker is stopping)."""
    d = WebhookDelivery
    session.execute(
        update(d)
        .where(d.id.in_(ids), d.claimed_by == worker_id)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def record_result(
    session: Session,
    *,
    delivery_id: uuid.UUID,
    worker_id: str,
    result: Result,
    now: datetime,
    policy: DeliveryPolicy,
    jitter: float | None = None,
) -> DeliveryStatus | None:
    """Write how an attempt went; None when the lease was lost meanwhile (another worker has it now)."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
    if delivery is None or delivery.claimed_by != worker_id:
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:500] if result.error else None
    delivery.claimed_by = None
    delivery.claimed_until = None
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif result.gone or delivery.attempts >= policy.max_attempts:
        delivery.status = DeliveryStatus.DEAD
        delivery.next_attempt_at = None
        if result.gone and delivery.endpoint_id is not None:
            _turn_off(session, delivery.endpoint_id, "The receiver answered 410 Gone: it wants no more events.")
    else:
        delay = retry_delay(
            delivery.attempts,
            policy,
            retry_after=result.retry_after,
            jitter=random.random() if jitter is None else jitter,
        )
        delivery.status = DeliveryStatus.FAILING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    session.flush()
    return delivery.status


def _turn_off(session: Session, endpoint_id: uuid.UUID, reason: str) -> None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is not None and endpoint.active:
        endpoint.active = False
        endpoint.disabled_reason = reason


# --- operators ---------------------------------------------------------------------------------------------


def require_delivery(session: Session, ref: str | uuid.UUID) -> WebhookDelivery:
    delivery_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    delivery = session.get(WebhookDelivery, delivery_id) if delivery_id else None
    if delivery is None:
        raise DeliveryNotFound(f"No webhook delivery {ref}.")
    return delivery


def replay(session: Session, delivery: WebhookDelivery, *, now: datetime) -> WebhookDelivery:
    """Send it again as soon as a worker can, with every attempt again (delivered, failing or dead alike). The
    receiver gets the same ``webhook-id``, so one that already has it can tell."""
    if delivery.endpoint_id is not None:
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            raise EndpointInactive("The endpoint is turned off: turn it on before replaying its deliveries.")
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.claimed_by = None
    delivery.claimed_until = None
    audit.record(
        session,
        action="webhook_delivery.replayed",
        target_kind="webhook_delivery",
        target_id=delivery.id,
        before=before,
        after={"status": delivery.status, "attempts": 0},
    )
    session.flush()
    return delivery


@dataclass(frozen=True)
class DeliveryFilters:
    endpoint_id: uuid.UUID | None = None
    status: DeliveryStatus | None = None
    event_type: str | None = None
    channel: Channel | None = None
    subject_id: str | None = None


def list_deliveries(
    session: Session, filters: DeliveryFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[tuple[WebhookDelivery, OutboxEvent]], str | None]:
    """Deliveries with their events, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    d, e = WebhookDelivery, OutboxEvent
    stmt = select(d, e).join(e, e.id == d.event_id)
    for column, value in (
        (d.endpoint_id, filters.endpoint_id),
        (d.status, filters.status),
        (d.event_type, filters.event_type),
        (d.channel, filters.channel),
        (e.subject_id, filters.subject_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if cursor:
        stmt = stmt.where(d.id < decode_cursor(cursor))
    rows = [(delivery, event) for delivery, event in session.execute(stmt.order_by(d.id.desc()).limit(limit + 1))]
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1][0].id)
    return rows, None


def event_of(session: Session, delivery: WebhookDelivery) -> OutboxEvent:
    event = session.get(OutboxEvent, delivery.event_id)
    assert event is not None  # noqa: S101 - a foreign key guarantees it
    return event
