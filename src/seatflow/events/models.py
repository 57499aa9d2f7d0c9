from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import UTCDateTime, enum_column


class OutboxEvent(IdMixin, Base):
    """Something that happened, written in the transaction that made it happen; delivered by the worker."""

    __tablename__ = "outbox_events"

    type: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    """What it is about: the license change, invoice, subscription…; for filtering deliveries."""
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """The clock's "now" when it happened (the test clock's, when one is set): the payload's ``timestamp``."""
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    """For events a daily step finds again and again (a renewal, a leak, a drift): sent once per key."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """When the worker made its deliveries (None: not yet)."""


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """An operator's receiver of events."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(300), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    """``whsec_`` + base64 of 32 random bytes: the HMAC key. Shown once, when the endpoint is made."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    """Why seatflow turned it off (the receiver answered 410 Gone); None when an operator did."""
    created_by: Mapped[str] = mapped_column(String(320))


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    """The operator's address (``SEATFLOW_NOTIFY_EMAIL``): failures and renewals by mail."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILING = "failing"
    """Tried and refused or unreachable; tried again at ``next_attempt_at``."""
    DEAD = "dead"
    """Given up after the last attempt (or the receiver said 410 Gone); a replay sends it again."""


class WebhookDelivery(IdMixin, Base):
    """One event to one endpoint (or one address): at least once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        UniqueConstraint("event_id", "recipient"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, 16))
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(320))
    """For mail: the address."""
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, 16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A worker's lease while it sends; a worker that dies frees it when it runs out."""
