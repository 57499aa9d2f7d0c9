"""Operators' webhook endpoints: add (the secret is answered once), change, turn off or on, remove."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.events.errors import EndpointNotFound, EndpointUrlInvalid, UnknownEventType
from seatflow.events.models import WebhookEndpoint
from seatflow.events.signing import new_secret
from seatflow.events.types import EVENT_TYPES
from seatflow.ids import parse_id

MAX_URL = 2000


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it (they would show in every listing)."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointUrlInvalid("The URL must be an absolute http:// or https:// address.")
    if parts.username or parts.password:
        raise EndpointUrlInvalid("Put no user name or password in the URL: the signature authenticates seatflow.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise EndpointUrlInvalid("The URL holds a space or a control character.")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    """The chosen types, each once, in the catalogue's order; at least one."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise UnknownEventType(
            f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}.", unknown=unknown
        )
    if not events:
        raise UnknownEventType("Choose at least one event.")
    return [name for name in EVENT_TYPES if name in set(events)]


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: WebhookEndpoint
    secret: str
    """Shown this once: it is never answered again."""


def add_endpoint(
    session: Session, *, url: str, events: Sequence[str], description: str = "", created_by: str
) -> NewEndpoint:
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=check_url(url),
        events=check_events(events),
        description=description.strip()[:300],
        secret=secret,
        active=True,
        created_by=created_by[:320],
    )
    session.add(endpoint)
    session.flush()
    return NewEndpoint(endpoint, secret)


def require_endpoint(session: Session, ref: str | uuid.UUID) -> WebhookEndpoint:
    endpoint_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    endpoint = session.get(WebhookEndpoint, endpoint_id) if endpoint_id else None
    if endpoint is None:
        raise EndpointNotFound(f"No webhook endpoint {ref}.")
    return endpoint


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    return session.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).scalars().all()


def change_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Turning an endpoint on again clears why seatflow turned it off; its dead deliveries stay dead (replay them)."""
    if url is not None:
        endpoint.url = check_url(url)
    if events is not None:
        endpoint.events = check_events(events)
    if description is not None:
        endpoint.description = description.strip()[:300]
    if active is not None:
        endpoint.active = active
        if active:
            endpoint.disabled_reason = None
    session.flush()
    return endpoint


def remove_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries go (the audit log keeps that it was removed, and by whom)."""
    session.delete(endpoint)
    session.flush()
