"""Load shedding (SPEC §11): past capacity a request waits a bounded time, then gets 503 with Retry-After; a
database that stays locked is a 503 too, never a 500."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.types import Message, Scope

from seatflow.auth.service import create_api_key
from seatflow.config import Settings
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.web import capacity
from seatflow.web.app import create_app


def _slow_app(limit: int, wait: float) -> tuple[FastAPI, threading.Event]:
    app = FastAPI()
    release = threading.Event()
    capacity.install(app, limit=limit, wait_seconds=wait)

    @app.get("/api/v1/slow")
    async def slow() -> dict[str, str]:
        await asyncio.to_thread(release.wait, 5)
        return {"ok": "yes"}

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    return app, release


async def _burst(app: FastAPI, count: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return list(await asyncio.gather(*(client.get("/api/v1/slow") for _ in range(count))))


def test_requests_past_capacity_get_503_with_retry_after_after_a_bounded_wait() -> None:
    app, release = _slow_app(limit=2, wait=0.3)

    async def scenario() -> tuple[list[httpx.Response], float]:
        started = time.monotonic()
        burst = asyncio.create_task(_burst(app, 5))
        await asyncio.sleep(0.6)  # the three that found no place have waited their 0.3 s by now
        release.set()
        responses = await burst
        return responses, time.monotonic() - started

    responses, _ = asyncio.run(scenario())

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503, 503]
    for refused in (r for r in responses if r.status_code == 503):
        assert refused.headers["retry-after"] == "1"  # ceil(0.3 s)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "server_busy"


def test_a_place_freed_is_taken_by_a_waiting_request() -> None:
    app, release = _slow_app(limit=1, wait=3)

    async def scenario() -> list[httpx.Response]:
        burst = asyncio.create_task(_burst(app, 2))
        await asyncio.sleep(0.2)
        release.set()  # the first finishes; the second, waiting, gets its place well within 3 s
        return await burst

    assert sorted(r.status_code for r in asyncio.run(scenario())) == [200, 200]


def test_health_is_answered_even_when_the_server_is_full() -> None:
    app, release = _slow_app(limit=1, wait=0.2)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            busy = asyncio.create_task(client.get("/api/v1/slow"))
            await asyncio.sleep(0.05)
            health = await client.get("/healthz")
            release.set()
            await busy
            return health

    assert asyncio.run(scenario()).status_code == 200


def test_a_write_that_cannot_get_sqlites_lock_in_time_is_a_503_while_reads_go_on(
    committed_engine: Engine, empty_database_url: str
) -> None:
    if committed_engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    with unit_of_work(make_sessionmaker(committed_engine)) as session:
        _, key = create_api_key(session, name="tests")
    app = create_app(Settings(database_url=empty_database_url, database_busy_seconds=0.3))
    # Another process (here: another connection) holds SQLite's write lock the whole time.
    holder = committed_engine.connect()
    holder.begin()  # a writing transaction: BEGIN IMMEDIATE takes the write lock at once
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            started = time.monotonic()
            write = client.post("/api/v1/provider-accounts", json={"name": "Locked out", "kind": "manual"})
            waited = time.monotonic() - started
            read = client.get("/api/v1/provider-accounts")
    finally:
        holder.rollback()
        holder.close()

    assert write.status_code == 503, write.text
    assert write.json()["code"] == "database_busy"
    assert write.headers["retry-after"] == "2"  # ceil of the default 2 s queue wait
    assert waited < 5  # bounded by the 0.3 s busy timeout, not SQLite's default 30 s
    assert read.status_code == 200, read.text  # reads never wait for the write lock


def test_a_lock_timeout_is_recognised_and_other_operational_errors_are_not() -> None:
    locked = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
    broken = OperationalError("SELECT", {}, Exception("no such table: x"))
    assert capacity.is_lock_timeout(locked)
    assert not capacity.is_lock_timeout(broken)


def test_a_request_cancelled_as_the_server_stops_gets_503_shutting_down_not_a_500() -> None:
    """uvicorn cancels the requests still in hand when its graceful shutdown time is over, and answers a
    cancelled request that has no status yet with a 500; the limit answers it 503 with Retry-After instead."""
    app, release = _slow_app(limit=2, wait=0.3)
    middleware = app.build_middleware_stack()
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/slow",
        "raw_path": b"/api/v1/slow",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }

    async def scenario() -> None:
        task = asyncio.ensure_future(middleware(scope, receive, send))
        await asyncio.sleep(0.1)  # in the route, waiting
        task.cancel()  # what uvicorn does to it once its graceful time is over
        await asyncio.wait({task}, timeout=2)
        release.set()

    asyncio.run(scenario())

    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 503
    assert headers["retry-after"] == "1"  # ceil(0.3 s)
    assert headers["connection"] == "close"
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b'"code":"shutting_down"' in body.replace(b" ", b"")
