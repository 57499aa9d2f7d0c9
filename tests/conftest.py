"""Fixtures: a real database built by the migrations, one rolled-back transaction per test.

SQLite by default (a file per run); PostgreSQL when SEATFLOW_TEST_DATABASE_URL is set. The PostgreSQL
database named there is emptied at the start of the run: point it at a database made for tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.auth.service import create_api_key
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.web.app import create_app
from seatflow.web.deps import get_autocommit_connect, get_read_session, get_session

pytest_plugins = ["tests.simulator_fixtures"]

TEST_DATABASE_URL = os.environ.get("SEATFLOW_TEST_DATABASE_URL")


BROWSER_EXPECT_MS = 30_000
"""How long a browser test's ``expect(...)`` waits for what it asserts (Playwright's default, 5 s, is short for a
loaded 2-core CI machine); the e2e lane's pages wait as long (tests/e2e/test_portal_change.py)."""


@pytest.fixture(autouse=True)
def browser_expect_timeout() -> None:
    """Every test starts with ``expect`` waiting ``BROWSER_EXPECT_MS``, whatever a test before it set."""
    expect.set_options(timeout=BROWSER_EXPECT_MS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (SEATFLOW_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if TEST_DATABASE_URL:
        url = Settings(database_url=TEST_DATABASE_URL).database_url
        if url.startswith("postgresql"):
            _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'seatflow-test.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """Commits inside the test only release a SAVEPOINT; everything is rolled back at the end."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, default_currency="USD")


@pytest.fixture
def app_client(engine: Engine, session: Session, settings: Settings) -> Iterator[TestClient]:
    """The API on the test's transaction, without credentials."""
    app = create_app(settings, engine=engine)

    def _session() -> Iterator[Session]:
        # What the test set up is committed first (into the outer transaction), as a real client's data would
        # be; a request that fails then rolls back only its own work.
        session.commit()
        # Each request reads the rows again, as a fresh session would: an answer compared with a later GET
        # must not come from objects cached by an earlier request.
        session.expire_all()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    @contextmanager
    def _connect() -> Iterator[Connection]:
        # The credentials check's connection: the test's, after what it set up is committed into the outer
        # transaction.
        session.commit()
        session.expire_all()
        yield session.connection()

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_read_session] = _session
    app.dependency_overrides[get_autocommit_connect] = lambda: _connect
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def api_key(session: Session) -> str:
    _, key = create_api_key(session, name="tests")
    session.flush()
    return key


@pytest.fixture
def client(app_client: TestClient, api_key: str) -> TestClient:
    """The API with an operator's key."""
    app_client.headers["Authorization"] = f"Bearer {api_key}"
    return app_client


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, of the same kind as the test database (dropped afterwards)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"seatflow_scratch_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def committed_engine(empty_database_url: str) -> Iterator[Engine]:
    """A migrated database of the test's own, for tests whose transactions must really commit
    (concurrency, several sessions); nothing leaks into the shared test database."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
