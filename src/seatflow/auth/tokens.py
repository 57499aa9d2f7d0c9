"""Random tokens and their hashes. A session cookie or an invitation or reset link holds a 256-bit random token;
only its SHA-256 is stored, so a copy of the database opens nothing."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    """A one-time link's token (for the link), its hash and its expiry (for the row)."""

    token: str
    hash: str
    expires_at: datetime


def new_link(now: datetime, valid_for: timedelta) -> Link:
    token = new_token()
    return Link(token, token_hash(token), now + valid_for)
