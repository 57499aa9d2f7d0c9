"""What a contact may see and do (SPEC §3): its own account's billable contracts, and with
``access_child_accounts`` every descendant account's; never a non-billable contract or subscription.
Anything else is "not found", never "forbidden", so IDs of other customers reveal nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice, InvoiceStatus
from seatflow.contracts.models import BillingContract, ContractStatus
from seatflow.customers.models import Contact, ContactRole, CustomerAccount
from seatflow.customers.service import descendant_ids
from seatflow.errors import NotFound
from seatflow.subscriptions.models import ENDED_STATUSES, Subscription

ADMIN, SUBSCRIPTIONS, FINANCE, CHILDREN = (
    ContactRole.ADMINISTRATOR.value,
    ContactRole.SUBSCRIPTION_MANAGER.value,
    ContactRole.FINANCE_MANAGER.value,
    ContactRole.ACCESS_CHILD_ACCOUNTS.value,
)


class PortalNotFound(NotFound):
    pass


@dataclass(frozen=True)
class Viewer:
    contact: Contact
    account: CustomerAccount
    account_ids: frozenset[uuid.UUID]

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.contact.roles)

    @property
    def sees_subscriptions(self) -> bool:
        return bool(self.roles & {ADMIN, SUBSCRIPTIONS, FINANCE})

    @property
    def changes_quantities(self) -> bool:
        return bool(self.roles & {ADMIN, SUBSCRIPTIONS})

    @property
    def sees_invoices(self) -> bool:
        return bool(self.roles & {ADMIN, FINANCE})

    @property
    def manages_users(self) -> bool:
        return ADMIN in self.roles


def viewer_of(session: Session, contact: Contact) -> Viewer:
    account = session.get(CustomerAccount, contact.customer_id)
    assert account is not None  # noqa: S101 - a foreign key guarantees it
    ids = {account.id}
    if CHILDREN in contact.roles:
        ids |= descendant_ids(session, account.id)
    return Viewer(contact, account, frozenset(ids))


def visible_contracts(session: Session, viewer: Viewer) -> Sequence[tuple[BillingContract, CustomerAccount]]:
    if not viewer.sees_subscriptions and not viewer.sees_invoices:
        return []
    stmt = (
        select(BillingContract, CustomerAccount)
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
        .where(
            BillingContract.customer_id.in_(viewer.account_ids),
            BillingContract.billable.is_(True),
            BillingContract.status == ContractStatus.ACTIVE,
        )
        .order_by(CustomerAccount.name, BillingContract.name)
    )
    return [(contract, account) for contract, account in session.execute(stmt)]


def _visible_contract(session: Session, viewer: Viewer, contract_id: uuid.UUID | None) -> BillingContract:
    contract = session.get(BillingContract, contract_id) if contract_id else None
    if contract is None or contract.customer_id not in viewer.account_ids or not contract.billable:
        raise PortalNotFound("Not found.")
    return contract


def require_contract(session: Session, viewer: Viewer, contract_id: uuid.UUID | None) -> BillingContract:
    if not viewer.sees_subscriptions:
        raise PortalNotFound("Not found.")
    return _visible_contract(session, viewer, contract_id)


def subscriptions_of(session: Session, contract: BillingContract) -> Sequence[Subscription]:
    stmt = (
        select(Subscription)
        .where(
            Subscription.contract_id == contract.id,
            Subscription.billable.is_(True),
            Subscription.status.not_in(tuple(ENDED_STATUSES)),
        )
        .order_by(Subscription.created_at, Subscription.id)
    )
    return session.execute(stmt).scalars().all()


def require_subscription(session: Session, viewer: Viewer, subscription_id: uuid.UUID | None) -> Subscription:
    subscription = session.get(Subscription, subscription_id) if subscription_id else None
    if subscription is None or not subscription.billable:
        raise PortalNotFound("Not found.")
    require_contract(session, viewer, subscription.contract_id)
    return subscription


def visible_invoices(session: Session, viewer: Viewer) -> Sequence[Invoice]:
    """The issued documents of the contracts the contact sees, and the consolidated invoices addressed to an account
    it sees (SPEC §8: to the parent contract's customer, whose parent contract may be non-billable); never a section
    of a consolidated invoice on its own (a location's contact sees its charges only when it sees the account
    billed)."""
    if not viewer.sees_invoices:
        return []
    contract_ids = [c.id for c, _ in visible_contracts(session, viewer)]
    stmt = (
        select(Invoice)
        .where(
            or_(
                and_(Invoice.contract_id.in_(contract_ids), Invoice.consolidated.is_(False)),
                and_(Invoice.consolidated.is_(True), Invoice.customer_id.in_(viewer.account_ids)),
            ),
            Invoice.consolidated_invoice_id.is_(None),
            Invoice.status == InvoiceStatus.ISSUED,
        )
        .order_by(Invoice.issue_date.desc(), Invoice.number.desc())
        .limit(500)
    )
    return session.execute(stmt).scalars().all()


def require_invoice(session: Session, viewer: Viewer, invoice_id: uuid.UUID | None) -> Invoice:
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if (
        invoice is None
        or not viewer.sees_invoices
        or invoice.status is not InvoiceStatus.ISSUED
        or invoice.consolidated_invoice_id is not None
    ):
        raise PortalNotFound("Not found.")
    if invoice.consolidated:
        if invoice.customer_id not in viewer.account_ids:
            raise PortalNotFound("Not found.")
    else:
        _visible_contract(session, viewer, invoice.contract_id)
    return invoice


def managed_accounts(session: Session, viewer: Viewer) -> list[CustomerAccount]:
    """The accounts whose users an administrator manages: its own, first, and with ``access_child_accounts`` (which
    only the reseller grants) every descendant account, by name."""
    if not viewer.manages_users:
        return []
    others = session.scalars(
        select(CustomerAccount)
        .where(CustomerAccount.id.in_(viewer.account_ids - {viewer.account.id}))
        .order_by(CustomerAccount.name, CustomerAccount.id)
    ).all()
    return [viewer.account, *others]


def require_managed_account(session: Session, viewer: Viewer, account_id: uuid.UUID | None) -> CustomerAccount:
    account = session.get(CustomerAccount, account_id) if account_id else None
    if account is None or not viewer.manages_users or account.id not in viewer.account_ids:
        raise PortalNotFound("Not found.")
    return account


def require_managed_contact(session: Session, viewer: Viewer, contact_id: uuid.UUID | None) -> Contact:
    """Administrators manage the contacts of their own account, and with ``access_child_accounts`` those of every
    descendant account (a head office its locations')."""
    contact = session.get(Contact, contact_id) if contact_id else None
    if contact is None or not viewer.manages_users or contact.customer_id not in viewer.account_ids:
        raise PortalNotFound("Not found.")
    return contact
