"""The provisioning queue (SPEC §7, §13): run the worker once, requeue a failed change, confirm a manual one,
and the notifications that manual providers' people act on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.audit import recorder as audit
from seatflow.audit.scope import attach
from seatflow.db.session import unit_of_work
from seatflow.ids import parse_id
from seatflow.pagination import page, where_equal
from seatflow.provisioning import queue
from seatflow.provisioning.models import Notification
from seatflow.provisioning.providers import ProviderRegistry
from seatflow.provisioning.worker import Worker, WorkerConfig
from seatflow.schemas import IdStr, MultiLine, Page
from seatflow.subscriptions.models import ProvisioningStatus
from seatflow.subscriptions.schemas import LicenseChangeRead
from seatflow.web.deps import (
    ActorDep,
    ClockDep,
    NowDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    audit_scope,
)
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


class RunOnce(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drain: bool = False
    """Keep going through retries and orders being completed until nothing is left (at most max_wait_seconds)."""
    max_wait_seconds: float = Field(default=60.0, gt=0, le=600)


class RunOnceResult(BaseModel):
    provisioned: int
    failed: int
    retrying: int
    waiting: int
    handed_off: int
    flowed_back: int
    subscriptions: int
    provider_calls: int
    renewals: dict[str, int | bool] | None = None


@router.post("/worker/run-once", response_model=RunOnceResult, tags=["provisioning"])
def run_once(
    request: Request,
    session_factory: SessionFactoryDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: RunOnce | None = None,
) -> RunOnceResult:
    """Process every due change now (renewals and scheduled changes first); answer the counts by outcome."""
    body = body or RunOnce()
    registry: ProviderRegistry = request.app.state.provider_registry
    worker = Worker(session_factory, clock, config=WorkerConfig.from_settings(settings), registry=registry)
    result = worker.drain(max_wait_seconds=body.max_wait_seconds) if body.drain else worker.run_once()
    # The pass's own changes are seatflow's (the worker's sessions carry no audit scope); the caller's asking for
    # it is theirs: one row, in a transaction of its own after the pass (the request holds none meanwhile).
    with unit_of_work(session_factory) as session:
        attach(session, audit_scope(request))
        audit.record(
            session, action="worker.run_once", target_kind="worker", target_id=worker.worker_id, after=result.as_dict()
        )
    return RunOnceResult.model_validate(result.as_dict())


@router.post("/license-changes/{change_id}/requeue", response_model=list[LicenseChangeRead], tags=["license changes"])
def requeue(change_id: str, session: SessionDep, actor: ActorDep, now: NowDep) -> list[LicenseChangeRead]:
    """A failed change goes back to awaiting provisioning; a linked parent's change takes its children along.
    Answers every change requeued."""
    parsed = parse_id(change_id)
    if parsed is None:
        raise queue.ChangeNotFound(f"No license change {change_id!r}.")
    changes = queue.requeue(session, change_id=parsed, actor=actor, now=now)
    return [LicenseChangeRead.from_model(c) for c in changes]


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["provisioned", "failed"]
    message: Annotated[str, Field(max_length=2000), MultiLine] | None = None


@router.post("/license-changes/{change_id}/confirm", response_model=list[LicenseChangeRead], tags=["license changes"])
def confirm(
    change_id: str, body: Confirmation, session: SessionDep, actor: ActorDep, now: NowDep
) -> list[LicenseChangeRead]:
    """A person says how a manual provider's change went (or that a failed one was put right by hand).
    Answers the changes settled, with linked children's."""
    parsed = parse_id(change_id)
    if parsed is None:
        raise queue.ChangeNotFound(f"No license change {change_id!r}.")
    settled = queue.confirm(
        session,
        change_id=parsed,
        status=ProvisioningStatus(body.status),
        message=body.message,
        actor=actor,
        now=now,
    )
    return [LicenseChangeRead.from_model(c) for c in settled]


class NotificationRead(BaseModel):
    id: IdStr
    kind: str
    provider_account_id: IdStr
    license_change_id: IdStr
    recipient: str | None
    subject: str
    body: str
    created_at: datetime
    resolved_at: datetime | None


@router.get("/notifications", response_model=Page[NotificationRead], tags=["provisioning"])
def list_notifications(
    session: SessionDep,
    resolved: bool | None = None,
    provider_account_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[NotificationRead]:
    """What manual providers' people were asked to do; ``resolved=false`` for what is still open."""
    stmt = where_equal(
        select(Notification), (Notification.provider_account_id, filter_id("provider_account_id", provider_account_id))
    )
    if resolved is not None:
        stmt = stmt.where(Notification.resolved_at.is_not(None) if resolved else Notification.resolved_at.is_(None))
    rows, next_cursor = page(session, stmt, Notification.id, cursor=cursor, limit=limit)
    return Page(items=[NotificationRead.model_validate(n, from_attributes=True) for n in rows], next_cursor=next_cursor)
