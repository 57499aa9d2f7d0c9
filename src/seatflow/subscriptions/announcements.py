"""The license change log's events (SPEC §17): ``license_change.recorded``, ``.provisioned`` and ``.failed``, each
carrying the change as ``GET /api/v1/license-changes`` shows it, written into the outbox in the caller's
transaction. (Renewals coming up are ``renewal_events``.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from seatflow.events.outbox import NewEvent, emit, emit_many
from seatflow.subscriptions.models import LicenseChange
from seatflow.subscriptions.schemas import LicenseChangeRead

RECORDED = "license_change.recorded"
PROVISIONED = "license_change.provisioned"
FAILED = "license_change.failed"


def announce_change(session: Session, change: LicenseChange, event_type: str, *, now: datetime) -> None:
    """``event_type`` for ``change`` as it is now."""
    data = LicenseChangeRead.from_model(change).model_dump(mode="json")
    emit(session, type=event_type, subject_id=change.id, data=data, occurred_at=now)


def announce_changes(session: Session, announced: Iterable[tuple[LicenseChange, str]], *, now: datetime) -> None:
    """Each ``(change, event_type)`` as ``announce_change`` would, in one statement (the worker settles a parent's
    changes and their children's together)."""
    emit_many(
        session,
        [
            NewEvent(event_type, change.id, LicenseChangeRead.from_model(change).model_dump(mode="json"), now)
            for change, event_type in announced
        ],
    )


def announce_rows_at(session: Session, announced: Iterable[tuple[Mapping[str, Any], str, datetime]]) -> None:
    """Each ``(change, event_type, occurred_at)`` as ``announce_change`` would, in one statement, for changes read as
    rows of their ``LicenseChangeRead`` columns (the worker settles a batch's changes without the ORM, each job's at
    the moment its provider answered)."""
    emit_many(
        session,
        [
            NewEvent(event_type, row["id"], LicenseChangeRead.model_validate(row).model_dump(mode="json"), now)
            for row, event_type, now in announced
        ],
    )
