from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.audit.scope import ActorKind, Origin
from seatflow.db.base import Base, IdMixin
from seatflow.db.types import UTCDateTime, enum_column


class AuditEntry(IdMixin, Base):
    """One record created, changed or deleted by one actor (or one named action, ``recorder.record``)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_kind", "target_id"),)

    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    """Real UTC time (as ``created_at`` everywhere), not the test clock's: when it happened in the world."""
    actor_kind: Mapped[ActorKind] = mapped_column(enum_column(ActorKind, 16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    """The operator's, API key's or contact's id; None for the CLI, anonymous and the system."""
    actor_name: Mapped[str] = mapped_column(String(320))
    origin: Mapped[Origin] = mapped_column(enum_column(Origin, 16))
    ip: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    """``<target>.created``, ``<target>.deleted``, ``<target>.<column>_changed`` for a headline column
    (``subscription.quantity_changed``), ``<target>.updated`` otherwise, or a name given by ``record``."""
    target_kind: Mapped[str] = mapped_column(String(64))
    """The record's kind: its model's name in snake case (``subscription``, ``license_change``)."""
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """The changed columns as they were (None for a creation); secrets shown as ``[redacted]``."""
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """The changed columns as they are (every column for a creation; None for a deletion)."""
