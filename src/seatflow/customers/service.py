"""Customer accounts (a tree, mapped to tenants) and contacts (invited by link)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.auth.tokens import new_link
from seatflow.customers import logins
from seatflow.customers.models import Contact, ContactRole, ContactStatus, CustomerAccount, normalize_tenant_id
from seatflow.customers.schemas import ContactCreate, ContactUpdate, CustomerCreate, CustomerUpdate
from seatflow.errors import Conflict, Forbidden, NotFound
from seatflow.ids import parse_id
from seatflow.pagination import page

INVITATION_DAYS = 7
RESELLER_ROLES = frozenset({ContactRole.ACCESS_CHILD_ACCOUNTS.value})
"""Roles only the reseller grants (an operator or an API key), never a customer's own administrator."""


class CustomerNotFound(NotFound):
    code = "not_found"


class DuplicateTenant(Conflict):
    code = "duplicate_tenant"


class CustomerCycle(Conflict):
    code = "customer_cycle"


class DuplicateContact(Conflict):
    code = "duplicate_contact"


def require_customer(session: Session, ref: str | uuid.UUID, *, what: str = "customer") -> CustomerAccount:
    customer_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    customer = session.get(CustomerAccount, customer_id) if customer_id else None
    if customer is None:
        raise CustomerNotFound(f"No {what} {str(ref)!r}.")
    return customer


def ancestors(session: Session, customer: CustomerAccount) -> list[CustomerAccount]:
    """Parent, grandparent, … (stops at the root; the tree is kept acyclic on write)."""
    chain: list[CustomerAccount] = []
    current = customer
    while current.parent_customer_id is not None:
        current = require_customer(session, current.parent_customer_id)
        chain.append(current)
    return chain


def descendant_ids(session: Session, customer_id: uuid.UUID) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    frontier = {customer_id}
    while frontier:
        rows = session.execute(
            select(CustomerAccount.id).where(CustomerAccount.parent_customer_id.in_(frontier))
        ).scalars()
        frontier = set(rows) - found
        found |= frontier
    return found


def tenant_of(session: Session, customer: CustomerAccount) -> str | None:
    """The tenant this account provisions on: its own, or the nearest ancestor's."""
    for account in [customer, *ancestors(session, customer)]:
        if account.tenant_id:
            return account.tenant_id
    return None


def _check_tenant(session: Session, tenant_id: str | None, current: CustomerAccount | None) -> None:
    tenant_id = normalize_tenant_id(tenant_id)
    if tenant_id is None:
        return
    other = session.execute(select(CustomerAccount).where(CustomerAccount.tenant_id == tenant_id)).scalar_one_or_none()
    if other is not None and other is not current:
        raise DuplicateTenant(
            f"Tenant {tenant_id} is already mapped to {other.name!r}; a tenant maps to one customer account.",
            existing_customer_id=str(other.id),
        )


def create_customer(session: Session, *, data: CustomerCreate, default_currency: str) -> CustomerAccount:
    parent = (
        require_customer(session, data.parent_customer_id, what="parent customer") if data.parent_customer_id else None
    )
    _check_tenant(session, data.tenant_id, None)
    customer = CustomerAccount(
        name=data.name,
        parent_customer_id=parent.id if parent else None,
        tenant_id=data.tenant_id,
        currency=data.currency or (parent.currency if parent else default_currency),
        billing_address=data.billing_address.model_dump(),
        tax_id=data.tax_id or None,
    )
    session.add(customer)
    session.flush()
    return customer


def update_customer(session: Session, *, customer: CustomerAccount, data: CustomerUpdate) -> CustomerAccount:
    sent = data.model_fields_set
    if "parent_customer_id" in sent:
        if data.parent_customer_id is None:
            customer.parent_customer_id = None
        else:
            parent = require_customer(session, data.parent_customer_id, what="parent customer")
            if parent.id == customer.id or parent.id in descendant_ids(session, customer.id):
                raise CustomerCycle(f"{parent.name!r} is {customer.name!r} or below it: accounts form a tree.")
            customer.parent_customer_id = parent.id
    if "tenant_id" in sent:
        _check_tenant(session, data.tenant_id, customer)
        customer.tenant_id = data.tenant_id
    if data.name is not None:
        customer.name = data.name
    if data.billing_address is not None:
        customer.billing_address = data.billing_address.model_dump()
    if "tax_id" in sent:
        customer.tax_id = data.tax_id or None
    if data.status is not None:
        customer.status = data.status
    session.flush()
    return customer


def list_customers(
    session: Session,
    *,
    parent_customer_id: uuid.UUID | None = None,
    tenant_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[CustomerAccount], str | None]:
    stmt = select(CustomerAccount)
    if parent_customer_id is not None:
        stmt = stmt.where(CustomerAccount.parent_customer_id == parent_customer_id)
    if tenant_id is not None:
        stmt = stmt.where(CustomerAccount.tenant_id == normalize_tenant_id(tenant_id))
    return page(session, stmt, CustomerAccount.id, cursor=cursor, limit=limit)


def invite_contact(
    session: Session,
    *,
    customer: CustomerAccount,
    data: ContactCreate,
    now: datetime,
    base_url: str,
    by: Contact | None = None,
) -> tuple[Contact, str]:
    """The contact and its invitation link (valid for 7 days; only the token's hash is stored). ``by`` is the
    customer's administrator who invites, or None for the reseller (who alone grants ``RESELLER_ROLES``)."""
    roles = {r.value for r in data.roles}
    _check_grant(roles, by)
    existing = session.execute(
        select(Contact).where(Contact.customer_id == customer.id, Contact.email == data.email)
    ).scalar_one_or_none()
    if existing is not None:
        raise DuplicateContact(f"{data.email} is already a contact of {customer.name!r}.")
    link = new_link(now, timedelta(days=INVITATION_DAYS))
    contact = Contact(
        customer_id=customer.id,
        email=data.email,
        name=data.name,
        roles=sorted(roles),
        status=ContactStatus.INVITED,
        invitation_hash=link.hash,
        invitation_expires_at=link.expires_at,
    )
    session.add(contact)
    session.flush()
    return contact, f"{base_url.rstrip('/')}/portal/invitations/{link.token}"


class RoleReserved(Forbidden):
    code = "role_reserved"


class OwnAccess(Conflict):
    code = "own_access"


def _check_grant(roles: set[str], by: Contact | None) -> None:
    if by is not None and RESELLER_ROLES & roles:
        raise RoleReserved("Only your reseller can give access to child accounts: please ask them.")


def set_contact_roles(session: Session, contact: Contact, roles: set[str], *, by: Contact | None = None) -> None:
    """The contact's roles. A customer's administrator (``by``) neither grants nor takes away what the reseller
    granted, and cannot take the administrator role from themselves; the reseller (``by`` None) sets any."""
    _check_grant(roles, by)
    if by is not None:
        if by.id == contact.id and ContactRole.ADMINISTRATOR.value not in roles:
            raise OwnAccess("You cannot take the administrator role from yourself.")
        roles = roles | (RESELLER_ROLES & set(contact.roles))
    contact.roles = sorted(roles)
    session.flush()


def revoke_contact(session: Session, contact: Contact, *, by: Contact | None = None) -> None:
    """The contact can no longer log in: every session ends now, and an invitation link stops working (until
    restored). Nobody revokes their own access."""
    if by is not None and by.id == contact.id:
        raise OwnAccess("You cannot revoke your own access.")
    contact.status = ContactStatus.DISABLED
    logins.end_sessions(session, contact.id)
    session.flush()


def restore_contact(session: Session, contact: Contact) -> None:
    """A revoked contact may log in again: active with the password it had, else invited again (its invitation
    link works again while it has not expired)."""
    contact.status = ContactStatus.ACTIVE if contact.password_hash else ContactStatus.INVITED
    session.flush()


def update_contact(session: Session, *, contact: Contact, data: ContactUpdate) -> Contact:
    """The reseller's change of a contact (the API's and the console's): name, roles, and access (``disabled``
    revokes; ``active`` or ``invited`` restores, to what the contact's password allows)."""
    if data.name is not None:
        contact.name = data.name
    if data.roles is not None:
        set_contact_roles(session, contact, {r.value for r in data.roles})
    if data.status is ContactStatus.DISABLED and contact.status is not ContactStatus.DISABLED:
        revoke_contact(session, contact)
    elif data.status is not None and data.status is not ContactStatus.DISABLED:
        restore_contact(session, contact)
    session.flush()
    return contact


def require_contact(session: Session, customer: CustomerAccount, ref: str) -> Contact:
    contact_id = parse_id(ref)
    contact = session.get(Contact, contact_id) if contact_id else None
    if contact is None or contact.customer_id != customer.id:
        raise NotFound(f"No contact {ref!r} of {customer.name!r}.")
    return contact


def list_contacts(session: Session, customer: CustomerAccount) -> Sequence[Contact]:
    return (
        session.execute(select(Contact).where(Contact.customer_id == customer.id).order_by(Contact.id)).scalars().all()
    )
