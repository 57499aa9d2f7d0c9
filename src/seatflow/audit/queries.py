"""Searching the audit log: by actor, action, target, kind and time; newest first, paged by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import Origin
from seatflow.errors import ValidationFailed
from seatflow.ids import parse_id
from seatflow.pagination import MAX_LIMIT, decode_cursor, encode_cursor


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    """An actor's id, or part of its name (an operator's or contact's e-mail, an API key's or shell user's name)."""
    action: str | None = None
    """An action (``subscription.quantity_changed``), or a kind's every action with ``subscription.*``."""
    target_kind: str | None = None
    target_id: str | None = None
    origin: Origin | None = None
    request_id: uuid.UUID | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None
    """Inclusive bounds on ``at``."""


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(stmt: Select[AuditEntry], filters: AuditFilters) -> Select[AuditEntry]:
    e = AuditEntry
    if filters.actor:
        actor_id = parse_id(filters.actor)
        name = func.lower(e.actor_name).like(f"%{_escaped(filters.actor.lower())}%", escape="\\")
        stmt = stmt.where(or_(e.actor_id == actor_id, name) if actor_id else name)
    if filters.action:
        if filters.action.endswith(".*"):
            stmt = stmt.where(e.action.like(f"{_escaped(filters.action[:-1])}%", escape="\\"))
        else:
            stmt = stmt.where(e.action == filters.action)
    if filters.target_kind:
        stmt = stmt.where(e.target_kind == filters.target_kind)
    if filters.target_id:
        stmt = stmt.where(e.target_id == filters.target_id)
    if filters.origin:
        stmt = stmt.where(e.origin == filters.origin)
    if filters.request_id:
        stmt = stmt.where(e.request_id == filters.request_id)
    if filters.at_from:
        stmt = stmt.where(e.at >= filters.at_from)
    if filters.at_to:
        stmt = stmt.where(e.at <= filters.at_to)
    return stmt


def search(
    session: Session, filters: AuditFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[Sequence[AuditEntry], str | None]:
    """The entries matching ``filters``, newest first, and the cursor of the next (older) page."""
    if filters.at_from and filters.at_to and filters.at_from > filters.at_to:
        raise ValidationFailed("from is after to.", code="invalid_range")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    stmt = _where(select(AuditEntry), filters)
    if cursor:
        stmt = stmt.where(AuditEntry.id < decode_cursor(cursor))
    rows = session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None


def of_request(session: Session, request_id: uuid.UUID) -> Sequence[AuditEntry]:
    """Every row one request or command wrote, oldest first."""
    stmt = select(AuditEntry).where(AuditEntry.request_id == request_id).order_by(AuditEntry.id)
    return session.execute(stmt).scalars().all()
