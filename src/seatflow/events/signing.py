"""Signing as Standard Webhooks does (standardwebhooks.com), so receivers can verify with its libraries.

- The secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is those bytes (the base64 part decoded).
- The body is the event's JSON, minified: ``{"type": …, "timestamp": …, "data": {…}}``; it is signed as sent.
- Headers: ``webhook-id`` (the event's id: the same for every retry and replay, the receiver's idempotency key),
  ``webhook-timestamp`` (integer Unix seconds of this attempt, real time: receivers refuse one more than a few
  minutes off theirs), ``webhook-signature`` = ``v1,`` + base64 of HMAC-SHA256 over ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
SECRET_BYTES = 32
TOLERANCE_SECONDS = 300


class SignatureInvalid(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_of(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise SignatureInvalid("the secret is not whsec_ followed by base64") from exc


def body_of(event_type: str, timestamp: str, data: Mapping[str, Any]) -> bytes:
    """The JSON sent: minified, keys in the order written, non-ASCII escaped (the same bytes every attempt)."""
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":")).encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, *, now: int) -> None:
    """What a receiver does (for tests and the docs' example): one ``v1`` signature of the header's list must
    match, and the timestamp be within five minutes of ``now``. Raises ``SignatureInvalid``."""
    lowered = {k.lower(): v for k, v in received.items()}
    message_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (message_id and stamp and signatures):
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureInvalid("webhook-timestamp is not a number") from exc
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("webhook-timestamp is too far from now")
    expected = signature(secret, message_id, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures.split(" ")):
        raise SignatureInvalid("no matching v1 signature")
