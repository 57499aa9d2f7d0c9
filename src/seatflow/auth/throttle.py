"""Throttled logins: every attempt is recorded; after repeated failures per login name, or per client address,
in a window, further attempts are refused for a while (``LoginThrottled``, with the wait in seconds).

Attempts on one name (or from one client address) are counted and recorded one after the other, so parallel
wrong passwords cannot all pass the count before any of them is recorded. PostgreSQL: a transaction-scoped
advisory lock per key, held until the attempt is committed, taken in one order so that two logins never wait for
each other. SQLite: the login's writing transaction holds the database's write lock from its BEGIN already.

Operators and contacts share the table: an operator's name is ``operator:<email>``, a contact's its address.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.auth.models import LoginAttempt
from seatflow.errors import SeatflowError, Unauthorized

WINDOW = timedelta(minutes=15)
PER_NAME = 5
PER_IP = 20
"""Failed logins allowed per login name, and per client address, in the window."""


class LoginFailed(Unauthorized):
    code = "login_failed"


class LoginThrottled(SeatflowError):
    code = "login_throttled"
    title = "Too many attempts"


def failed() -> LoginFailed:
    return LoginFailed("That e-mail address and password do not match.")


def plain(name: str) -> str:
    """A login name as the table can hold it: PostgreSQL refuses NUL characters in text (and no address holds
    one, so such a login fails anyway)."""
    return name.replace("\x00", "")


def check(session: Session, name: str, ip: str, now: datetime) -> None:
    """Raises ``LoginThrottled`` when ``name`` or ``ip`` must wait; otherwise holds both keys until the
    transaction ends (the caller records its attempt in the same transaction with ``record``)."""
    _lock(session, f"email:{name}", f"ip:{ip}")
    since = now - WINDOW
    failures = select(func.count(), func.min(LoginAttempt.attempted_at)).where(
        LoginAttempt.attempted_at >= since, LoginAttempt.succeeded.is_(False)
    )
    for column, value, limit in ((LoginAttempt.email, name, PER_NAME), (LoginAttempt.ip, ip, PER_IP)):
        count, oldest = session.execute(failures.where(column == value)).one()
        if count >= limit and oldest is not None:
            wait = oldest + WINDOW - now
            minutes = max(1, int(wait.total_seconds() // 60) + 1)
            raise LoginThrottled(
                f"Too many failed attempts: try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                retry_after=int(wait.total_seconds()) + 1,
            )


def record(session: Session, name: str, ip: str, now: datetime, *, succeeded: bool) -> None:
    session.add(LoginAttempt(email=name, ip=ip, attempted_at=now, succeeded=succeeded))
    session.flush()


def _lock(session: Session, *keys: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for lock_id in sorted({_lock_id(key) for key in keys}):
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for a throttle key."""
    return int.from_bytes(hashlib.sha256(f"seatflow login throttle {key}".encode()).digest()[:8], "big", signed=True)
