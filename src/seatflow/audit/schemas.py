from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, Origin
from seatflow.schemas import IdStr


class AuditEntryRead(BaseModel):
    """An audit row as the API shows it: SPEC §13's ``actor``, ``action``, ``entity``, ``entity_id``, ``before``,
    ``after``, ``at``, ``origin``, with who the actor is and where the request came from."""

    id: IdStr
    at: datetime
    actor: str
    actor_kind: ActorKind
    actor_id: IdStr | None
    origin: Origin
    ip: str | None
    operation: str | None
    request_id: IdStr
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def from_model(cls, entry: AuditEntry) -> AuditEntryRead:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor_name,
            actor_kind=entry.actor_kind,
            actor_id=entry.actor_id,
            origin=entry.origin,
            ip=entry.ip,
            operation=entry.operation,
            request_id=entry.request_id,
            action=entry.action,
            entity=entry.target_kind,
            entity_id=entry.target_id,
            before=entry.before,
            after=entry.after,
        )
