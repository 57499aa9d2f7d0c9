"""Login sessions, one implementation for the console's operators and the portal's contacts.

A session is a row of its table (``console_sessions``, ``portal_sessions``) holding the SHA-256 of the cookie's
random token, the CSRF token every form of the session carries, and when it was made, expires and was last used.
Whether the person behind it may still log in is the caller's rule (an operator disabled, a contact revoked).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from seatflow.auth.models import LoginSession
from seatflow.auth.tokens import new_token, token_hash

S = TypeVar("S", bound=LoginSession)


@dataclass(frozen=True)
class Started(Generic[S]):
    token: str
    """For the cookie; never stored."""
    row: S


class SessionStore(Generic[S]):
    """The sessions of one table, whose ``owner`` column names the operator or contact."""

    def __init__(self, model: type[S], owner: InstrumentedAttribute[uuid.UUID], hours: int) -> None:
        self.model, self.owner, self.hours = model, owner, hours

    def start(self, session: Session, owner_id: uuid.UUID, now: datetime) -> Started[S]:
        token = new_token()
        row = self.model()
        row.token_hash = token_hash(token)
        row.csrf_token = secrets.token_urlsafe(24)
        row.created_at = row.last_seen_at = now
        row.expires_at = now + timedelta(hours=self.hours)
        setattr(row, self.owner.key, owner_id)
        session.add(row)
        session.flush()
        return Started(token, row)

    def find(self, session: Session, token: str | None, now: datetime, *, touch: bool = True) -> S | None:
        """The session of a cookie, if it exists and has not expired; ``touch`` notes its use (a write: never on a
        page that only reads)."""
        if not token:
            return None
        row = session.execute(select(self.model).where(self.model.token_hash == token_hash(token))).scalar_one_or_none()
        if row is None or row.expires_at < now:
            return None
        if touch:
            row.last_seen_at = now
        return row

    def end(self, session: Session, token: str | None) -> S | None:
        """Ends the session of a cookie (logging out); the row it was, for the audit log."""
        if not token:
            return None
        row = session.execute(select(self.model).where(self.model.token_hash == token_hash(token))).scalar_one_or_none()
        if row is not None:
            session.delete(row)
            session.flush()
        return row

    def end_all(self, session: Session, owner_id: uuid.UUID) -> None:
        """Every session of one person (a new password, access revoked, disabled)."""
        session.execute(delete(self.model).where(self.owner == owner_id))
