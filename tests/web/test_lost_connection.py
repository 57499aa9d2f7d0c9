"""A PostgreSQL connection lost under the server (a restart, a cut connection), as it runs: a real engine and pool
on a committed database of the test's own.

A connection used within ``PING_AFTER_IDLE_SECONDS`` is handed out without a ping (``db.engine._ping_when_idle``):
if the server dropped it meanwhile, that request is answered ``503 database_unavailable`` with ``Retry-After``, never
a 500, and the next request connects afresh. A connection idle for longer is pinged first, so the request that gets
it is served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from seatflow.auth.service import create_api_key
from seatflow.config import Settings
from seatflow.db import engine as db_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.web.app import create_app

pytestmark = pytest.mark.postgres


@pytest.fixture
def served(committed_engine: Engine, empty_database_url: str) -> Iterator[tuple[TestClient, list[int]]]:
    """The API on its own engine, and the server-side process ids of every connection its pool opened."""
    backends: list[int] = []

    @event.listens_for(committed_engine, "connect")
    def _opened(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
        dbapi_connection.commit()

    with unit_of_work(make_sessionmaker(committed_engine)) as session:
        _, key = create_api_key(session, name="tests")
    app = create_app(Settings(database_url=empty_database_url), engine=committed_engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, backends


def _cut(url: str, backends: list[int]) -> None:
    """The server ends every connection the pool opened, as a restart would (asked on a connection of its own)."""
    admin = create_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        ended = connection.execute(
            text("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest(CAST(:pids AS int[])) AS pid"),
            {"pids": backends},
        ).scalar_one()
    admin.dispose()
    assert ended == len(backends) > 0
    backends.clear()


def test_a_connection_lost_just_after_use_is_a_503_and_the_next_request_is_served(
    served: tuple[TestClient, list[int]], empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, backends = served
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle long enough: no ping
    assert client.get("/api/v1/products").status_code == 200
    _cut(empty_database_url, backends)
    lost = client.get("/api/v1/products")
    assert lost.status_code == 503
    assert lost.json()["code"] == "database_unavailable"
    assert lost.headers["Retry-After"].isdigit()
    assert client.get("/api/v1/products").status_code == 200
    assert client.post("/api/v1/provider-accounts", json={"name": "Manual", "kind": "manual"}).status_code == 201


def test_a_connection_idle_past_the_bound_is_pinged_and_replaced_before_use(
    served: tuple[TestClient, list[int]], empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, backends = served
    monkeypatch.setattr(db_engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection is pinged
    assert client.get("/api/v1/products").status_code == 200
    _cut(empty_database_url, backends)
    assert client.get("/api/v1/products").status_code == 200
    assert client.post("/api/v1/provider-accounts", json={"name": "Manual", "kind": "manual"}).status_code == 201
    assert backends, "the dead connection was replaced by a new one"
