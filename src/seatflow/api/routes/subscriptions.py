"""Subscriptions, their quantity and status changes, links, bundle orders, the change log and renewals
(SPEC §4 to §7, §13)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.catalog.bundles import require_bundle
from seatflow.catalog.providers import require_provider_account
from seatflow.errors import NotFound
from seatflow.ids import parse_id
from seatflow.schemas import DayIn, Page
from seatflow.subscriptions import changes as change_service
from seatflow.subscriptions import lifecycle, linking, renewals, repository
from seatflow.subscriptions.batches import subscription_reads
from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.schemas import (
    BundleOrder,
    LicenseChangeRead,
    LinkRequest,
    QuantityChange,
    ScheduledChangeRead,
    StatusChange,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
    UnlinkRequest,
)
from seatflow.web.deps import ActorDep, NowDep, SessionDep, TodayDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.post("/subscriptions", response_model=SubscriptionRead, status_code=201, tags=["subscriptions"])
def create_subscription(
    body: SubscriptionCreate, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> SubscriptionRead:
    subscription, _ = lifecycle.create_subscription(session, data=body, today=today, now=now, actor=actor)
    return _read(session, subscription, today)


@router.get("/subscriptions", response_model=Page[SubscriptionRead], tags=["subscriptions"])
def list_subscriptions(
    session: SessionDep,
    today: TodayDep,
    contract_id: str | None = None,
    product_id: str | None = None,
    status: SubscriptionStatus | None = None,
    parent_subscription_id: str | None = None,
    linked_subscription_id: str | None = None,
    external_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[SubscriptionRead]:
    filters = repository.SubscriptionFilters(
        contract_id=filter_id("contract_id", contract_id),
        product_id=filter_id("product_id", product_id),
        status=status,
        parent_subscription_id=filter_id("parent_subscription_id", parent_subscription_id),
        linked_subscription_id=filter_id("linked_subscription_id", linked_subscription_id),
        external_id=external_id,
    )
    rows, next_cursor = repository.list_subscriptions(session, filters, cursor=cursor, limit=limit)
    return Page(items=subscription_reads(session, rows, on=today), next_cursor=next_cursor)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead, tags=["subscriptions"])
def get_subscription(subscription_id: str, session: SessionDep, today: TodayDep) -> SubscriptionRead:
    """With ``refundable_quantity``: the seats that can be reduced today, each batch until the last day it can."""
    return _read(session, lifecycle.require_subscription(session, subscription_id), today)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionRead, tags=["subscriptions"])
def update_subscription(
    subscription_id: str,
    body: SubscriptionUpdate,
    session: SessionDep,
    today: TodayDep,
    now: NowDep,
    actor: ActorDep,
) -> SubscriptionRead:
    subscription = change_service.lock(session, lifecycle.require_subscription(session, subscription_id).id)
    updated = lifecycle.update_subscription(
        session, subscription=subscription, data=body, today=today, now=now, actor=actor
    )
    return _read(session, updated, today)


@router.post(
    "/subscriptions/{subscription_id}/quantity",
    response_model=LicenseChangeRead | ScheduledChangeRead,
    tags=["subscriptions"],
    responses={202: {"model": ScheduledChangeRead, "description": "Scheduled for a later date or the renewal"}},
)
def change_quantity(
    subscription_id: str,
    body: QuantityChange,
    response: Response,
    session: SessionDep,
    today: TodayDep,
    now: NowDep,
    actor: ActorDep,
) -> LicenseChangeRead | ScheduledChangeRead:
    """Now: 200 with the license change. At renewal or on a later date: 202 with the scheduled change."""
    # Locked as it is found: the change reads it once, not twice.
    subscription = lifecycle.require_subscription(session, subscription_id, for_update=True)
    result = change_service.change_quantity(
        session,
        locked=subscription,
        subscription_id=subscription.id,
        quantity=body.quantity,
        effective=body.effective,
        today=today,
        now=now,
        actor=actor,
        force=body.force,
        reason=body.reason,
    )
    if isinstance(result, ScheduledChange):
        response.status_code = 202
        return ScheduledChangeRead.from_model(result)
    return LicenseChangeRead.from_model(result)


def _read(session: Session, subscription: Subscription, today: date) -> SubscriptionRead:
    [read] = subscription_reads(session, [subscription], on=today)
    return read


def _changes(changes: list[LicenseChange]) -> list[LicenseChangeRead]:
    return [LicenseChangeRead.from_model(c) for c in changes]


@router.post("/subscriptions/{subscription_id}/suspend", response_model=list[LicenseChangeRead], tags=["subscriptions"])
def suspend(
    subscription_id: str, body: StatusChange, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> list[LicenseChangeRead]:
    subscription = lifecycle.require_subscription(session, subscription_id)
    return _changes(
        lifecycle.suspend(session, subscription=subscription, cascade=body.cascade, today=today, now=now, actor=actor)
    )


@router.post(
    "/subscriptions/{subscription_id}/reactivate", response_model=list[LicenseChangeRead], tags=["subscriptions"]
)
def reactivate(
    subscription_id: str, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> list[LicenseChangeRead]:
    subscription = lifecycle.require_subscription(session, subscription_id)
    return _changes(lifecycle.reactivate(session, subscription=subscription, today=today, now=now, actor=actor))


@router.post("/subscriptions/{subscription_id}/cancel", response_model=list[LicenseChangeRead], tags=["subscriptions"])
def cancel(
    subscription_id: str, body: StatusChange, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> list[LicenseChangeRead]:
    subscription = lifecycle.require_subscription(session, subscription_id)
    return _changes(
        lifecycle.cancel(
            session,
            subscription=subscription,
            cascade=body.cascade,
            today=today,
            now=now,
            actor=actor,
            force=body.force,
            reason=body.reason,
        )
    )


@router.post("/subscriptions/{subscription_id}/link", response_model=SubscriptionRead, tags=["subscriptions"])
def link(subscription_id: str, body: LinkRequest, session: SessionDep, today: TodayDep) -> SubscriptionRead:
    """Records the link and pushes nothing; GET /contracts/{id}/setup-check reports any difference."""
    subscription = change_service.lock(session, lifecycle.require_subscription(session, subscription_id).id)
    target = lifecycle.require_subscription(session, body.linked_subscription_id)
    account = require_provider_account(session, body.provider_account_id)
    return _read(session, linking.link(session, subscription=subscription, target=target, account=account), today)


@router.post("/subscriptions/{subscription_id}/unlink", response_model=SubscriptionRead, tags=["subscriptions"])
def unlink(subscription_id: str, body: UnlinkRequest, session: SessionDep, today: TodayDep) -> SubscriptionRead:
    subscription = change_service.lock(session, lifecycle.require_subscription(session, subscription_id).id)
    unlinked = linking.unlink(session, subscription=subscription, account_ref=body.provider_account_id)
    return _read(session, unlinked, today)


@router.get("/subscriptions/{subscription_id}/changes", response_model=list[LicenseChangeRead], tags=["subscriptions"])
def subscription_changes(subscription_id: str, session: SessionDep) -> list[LicenseChangeRead]:
    """The license changes, oldest first."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    return _changes(list(repository.changes_of(session, subscription.id)))


@router.get(
    "/subscriptions/{subscription_id}/scheduled-changes",
    response_model=list[ScheduledChangeRead],
    tags=["subscriptions"],
)
def scheduled_changes(subscription_id: str, session: SessionDep) -> list[ScheduledChangeRead]:
    subscription = lifecycle.require_subscription(session, subscription_id)
    return [ScheduledChangeRead.from_model(s) for s in repository.scheduled_of(session, subscription.id)]


@router.post("/scheduled-changes/{scheduled_id}/cancel", response_model=ScheduledChangeRead, tags=["subscriptions"])
def cancel_scheduled_change(
    scheduled_id: str, session: SessionDep, now: NowDep, actor: ActorDep
) -> ScheduledChangeRead:
    parsed = parse_id(scheduled_id)
    scheduled = session.get(ScheduledChange, parsed) if parsed else None
    if scheduled is None:
        raise NotFound(f"No scheduled change {scheduled_id!r}.")
    return ScheduledChangeRead.from_model(
        change_service.cancel_scheduled(session, scheduled=scheduled, actor=actor, now=now)
    )


@router.post(
    "/bundles/{bundle_id}/order", response_model=list[SubscriptionRead], status_code=201, tags=["subscriptions"]
)
def order_bundle(
    bundle_id: str, body: BundleOrder, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> list[SubscriptionRead]:
    """One real subscription per item, each add-on under the real subscription of its parent item."""
    bundle = require_bundle(session, bundle_id)
    created = lifecycle.order_bundle(session, bundle=bundle, data=body, today=today, now=now, actor=actor)
    return subscription_reads(session, created, on=today)


@router.get("/license-changes", response_model=Page[LicenseChangeRead], tags=["license changes"])
def list_license_changes(
    session: SessionDep,
    subscription_id: str | None = None,
    provisioning_status: ProvisioningStatus | None = None,
    kind: ChangeKind | None = None,
    caused_by_change_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[LicenseChangeRead]:
    filters = repository.ChangeFilters(
        subscription_id=filter_id("subscription_id", subscription_id),
        provisioning_status=provisioning_status,
        kind=kind,
        caused_by_change_id=filter_id("caused_by_change_id", caused_by_change_id),
    )
    rows, next_cursor = repository.list_changes(session, filters, cursor=cursor, limit=limit)
    return Page(items=_changes(list(rows)), next_cursor=next_cursor)


@router.get("/license-changes/{change_id}", response_model=LicenseChangeRead, tags=["license changes"])
def get_license_change(change_id: str, session: SessionDep) -> LicenseChangeRead:
    parsed = parse_id(change_id)
    change = session.get(LicenseChange, parsed) if parsed else None
    if change is None:
        raise NotFound(f"No license change {change_id!r}.")
    return LicenseChangeRead.from_model(change)


class RenewalRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: DayIn | None = None
    """The day to run for; today (the clock's) when absent."""


@router.post("/renewals", response_model=renewals.RenewalResult, tags=["subscriptions"])
def run_renewals(body: RenewalRun, session: SessionDep, today: TodayDep, now: NowDep) -> renewals.RenewalResult:
    """Start pending subscriptions, apply scheduled changes that are due, renew or end terms that ended.

    One call does a bounded batch (at most 500 items of each kind and 5,000 renewed terms) in one transaction;
    when `more` is true, work is left: call again with the same date to go on where this call stopped."""
    return renewals.run_renewals(session, today=body.date or today, now=now)
