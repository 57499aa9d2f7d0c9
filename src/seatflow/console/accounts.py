"""Operator logins for the console: argon2id passwords, hashed session tokens, throttled logins (the
portal's login-attempt table, keyed ``operator:<email>``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatflow.console.models import ConsoleSession, Operator, OperatorRole, OperatorStatus
from seatflow.errors import Conflict
from seatflow.portal.accounts import (
    LoginFailed,
    LoginThrottled,
    _hasher,
    _throttled,
    _verify,
    check_password,
    token_hash,
)
from seatflow.portal.models import LoginAttempt

SESSION_HOURS = 10


class DuplicateOperator(Conflict):
    code = "duplicate_operator"


def create_operator(session: Session, *, email: str, name: str, role: OperatorRole, password: str) -> Operator:
    email = email.strip().lower()
    if session.execute(select(Operator).where(Operator.email == email)).first():
        raise DuplicateOperator(f"An operator {email} exists already.")
    check_password(password)
    operator = Operator(email=email, name=name.strip() or email, role=role, password_hash=_hasher.hash(password))
    session.add(operator)
    session.flush()
    return operator


def set_password(session: Session, operator: Operator, password: str) -> None:
    check_password(password)
    operator.password_hash = _hasher.hash(password)
    session.execute(delete(ConsoleSession).where(ConsoleSession.operator_id == operator.id))


@dataclass(frozen=True)
class Started:
    token: str
    session: ConsoleSession


def login(session: Session, *, email: str, password: str, ip: str, now: datetime) -> Started:
    email = email.strip().lower()
    key = f"operator:{email}"
    wait = _throttled(session, key, ip, now)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise LoginThrottled(
            f"Too many failed attempts: try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=int(wait.total_seconds()) + 1,
        )
    operator = session.execute(
        select(Operator).where(func.lower(Operator.email) == email, Operator.status == OperatorStatus.ACTIVE)
    ).scalar_one_or_none()
    ok = _verify(operator.password_hash if operator else None, password)
    session.add(LoginAttempt(email=key, ip=ip, attempted_at=now, succeeded=ok))
    session.flush()
    if operator is None or not ok:
        raise LoginFailed("That e-mail address and password do not match.")
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=token_hash(token),
        operator_id=operator.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return Started(token, row)


def current(
    session: Session, token: str | None, now: datetime, *, touch: bool = True
) -> tuple[ConsoleSession, Operator] | None:
    if not token:
        return None
    row = session.execute(
        select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.expires_at < now:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or operator.status is not OperatorStatus.ACTIVE:
        return None
    if touch:
        row.last_seen_at = now
    return row, operator


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))
