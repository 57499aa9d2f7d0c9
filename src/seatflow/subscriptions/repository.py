"""Every subscription and license-change query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from seatflow.pagination import page, where_equal
from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)

LIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE)
NOT_CANCELLED = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)


_GET = select(Subscription).where(Subscription.id == bindparam("subscription_id"))
_GET_FOR_UPDATE = _GET.with_for_update().execution_options(populate_existing=True)
"""Built once: every quantity change reads its subscription (and a linked child its parent) this way, and building
the statement cost about as much as running it."""


def get(session: Session, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
    """With ``for_update`` the row is locked (PostgreSQL) and re-read, so a waiting writer sees the winner's."""
    stmt = _GET_FOR_UPDATE if for_update else _GET
    return session.execute(stmt, {"subscription_id": subscription_id}).scalar_one_or_none()


def addons_of(
    session: Session, subscription_id: uuid.UUID, statuses: Sequence[SubscriptionStatus]
) -> Sequence[Subscription]:
    stmt = select(Subscription).where(
        Subscription.parent_subscription_id == subscription_id, Subscription.status.in_(statuses)
    )
    return session.execute(stmt.order_by(Subscription.id)).scalars().all()


def linked_children(session: Session, subscription_id: uuid.UUID) -> Sequence[Subscription]:
    stmt = select(Subscription).where(
        Subscription.linked_subscription_id == subscription_id, Subscription.status.in_(NOT_CANCELLED)
    )
    return session.execute(stmt.order_by(Subscription.id)).scalars().all()


LINKED_CHILDREN = select(Subscription.id).where(
    Subscription.linked_subscription_id == bindparam("subscription_id"),
    Subscription.status.in_(NOT_CANCELLED),
)
"""The linked children of the subscription ``:subscription_id`` that are not cancelled."""
_LINKED_CHILD_IDS = LINKED_CHILDREN.order_by(Subscription.id)


def linked_child_ids(session: Session, subscription_id: uuid.UUID) -> Sequence[uuid.UUID]:
    """``linked_children``'s ids, without loading them (every direct quantity change asks)."""
    return session.execute(_LINKED_CHILD_IDS, {"subscription_id": subscription_id}).scalars().all()


def on_contracts(session: Session, contract_ids: Sequence[uuid.UUID]) -> Sequence[Subscription]:
    stmt = select(Subscription).where(
        Subscription.contract_id.in_(contract_ids), Subscription.status.in_(NOT_CANCELLED)
    )
    return session.execute(stmt.order_by(Subscription.id)).scalars().all()


@dataclass(frozen=True)
class SubscriptionFilters:
    contract_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    status: SubscriptionStatus | None = None
    parent_subscription_id: uuid.UUID | None = None
    linked_subscription_id: uuid.UUID | None = None
    external_id: str | None = None


def list_subscriptions(
    session: Session, filters: SubscriptionFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[Subscription], str | None]:
    stmt = select(Subscription)
    stmt = where_equal(
        stmt,
        (Subscription.contract_id, filters.contract_id),
        (Subscription.product_id, filters.product_id),
        (Subscription.status, filters.status),
        (Subscription.parent_subscription_id, filters.parent_subscription_id),
        (Subscription.linked_subscription_id, filters.linked_subscription_id),
        (Subscription.external_id, filters.external_id),
    )
    return page(session, stmt, Subscription.id, cursor=cursor, limit=limit)


def changes_of(session: Session, subscription_id: uuid.UUID) -> Sequence[LicenseChange]:
    stmt = select(LicenseChange).where(LicenseChange.subscription_id == subscription_id)
    return session.execute(stmt.order_by(LicenseChange.created_at, LicenseChange.id)).scalars().all()


@dataclass(frozen=True)
class ChangeFilters:
    subscription_id: uuid.UUID | None = None
    provisioning_status: ProvisioningStatus | None = None
    kind: ChangeKind | None = None
    caused_by_change_id: uuid.UUID | None = None


def list_changes(
    session: Session, filters: ChangeFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[LicenseChange], str | None]:
    stmt = select(LicenseChange)
    stmt = where_equal(
        stmt,
        (LicenseChange.subscription_id, filters.subscription_id),
        (LicenseChange.provisioning_status, filters.provisioning_status),
        (LicenseChange.kind, filters.kind),
        (LicenseChange.caused_by_change_id, filters.caused_by_change_id),
    )
    return page(session, stmt, LicenseChange.id, cursor=cursor, limit=limit)


def scheduled_of(session: Session, subscription_id: uuid.UUID) -> Sequence[ScheduledChange]:
    stmt = select(ScheduledChange).where(ScheduledChange.subscription_id == subscription_id)
    return session.execute(stmt.order_by(ScheduledChange.id)).scalars().all()


def due_scheduled(session: Session, today: date, *, limit: int | None = None) -> Sequence[ScheduledChange]:
    stmt = select(ScheduledChange).where(
        ScheduledChange.status == ScheduledStatus.SCHEDULED,
        ScheduledChange.at_renewal.is_(False),
        ScheduledChange.effective_date <= today,
    )
    stmt = stmt.order_by(ScheduledChange.effective_date, ScheduledChange.id).limit(limit)
    return session.execute(stmt).scalars().all()


def at_renewal_of(session: Session, subscription_id: uuid.UUID) -> Sequence[ScheduledChange]:
    stmt = select(ScheduledChange).where(
        ScheduledChange.subscription_id == subscription_id,
        ScheduledChange.status == ScheduledStatus.SCHEDULED,
        ScheduledChange.at_renewal.is_(True),
    )
    return session.execute(stmt.order_by(ScheduledChange.id)).scalars().all()


def due_for_renewal(session: Session, today: date, *, limit: int | None = None) -> Sequence[Subscription]:
    """Live subscriptions whose term ended before ``today``."""
    stmt = select(Subscription).where(
        Subscription.status.in_((SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)),
        Subscription.term_end < today,
    )
    return session.execute(stmt.order_by(Subscription.id).limit(limit)).scalars().all()


def due_to_start(session: Session, today: date, *, limit: int | None = None) -> Sequence[Subscription]:
    stmt = select(Subscription).where(
        Subscription.status == SubscriptionStatus.PENDING, Subscription.start_date <= today
    )
    return session.execute(stmt.order_by(Subscription.id).limit(limit)).scalars().all()
