from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from seatflow.db.base import Base, IdMixin
from seatflow.db.types import UTCDateTime


class PortalSession(IdMixin, Base):
    """A logged-in contact. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "portal_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Every form of the session carries it; a POST without it is refused."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginAttempt(IdMixin, Base):
    """Every login attempt, for throttling repeated wrong passwords (per e-mail address and per address)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_at", "ip", "attempted_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
