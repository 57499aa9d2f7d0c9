"""The console's operators: accounts, roles and logins (argon2id passwords, hashed session tokens, throttled
logins keyed ``operator:<email>``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.auth import passwords, throttle
from seatflow.auth.models import ConsoleSession, Operator, OperatorRole, OperatorStatus
from seatflow.auth.sessions import SessionStore, Started
from seatflow.errors import Conflict

SESSION_HOURS = 10
sessions = SessionStore(ConsoleSession, ConsoleSession.operator_id, SESSION_HOURS)


class DuplicateOperator(Conflict):
    code = "duplicate_operator"


def create_operator(session: Session, *, email: str, name: str, role: OperatorRole, password: str) -> Operator:
    email = email.strip().lower()
    if session.execute(select(Operator).where(Operator.email == email)).first():
        raise DuplicateOperator(f"An operator {email} exists already.")
    passwords.check_password(password)
    operator = Operator(
        email=email, name=name.strip() or email, role=role, password_hash=passwords.hash_password(password)
    )
    session.add(operator)
    session.flush()
    return operator


def set_password(session: Session, operator: Operator, password: str) -> None:
    """A new password; every session of the operator ends."""
    passwords.check_password(password)
    operator.password_hash = passwords.hash_password(password)
    sessions.end_all(session, operator.id)


def disable(session: Session, operator: Operator) -> None:
    operator.status = OperatorStatus.DISABLED
    sessions.end_all(session, operator.id)


def login(session: Session, *, email: str, password: str, ip: str, now: datetime) -> Started[ConsoleSession]:
    """Raises ``LoginThrottled`` after repeated failures (the wait is in ``extra['retry_after']``), ``LoginFailed``."""
    email = email.strip().lower()
    name = f"operator:{throttle.plain(email)}"
    throttle.check(session, name, ip, now)
    operator = None
    if "\x00" not in email:  # no address holds one, and PostgreSQL refuses it in text
        operator = session.execute(
            select(Operator).where(func.lower(Operator.email) == email, Operator.status == OperatorStatus.ACTIVE)
        ).scalar_one_or_none()
    ok = passwords.verify_password(operator.password_hash if operator else None, password)
    throttle.record(session, name, ip, now, succeeded=ok)
    if operator is None or not ok:
        raise throttle.failed()
    if passwords.needs_rehash(operator.password_hash):
        operator.password_hash = passwords.hash_password(password)
    return sessions.start(session, operator.id, now)


def current(
    session: Session, token: str | None, now: datetime, *, touch: bool = True
) -> tuple[ConsoleSession, Operator] | None:
    """The session and operator of a cookie, if it is valid and the operator may still log in."""
    row = sessions.find(session, token, now, touch=touch)
    if row is None:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or operator.status is not OperatorStatus.ACTIVE:
        return None
    return row, operator


def logout(session: Session, token: str | None) -> None:
    sessions.end(session, token)
