"""Request dependencies: one session (one transaction) per request, the operator, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from seatflow.auth.models import ApiKey
from seatflow.auth.service import authenticate
from seatflow.clock import Clock
from seatflow.config import Settings
from seatflow.db.session import unit_of_work
from seatflow.subscriptions.models import ChangeOrigin
from seatflow.subscriptions.schemas import Actor


def get_session(request: Request) -> Iterator[Session]:
    """Commits when the route returns, rolls back when it raises (services never commit)."""
    with unit_of_work(request.app.state.session_factory) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is the client's error, not a
# silent loss after a 2xx (the default "request" scope would exit after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_session_factory(request: Request) -> sessionmaker[Session]:
    """For work that commits several times in one request (the worker's run-once)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_now(clock: ClockDep) -> datetime:
    return clock.now()


NowDep = Annotated[datetime, Depends(get_now)]


def require_operator(request: Request, session: SessionDep) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return authenticate(session, token.strip() if scheme.lower() == "bearer" else None)


OperatorDep = Annotated[ApiKey, Depends(require_operator)]


def get_actor(operator: OperatorDep) -> Actor:
    return Actor(ChangeOrigin.API, f"api key {operator.name}")


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_today(now: NowDep) -> date:
    return now.date()


TodayDep = Annotated[date, Depends(get_today)]
