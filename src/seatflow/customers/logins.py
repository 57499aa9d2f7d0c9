"""Contacts' logins to the portal (SPEC §10): invitations accepted, passwords, sessions, throttled logins, password
resets. Built on ``seatflow.auth`` (the same passwords, tokens, throttle and session store as operators'); what is
the customers domain's own is who may log in: an active contact of an active customer account."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.auth import passwords, throttle
from seatflow.auth.models import PortalSession
from seatflow.auth.sessions import SessionStore, Started
from seatflow.auth.tokens import new_link, token_hash
from seatflow.customers.models import AccountStatus, Contact, ContactStatus, CustomerAccount
from seatflow.errors import Conflict

SESSION_HOURS = 12
RESET_HOURS = 2
sessions = SessionStore(PortalSession, PortalSession.contact_id, SESSION_HOURS)


class LinkInvalid(Conflict):
    code = "link_invalid"


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


def accept_invitation(session: Session, *, token: str, password: str, now: datetime) -> Started[PortalSession]:
    """Set the password of an invited contact (the link works once) and log in."""
    contact = invitation_contact(session, token, now)
    passwords.check_password(password)
    contact.password_hash = passwords.hash_password(password)
    contact.status = ContactStatus.ACTIVE
    contact.invitation_hash = None
    contact.invitation_expires_at = None
    return sessions.start(session, contact.id, now)


def login(session: Session, *, email: str, password: str, ip: str, now: datetime) -> Started[PortalSession]:
    """Raises ``LoginThrottled`` after repeated failures (the wait is in ``extra['retry_after']``), ``LoginFailed``.

    An e-mail address may belong to contacts of several customers: the one whose password matches logs in.
    """
    asked = email.strip().lower()
    email = throttle.plain(asked)
    throttle.check(session, email, ip, now)
    candidates = (
        []
        if asked != email  # no address holds a NUL character, and PostgreSQL refuses one in text
        else session.execute(
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
    matched = next((c for c in candidates if passwords.verify_password(c.password_hash, password)), None)
    if not candidates:
        passwords.verify_password(None, password)  # the same time with or without an account
    throttle.record(session, email, ip, now, succeeded=matched is not None)
    if matched is None:
        raise throttle.failed()
    if matched.password_hash and passwords.needs_rehash(matched.password_hash):
        matched.password_hash = passwords.hash_password(password)
    return sessions.start(session, matched.id, now)


def current(
    session: Session, token: str | None, now: datetime, *, touch: bool = True
) -> tuple[PortalSession, Contact] | None:
    """The session and contact of a cookie, if it is valid and the contact may still log in."""
    row = sessions.find(session, token, now, touch=touch)
    if row is None:
        return None
    contact = session.get(Contact, row.contact_id)
    if contact is None or contact.status is not ContactStatus.ACTIVE:
        return None
    customer = session.get(CustomerAccount, contact.customer_id)
    if customer is None or customer.status is not AccountStatus.ACTIVE:
        return None
    return row, contact


def logout(session: Session, token: str | None) -> None:
    sessions.end(session, token)


def request_reset(session: Session, *, email: str, now: datetime, base_url: str) -> list[tuple[Contact, str]]:
    """A reset link for every active contact with this address (usually one); nothing tells the caller
    whether the address exists."""
    email = email.strip().lower()
    if throttle.plain(email) != email:
        return []
    contacts = (
        session.execute(
            select(Contact).where(func.lower(Contact.email) == email, Contact.status == ContactStatus.ACTIVE)
        )
        .scalars()
        .all()
    )
    links = []
    for contact in contacts:
        link = new_link(now, timedelta(hours=RESET_HOURS))
        contact.reset_hash = link.hash
        contact.reset_expires_at = link.expires_at
        links.append((contact, f"{base_url.rstrip('/')}/portal/password-reset/{link.token}"))
    session.flush()
    return links


def reset_contact(session: Session, token: str, now: datetime) -> Contact:
    return _by_link(session, reset=True, token=token, now=now)


def reset_password(session: Session, *, token: str, password: str, now: datetime) -> Started[PortalSession]:
    """A new password from a reset link (which then stops working); every other session is ended."""
    contact = reset_contact(session, token, now)
    passwords.check_password(password)
    contact.password_hash = passwords.hash_password(password)
    contact.reset_hash = None
    contact.reset_expires_at = None
    sessions.end_all(session, contact.id)
    return sessions.start(session, contact.id, now)


def end_sessions(session: Session, contact_id: uuid.UUID) -> None:
    sessions.end_all(session, contact_id)
