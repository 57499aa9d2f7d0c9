from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import UTCDateTime, enum_column


class OperatorRole(enum.StrEnum):
    ADMIN = "admin"
    """Everything, including voiding invoices."""
    OPERATOR = "operator"
    """Runs the work: the queue (requeue, confirm), billing runs, reconciliation fixes."""
    READ_ONLY = "read_only"
    """Sees everything, changes nothing."""


class OperatorStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Operator(IdMixin, TimestampMixin, Base):
    """A person of the reseller who logs in to the console."""

    __tablename__ = "operators"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[OperatorRole] = mapped_column(enum_column(OperatorRole, 16))
    status: Mapped[OperatorStatus] = mapped_column(enum_column(OperatorStatus, 16), default=OperatorStatus.ACTIVE)
    password_hash: Mapped[str] = mapped_column(String(300))


class ConsoleSession(IdMixin, Base):
    """A logged-in operator; the cookie holds a random token, only its SHA-256 is stored."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
