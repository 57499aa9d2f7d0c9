"""Who may call seatflow: API keys, the console's operators, login sessions of operators and contacts, login
attempts, and the instance's signing key."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.db.base import Base, IdMixin, TimestampMixin
from seatflow.db.types import UTCDateTime, enum_column


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    """The key's first characters, shown in listings so an operator can tell keys apart."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class LoginSession(IdMixin):
    """A logged-in person; the cookie holds a random token, only its SHA-256 is stored (``auth.sessions``)."""

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Every form of the session carries it; a POST without it is refused."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsoleSession(LoginSession, Base):
    """An operator logged in to the console."""

    __tablename__ = "console_sessions"

    operator_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("operators.id", ondelete="CASCADE"), index=True)


class PortalSession(LoginSession, Base):
    """A customer's contact logged in to the portal."""

    __tablename__ = "portal_sessions"

    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)


class LoginAttempt(IdMixin, Base):
    """Every login attempt, for throttling repeated wrong passwords (per login name and per client address)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_at", "ip", "attempted_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    """The login name: a contact's address, or ``operator:<address>``."""
    ip: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class InstanceKey(Base):
    """A secret of this seatflow instance, made by the migration that added the table (``signing``: the HMAC key of
    the CSRF tokens of forms shown before login). ``SEATFLOW_SECRET_KEY`` takes its place when set."""

    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
