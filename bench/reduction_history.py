"""Benchmark: what a linked child's reduction costs as its parent's term accumulates seat changes.

A reduction checks the refund windows of the child and of its linked parent, and ``batches_of`` builds the
parent's seat batches from its ``create`` and ``quantity`` changes (since the window read, those from the refund
window on; before it, every change of the term). A parent whose children change often gathers thousands of such
changes in a year's term, so this measures the reduction's CPU at growing term histories: Pine Cone Vet (seed
003, built through the services by the tests' factories) on a fresh SQLite file, New York's E3 moved 25 -> 26 ->
25 ... (each move a change of the parent), ``--per-day`` moves a day from the term's first day, then, at each
level, on the next day, Atlanta's E3 raised 10 -> 11 and reduced 11 -> 10 five times, the reductions timed
(process CPU, commit included). The parent's 7-day window then holds about 7 x ``--per-day`` changes whatever the
level. ``--per-day 0`` makes every change on the term's first day (all of them inside the window: the read's
worst case).

    .venv/bin/python bench/reduction_history.py [--levels 100,1000,5000] [--per-day 20]

Prints the median CPU of a reduction at each level and the CPU a parent change adds (the slope between the first
and last level). Checks that every reduction was recorded and the parent equals its children's sum.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' factories build the setup

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import FACTORY_TODAY, OPERATOR, load_demo_catalog, noon
from tests.subscriptions.helpers import pine_cone_vet

import seatflow.models  # noqa: F401  (every model mapped)
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import LicenseChange, Subscription

REPEATS = 5


def move(session: Session, subscription_id: uuid.UUID, quantity: int, moment: datetime) -> None:
    """A quantity change made now (on ``moment``'s day), by an operator, as the API's route makes it."""
    change_quantity(
        session,
        subscription_id=subscription_id,
        quantity=quantity,
        effective="now",
        today=moment.date(),
        now=moment,
        actor=OPERATOR,
    )


def day_of(moves: int, per_day: int, levels_done: int) -> date:
    """The day of New York's ``moves``-th move: ``per_day`` a day from the term's first day, skipping the day of
    each level's reductions; all on the first day when ``per_day`` is 0."""
    return FACTORY_TODAY + timedelta(days=moves // per_day + levels_done if per_day else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="100,1000,5000", help="the parent's term changes to measure at")
    parser.add_argument("--per-day", type=int, default=20, help="New York's moves a day (0: all on the first day)")
    args = parser.parse_args(argv)
    levels = sorted(int(level) for level in args.levels.split(","))
    per_day: int = args.per_day
    if per_day and levels[-1] // per_day + len(levels) >= 365:
        parser.error("the levels do not fit in the parent's annual term at --per-day a day: raise --per-day")

    url = f"sqlite:///{tempfile.mkdtemp(prefix='seatflow-reduction-')}/bench.db"
    migrate.upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    with factory() as session:
        vet = pine_cone_vet(session, load_demo_catalog(session))
        session.commit()
        atlanta, new_york = vet.locations["Atlanta"].e3.id, vet.locations["New York City"].e3.id
        parent = vet.parent_e3.id

    quantity, made, moves, second = 25, 0, 0, 0
    medians: list[tuple[int, float]] = []
    reductions = 0
    print(f"{'parent term changes':>20}  {'reduction CPU, median of ' + str(REPEATS):>28}")
    for done, level in enumerate(levels):
        with factory() as session:
            while made < level:
                quantity = 26 if quantity == 25 else 25
                second += 1
                move(session, new_york, quantity, noon(day_of(moves, per_day, done)) + timedelta(seconds=second))
                made += 1
                moves += 1
            session.commit()
        costs = []
        reduction_day = day_of(moves - 1, per_day, done) + timedelta(days=1 if per_day else 0)
        for _ in range(REPEATS):
            for target in (11, 10):
                second += 1
                moment = noon(reduction_day) + timedelta(seconds=second)
                with factory() as session:
                    started = time.process_time()
                    move(session, atlanta, target, moment)
                    session.commit()
                    if target == 10:
                        costs.append(time.process_time() - started)
                        reductions += 1
                made += 1  # each of Atlanta's changes is one of the parent's too
        median = statistics.median(costs)
        medians.append((made, median))
        print(f"{made:>20,}  {median * 1000:>25.1f} ms")

    with factory() as session:
        recorded = session.scalar(
            select(func.count())
            .select_from(LicenseChange)
            .where(
                LicenseChange.subscription_id == atlanta,
                LicenseChange.quantity_before == 11,
                LicenseChange.quantity_after == 10,
            )
        )
        children = session.scalar(
            select(func.sum(Subscription.quantity)).where(Subscription.linked_subscription_id == parent)
        )
        parent_quantity = session.get_one(Subscription, parent).quantity
    problems = []
    if recorded != reductions:
        problems.append(f"{recorded} of {reductions} reductions recorded")
    if children != parent_quantity:
        problems.append(f"the parent holds {parent_quantity}, its children {children}")
    (first, low), (last, high) = medians[0], medians[-1]
    if last > first:
        print(f"each parent change adds {(high - low) / (last - first) * 1e6:.1f} us to a child's reduction")
    if problems:
        print("CHECK FAILED: " + "; ".join(problems))
        return 1
    print("checks: ok (every reduction recorded; the parent equals its children's sum)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
