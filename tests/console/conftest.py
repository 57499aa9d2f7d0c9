"""The console through HTTP on the test's transaction: operators of each role, and Pine Cone Vet."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from seatflow.auth import operators as accounts
from seatflow.auth.models import OperatorRole
from seatflow.provisioning.worker import Worker
from seatflow.web.deps import get_session_factory
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.provisioning.conftest import FAST, ManualClock
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

PASSWORD = "correct horse battery"
ADMIN, OPERATOR, READ_ONLY = "admin@reseller.example", "ops@reseller.example", "viewer@reseller.example"
ROLES = {ADMIN: OperatorRole.ADMIN, OPERATOR: OperatorRole.OPERATOR, READ_ONLY: OperatorRole.READ_ONLY}


@pytest.fixture
def operators(session: Session) -> dict[str, OperatorRole]:
    """One operator of each role, all with PASSWORD."""
    for email, role in ROLES.items():
        accounts.create_operator(session, email=email, name=email.split("@")[0].title(), role=role, password=PASSWORD)
    session.flush()
    return ROLES


@pytest.fixture
def vet(session: Session) -> PineConeVet:
    return pine_cone_vet(session, load_demo_catalog(session))


@pytest.fixture
def factory_clock(app_client: TestClient) -> ManualClock:
    """The app's clock at noon on the day the test data starts (the worker and billing use it)."""
    app = app_client.app
    assert isinstance(app, FastAPI)
    start = noon(FACTORY_TODAY)
    clock = ManualClock(start, datetime.now(UTC))
    app.state.clock = clock
    return clock


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


Login = Callable[[str], TestClient]


@pytest.fixture
def login(app_client: TestClient, operators: dict[str, OperatorRole]) -> Login:
    def _login(email: str) -> TestClient:
        app_client.cookies.clear()
        page = app_client.get("/console/login")
        response = app_client.post(
            "/console/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return app_client

    return _login


LoginOn = Callable[..., TestClient]


@pytest.fixture
def login_on(app_client: TestClient, login: Login) -> LoginOn:
    """``login_on(email, day=FACTORY_TODAY)``: the console's clock pinned at noon (UTC) on ``day`` first, so the
    session starts then and no test depends on the real date."""

    def _login(email: str, day: date = FACTORY_TODAY) -> TestClient:
        app = app_client.app
        assert isinstance(app, FastAPI)
        app.state.clock = ManualClock(noon(day), datetime.now(UTC))
        return login(email)

    return _login


@pytest.fixture
def worker_sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions on the test's transaction, for the worker (run-once in the console, or the test's own)."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def worker_app(
    app_client: TestClient, worker_sessions: sessionmaker[Session], factory_clock: ManualClock
) -> TestClient:
    """The app whose run-once worker works on the test's transaction, at the test data's clock."""
    app = app_client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_session_factory] = lambda: worker_sessions
    return app_client


def drain(session: Session, worker_sessions: sessionmaker[Session], clock: ManualClock) -> None:
    """The worker until nothing is left (what the test set up is committed into its transaction first)."""
    session.commit()
    worker = Worker(worker_sessions, clock, config=FAST)
    try:
        worker.drain(max_wait_seconds=30)
    finally:
        worker.registry.close()
    session.expire_all()
