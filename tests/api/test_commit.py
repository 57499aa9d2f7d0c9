"""The request's transaction commits before the answer is sent: a failed commit is never a silent 2xx."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event, func, select

from seatflow.auth.service import create_api_key
from seatflow.catalog.models import ProviderAccount
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.web.app import create_app


def _database_with_a_key(tmp_path: Path) -> tuple[str, Engine, str]:
    """A migrated SQLite file of the test's own (the request's transaction really commits), its engine, and an
    API key committed in it."""
    url = f"sqlite:///{tmp_path / 'commit.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        _, key = create_api_key(session, name="tests")
    return url, engine, key


def test_a_commit_that_fails_is_reported_and_keeps_nothing(tmp_path: Path) -> None:
    url, engine, key = _database_with_a_key(tmp_path)
    failing = {"on": False}

    @event.listens_for(engine, "commit")
    def _fail(_conn: Connection) -> None:
        if failing["on"]:
            raise RuntimeError("the disk is full")

    client = TestClient(create_app(Settings(database_url=url), engine=engine), raise_server_exceptions=False)
    failing["on"] = True
    answer = client.post(
        "/api/v1/provider-accounts",
        json={"name": "Manual", "kind": "manual"},
        headers={"Authorization": f"Bearer {key}"},
    )
    failing["on"] = False
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProviderAccount)).scalar_one() == 0
    engine.dispose()


def test_a_request_that_fails_after_writing_keeps_nothing_and_frees_its_connection(tmp_path: Path) -> None:
    """The request's session ends in the thread pool (``get_session``): on failure it is rolled back and its
    connection returned, so the SQLite write lock (and this process's write gate) is free for the next request."""
    url, engine, key = _database_with_a_key(tmp_path)
    failing = {"on": False}

    @event.listens_for(engine, "before_cursor_execute")
    def _fail(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        # The provider account's row is written first; the audit row after it fails.
        if failing["on"] and statement.startswith("INSERT INTO audit_log"):
            raise RuntimeError("the disk is full")

    client = TestClient(create_app(Settings(database_url=url), engine=engine), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {key}"}
    failing["on"] = True
    answer = client.post("/api/v1/provider-accounts", json={"name": "Manual", "kind": "manual"}, headers=headers)
    failing["on"] = False
    assert answer.status_code == 500
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProviderAccount)).scalar_one() == 0
    # The next write is served at once: nothing holds the write lock.
    again = client.post("/api/v1/provider-accounts", json={"name": "Manual", "kind": "manual"}, headers=headers)
    assert again.status_code == 201
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProviderAccount)).scalar_one() == 1
    engine.dispose()
