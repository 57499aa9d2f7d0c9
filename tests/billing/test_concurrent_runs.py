"""Billing runs for the same date at the same time never bill a cycle twice nor leave a gap in the numbers
(SPEC §8).

Each run is its own committed transaction in its own session, as two operators (or an operator and the
scheduler) starting a run would be. On PostgreSQL the invoice counter's row lock, taken first, queues the runs
and the unique index on (contract, cycle) is the backstop; on SQLite the writers queue on the database lock
(BEGIN IMMEDIATE, 30 s busy timeout), which is just as meaningful: the second run must see what the first billed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from seatflow.billing.models import BillingRun, Invoice, InvoiceStatus
from seatflow.billing.runs import RunSummary, run_billing
from seatflow.catalog.models import BillingFrequency
from seatflow.contracts.models import BillingPolicy, ProrationUnit
from seatflow.db.session import make_sessionmaker, unit_of_work
from tests.billing.support import contract, expected_numbers, open_shop, subscribe
from tests.factories import noon

JAN_1, FEB_1 = date(2027, 1, 1), date(2027, 2, 1)
MONTHLY, QUARTERLY, ANNUAL = BillingFrequency.MONTHLY, BillingFrequency.QUARTERLY, BillingFrequency.ANNUAL
ADVANCE, ARREARS = BillingPolicy.ADVANCE, BillingPolicy.ARREARS

CONTRACTS = [
    # (frequency, policy, proration unit, cycles due on Jan 1, cycles due on Feb 1)
    (MONTHLY, ADVANCE, ProrationUnit.DAYS, 1, 2),  # January; January and February
    (MONTHLY, ADVANCE, ProrationUnit.MONTHS, 1, 2),
    (QUARTERLY, ADVANCE, ProrationUnit.DAYS, 1, 1),  # Q1
    (ANNUAL, ADVANCE, ProrationUnit.DAYS, 1, 1),  # 2027
    (MONTHLY, ARREARS, ProrationUnit.DAYS, 0, 1),  # January, once it ended
    (QUARTERLY, ARREARS, ProrationUnit.DAYS, 0, 0),  # Q1 ends Mar 31
]
DUE_ON_JAN_1 = sum(row[3] for row in CONTRACTS)
DUE_ON_FEB_1 = sum(row[4] for row in CONTRACTS)


@pytest.fixture
def factory(committed_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(committed_engine)


def set_up(factory: sessionmaker[Session], copies: int = 1) -> None:
    """``copies`` x the contracts above, each with one subscription from Jan 1, committed."""
    with unit_of_work(factory) as session:
        shop = open_shop(session, products=("A",))
        for _ in range(copies):
            for frequency, policy, unit, _, _ in CONTRACTS:
                billed = contract(
                    session,
                    shop,
                    start_date=JAN_1,
                    billing_frequency=frequency,
                    billing_policy=policy,
                    proration_unit=unit,
                )
                subscribe(session, shop, billed, quantity=3, price="10.00", start=JAN_1)


def run(factory: sessionmaker[Session], day: date) -> RunSummary:
    """One run: its own session, its own transaction, committed."""
    with unit_of_work(factory) as session:
        return run_billing(session, run_date=day, now=noon(day), requested_by="tests")


def run_together(workers: list[Callable[[], RunSummary]]) -> list[RunSummary]:
    """Start every worker at the same moment; any exception in one fails the test."""
    barrier = threading.Barrier(len(workers), timeout=60)

    def start(worker: Callable[[], RunSummary]) -> RunSummary:
        barrier.wait()
        return worker()

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(start, worker) for worker in workers]
        return [future.result(timeout=300) for future in futures]


def assert_billed_once_without_gaps(factory: sessionmaker[Session], count: int) -> None:
    with factory() as session:
        duplicates = session.execute(
            select(Invoice.contract_id, Invoice.period_start)
            .where(Invoice.status == InvoiceStatus.ISSUED)
            .group_by(Invoice.contract_id, Invoice.period_start)
            .having(func.count() > 1)
        ).all()
        assert duplicates == []
        assert sorted(session.scalars(select(Invoice.number))) == expected_numbers(count)


def test_two_runs_at_once_on_a_fresh_database_bill_each_cycle_once(factory: sessionmaker[Session]) -> None:
    # No run ever: the invoice counter's row does not exist yet, so both runs race to create it.
    set_up(factory, copies=3)

    summaries = run_together([lambda: run(factory, FEB_1), lambda: run(factory, FEB_1)])

    assert sorted(s.invoices_created for s in summaries) == [0, 3 * DUE_ON_FEB_1]
    assert_billed_once_without_gaps(factory, 3 * DUE_ON_FEB_1)
    with factory() as session:
        recorded = sorted(session.scalars(select(BillingRun.invoices_created)))
    assert recorded == [0, 3 * DUE_ON_FEB_1]


def test_four_runs_at_once_after_an_earlier_run_bill_only_what_is_left(factory: sessionmaker[Session]) -> None:
    set_up(factory, copies=2)
    assert run(factory, JAN_1).invoices_created == 2 * DUE_ON_JAN_1

    summaries = run_together([lambda: run(factory, FEB_1) for _ in range(4)])

    left = 2 * (DUE_ON_FEB_1 - DUE_ON_JAN_1)
    assert sorted(s.invoices_created for s in summaries) == [0, 0, 0, left]
    assert_billed_once_without_gaps(factory, 2 * DUE_ON_FEB_1)


def test_runs_for_different_dates_at_once_together_bill_what_the_later_date_is_due(
    factory: sessionmaker[Session],
) -> None:
    set_up(factory)

    summaries = run_together([lambda: run(factory, JAN_1), lambda: run(factory, FEB_1)])

    # Whichever went first, the two together billed exactly what is due on Feb 1, each cycle once.
    assert sum(s.invoices_created for s in summaries) == DUE_ON_FEB_1
    assert_billed_once_without_gaps(factory, DUE_ON_FEB_1)


@pytest.mark.postgres
def test_a_second_run_waits_for_the_first_on_the_counter_lock_then_bills_nothing(
    factory: sessionmaker[Session],
) -> None:
    set_up(factory)
    first = factory()
    try:
        assert run_billing(first, run_date=FEB_1, now=noon(FEB_1), requested_by="first").invoices_created == (
            DUE_ON_FEB_1
        )
        first.flush()
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(run, factory, FEB_1)
            with factory() as observer:
                waiting = 0
                for _ in range(100):  # up to 10 s for the second run to reach the lock
                    waiting = observer.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    ).scalar_one()
                    observer.rollback()
                    if waiting:
                        break
                    time.sleep(0.1)
            assert waiting == 1
            assert not second.done()
            first.commit()
            summary = second.result(timeout=60)
    finally:
        first.close()

    assert summary.invoices_created == 0
    assert_billed_once_without_gaps(factory, DUE_ON_FEB_1)
