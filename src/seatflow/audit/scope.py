"""Who is acting, and from where: what the adapters attach to a session so that its writes are audited.

The API's session dependency, the console's and the portal's login checks and the CLI's ``transaction()`` each
attach one ``AuditScope`` to the session they hand out (``attach``). A scope is mutable on purpose: a request's
scope is created with the request (origin, client IP) before its caller is known, and the dependency that
authenticates the caller fills in ``actor`` later; the flush hook reads it when the first write is flushed.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from seatflow.ids import new_id

SCOPE_KEY = "seatflow.audit.scope"


class ActorKind(enum.StrEnum):
    OPERATOR = "operator"
    """A person logged in to the console."""
    API_KEY = "api_key"
    """An integration or script with an operator's API key."""
    CONTACT = "contact"
    """A customer's contact logged in to the portal."""
    CLI = "cli"
    """Someone at a terminal running ``seatflow …`` (named after the shell user)."""
    ANONYMOUS = "anonymous"
    """A web request from nobody logged in (accepting an invitation, resetting a password)."""
    SYSTEM = "system"
    """seatflow itself, in a scoped session with no person behind it."""


class Origin(enum.StrEnum):
    API = "api"
    CONSOLE = "console"
    PORTAL = "portal"
    CLI = "cli"
    SYSTEM = "system"


@dataclass(frozen=True)
class AuditActor:
    kind: ActorKind
    id: uuid.UUID | None
    name: str


ANONYMOUS = AuditActor(ActorKind.ANONYMOUS, None, "anonymous")
SYSTEM = AuditActor(ActorKind.SYSTEM, None, "seatflow")


@dataclass
class AuditScope:
    origin: Origin
    actor: AuditActor | None = None
    """None until the caller is known; a write flushed meanwhile is recorded as ``anonymous``."""
    ip: str | None = None
    operation: str | None = None
    """What was asked, as the adapter names it: ``POST /api/v1/subscriptions/{subscription_id}/quantity``,
    ``seatflow subscriptions quantity``."""
    request_id: uuid.UUID = field(default_factory=new_id)
    """Shared by every row one request or command writes: the rows of one action, together."""

    @property
    def who(self) -> AuditActor:
        return self.actor or (SYSTEM if self.origin is Origin.SYSTEM else ANONYMOUS)


def attach(session: Session, scope: AuditScope) -> None:
    """The session's writes are audited as ``scope``'s from now on."""
    session.info[SCOPE_KEY] = scope


def scope_of(session: Session) -> AuditScope | None:
    found = session.info.get(SCOPE_KEY)
    return found if isinstance(found, AuditScope) else None
