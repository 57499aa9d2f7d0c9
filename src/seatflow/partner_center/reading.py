"""Reading Partner Center JSON strictly: an answer without a field seatflow needs is a retryable
``PartnerCenterError`` naming the field (a garbled answer), never a ``KeyError``. Enum-like strings that Microsoft
writes in two casings (``"Annual"`` in availabilities and scheduled instructions, ``"annual"`` elsewhere) are
lower-cased by ``lowered``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from seatflow.partner_center.errors import PartnerCenterError


def format_datetime(moment: datetime) -> str:
    """Microsoft's UTC form, ``2022-02-19T00:00:00Z``; a naive moment is refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; Partner Center dates are UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> datetime:
    """ISO 8601 as Partner Center writes it (up to 7 fractional digits, ``Z``, an offset, or none: then UTC)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def garbled(what: str, key: str) -> PartnerCenterError:
    return PartnerCenterError(f"Partner Center answered a {what} without a valid {key}.", retryable=True)


def str_field(raw: Mapping[str, Any], key: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise garbled(what, key)
    return value


def optional_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def lowered(value: object) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def int_field(raw: Mapping[str, Any], key: str, what: str) -> int:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():  # cart-resources.md types a line id as a string
        return int(value)
    raise garbled(what, key)


def datetime_field(raw: Mapping[str, Any], key: str, what: str) -> datetime:
    moment = optional_datetime(raw, key, what)
    if moment is None:
        raise garbled(what, key)
    return moment


def optional_datetime(raw: Mapping[str, Any], key: str, what: str) -> datetime | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise garbled(what, key) from exc


def objects_at(raw: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> list[Mapping[str, Any]]:
    value = raw.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise garbled(what, key)
    return value


def links_of(raw: Mapping[str, Any]) -> dict[str, str]:
    links = raw.get("links")
    if not isinstance(links, Mapping):
        return {}
    return {name: link["uri"] for name, link in links.items() if isinstance(link, Mapping) and "uri" in link}
