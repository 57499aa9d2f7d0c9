"""The audit log (SPEC §13, §17): who did what, when, from where, before and after; newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.audit.queries import AuditFilters, search
from seatflow.audit.schemas import AuditEntryRead
from seatflow.audit.scope import Origin
from seatflow.errors import ValidationFailed
from seatflow.schemas import Page
from seatflow.web.deps import SessionDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["audit"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"{name} needs a time zone (2026-12-01T00:00:00Z).")
    return value


@router.get("/audit-log", response_model=Page[AuditEntryRead])
def audit_log(
    session: SessionDep,
    actor: Annotated[str | None, Query(max_length=320)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    entity: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64, description="The same as entity_id.")] = None,
    origin: Origin | None = None,
    request_id: str | None = None,
    at_from: Annotated[datetime | None, Query(alias="from")] = None,
    at_to: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[AuditEntryRead]:
    """``actor``: an actor's id or part of its name (an e-mail, an API key's name); ``action``: one action
    (``subscription.quantity_changed``) or a kind's every action (``subscription.*``); ``entity``/``entity_id``:
    the record; ``from``/``to``: ISO 8601 timestamps with a zone, both included."""
    filters = AuditFilters(
        actor=actor,
        action=action,
        target_kind=entity,
        target_id=entity_id or target_id,
        origin=origin,
        request_id=filter_id("request_id", request_id),
        at_from=_aware("from", at_from),
        at_to=_aware("to", at_to),
    )
    rows, next_cursor = search(session, filters, cursor=cursor, limit=limit)
    return Page(items=[AuditEntryRead.from_model(e) for e in rows], next_cursor=next_cursor)


router.add_api_route(
    "/audit",
    audit_log,
    methods=["GET"],
    response_model=Page[AuditEntryRead],
    include_in_schema=False,  # the same as /audit-log, under the shorter name
)
