from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from seatflow.auth.models import ApiKey
from seatflow.errors import NotFound, Unauthorized, ValidationFailed

KEY_PREFIX = "sfk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, name: str) -> tuple[ApiKey, str]:
    """The new key row and the key itself, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("An API key needs a name of 1 to 100 characters.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=key[:12], key_hash=_hash(key))
    session.add(row)
    session.flush()
    return row, key


class Caller(NamedTuple):
    """The API key a request was made with."""

    id: uuid.UUID
    name: str


_VALID_KEY = select(ApiKey.id, ApiKey.name).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def authenticate(connection: Connection, key: str | None) -> Caller:
    """The key's id and name, if the key is valid (known and not revoked), read as the database has it now: a
    revoked key is refused from its revocation's commit on. One Core read on ``connection``, which needs no
    transaction of its own (an API request's check costs one statement, not a unit of work)."""
    if not key:
        raise Unauthorized("An API key is required: send Authorization: Bearer <key>.")
    row = connection.execute(_VALID_KEY, {"key_hash": _hash(key)}).one_or_none()
    if row is None:
        raise Unauthorized("The API key is not valid.")
    return Caller(row.id, row.name)


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    return session.execute(select(ApiKey).order_by(ApiKey.id)).scalars().all()


def revoke_api_key(session: Session, *, prefix_or_name: str, now: datetime) -> ApiKey:
    stmt = select(ApiKey).where((ApiKey.prefix == prefix_or_name) | (ApiKey.name == prefix_or_name))
    rows = session.execute(stmt.where(ApiKey.revoked_at.is_(None))).scalars().all()
    if not rows:
        raise NotFound(f"No active API key named or starting {prefix_or_name!r}.")
    if len(rows) > 1:
        raise ValidationFailed(f"Several keys are named {prefix_or_name!r}: revoke by prefix.")
    rows[0].revoked_at = now
    session.flush()
    return rows[0]
