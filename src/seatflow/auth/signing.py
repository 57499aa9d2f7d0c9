"""HMAC signatures with the instance's secret key: ``SEATFLOW_SECRET_KEY`` when set, else the random key the
migration stored in ``instance_keys`` (so every process of one installation signs alike, with nothing to
configure)."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.auth.models import InstanceKey

SIGNING = "signing"


class MissingKey(RuntimeError):
    """The database has no signing key: it was not migrated by seatflow (``seatflow db upgrade``)."""


def instance_key(session: Session, configured: str = "") -> bytes:
    if configured:
        return configured.encode()
    value = session.execute(select(InstanceKey.value).where(InstanceKey.name == SIGNING)).scalar_one_or_none()
    if value is None:
        raise MissingKey("The database holds no signing key: run `seatflow db upgrade`.")
    return value.encode()


def sign(key: bytes, purpose: str, value: str) -> str:
    """A hex HMAC-SHA256 of ``value`` for one purpose (a signature for one use is worth nothing for another)."""
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def valid(key: bytes, purpose: str, value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, purpose, value).encode(), signature.encode())
