"""What a provider answers for one op, and what it may write before it acts (SPEC §7)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from seatflow.catalog.models import ProviderKind
from seatflow.provisioning.plan import Job, Op


@dataclass(frozen=True)
class Done:
    """The provider did it: the changes are provisioned."""

    external_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Waiting:
    """Accepted but not finished (an order the provider is still completing): look again later."""

    retry_in: float
    message: str
    order_id: str | None = None
    operation: str | None = None
    """The ``Location`` of a change the provider accepted (``202``) and is applying: polled next time."""


@dataclass(frozen=True)
class HandedOff:
    """A person provisions it and confirms (manual providers); the worker has nothing more to do."""

    recipient: str | None
    subject: str
    body: str


@dataclass(frozen=True)
class Failed:
    message: str
    transient: bool
    retry_after: float | None = None


Outcome = Done | Waiting | HandedOff | Failed


class Ledger(Protocol):
    """What a provider may write before it acts (in its own committed transaction)."""

    def remember_request_id(self, change_id: uuid.UUID, request_id: str) -> None: ...

    def remember_cart_id(self, change_id: uuid.UUID, cart_id: str) -> None: ...


class Provider(Protocol):
    kind: ProviderKind

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome: ...
