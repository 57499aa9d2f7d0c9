"""Writing events into the outbox, in the caller's transaction (services never commit; the event commits with
what caused it, or not at all)."""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from seatflow.db.bulk import insert_rows
from seatflow.db.engine import deferred
from seatflow.errors import ValidationFailed
from seatflow.events.models import OutboxEvent
from seatflow.events.types import EVENT_TYPES
from seatflow.ids import new_id
from seatflow.money import format_money
from seatflow.pagination import MAX_LIMIT, decode_cursor, encode_cursor


@dataclass(frozen=True)
class NewEvent:
    type: str
    subject_id: uuid.UUID | str
    data: dict[str, Any]
    occurred_at: datetime
    dedupe_key: str | None = None
    """Events found again by a daily step carry one: a second event with the same key is not written."""


def as_json(value: Any) -> Any:
    """``value`` with decimals (money: ``"36.00"``), dates, ids and enums as JSON strings."""
    convert = _BY_TYPE.get(type(value))  # the common exact types first (a billing run's events: 100,000 heads)
    if convert is not None:
        return convert(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return as_json(value.value)
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return str(value)


def _same(value: Any) -> Any:
    return value


def _as_json_dict(value: dict[Any, Any]) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        convert = _BY_TYPE.get(type(v))
        out[str(k)] = convert(v) if convert is not None else as_json(v)
    return out


_BY_TYPE: dict[type, Any] = {
    type(None): _same,
    bool: _same,
    int: _same,
    float: _same,
    str: _same,
    uuid.UUID: str,
    Decimal: format_money,
    date: date.isoformat,
    datetime: datetime.isoformat,
    dict: _as_json_dict,
}
"""``as_json`` of the exact types (subclasses, enums included, take the general path below)."""


def key_of(*parts: object) -> str:
    """A dedupe key of any length, as the 64 characters the column holds."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _row(event: NewEvent, now: datetime) -> dict[str, Any]:
    if event.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event.type!r}")
    return {
        "id": new_id(),
        "type": event.type,
        "subject_id": str(event.subject_id),
        "occurred_at": event.occurred_at,
        "data": as_json(event.data),
        "dedupe_key": event.dedupe_key,
        "created_at": now,
        "dispatched_at": None,
    }


_INSERT = deferred(insert(cast(Table, OutboxEvent.__table__)))
"""Nothing of its answer is read: collected with the transaction's next statement on PostgreSQL."""


def emit(
    session: Session,
    *,
    type: str,
    subject_id: uuid.UUID | str,
    data: dict[str, Any],
    occurred_at: datetime,
) -> None:
    """One event, written with the caller's transaction."""
    emit_many(session, [NewEvent(type, subject_id, data, occurred_at)])


def emit_many(session: Session, events: Sequence[NewEvent]) -> int:
    """Many events in one statement (a billing run's invoices); those with a ``dedupe_key`` already written are
    skipped. Answers how many were written."""
    if not events:
        return 0
    now = datetime.now(UTC)
    plain = [_row(e, now) for e in events if e.dedupe_key is None]
    keyed = [_row(e, now) for e in events if e.dedupe_key is not None]
    table = cast(Table, OutboxEvent.__table__)
    if len(plain) == 1:
        # One event (a request's change): a plain INSERT. insert_rows' COPY (PostgreSQL) costs more round trips
        # than that for a single row.
        session.connection().execute(_INSERT, plain)
    elif plain:
        columns = list(plain[0])
        insert_rows(session, table, columns, ([row[c] for c in columns] for row in plain))
    written = len(plain)
    if keyed:
        # ON CONFLICT DO NOTHING on the key: two workers finding the same renewal write it once.
        dialect = session.connection().dialect.name
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = maker(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
        for row in keyed:  # RETURNING, not rowcount: psycopg answers -1 for a skipped row's count
            written += len(session.connection().execute(stmt, row).all())
    return written


def list_events(
    session: Session,
    *,
    event_type: str | None = None,
    subject_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[OutboxEvent], str | None]:
    """The outbox, newest first (what happened, whether or not anyone was told)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    stmt = select(OutboxEvent)
    if event_type is not None:
        stmt = stmt.where(OutboxEvent.type == event_type)
    if subject_id is not None:
        stmt = stmt.where(OutboxEvent.subject_id == subject_id)
    if cursor:
        stmt = stmt.where(OutboxEvent.id < decode_cursor(cursor))
    rows = session.execute(stmt.order_by(OutboxEvent.id.desc()).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None
