"""Passwords: argon2id hashes, the rule a new password must meet, and equal time whether an account exists."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from seatflow.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 200

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every CLI command imports this module, few check a password."""
    return _hasher.hash("not a password anyone has")


def prepare() -> None:
    """Make the dummy hash now: a server calls it as it starts, so that its first login for an unknown address
    takes no longer than the others."""
    _dummy_hash()


def check_password(password: str) -> None:
    """Raises ``weak_password`` for a password seatflow does not accept."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"Choose a password of at least {MIN_LENGTH} characters.", code="weak_password")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"That password is too long ({MAX_LENGTH} characters at most).", code="weak_password")


def hash_password(password: str) -> str:
    """The hash of a password that passed ``check_password``."""
    return _hasher.hash(password)


def verify_password(hashed: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (no such account) the same work is done on a dummy hash, so the
    answer takes as long either way (no probing for addresses)."""
    if not hashed:
        _verify(_dummy_hash(), password)
        return False
    return _verify(hashed, password)


def needs_rehash(hashed: str) -> bool:
    """The hash was made with weaker parameters than today's: store a new one at the next successful login."""
    return _hasher.check_needs_rehash(hashed)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
