"""Keyset pagination over time-ordered ids: stable under inserts, cheap at any depth."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from seatflow.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


def where_equal(stmt: Select[T], *filters: tuple[Any, object | None]) -> Select[T]:
    """``stmt`` narrowed to rows whose column equals the value, for every filter whose value is given."""
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def page(
    session: Session,
    stmt: Select[T],
    id_column: InstrumentedAttribute[Any],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[T], str | None]:
    """Rows of ``stmt`` after ``cursor`` in id order, and the cursor of the next page (None at the end)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = session.execute(stmt.order_by(id_column).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)  # type: ignore[attr-defined]  # every paged model has an id
    return rows, None
