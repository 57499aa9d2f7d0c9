"""Reconciliation (SPEC §9, §13): the report, its fixes, and the change-log check.

No write transaction is open while the provider is called (SPEC §11): the report only reads, and adopt and
import read what they need, end that transaction, call the provider, then write in a transaction of their own
(``SessionDep`` on a POST begins at its first statement)."""

from __future__ import annotations

from fastapi import APIRouter

from seatflow.catalog.providers import require_provider_account
from seatflow.reconciliation import service
from seatflow.reconciliation.announcements import announce_drift
from seatflow.reconciliation.schemas import (
    AdoptRequest,
    ImportRequest,
    MismatchRead,
    PushRequest,
    ReconciliationRequest,
    ReportRead,
)
from seatflow.subscriptions.batches import subscription_reads
from seatflow.subscriptions.lifecycle import require_subscription
from seatflow.subscriptions.schemas import LicenseChangeRead, SubscriptionRead
from seatflow.web.deps import ActorDep, NowDep, ReadSessionDep, SessionDep, TodayDep
from seatflow.web.errors import PROVIDER_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["reconciliation"], responses=PROVIDER_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.post("/reconciliations", response_model=ReportRead)
def reconcile(body: ReconciliationRequest, session: ReadSessionDep, write: SessionDep, now: NowDep) -> ReportRead:
    """Read the provider's subscriptions of every mapped tenant and classify every difference; each difference not
    announced before is a ``reconciliation.drift_found`` event (SPEC §17)."""
    account = require_provider_account(session, body.provider_account_id)
    client = service.client_for(account)
    try:
        report = service.reconcile(session, account=account, client=client, now=now)
    finally:
        client.close()
    announce_drift(write, report, now=now)  # a short write of its own, after the provider was read
    return ReportRead.from_report(report)


@router.post("/reconciliations/adopt", response_model=list[LicenseChangeRead])
def adopt(
    body: AdoptRequest,
    read: ReadSessionDep,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    now: NowDep,
) -> list[LicenseChangeRead]:
    """Take the provider's quantity (read again now); the chosen linked child takes the difference. For an item
    matched by product, ``external_id`` names the provider subscription, which becomes this one's provider id."""
    subscription = require_subscription(read, body.subscription_id)
    account = require_provider_account(read, str(subscription.provider_account_id))
    child = require_subscription(read, body.child_subscription_id).id if body.child_subscription_id else None
    source = service.adopt_source(read, subscription, body.external_id)
    read.commit()  # nothing is held while the provider answers
    client = service.client_for(account)
    try:
        quantity = service.read_adopt_quantity(client, source)
    finally:
        client.close()
    changes = service.adopt(
        session,
        subscription_id=subscription.id,
        provider_quantity=quantity,
        child_id=child,
        actor=actor,
        today=today,
        now=now,
        external_id=source.new_external_id,
    )
    return [LicenseChangeRead.from_model(c) for c in changes]


@router.post("/reconciliations/push", response_model=LicenseChangeRead)
def push(body: PushRequest, session: SessionDep, actor: ActorDep, today: TodayDep, now: NowDep) -> LicenseChangeRead:
    """Send seatflow's quantity to the provider again (the worker carries it out)."""
    subscription = require_subscription(session, body.subscription_id)
    return LicenseChangeRead.from_model(
        service.push(session, subscription_id=subscription.id, actor=actor, today=today, now=now)
    )


@router.post("/reconciliations/import", response_model=SubscriptionRead, status_code=201)
def import_subscription(
    body: ImportRequest,
    read: ReadSessionDep,
    session: SessionDep,
    actor: ActorDep,
    today: TodayDep,
    now: NowDep,
) -> SubscriptionRead:
    """Make a subscription found only at the provider a seatflow subscription on the chosen contract (a
    new-commerce add-on under ``parent_subscription_id``: Partner Center names no parent for it)."""
    account = require_provider_account(read, body.provider_account_id)
    read.commit()  # nothing is held while the provider answers
    client = service.client_for(account)
    try:
        found = service.provider_subscription(client, body.tenant_id, body.external_id)
    finally:
        client.close()
    subscription = service.import_subscription(
        session,
        account=account,
        provider_subscription=found,
        contract_ref=body.contract_id,
        actor=actor,
        today=today,
        now=now,
        unit_price=body.unit_price,
        parent_ref=body.parent_subscription_id,
        tenant_id=body.tenant_id,
    )
    [answer] = subscription_reads(session, [subscription], on=today)  # with its refundable_quantity, as GET shows
    return answer


@router.get("/reconciliations/change-log-check", response_model=list[MismatchRead])
def change_log_check(session: SessionDep) -> list[MismatchRead]:
    """Subscriptions whose quantity differs from what their change log adds up to."""
    return [MismatchRead.from_mismatch(m) for m in service.change_log_check(session)]
