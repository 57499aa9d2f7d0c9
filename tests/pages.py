"""Helpers for checks on a rendered page's HTML."""

from __future__ import annotations

import re

_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]+(")')


def without_random_ids(html: str) -> str:
    """The page with seatflow's own record ids (UUIDv7, partly random) and the CSRF token blanked, for a check that
    something is not shown: a number such as "325" must not be found in a random id by chance. Other UUIDs (a
    leaked offer id, say) stay in."""
    return _CSRF_VALUE.sub(r"\1\2", _RECORD_ID.sub("<id>", html))
