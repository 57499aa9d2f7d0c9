"""Portal accounts (issue 6): invitations, passwords (argon2id), sessions, throttled logins, resets.

Tokens (session cookie, invitation and reset links) are random and only their SHA-256 is stored, so a copy
of the database opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seatflow.customers.models import AccountStatus, Contact, ContactStatus, CustomerAccount
from seatflow.errors import Conflict, SeatflowError, Unauthorized, ValidationFailed
from seatflow.portal.models import LoginAttempt, PortalSession

SESSION_HOURS = 12
RESET_HOURS = 2
MIN_PASSWORD = 10
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_PER_EMAIL = 5
THROTTLE_PER_IP = 20
"""Failed logins allowed per e-mail address, and per client address, in the window."""

_hasher = PasswordHasher()  # shared with the console's operator logins
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class LoginFailed(Unauthorized):
    code = "login_failed"


class LoginThrottled(SeatflowError):
    code = "login_throttled"
    title = "Too many attempts"


class LinkInvalid(Conflict):
    code = "link_invalid"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"Choose a password of at least {MIN_PASSWORD} characters.", code="weak_password")
    if len(password) > 200:
        raise ValidationFailed("That password is too long (200 characters at most).", code="weak_password")


@dataclass(frozen=True)
class SessionStart:
    token: str
    session: PortalSession


def _start_session(session: Session, contact: Contact, now: datetime) -> SessionStart:
    token = secrets.token_urlsafe(32)
    row = PortalSession(
        token_hash=token_hash(token),
        contact_id=contact.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return SessionStart(token, row)


def _by_link(session: Session, *, reset: bool, token: str, now: datetime) -> Contact:
    column = Contact.reset_hash if reset else Contact.invitation_hash
    contact = session.execute(select(Contact).where(column == token_hash(token))).scalar_one_or_none()
    if contact is None:
        raise LinkInvalid("This link is not valid (it was used already, or replaced by a newer one).")
    expiry = contact.reset_expires_at if reset else contact.invitation_expires_at
    if expiry is None or expiry < now:
        raise LinkInvalid("This link has expired: ask for a new one.")
    return contact


def invitation_contact(session: Session, token: str, now: datetime) -> Contact:
    contact = _by_link(session, reset=False, token=token, now=now)
    if contact.status is ContactStatus.DISABLED:
        raise LinkInvalid("This invitation was revoked.")
    return contact


def accept_invitation(session: Session, *, token: str, password: str, now: datetime) -> SessionStart:
    """Set the password of an invited contact (the link works once) and log in."""
    contact = invitation_contact(session, token, now)
    check_password(password)
    contact.password_hash = _hasher.hash(password)
    contact.status = ContactStatus.ACTIVE
    contact.invitation_hash = None
    contact.invitation_expires_at = None
    return _start_session(session, contact, now)


def _lock_throttle(session: Session, *keys: str) -> None:
    """Attempts on one address (or from one client address) are counted and recorded one after the other, so
    that parallel wrong passwords cannot all pass the count before any of them is recorded.

    PostgreSQL: a transaction-scoped advisory lock per key, held until the attempt is committed, taken in one
    order so that two logins never wait for each other. SQLite: the login's writing transaction holds the
    database's write lock from its BEGIN already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for lock_id in sorted({_lock_id(key) for key in keys}):
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for a throttle key."""
    return int.from_bytes(hashlib.sha256(f"seatflow login throttle {key}".encode()).digest()[:8], "big", signed=True)


def _throttled(session: Session, email: str, ip: str, now: datetime) -> timedelta | None:
    """How long the address or client must wait, or None; locks both keys until the transaction ends (the caller
    records its attempt in the same transaction)."""
    _lock_throttle(session, f"email:{email}", f"ip:{ip}")
    since = now - THROTTLE_WINDOW
    failed = select(func.count(), func.min(LoginAttempt.attempted_at)).where(
        LoginAttempt.attempted_at >= since, LoginAttempt.succeeded.is_(False)
    )
    for column, value, limit in (
        (LoginAttempt.email, email, THROTTLE_PER_EMAIL),
        (LoginAttempt.ip, ip, THROTTLE_PER_IP),
    ):
        count, oldest = session.execute(failed.where(column == value)).one()
        if count >= limit and oldest is not None:
            return oldest + THROTTLE_WINDOW - now
    return None


def login(session: Session, *, email: str, password: str, ip: str, now: datetime) -> SessionStart:
    """Raises LoginThrottled after repeated failures (the wait is in ``extra['retry_after']``), LoginFailed.

    An e-mail address may belong to contacts of several customers: the one whose password matches logs in.
    """
    email = email.strip().lower()
    wait = _throttled(session, email, ip, now)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise LoginThrottled(
            f"Too many failed attempts: try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=int(wait.total_seconds()) + 1,
        )
    candidates = (
        session.execute(
            select(Contact)
            .join(CustomerAccount, CustomerAccount.id == Contact.customer_id)
            .where(
                func.lower(Contact.email) == email,
                Contact.status == ContactStatus.ACTIVE,
                Contact.password_hash.is_not(None),
                CustomerAccount.status == AccountStatus.ACTIVE,
            )
        )
        .scalars()
        .all()
    )
    matched = next((c for c in candidates if _verify(c.password_hash, password)), None)
    if not candidates:
        _verify(_DUMMY_HASH, password)  # the same time with or without an account: no address probing
    session.add(LoginAttempt(email=email, ip=ip, attempted_at=now, succeeded=matched is not None))
    session.flush()
    if matched is None:
        raise LoginFailed("That e-mail address and password do not match.")
    if matched.password_hash and _hasher.check_needs_rehash(matched.password_hash):
        matched.password_hash = _hasher.hash(password)
    return _start_session(session, matched, now)


def _verify(hashed: str | None, password: str) -> bool:
    if not hashed:
        return False
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def current(
    session: Session, token: str | None, now: datetime, *, touch: bool = True
) -> tuple[PortalSession, Contact] | None:
    """The session and contact of a cookie, if it is valid and the contact may still log in."""
    if not token:
        return None
    row = session.execute(
        select(PortalSession).where(PortalSession.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.expires_at < now:
        return None
    contact = session.get(Contact, row.contact_id)
    if contact is None or contact.status is not ContactStatus.ACTIVE:
        return None
    customer = session.get(CustomerAccount, contact.customer_id)
    if customer is None or customer.status is not AccountStatus.ACTIVE:
        return None
    if touch:
        row.last_seen_at = now
    return row, contact


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(PortalSession).where(PortalSession.token_hash == token_hash(token)))


def request_reset(session: Session, *, email: str, now: datetime, base_url: str) -> list[tuple[Contact, str]]:
    """A reset link for every active contact with this address (usually one); nothing tells the caller
    whether the address exists."""
    email = email.strip().lower()
    contacts = (
        session.execute(
            select(Contact).where(func.lower(Contact.email) == email, Contact.status == ContactStatus.ACTIVE)
        )
        .scalars()
        .all()
    )
    links = []
    for contact in contacts:
        token = secrets.token_urlsafe(32)
        contact.reset_hash = token_hash(token)
        contact.reset_expires_at = now + timedelta(hours=RESET_HOURS)
        links.append((contact, f"{base_url.rstrip('/')}/portal/password-reset/{token}"))
    session.flush()
    return links


def reset_contact(session: Session, token: str, now: datetime) -> Contact:
    return _by_link(session, reset=True, token=token, now=now)


def reset_password(session: Session, *, token: str, password: str, now: datetime) -> SessionStart:
    """A new password from a reset link (which then stops working); every other session is ended."""
    contact = reset_contact(session, token, now)
    check_password(password)
    contact.password_hash = _hasher.hash(password)
    contact.reset_hash = None
    contact.reset_expires_at = None
    session.execute(delete(PortalSession).where(PortalSession.contact_id == contact.id))
    return _start_session(session, contact, now)


def end_sessions(session: Session, contact_id: uuid.UUID) -> None:
    session.execute(delete(PortalSession).where(PortalSession.contact_id == contact_id))
