from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import UTCDateTime, enum_column


class NotificationKind(enum.StrEnum):
    MANUAL_PROVISIONING = "manual_provisioning"
    """A manual provider's people must provision a change by hand and confirm it."""


class Notification(IdMixin, TimestampMixin, Base):
    """Something a person must act on; recorded by the worker, shown in the queue and the console."""

    __tablename__ = "notifications"

    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind, 32))
    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("provider_accounts.id", ondelete="RESTRICT"), index=True
    )
    license_change_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("license_changes.id", ondelete="RESTRICT"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
