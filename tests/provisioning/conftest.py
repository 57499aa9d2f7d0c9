"""A worker on the test's own transaction, and a clock the test controls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from seatflow.provisioning.worker import Worker, WorkerConfig
from tests.factories import FACTORY_TODAY, noon


@dataclass
class ManualClock:
    """Real time passing from a moment the test chooses (backoffs are real seconds)."""

    moment: datetime
    started: datetime
    blocking = False

    def now(self) -> datetime:
        return self.moment + (datetime.now(self.moment.tzinfo) - self.started)

    def today(self) -> date:
        return self.now().date()

    def move_to(self, moment: datetime) -> None:
        self.moment, self.started = moment, datetime.now(moment.tzinfo)

    def advance(self, **delta: float) -> None:
        self.move_to(self.now() + timedelta(**delta))


@pytest.fixture
def clock() -> ManualClock:
    start = noon(FACTORY_TODAY)
    return ManualClock(start, datetime.now(start.tzinfo))


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


FAST = WorkerConfig(batch_size=20, lease_seconds=60, max_attempts=10, backoff_base_seconds=0.05, order_poll_seconds=0.1)
"""Small backoffs and polls so tests against a flaky simulator finish in seconds."""


@pytest.fixture
def make_worker(
    session: Session, session_factory: sessionmaker[Session], clock: ManualClock
) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def _make(**overrides: Any) -> Worker:
        session.commit()  # what the test set up is visible to the worker's sessions
        worker = Worker(session_factory, clock, config=replace(FAST, **overrides))
        workers.append(worker)
        return worker

    yield _make
    for worker in workers:
        worker.registry.close()
