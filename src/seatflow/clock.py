"""The one clock every rule reads "now" from.

Services take ``now``/``today`` as arguments; boundaries (API, CLI, worker) ask a ``Clock`` for it. With
``SEATFLOW_TEST_CLOCK=1`` the clock is a test clock kept in the database, so the API, the worker and the
CLI all see the same moved time. Like Kill Bill's test clock, a moved clock keeps running from where it
was set. It is set and read only within the years business dates may take, so every term, renewal and
period computed from its "today" is still a date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import Engine, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from seatflow.db.base import Base
from seatflow.db.types import UTCDateTime
from seatflow.errors import ValidationFailed

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The test clock's range: the business dates the API accepts (``seatflow.schemas.DayIn``), far enough from
the calendar's end (9999-12-31) that what the rules compute from "today" is still a date."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    blocking: bool
    """Whether ``now`` waits on I/O (the test clock reads the database): the API then calls it in the thread pool,
    never on the event loop."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    blocking = False

    def now(self) -> datetime:
        return utc_now()

    def today(self) -> date:
        return self.now().date()


class TestClockState(Base):
    """One row: the moment the test clock was set to, and the real moment it was set at."""

    __tablename__ = "test_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClockOutOfRange(ValidationFailed):
    code = "clock_out_of_range"


class DatabaseTestClock:
    """Reads the offset from ``test_clock``; real time when the clock has never been set.

    A clock that has run past ``LATEST`` (or was stored outside the range before it was checked) reads as the
    nearest end of the range: reading it never fails, and setting it again puts it right."""

    __test__ = False  # not a pytest test class
    blocking = True

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def now(self) -> datetime:
        # Read outside any transaction: a request that already holds SQLite's write lock asks for "now".
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(
                select(TestClockState.frozen_at, TestClockState.set_at).where(TestClockState.id == 1)
            ).one_or_none()
        real = utc_now()
        if row is None:
            return real
        frozen_at: datetime = row.frozen_at
        set_at: datetime = row.set_at
        try:
            moment = frozen_at + (real - set_at)
        except OverflowError:  # past an end of the calendar itself
            return LATEST if real > set_at else EARLIEST
        return min(max(moment, EARLIEST), LATEST)

    def today(self) -> date:
        return self.now().date()

    def set(self, session: Session, moment: datetime) -> datetime:
        """Raises ClockOutOfRange, changing nothing, for a moment outside EARLIEST…LATEST; a naive one is UTC."""
        moment = _in_range(moment)
        state = session.get(TestClockState, 1)
        if state is None:
            state = TestClockState(id=1, frozen_at=moment, set_at=utc_now())
            session.add(state)
        else:
            state.frozen_at = moment
            state.set_at = utc_now()
        session.flush()
        return moment


def _in_range(moment: datetime) -> datetime:
    try:
        utc: datetime | None = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # an offset that takes it past the calendar's first or last day
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ClockOutOfRange(
            f"The test clock can be set from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC), not to"
            f" {moment.isoformat()}."
        )
    return utc


__all__ = [
    "EARLIEST",
    "LATEST",
    "Clock",
    "ClockOutOfRange",
    "DatabaseTestClock",
    "SystemClock",
    "TestClockState",
    "utc_now",
]
