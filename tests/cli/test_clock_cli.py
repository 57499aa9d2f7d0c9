"""The CLI on the test clock (SEATFLOW_TEST_CLOCK=1): a clock stored outside its range still reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from seatflow.clock import TestClockState as ClockRow  # a Test* name would be collected
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from tests.cli.conftest import Run


def test_a_clock_stored_at_the_calendars_end_reads_as_the_last_day_of_its_range(
    run_on_test_clock: Run, cli_database_url: str
) -> None:
    """Set before its range was checked, an hour ago, to the calendar's last moment: reading it on would overflow."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            real = datetime.now(UTC)
            session.add(ClockRow(id=1, frozen_at=datetime.max.replace(tzinfo=UTC), set_at=real - timedelta(hours=1)))
            session.commit()
    finally:
        engine.dispose()

    loaded = run_on_test_clock("demo-load")

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("demo loaded for 9000-12-31,")
    renewed = run_on_test_clock("renew")
    assert renewed.returncode == 0, renewed.stderr
