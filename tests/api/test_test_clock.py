"""The test clock of SPEC §13: only with SEATFLOW_TEST_CLOCK=1; set, it keeps running from where it was set.

The clock keeps its state through its own connections, so these tests use an API on a database of their own
whose writes really commit (SQLite file in tmp_path, or a scratch PostgreSQL database), not the rolled-back
``client``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.auth.service import create_api_key
from seatflow.clock import EARLIEST, LATEST
from seatflow.clock import TestClockState as ClockRow  # a Test* name would be collected
from seatflow.config import Settings
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.web.app import create_app
from tests.api.helpers import create_account, create_product, problem

SET_TO = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def clock_database(empty_database_url: str) -> str:
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def committed_key(clock_database: str) -> str:
    engine = make_engine(clock_database)
    try:
        with Session(engine) as session:
            _, key = create_api_key(session, name="clock tests")
            session.commit()
    finally:
        engine.dispose()
    return key


def api(database_url: str, key: str, *, test_clock: bool) -> TestClient:
    app = create_app(Settings(database_url=database_url, test_clock=test_clock, default_currency="USD"))
    return TestClient(app, headers={"Authorization": f"Bearer {key}"}, raise_server_exceptions=False)


@pytest.fixture
def clock_api(clock_database: str, committed_key: str) -> Iterator[TestClient]:
    with api(clock_database, committed_key, test_clock=True) as client:
        yield client


def now_of(client: TestClient) -> datetime:
    response = client.get("/api/v1/test/clock")
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


def test_without_the_setting_the_test_clock_does_not_exist(clock_database: str, committed_key: str) -> None:
    with api(clock_database, committed_key, test_clock=False) as client:
        problem(client.get("/api/v1/test/clock"), 404, "not_found")
        problem(client.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"}), 404, "not_found")
        assert "/api/v1/test/clock" not in client.get("/api/v1/openapi.json").json()["paths"]
        # The server's notion of now stayed real.
        account = create_account(client)
        product = create_product(client, account, name="E3")
        retired = client.post(f"/api/v1/products/{product['id']}/retire").json()
        assert abs(datetime.fromisoformat(retired["retired_at"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_unset_test_clock_reads_real_time(clock_api: TestClient) -> None:
    assert abs(now_of(clock_api) - datetime.now(UTC)) < timedelta(seconds=30)


def test_set_clock_answers_the_instant_and_keeps_running_from_it(clock_api: TestClient) -> None:
    response = clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["now"]) == SET_TO

    first = now_of(clock_api)
    assert SET_TO <= first < SET_TO + timedelta(seconds=30)
    time.sleep(0.05)
    second = now_of(clock_api)
    assert first < second < SET_TO + timedelta(seconds=30)


def test_the_clock_can_be_moved_back_and_forth(clock_api: TestClient) -> None:
    clock_api.post("/api/v1/test/clock", json={"now": "2027-06-30T12:00:00Z"})
    assert now_of(clock_api).date().isoformat() == "2027-06-30"
    clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})
    assert SET_TO <= now_of(clock_api) < SET_TO + timedelta(seconds=30)


def test_times_are_taken_as_utc(clock_api: TestClient) -> None:
    for sent in ("2026-12-01T00:00:00", "2026-12-01T01:00:00+01:00", "2026-11-30T19:00:00-05:00"):
        clock_api.post("/api/v1/test/clock", json={"now": "2030-01-01T00:00:00Z"})
        response = clock_api.post("/api/v1/test/clock", json={"now": sent})
        assert response.status_code == 200, response.text
        assert datetime.fromisoformat(response.json()["now"]) == SET_TO, sent
        assert response.json()["now"].endswith(("Z", "+00:00"))
        assert SET_TO <= now_of(clock_api) < SET_TO + timedelta(seconds=30), sent


def test_bad_clock_settings_are_422_and_change_nothing(clock_api: TestClient) -> None:
    clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})
    bodies: list[object] = [
        {},
        {"now": "next tuesday"},
        {"now": "2026-13-01T00:00:00Z"},
        {"now": "2026-12-01T00:00:00Z", "speed": 2},
        ["2026-12-01T00:00:00Z"],
    ]
    for body in bodies:
        problem(clock_api.post("/api/v1/test/clock", json=body), 422, "validation_failed")
    response = clock_api.post("/api/v1/test/clock", content=b"{", headers={"content-type": "application/json"})
    problem(response, 422, "validation_failed")
    assert SET_TO <= now_of(clock_api) < SET_TO + timedelta(seconds=30)


def test_the_test_clock_needs_a_key(clock_api: TestClient) -> None:
    for method in ("GET", "POST"):
        response = clock_api.request(
            method, "/api/v1/test/clock", json={"now": "2030-01-01T00:00:00Z"}, headers={"Authorization": ""}
        )
        problem(response, 401, "unauthorized")
    assert now_of(clock_api).year != 2030


def test_the_moved_time_is_what_the_rules_use_and_every_server_sees(
    clock_api: TestClient, clock_database: str, committed_key: str
) -> None:
    clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})
    account = create_account(clock_api)
    product = create_product(clock_api, account, name="E3")
    retired = clock_api.post(f"/api/v1/products/{product['id']}/retire").json()
    assert retired["retired_at"].startswith("2026-12-01T00:00:")

    # Another API process on the same database (several API processes share one) sees the same time.
    with api(clock_database, committed_key, test_clock=True) as other:
        assert SET_TO <= now_of(other) < SET_TO + timedelta(seconds=30)


@pytest.mark.parametrize(
    "sent",
    [
        "9999-12-31T23:59:59.999999Z",  # the calendar's last moment: a second later the clock could not run on
        "9999-12-31T23:00:00-05:00",  # past the calendar's end once taken to UTC
        "9001-01-01T00:00:00Z",  # after the last business date
        "1999-12-31T23:59:59Z",  # before the first one
        "0001-01-01T00:30:00+01:00",  # before the calendar's start once taken to UTC
    ],
)
def test_a_moment_outside_the_years_of_business_dates_is_422_and_changes_nothing(
    clock_api: TestClient, sent: str
) -> None:
    clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})

    body = problem(clock_api.post("/api/v1/test/clock", json={"now": sent}), 422, "clock_out_of_range")

    assert "from 2000-01-01 to 9000-12-31" in body["detail"]
    assert SET_TO <= now_of(clock_api) < SET_TO + timedelta(seconds=30)


def test_the_last_moment_of_the_range_is_accepted_and_the_clock_stops_there(clock_api: TestClient) -> None:
    response = clock_api.post("/api/v1/test/clock", json={"now": "9000-12-31T23:59:59.95Z"})
    assert response.status_code == 200, response.text
    time.sleep(0.1)

    assert now_of(clock_api) == LATEST
    account = create_account(clock_api)
    product = create_product(clock_api, account, name="E3")
    retired = clock_api.post(f"/api/v1/products/{product['id']}/retire")
    assert retired.status_code == 200, retired.text
    assert datetime.fromisoformat(retired.json()["retired_at"]) == LATEST


@pytest.mark.parametrize(
    ("frozen_at", "set_ago", "reads"),
    [
        (datetime.max.replace(tzinfo=UTC), timedelta(hours=1), LATEST),  # would run past the calendar's end
        (datetime(9500, 6, 1, tzinfo=UTC), timedelta(hours=1), LATEST),  # beyond the range, within the calendar
        (datetime.min.replace(tzinfo=UTC), -timedelta(hours=1), EARLIEST),  # real time went back since
    ],
)
def test_a_clock_stored_outside_the_range_reads_as_its_nearest_end_and_can_be_set_back(
    clock_api: TestClient, clock_database: str, frozen_at: datetime, set_ago: timedelta, reads: datetime
) -> None:
    """A clock set before its range was checked (or by hand in the table) still answers every reader."""
    engine = make_engine(clock_database)
    try:
        with Session(engine) as session:
            session.add(ClockRow(id=1, frozen_at=frozen_at, set_at=datetime.now(UTC) - set_ago))
            session.commit()
    finally:
        engine.dispose()

    assert now_of(clock_api) == reads
    account = create_account(clock_api)
    retired = clock_api.post(f"/api/v1/products/{create_product(clock_api, account, name='E3')['id']}/retire")
    assert retired.status_code == 200, retired.text
    assert datetime.fromisoformat(retired.json()["retired_at"]) == reads

    response = clock_api.post("/api/v1/test/clock", json={"now": "2026-12-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert SET_TO <= now_of(clock_api) < SET_TO + timedelta(seconds=30)
