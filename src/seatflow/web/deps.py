"""Request dependencies: sessions, the operator, the clock.

Transactions follow SPEC §11. A request's session begins its transaction at the first statement, not before:
- ``SessionDep``: on GET and HEAD a reading transaction (SQLite: DEFERRED, so it never takes the write lock;
  PostgreSQL: READ ONLY); on every other method a writing one (SQLite: IMMEDIATE). It commits when the route
  returns and rolls back when it raises.
- ``ReadSessionDep``: always a reading transaction, for writes-free work on any method (a reconciliation report).
- The API-key check is one read on a connection of its own in autocommit (no BEGIN, no COMMIT: one statement),
  returned to the pool before the route starts, so a route that calls a provider or runs the worker (which
  commits in sessions of its own) holds no transaction meanwhile.

The dependencies that only read the request or the app's state are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, a hand-over to a thread and back each, for work of a few attribute reads.

Every request's session carries the request's ``AuditScope`` (SPEC §17: origin, client IP, the operation asked);
the dependency that authenticates the caller names the actor (``identify``), and the audit log's flush hook
records every write of the session as theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import date, datetime
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.auth.service import Caller, authenticate
from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.db.session import end
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def audit_scope(request: Request) -> AuditScope:
    """The request's audit scope, made with the request's first dependency that asks for it."""
    found = getattr(request.state, "audit_scope", None)
    if isinstance(found, AuditScope):
        return found
    path = request.url.path
    origin = Origin.API
    if path.startswith("/console"):
        origin = Origin.CONSOLE
    elif path.startswith("/portal"):
        origin = Origin.PORTAL
    template = path  # ids replaced by their names: /api/v1/subscriptions/{subscription_id}/quantity
    for name, value in request.path_params.items():
        template = template.replace(f"/{value}", f"/{{{name}}}", 1)
    operation = f"{request.method} {template}"
    found = AuditScope(origin, ip=request.client.host if request.client else None, operation=operation)
    request.state.audit_scope = found
    return found


def identify(request: Request, actor: AuditActor, session: Session | None = None) -> None:
    """The request's caller is ``actor`` (and ``session``, if given, is audited as the request's)."""
    scope = audit_scope(request)
    scope.actor = actor
    if session is not None:
        attach(session, scope)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Commits when the route returns, rolls back when it raises (services never commit); reads only on GET."""
    state = request.app.state
    factory = state.read_session_factory if request.method in SAFE_METHODS else state.session_factory
    session = factory()
    attach(session, audit_scope(request))
    async with _unit_of_work(session):
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A transaction that only reads, whatever the method."""
    session = request.app.state.read_session_factory()
    async with _unit_of_work(session):
        yield session


@asynccontextmanager
async def _unit_of_work(session: Session) -> AsyncIterator[None]:
    """``unit_of_work`` for a request's session: made on the event loop (a new session has no connection yet, so
    making it does no I/O) and ended in the thread pool. A plain ``def`` generator dependency would be handed to a
    thread to begin as well as to end: a hand-over to a thread and back costs about 0.1 ms of CPU.

    The ending runs shielded from cancellation (a client that hangs up mid-request still has its transaction
    rolled back and its connection returned at once) and, as FastAPI ends a generator dependency, with a limiter
    of its own: it never waits for a place in the thread pool that routes waiting for a connection hold."""
    try:
        yield
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(partial(end, session, commit=False), limiter=anyio.CapacityLimiter(1))
        raise
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(end, session, commit=True), limiter=anyio.CapacityLimiter(1))


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


# scope="function": commit before the response is sent, so a failed commit is the client's error, not a
# silent loss after a 2xx (the default "request" scope would exit after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """For work that commits several times in one request (the worker's run-once)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_clock(request: Request) -> Clock:
    return clock_of(request)


ClockDep = Annotated[Clock, Depends(get_clock)]


async def get_now(clock: ClockDep) -> datetime:
    """A clock that answers at once (the system clock) is read on the loop; a blocking one (the test clock reads the
    database) in the thread pool. A plain ``def`` dependency would be a hand-over to a thread and back on every
    request, whatever the clock."""
    if not clock.blocking:
        return clock.now()
    return await run_in_threadpool(clock.now)


NowDep = Annotated[datetime, Depends(get_now)]


Connect = Callable[[], AbstractContextManager[Connection]]


async def get_autocommit_connect(request: Request) -> Connect:
    """Opens a connection in autocommit, returned to the pool when its ``with`` block ends (the credentials check:
    one read, no transaction)."""
    engine: Engine = request.app.state.autocommit_engine
    return engine.connect


AutocommitConnectDep = Annotated[Connect, Depends(get_autocommit_connect)]


def require_operator(request: Request, connect: AutocommitConnectDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    with connect() as connection:
        key = authenticate(connection, token.strip() if scheme.lower() == "bearer" else None)
    identify(request, AuditActor(ActorKind.API_KEY, key.id, key.name))
    return key


OperatorDep = Annotated[Caller, Depends(require_operator)]


async def get_actor(operator: OperatorDep) -> Actor:
    return Actor(ChangeOrigin.API, f"api key {operator.name}")


ActorDep = Annotated[Actor, Depends(get_actor)]


async def get_today(now: NowDep) -> date:
    return now.date()


TodayDep = Annotated[date, Depends(get_today)]
