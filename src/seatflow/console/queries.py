"""What the console's pages read and the domain repositories do not offer in that shape: counts, newest-first
lists, and the names around a page of rows, fetched in a few set-based queries. Read only; every change goes
through a domain service."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.catalog.models import Product, ProductParent, ProviderAccount
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.provisioning.models import Notification
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription


def provisioning_counts(session: Session) -> dict[ProvisioningStatus, int]:
    """How many changes wait for provisioning and how many failed (the queue's two numbers that matter)."""
    wanted = (ProvisioningStatus.AWAITING, ProvisioningStatus.FAILED)
    stmt = (
        select(LicenseChange.provisioning_status, func.count())
        .where(LicenseChange.provisioning_status.in_(wanted))
        .group_by(LicenseChange.provisioning_status)
    )
    counts = dict.fromkeys(wanted, 0)
    counts.update({status: int(count) for status, count in session.execute(stmt)})
    return counts


def open_notifications(session: Session, *, limit: int = 100) -> Sequence[Notification]:
    stmt = select(Notification).where(Notification.resolved_at.is_(None)).order_by(Notification.id).limit(limit)
    return session.execute(stmt).scalars().all()


def open_notification_count(session: Session) -> int:
    stmt = select(func.count()).select_from(Notification).where(Notification.resolved_at.is_(None))
    return int(session.execute(stmt).scalar_one())


def recent_runs(session: Session, *, limit: int = 20) -> Sequence[BillingRun]:
    stmt = select(BillingRun).order_by(BillingRun.started_at.desc(), BillingRun.id.desc()).limit(limit)
    return session.execute(stmt).scalars().all()


def queue_changes(
    session: Session,
    *,
    statuses: Collection[ProvisioningStatus],
    account_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
) -> tuple[Sequence[LicenseChange], uuid.UUID | None]:
    """Changes in these provisioning statuses, oldest first (the order the worker takes them), a page at a
    time; the id to continue after, or None at the end."""
    stmt = select(LicenseChange).where(LicenseChange.provisioning_status.in_(list(statuses)))
    if account_id is not None:
        on_account = select(Subscription.id).where(Subscription.provider_account_id == account_id)
        stmt = stmt.where(LicenseChange.subscription_id.in_(on_account))
    if after is not None:
        stmt = stmt.where(LicenseChange.id > after)
    rows = session.execute(stmt.order_by(LicenseChange.id).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


@dataclass(frozen=True)
class Around:
    """A subscription with the names a row about it shows."""

    subscription: Subscription
    product: Product
    account: ProviderAccount
    contract: BillingContract
    customer: CustomerAccount


def around(session: Session, subscription_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Around]:
    if not subscription_ids:
        return {}
    stmt = (
        select(Subscription, Product, ProviderAccount, BillingContract, CustomerAccount)
        .join(Product, Product.id == Subscription.product_id)
        .join(ProviderAccount, ProviderAccount.id == Subscription.provider_account_id)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
        .where(Subscription.id.in_(list(subscription_ids)))
    )
    return {row[0].id: Around(*row) for row in session.execute(stmt)}


def changes_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LicenseChange]:
    if not ids:
        return {}
    stmt = select(LicenseChange).where(LicenseChange.id.in_(list(ids)))
    return {c.id: c for c in session.execute(stmt).scalars()}


def changes_caused_by(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[LicenseChange]]:
    """The changes each of ``ids`` caused (a linked child's change → its parent's)."""
    found: dict[uuid.UUID, list[LicenseChange]] = defaultdict(list)
    if ids:
        stmt = select(LicenseChange).where(LicenseChange.caused_by_change_id.in_(list(ids))).order_by(LicenseChange.id)
        for change in session.execute(stmt).scalars():
            assert change.caused_by_change_id is not None  # noqa: S101 - the filter says so
            found[change.caused_by_change_id].append(change)
    return found


def latest_change(session: Session, subscription_id: uuid.UUID) -> LicenseChange | None:
    stmt = (
        select(LicenseChange)
        .where(LicenseChange.subscription_id == subscription_id)
        .order_by(LicenseChange.created_at.desc(), LicenseChange.id.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def linked_children_by_parent(
    session: Session, parent_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[Subscription]]:
    """The live linked children of each of ``parent_ids`` (the ones a linked parent's quantity must equal)."""
    found: dict[uuid.UUID, list[Subscription]] = defaultdict(list)
    if parent_ids:
        stmt = (
            select(Subscription)
            .where(
                Subscription.linked_subscription_id.in_(list(parent_ids)),
                Subscription.status.in_(subscriptions_repository.NOT_CANCELLED),
            )
            .order_by(Subscription.id)
        )
        for child in session.execute(stmt).scalars():
            assert child.linked_subscription_id is not None  # noqa: S101 - the filter says so
            found[child.linked_subscription_id].append(child)
    return found


def customers(session: Session, *, search: str | None, limit: int) -> Sequence[CustomerAccount]:
    stmt = select(CustomerAccount).order_by(CustomerAccount.name, CustomerAccount.id).limit(limit)
    if search:
        text = search.lower()
        stmt = stmt.where(
            func.lower(CustomerAccount.name).contains(text, autoescape=True)
            | func.lower(func.coalesce(CustomerAccount.tenant_id, "")).contains(text, autoescape=True)
        )
    return session.execute(stmt).scalars().all()


def customers_by_id(session: Session, ids: Collection[uuid.UUID]) -> Sequence[CustomerAccount]:
    stmt = select(CustomerAccount).where(CustomerAccount.id.in_(list(ids))).order_by(CustomerAccount.name)
    return session.execute(stmt).scalars().all()


def contracts_of(session: Session, customer_ids: Collection[uuid.UUID]) -> Sequence[BillingContract]:
    stmt = (
        select(BillingContract)
        .where(BillingContract.customer_id.in_(list(customer_ids)))
        .order_by(BillingContract.name, BillingContract.id)
    )
    return session.execute(stmt).scalars().all()


def names_of_customers(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(select(CustomerAccount.id, CustomerAccount.name).where(CustomerAccount.id.in_(list(ids))))
    return {row.id: row.name for row in rows}


def contracts_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, BillingContract]:
    if not ids:
        return {}
    stmt = select(BillingContract).where(BillingContract.id.in_(list(ids)))
    return {c.id: c for c in session.execute(stmt).scalars()}


def accounts_by_id(session: Session) -> dict[uuid.UUID, ProviderAccount]:
    return {a.id: a for a in session.execute(select(ProviderAccount).order_by(ProviderAccount.name)).scalars()}


def parent_edges(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every possible-parent edge of the catalog: (product, parent)."""
    stmt = select(ProductParent.product_id, ProductParent.parent_product_id)
    return [(child, parent) for child, parent in session.execute(stmt)]


def products_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Product]:
    if not ids:
        return {}
    stmt = select(Product).where(Product.id.in_(list(ids))).order_by(Product.product_code)
    return {p.id: p for p in session.execute(stmt).scalars()}


def invoices_newest_first(
    session: Session,
    *,
    status: InvoiceStatus | None,
    contract_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    before: uuid.UUID | None,
    limit: int,
    kind: DocumentKind | None = DocumentKind.INVOICE,
) -> tuple[Sequence[Invoice], uuid.UUID | None]:
    """Invoices (or credit notes; None: both) as they are sent (a consolidated document, not its sections), the
    latest first (ids are time-ordered), a page at a time; the id to continue before. A contract finds the
    consolidated documents holding a section of it too."""
    stmt = select(Invoice).where(Invoice.consolidated_invoice_id.is_(None))
    if kind is not None:
        stmt = stmt.where(Invoice.kind == kind)
    if status is not None:
        stmt = stmt.where(Invoice.status == status)
    if contract_id is not None:
        section = aliased(Invoice)
        holding = select(section.consolidated_invoice_id).where(
            section.contract_id == contract_id, section.consolidated_invoice_id.is_not(None)
        )
        stmt = stmt.where(or_(Invoice.contract_id == contract_id, Invoice.id.in_(holding)))
    if run_id is not None:
        stmt = stmt.where(Invoice.billing_run_id == run_id)
    if before is not None:
        stmt = stmt.where(Invoice.id < before)
    rows = session.execute(stmt.order_by(Invoice.id.desc()).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
