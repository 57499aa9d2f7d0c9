"""Benchmark: recording quantity changes through the service, one change per transaction, as the API does.

Sets up, untimed: a fresh migrated database (a SQLite file in a temporary directory, or with --postgres URL a
scratch PostgreSQL database dropped and recreated for the run and dropped at the end), the demo catalog, a
customer with a non-billable parent contract and --children-per-parent child contracts, --parents Microsoft 365 E3
parent subscriptions on the Partner Center account (not provisioned: their changes wait for a worker that never
runs), each with linked children on the child contracts (created on the do-nothing account, then linked), and
--standalone unlinked subscriptions on the do-nothing account.

Measured: --changes quantity changes (--linked-share of them on linked children, the rest on standalone
subscriptions; random deltas -2..+3), each in a transaction of its own made as an API request makes it: the
request's ``unit_of_work`` on the writing session factory, the request's ``AuditScope`` (origin api, an API key
as the actor, the operation's template) attached, ``lifecycle.require_subscription`` then
``changes.change_quantity`` then ``LicenseChangeRead.from_model`` (the answer), as
``POST /api/v1/subscriptions/{id}/quantity`` does; so the audit rows and the ``license_change.recorded`` outbox
events are written as the API writes them. A linked child's change pushes its delta to its parent in the same
transaction. --threads N records from N threads at once (a process's requests are served by a thread pool).

Prints changes per second (wall), this process's CPU per change (``time.process_time``: the Python side; on
PostgreSQL the server's work is in its own processes) and the machine's CPUs busy (``/proc/stat``).

Checks afterwards (exit 1 if any fails): every parent's quantity equals the sum of its children's; every
subscription's quantity is what the workload made it; every planned change is recorded exactly once (one
``quantity`` license change per planned change, with the planned before/after), one parent change caused by each
linked child change and none by a standalone one; one ``license_change.recorded`` event per license change
recorded; one ``license_change.created`` audit row per license change and a ``subscription.quantity_changed``
audit row per change for the child (and its parent), each under the request's id.

The floor (``--no-floor`` skips it): what this machine can do for the same work. The same changes recorded with
the bare driver (stdlib ``sqlite3``, or ``psycopg`` 3 on PostgreSQL; no SQLAlchemy), on one connection, one
transaction a change, issuing the statements seatflow issues, in its order, with the values it writes (``Floor``:
new time-ordered ids, JSON made with ``json.dumps``, money as stored, timestamps as stored). It works on a copy of
the seeded database taken after the setup and before any change: for SQLite a copy of the file (the backup API);
for PostgreSQL a second database ``<name>_floor`` made with ``CREATE DATABASE ... TEMPLATE <name>`` (the same
rows and ids block for block, without building twice; dropped at the end unless --keep). It runs after seatflow's
run, in this process: the same 20 warm-up changes untimed, then the same planned changes timed. Checked afterwards
(exit 1): ``verify``'s checks on the floor's database, read through seatflow's models; each of its events equals
``LicenseChangeRead`` of its change; its audit rows have the shapes of seatflow's (action, target, actor and request
columns, before and after keys in order); and it issues seatflow's number of statements for every planned change
(``compare_statements``, below). Prints its changes/s and CPU a change, and seatflow/floor: wall time a change,
and on SQLite (where all the work is in this process) CPU a change. The floor records from one thread whatever
--threads is.

The statements seatflow issues for one change (seen with a ``before_cursor_execute`` listener; the floor issues
the same, in the same order, on both databases):

    BEGIN IMMEDIATE  (SQLite. PostgreSQL: psycopg's implicit BEGIN, after the pool's ping ";" at checkout if the
                      connection sat idle over a second: never in this bench's loop)
    SELECT subscriptions WHERE id = :child                        (FOR UPDATE on PostgreSQL; the route's lock)
    not a linked child (links are one level, a child has none):
        SELECT subscriptions.id WHERE linked_subscription_id = :child AND status IN (pending, active, suspended)
    SELECT products.name, min_quantity, max_quantity WHERE id = :product                  (the bounds)
    a reduction only: [a linked child: SELECT subscriptions WHERE id = :parent FOR UPDATE, kept for the push]
        then the seat batches, SELECT license_changes JOIN subscriptions WHERE subscription_id IN (:child[, :parent])
        AND kind IN (create, quantity) AND effective_date >= term_start ORDER BY subscription_id, created_at, id
    SELECT provider_accounts.kind, (SELECT max(license_changes.created_at) WHERE subscription_id = :child)
        WHERE id = :account                          (the provisioning status; the change's stamp after the last)
    INSERT license_changes                          (origin api; one flush with the UPDATE, which the ORM puts after)
    UPDATE subscriptions SET quantity, updated_at WHERE id = :child
    INSERT audit_log, two rows: subscription.quantity_changed ({"quantity": before} -> {"quantity": after}) and
        license_change.created (the change's columns set, as JSON)
    INSERT outbox_events  license_change.recorded                   (LicenseChangeRead as JSON)
    a linked child only, for its parent: [not locked yet: SELECT subscriptions WHERE id = :parent (FOR UPDATE on
        PostgreSQL)], SELECT provider_accounts.kind with max(created_at), INSERT license_changes (origin
        linked_child, caused_by the child's change), UPDATE subscriptions, INSERT audit_log (two rows), INSERT
        outbox_events license_change.recorded
    COMMIT

That is 8 statements a standalone change (9 a reduction) and 13 a linked child's (14 a reduction) between
BEGIN and COMMIT (before 60b5a47: 10, 11, 18 and 20). What the floor leaves out: the idle connection's ping (the
pool's, not the work's), the columns of the subscription it does not use (seatflow's ORM reads all 32), the NULL
columns of its INSERTs (literal constants instead of parameters where the value never varies), computing the seat
batches (it checks that every batch is inside the reduction window, which this workload's are) and a second JSON of
the answer (the event's JSON is the answer's).

The list is kept in step with seatflow's by hand, so the bench checks it (exit 1, "FLOOR CHECK FAILED: <kind>:
seatflow issues N statements a change, the floor M"): each timed change's statements are counted on both sides,
seatflow's by a ``before_cursor_execute`` listener on its engine, the floor's as it executes them, BEGIN, COMMIT
and ROLLBACK left out on both (SQLAlchemy issues SQLite's BEGIN IMMEDIATE as a statement but commits through the
driver; the pre-ping is not a cursor execute), and compared change by change, printed by kind (standalone change,
standalone reduction, linked child change, linked reduction). Every change of a kind issues the same number in
this workload, on both databases (also the untimed warm-up's, the process's first request and each subscription's
first change included, when counted), so the counts are exact; what could make them vary (a pending
subscription's reduction reads no batches, a parent of another product has its bounds read) would vary alike on
both sides for the same change, which the change-by-change comparison allows for, and a kind's mean and spread are
printed then. On a mismatch the first differing change's statements are printed side by side. With --no-floor
seatflow's counts are printed alone.

    .venv/bin/python bench/recording.py                          # SQLite, 2000 changes, then the floor
    .venv/bin/python bench/recording.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_rec
    .venv/bin/python bench/recording.py --profile                # cProfile of the recording, top functions
    .venv/bin/python bench/recording.py --no-floor               # seatflow's figures only
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import itertools
import json
import os
import pstats
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import copy_sqlite_database
from sqlalchemy import Engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.audit.models import AuditEntry
from seatflow.audit.scope import ActorKind, AuditActor, AuditScope, Origin, attach
from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import ProviderAccount
from seatflow.contracts.schemas import ContractCreate
from seatflow.contracts.service import create_contract
from seatflow.customers.schemas import CustomerCreate
from seatflow.customers.service import create_customer
from seatflow.db.engine import make_engine, read_only
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.events.models import OutboxEvent
from seatflow.subscriptions import changes as change_service
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.announcements import RECORDED
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeKind, ChangeOrigin, LicenseChange, Subscription
from seatflow.subscriptions.rules import QUANTITY_CAP
from seatflow.subscriptions.schemas import Actor, LicenseChangeRead, SubscriptionCreate

PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
PRODUCT = "SPE_E3"
CHILD_QUANTITY = 10
STANDALONE_QUANTITY = 20
MAXIMUM = 300
DELTAS = (-2, -1, 1, 2, 3)
KEY_ID = uuid.UUID("00000000-0000-4000-8000-00000000b0b0")
KEY_NAME = "bench-recording"
ACTOR = Actor(ChangeOrigin.API, f"api key {KEY_NAME}")
OPERATION = "POST /api/v1/subscriptions/{subscription_id}/quantity"
LOCK_FIRST = "locked" in inspect.signature(change_service.change_quantity).parameters
"""The API route locks the subscription as it finds it, where the code has that (so the bench runs the same
requests on the code before, which read it and then locked it)."""


# --- the database ----------------------------------------------------------------------------------------


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    )


def postgres_database(url: str, *, create: bool) -> None:
    from psycopg import sql

    name = make_url(url).database
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    with _admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- setup -----------------------------------------------------------------------------------------------


@dataclass
class Setup:
    parents: list[uuid.UUID]
    children: list[uuid.UUID]
    standalone: list[uuid.UUID]
    parent_of: dict[uuid.UUID, uuid.UUID]
    quantity: dict[uuid.UUID, int]


def _subscribe(
    session: Session, contract_id: uuid.UUID, product_id: uuid.UUID, account_id: uuid.UUID, quantity: int, today: date
) -> Subscription:
    data = SubscriptionCreate(
        contract_id=str(contract_id),
        product_id=str(product_id),
        provider_account_id=str(account_id),
        quantity=quantity,
        start_date=today,
        allow_end_user_modification=False,
    )
    subscription, _ = lifecycle.create_subscription(
        session, data=data, today=today, now=datetime.now(UTC), actor=Actor(ChangeOrigin.OPERATOR, "bench setup")
    )
    return subscription


def build(factory: sessionmaker[Session], *, parents: int, children_per_parent: int, standalone: int) -> Setup:
    today = datetime.now(UTC).date()
    catalog = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()
    with unit_of_work(factory) as session:
        import_catalog(session, content=catalog, fmt=ImportFormat.DOCUMENT, default_currency="USD")
        pc = catalog_repository.provider_account_by_name(session, "Partner Center")
        do_nothing = catalog_repository.provider_account_by_name(session, "Do nothing")
        linked = catalog_repository.provider_account_by_name(session, "Linked subscriptions")
        assert pc is not None  # noqa: S101
        assert do_nothing is not None  # noqa: S101
        assert linked is not None  # noqa: S101
        product = catalog_repository.product_by_provisioning_id(session, pc.id, PRODUCT)
        assert product is not None  # noqa: S101
        customer = create_customer(
            session,
            data=CustomerCreate(name="Bench Recording", tenant_id="bench-recording-tenant"),
            default_currency="USD",
        )
        parent_contract = create_contract(
            session,
            data=ContractCreate(customer_id=str(customer.id), name="Parent", billable=False, start_date=today),
        )
        locations = [
            create_contract(
                session,
                data=ContractCreate(
                    customer_id=str(customer.id),
                    name=f"Location {n + 1}",
                    parent_contract_id=str(parent_contract.id),
                    start_date=today,
                ),
            )
            for n in range(children_per_parent)
        ]
        ids = (pc.id, do_nothing.id, linked.id, product.id, parent_contract.id, [c.id for c in locations])
    pc_id, do_nothing_id, linked_id, product_id, parent_contract_id, location_ids = ids
    result = Setup([], [], [], {}, {})
    for start in range(0, parents, 100):
        with unit_of_work(factory) as session:
            linked_account = session.get_one(ProviderAccount, linked_id)
            for _ in range(start, min(parents, start + 100)):
                parent = _subscribe(
                    session, parent_contract_id, product_id, pc_id, CHILD_QUANTITY * children_per_parent, today
                )
                result.parents.append(parent.id)
                result.quantity[parent.id] = parent.quantity
                for location_id in location_ids:
                    child = _subscribe(session, location_id, product_id, do_nothing_id, CHILD_QUANTITY, today)
                    link(session, subscription=child, target=parent, account=linked_account)
                    result.children.append(child.id)
                    result.parent_of[child.id] = parent.id
                    result.quantity[child.id] = child.quantity
    for start in range(0, standalone, 100):
        with unit_of_work(factory) as session:
            for n in range(start, min(standalone, start + 100)):
                sub = _subscribe(
                    session, location_ids[n % len(location_ids)], product_id, do_nothing_id, STANDALONE_QUANTITY, today
                )
                result.standalone.append(sub.id)
                result.quantity[sub.id] = sub.quantity
    return result


# --- the workload ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    subscription: uuid.UUID
    before: int
    after: int
    linked: bool


def plan(setup: Setup, *, changes: int, linked_share: float, seed: int) -> tuple[list[Planned], dict[uuid.UUID, int]]:
    rng = random.Random(seed)
    quantity = dict(setup.quantity)
    planned: list[Planned] = []
    while len(planned) < changes:
        is_linked = rng.random() < linked_share or not setup.standalone
        target = rng.choice(setup.children if is_linked else setup.standalone)
        delta = rng.choice(DELTAS)
        if not 1 <= quantity[target] + delta <= MAXIMUM:
            continue
        if is_linked:
            parent = setup.parent_of[target]
            if not 1 <= quantity[parent] + delta <= MAXIMUM:
                continue
            quantity[parent] += delta
        planned.append(Planned(target, quantity[target], quantity[target] + delta, is_linked))
        quantity[target] += delta
    return planned, quantity


def record_one(
    factory: sessionmaker[Session], item: Planned, watched: AbstractContextManager[object] | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """One change as ``POST /api/v1/subscriptions/{id}/quantity`` makes it; (change id, the request's id).
    ``watched``: entered around the request's transaction (``SeatflowStatements.change``: its statements)."""
    scope = AuditScope(
        Origin.API, actor=AuditActor(ActorKind.API_KEY, KEY_ID, KEY_NAME), ip="127.0.0.1", operation=OPERATION
    )
    with watched if watched is not None else nullcontext(), unit_of_work(factory) as session:
        attach(session, scope)
        now = datetime.now(UTC)
        if LOCK_FIRST:
            subscription = lifecycle.require_subscription(session, str(item.subscription), for_update=True)
        else:
            subscription = lifecycle.require_subscription(session, str(item.subscription))
        result = change_service.change_quantity(
            session,
            **({"locked": subscription} if LOCK_FIRST else {}),
            subscription_id=subscription.id,
            quantity=item.after,
            effective="now",
            today=now.date(),
            now=now,
            actor=ACTOR,
        )
        assert isinstance(result, LicenseChange)  # noqa: S101 - effective now makes a license change
        LicenseChangeRead.from_model(result).model_dump_json()
        change_id = result.id
    return change_id, scope.request_id


def record_all(
    factory: sessionmaker[Session],
    planned: list[Planned],
    threads: int,
    statements: SeatflowStatements | None = None,
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], float, float]:
    """(change id, request id) of each change in planned order; wall seconds; this process's CPU seconds.
    ``statements``: where each change's statements are kept, by its index in ``planned``."""
    results: list[tuple[uuid.UUID, uuid.UUID] | None] = [None] * len(planned)

    def watch(n: int) -> AbstractContextManager[object] | None:
        return statements.change(n) if statements is not None else None

    wall0, cpu0 = time.perf_counter(), time.process_time()
    if threads <= 1:
        for n, item in enumerate(planned):
            results[n] = record_one(factory, item, watch(n))
    else:
        # A subscription's changes stay in planned order: each thread takes the changes of its own subscriptions
        # (a child and its parent lock in that order, so the threads' changes on one parent queue on it).
        lanes: list[list[int]] = [[] for _ in range(threads)]
        for n, item in enumerate(planned):
            lanes[hash(item.subscription) % threads].append(n)
        errors: list[BaseException] = []

        def run(lane: list[int]) -> None:
            try:
                for n in lane:
                    results[n] = record_one(factory, planned[n], watch(n))
            except BaseException as error:  # reported after the join
                errors.append(error)

        workers = [threading.Thread(target=run, args=(lane,)) for lane in lanes]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return [r for r in results if r is not None], wall, cpu


# --- checks ----------------------------------------------------------------------------------------------


def verify(
    factory: sessionmaker[Session],
    setup: Setup,
    planned: list[Planned],
    expected: dict[uuid.UUID, int],
    recorded: list[tuple[uuid.UUID, uuid.UUID]],
) -> list[str]:
    problems: list[str] = []
    with unit_of_work(factory) as session:
        quantities = dict(session.execute(select(Subscription.id, Subscription.quantity)).all())
        for parent in setup.parents:
            children = [c for c in setup.children if setup.parent_of[c] == parent]
            if quantities[parent] != sum(quantities[c] for c in children):
                problems.append(f"parent {parent} holds {quantities[parent]}, its children add up to a different sum")
        wrong = [s for s, q in expected.items() if quantities[s] != q]
        if wrong:
            problems.append(f"{len(wrong)} subscriptions' quantities are not what the workload made them")
        ids = [change_id for change_id, _ in recorded]
        if len(ids) != len(planned) or len(set(ids)) != len(ids):
            problems.append(f"{len(ids)} change ids ({len(set(ids))} distinct) for {len(planned)} planned changes")
        rows = {
            row.id: row
            for row in session.execute(
                select(
                    LicenseChange.id,
                    LicenseChange.subscription_id,
                    LicenseChange.kind,
                    LicenseChange.quantity_before,
                    LicenseChange.quantity_after,
                    LicenseChange.caused_by_change_id,
                ).where(LicenseChange.kind == ChangeKind.QUANTITY)
            ).all()
        }
        mine = set(ids)  # the warm-up's changes before them are left out
        caused = Counter(row.caused_by_change_id for row in rows.values() if row.caused_by_change_id in mine)
        direct = [row for row in rows.values() if row.caused_by_change_id is None and row.id in mine]
        if len(direct) != len(planned):
            problems.append(f"{len(direct)} direct quantity changes recorded for {len(planned)} planned")
        for item, (change_id, _) in zip(planned, recorded, strict=False):
            row = rows.get(change_id)
            if row is None or (row.subscription_id, row.quantity_before, row.quantity_after) != (
                item.subscription,
                item.before,
                item.after,
            ):
                problems.append(f"change {change_id} is not the planned {item}")
                break
            if caused.get(change_id, 0) != (1 if item.linked else 0):
                problems.append(f"change {change_id} caused {caused.get(change_id, 0)} parent changes")
                break
        linked = sum(1 for item in planned if item.linked)
        if sum(caused.values()) != linked:
            problems.append(f"{sum(caused.values())} parent changes for {linked} linked child changes")
        all_changes = session.execute(select(LicenseChange.id)).scalars().all()
        events = Counter(
            session.execute(select(OutboxEvent.subject_id).where(OutboxEvent.type == RECORDED)).scalars().all()
        )
        missing = [c for c in all_changes if events.get(str(c), 0) != 1]
        if missing:
            problems.append(f"{len(missing)} license changes without exactly one {RECORDED} event")
        requests = {request_id for _, request_id in recorded}
        audit = [
            a
            for a in session.execute(
                select(AuditEntry.action, AuditEntry.target_id, AuditEntry.request_id, AuditEntry.actor_kind)
            ).all()
            if a.request_id in requests
        ]
        created = Counter(a.target_id for a in audit if a.action == "license_change.created")
        recorded_total = len(direct) + sum(caused.values())
        if sum(created.values()) != recorded_total or any(n != 1 for n in created.values()):
            problems.append(f"{sum(created.values())} license_change.created audit rows for {recorded_total} changes")
        quantity_rows = Counter(
            (a.request_id, a.target_id) for a in audit if a.action == "subscription.quantity_changed"
        )
        for item, (_, request_id) in zip(planned, recorded, strict=False):
            if quantity_rows.get((request_id, str(item.subscription)), 0) != 1:
                problems.append(f"request {request_id}: no single subscription.quantity_changed row for the child")
                break
            if item.linked and quantity_rows.get((request_id, str(setup.parent_of[item.subscription])), 0) != 1:
                problems.append(f"request {request_id}: no single subscription.quantity_changed row for the parent")
                break
        expected_rows = len(planned) + linked
        if sum(quantity_rows.values()) != expected_rows:
            problems.append(
                f"{sum(quantity_rows.values())} subscription.quantity_changed rows, {expected_rows} expected"
            )
        if any(a.actor_kind != ActorKind.API_KEY for a in audit):
            problems.append("an audit row of a request is not the API key's")
    return problems


# --- statements a change: seatflow's counted against the floor's ----------------------------------------

KINDS = ("standalone change", "standalone reduction", "linked child change", "linked reduction")
"""The kinds of change whose statements differ: a standalone subscription's or a linked child's (with its parent's
change), raising the quantity ("change") or lowering it ("reduction": the seat batches are read)."""
TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})
"""Left out of the counts on both sides: where a driver issues them is not the work's (SQLAlchemy issues SQLite's
``BEGIN IMMEDIATE`` as a statement, its listener sees it, and ends transactions with the driver's ``commit()``,
which it does not see; psycopg begins implicitly on both sides; the floor writes SQLite's BEGIN and COMMIT)."""


def kind_of(item: Planned) -> str:
    return KINDS[2 * item.linked + (item.after < item.before)]


def counted(statement: str) -> bool:
    """A statement of the work: not BEGIN, COMMIT or ROLLBACK."""
    words = statement.split(None, 1)
    return bool(words) and words[0].upper() not in TRANSACTION_CONTROL


class SeatflowStatements:
    """The statements seatflow issues for each change, seen by a ``before_cursor_execute`` listener on the engine
    (the pool's ping of an idle connection on PostgreSQL is not a cursor execute and is not seen). A change is
    recorded on one thread, so the statements a thread issues inside ``change(n)`` are change n's."""

    def __init__(self, engine: Engine) -> None:
        self.issued: dict[int, list[str]] = {}
        self._current = threading.local()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        issued: list[str] | None = getattr(self._current, "issued", None)
        if issued is not None:
            issued.append(statement)

    @contextmanager
    def change(self, n: int) -> Iterator[None]:
        self._current.issued = self.issued[n] = []
        try:
            yield
        finally:
            self._current.issued = None


def _per_kind(planned: list[Planned], issued: list[list[str]]) -> dict[str, list[int]]:
    """Each kind's statements a change (transaction control left out), in planned order."""
    counts: dict[str, list[int]] = {kind: [] for kind in KINDS}
    for item, statements in zip(planned, issued, strict=True):
        counts[kind_of(item)].append(sum(1 for statement in statements if counted(statement)))
    return counts


def _shown(counts: list[int]) -> str:
    """``9`` when every change issued 9; else the mean and how many changes issued each number."""
    if not counts:
        return "-"
    if len(set(counts)) == 1:
        return str(counts[0])
    spread = ", ".join(f"{n}: {k}" for n, k in sorted(Counter(counts).items()))
    return f"{sum(counts) / len(counts):.2f} ({spread})"


def _gist(statement: str) -> str:
    return " ".join(statement.split())[:100]


def compare_statements(
    planned: list[Planned], seatflow: SeatflowStatements, floor: list[list[str]] | None
) -> list[str]:
    """Prints each kind's statements a change, seatflow's and (unless None) the floor's; a problem for each kind
    whose counts differ. Both sides record the same planned changes on the same seeded rows, so the counts are
    compared change by change: equal counts for every change of a kind, exact where a kind's changes all issue
    one number (the mean and the spread are printed otherwise)."""
    ours_issued = [seatflow.issued.get(n, []) for n in range(len(planned))]
    ours = _per_kind(planned, ours_issued)
    theirs = _per_kind(planned, floor) if floor is not None else None
    print(
        "statements a change (BEGIN and COMMIT not counted; seatflow: a before_cursor_execute listener on its engine"
        + ("; the floor: its own executes):" if theirs is not None else "):")
    )
    problems: list[str] = []
    for kind in KINDS:
        line = f"  {kind:<21} {len(ours[kind]):>5} changes  seatflow {_shown(ours[kind])}"
        if theirs is None:
            print(line)
            continue
        print(f"{line}  floor {_shown(theirs[kind])}")
        if ours[kind] != theirs[kind]:
            differ = sum(1 for a, b in zip(ours[kind], theirs[kind], strict=True) if a != b)
            problems.append(
                f"{kind}: seatflow issues {_shown(ours[kind])} statements a change, the floor "
                f"{_shown(theirs[kind])} ({differ} of {len(ours[kind])} changes differ; BEGIN and COMMIT not counted)"
            )
    if floor is not None and problems:  # the first change that differs, statement by statement
        n = next(n for n in range(len(planned)) if sum(map(counted, ours_issued[n])) != sum(map(counted, floor[n])))
        print(f"  the first that differs, {kind_of(planned[n])} #{n}:")
        for side, statements in (("seatflow", ours_issued[n]), ("floor", floor[n])):
            for statement in filter(counted, statements):
                print(f"    {side:<8} {_gist(statement)}")
    return problems


# --- the floor: the same statements with the bare driver -------------------------------------------------

MONEY_UNITS = Decimal(10) ** 4
"""Prices are stored as integer counts of 10^-4 (``ScaledDecimal(PRICE_SCALE)``) on both databases."""
CENT = Decimal("0.01")
LIVE_STATUSES = ("pending", "active")
"""``repository.LIVE``: the statuses whose quantity may change."""

_F_READ = (
    "SELECT quantity, status, product_id, provider_account_id, unit_price, linked_subscription_id, term_start,"
    " reduction_behavior, reduction_window_days FROM subscriptions WHERE id = ?"
)
_F_CHILDREN = (
    "SELECT id FROM subscriptions WHERE linked_subscription_id = ? AND status IN ('pending', 'active', 'suspended')"
    " ORDER BY id"
)
_F_BOUNDS = "SELECT name, min_quantity, max_quantity FROM products WHERE id = ?"
_F_BATCHES = (
    "SELECT lc.subscription_id, lc.kind, lc.quantity_before, lc.quantity_after, lc.effective_date"
    " FROM license_changes lc JOIN subscriptions s ON s.id = lc.subscription_id"
    " WHERE lc.subscription_id IN ({}) AND lc.kind IN ('create', 'quantity') AND lc.effective_date >= s.term_start"
    " ORDER BY lc.subscription_id, lc.created_at, lc.id"
)
_F_UPDATE = "UPDATE subscriptions SET quantity = ?, updated_at = ? WHERE id = ?"
_F_AUDIT = (
    "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, origin, ip, operation, request_id, action,"
    ' target_kind, target_id, "before", "after", id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
_F_KIND_AND_LATEST = (
    "SELECT kind, (SELECT max(created_at) FROM license_changes WHERE subscription_id = ?) FROM provider_accounts"
    " WHERE id = ?"
)
_F_CHANGE = (
    "INSERT INTO license_changes (subscription_id, kind, quantity_before, quantity_after, price_before, price_after,"
    " effective_date, origin, requested_by, caused_by_change_id, provisioning_status, billing_status, attempts,"
    " created_at, id) VALUES (?, 'quantity', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 0, ?, ?)"
)
_F_EVENT = (
    "INSERT INTO outbox_events (type, subject_id, occurred_at, data, created_at, id)"
    " VALUES ('license_change.recorded', ?, ?, ?, ?, ?)"
)


class FloorUnsupported(Exception):
    """A change outside this benchmark's shape: the floor is a floor, not the service."""


@dataclass
class FloorResult:
    recorded: list[tuple[uuid.UUID, uuid.UUID]]
    """(change id, request id) of each planned change, in planned order, as ``record_all`` answers."""
    seconds: float
    cpu_seconds: float
    busy: float
    """The machine's CPUs busy during the floor's run (``/proc/stat``)."""
    issued: list[list[str]]
    """The statements of each planned change, in planned order (``Floor.issued``)."""


def floor_database_url(url: str) -> str:
    """The PostgreSQL floor's database: ``<name>_floor`` beside the bench's own."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_floor").render_as_string(hide_password=False)


def postgres_copy(url: str, copy_url: str) -> None:
    """``copy_url``'s database made afresh as a copy of ``url``'s (``CREATE DATABASE … TEMPLATE``: the same rows
    and ids, block for block). Nobody may be connected to the source meanwhile."""
    from psycopg import sql

    source, name = make_url(url).database, make_url(copy_url).database
    if not name or name in PROTECTED_DATABASES or name == source:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    with _admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(str(source)))
        )


def _time_ordered_ids() -> Iterator[str]:
    """Ids as 32 hex digits ordered by creation (milliseconds, a counter, random bits), like ``new_id``'s: new rows
    go to the right of each id index, as seatflow's do."""
    base = (time.time_ns() // 1_000_000) << 16
    for k in itertools.count():
        yield f"{base + k:016x}{os.urandom(8).hex()}"


def _dashed(hex_id: str) -> str:
    """A UUID of 32 hex digits as ``str(uuid)`` writes it (the audit's target ids, the events' subject and data)."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def _money(value: Decimal) -> str:
    """``format_money``: ``Decimal("36")`` -> ``"36.00"``, extra precision kept."""
    cents = value.quantize(CENT)
    return str(cents) if value == cents else str(value.normalize())


class Floor:
    """Records planned changes with the bare driver on one connection, one transaction each, issuing the statements
    seatflow issues for them (see the module's docstring) with the values seatflow writes.

    SQLite (stdlib ``sqlite3``, autocommit mode as seatflow's engine sets it, the same pragmas): ids as 32 hex
    digits, timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text, dates ISO text, money as integer 10^-4 units,
    JSON as text; ``BEGIN IMMEDIATE`` as seatflow's writers. PostgreSQL (``psycopg`` 3, its defaults, as
    SQLAlchemy's engine has them): native uuid (sent as text), timestamptz (aware UTC datetimes), date, bigint
    money, json; psycopg begins the transaction at the first statement as it does under SQLAlchemy, and the row
    locks are ``FOR UPDATE``."""

    def __init__(self, connection: Any, *, postgres: bool) -> None:
        self.conn = connection
        self.pg = postgres

        def q(statement: str) -> str:  # psycopg's placeholders
            return statement.replace("?", "%s") if postgres else statement

        lock = " FOR UPDATE" if postgres else ""
        self.s_lock = q(_F_READ + lock)
        self.s_children, self.s_bounds, self.s_update = q(_F_CHILDREN), q(_F_BOUNDS), q(_F_UPDATE)
        self.s_batches = {n: q(_F_BATCHES.format(", ".join("?" * n))) for n in (1, 2)}
        self.s_audit, self.s_kind_and_latest = q(_F_AUDIT), q(_F_KIND_AND_LATEST)
        self.s_change, self.s_event = q(_F_CHANGE), q(_F_EVENT)
        self.new_hex_id = _time_ordered_ids().__next__
        # An id made here goes to the database as hex (SQLite's CHAR(32)) or dashed text (PostgreSQL's uuid); one
        # read from it comes back as hex text (SQLite) or a uuid.UUID (psycopg), and str() of either is dashed.
        self.param: Callable[[str], str] = _dashed if postgres else str
        self.shown: Callable[[Any], str] = str if postgres else _dashed
        self.actor_id = str(KEY_ID) if postgres else KEY_ID.hex
        self.issued: list[str] = []
        """The statements the change being recorded has issued, BEGIN and COMMIT included (``compare_statements``
        leaves them out, as it does seatflow's)."""

    def execute(self, statement: str, *params: Any) -> Any:
        """The connection's ``execute``, kept in ``issued``: the floor's statements go through here or
        ``executemany``."""
        self.issued.append(statement)
        return self.conn.execute(statement, *params)

    def executemany(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement for several rows (psycopg: a cursor's ``executemany``, a pipeline), kept in ``issued``."""
        self.issued.append(statement)
        if self.pg:
            with self.conn.cursor() as cursor:
                cursor.executemany(statement, rows)
        else:
            self.conn.executemany(statement, rows)

    def stamp(self, moment: datetime) -> Any:
        return moment if self.pg else moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    def record(self, item: Planned) -> tuple[str, str]:
        """One planned change in a transaction of its own; (change id, request id) as 32 hex digits. Its statements
        are in ``issued`` afterwards."""
        execute = self.execute
        self.issued = []
        now = datetime.now(UTC)
        today = now.date()
        request_hex = self.new_hex_id()
        request = self.param(request_hex)
        if not self.pg:
            execute("BEGIN IMMEDIATE")
        try:
            subscription = str(item.subscription) if self.pg else item.subscription.hex
            row = execute(self.s_lock, (subscription,)).fetchone()
            if row is None:
                raise FloorUnsupported(f"no subscription {item.subscription}")
            quantity, status, product, account, price, parent, term_start, behavior, window = row
            if status not in LIVE_STATUSES or quantity != item.before:
                raise FloorUnsupported(f"subscription {item.subscription} is {status} at {quantity}, not {item}")
            if parent is None and execute(self.s_children, (subscription,)).fetchall():
                raise FloorUnsupported(f"subscription {item.subscription} is a linked parent")
            name, low, high = execute(self.s_bounds, (product,)).fetchone()
            self._check_quantity(item.after, low, high, name)
            parent_row = None
            if item.after < quantity and status != "pending":
                owners = [(subscription, term_start, behavior, window)]
                if parent is not None:
                    parent_row = execute(self.s_lock, (parent,)).fetchone()
                    owners.append((parent, parent_row[6], parent_row[7], parent_row[8]))
                batches = execute(self.s_batches[len(owners)], [owner[0] for owner in owners]).fetchall()
                self._check_reduction(owners, batches, today)
            change = self._apply(
                request, subscription, quantity, item.after, price, account, now, today, ChangeOrigin.API, None
            )
            if parent is not None:
                row = parent_row if parent_row is not None else execute(self.s_lock, (parent,)).fetchone()
                p_quantity, p_status, p_product, p_account, p_price = row[:5]
                if p_status not in LIVE_STATUSES:
                    raise FloorUnsupported(f"the linked parent of {item.subscription} is {p_status}")
                if p_product != product:  # linked subscriptions share a product: seatflow reads it once then
                    name, low, high = execute(self.s_bounds, (p_product,)).fetchone()
                after = p_quantity + item.after - item.before
                self._check_quantity(after, low, high, name)
                self._apply(
                    request,
                    parent,
                    p_quantity,
                    after,
                    p_price,
                    p_account,
                    now,
                    today,
                    ChangeOrigin.LINKED_CHILD,
                    change,
                )
            if self.pg:
                self.conn.commit()
            else:
                execute("COMMIT")
        except BaseException:
            if self.pg:
                self.conn.rollback()
            else:
                execute("ROLLBACK")
            raise
        return change, request_hex

    def _apply(
        self,
        request: str,
        subscription: Any,
        before: int,
        after: int,
        price_units: int,
        account: Any,
        now: datetime,
        today: date,
        origin: ChangeOrigin,
        caused_by: str | None,
    ) -> str:
        """The quantity, the license change, their two audit rows and its event, as seatflow's one flush a side
        writes them (``apply_quantity``/``push_to_parent``, ``record_change``, the audit hook, ``announce_change``)."""
        execute, stamp = self.execute, self.stamp
        written = stamp(datetime.now(UTC))
        target = self.shown(subscription)
        kind, latest = execute(self.s_kind_and_latest, (subscription, account)).fetchone()
        provisioning = "not_applicable" if kind == "do_nothing" else "awaiting_provisioning"
        if origin is ChangeOrigin.LINKED_CHILD and provisioning == "not_applicable":
            raise FloorUnsupported("a parent with nothing to provision (the child's change would be settled)")
        recorded_at, created = now, stamp(now)
        if latest is not None and not created > latest:  # stamped after the subscription's last change
            last = latest if self.pg else datetime.fromisoformat(latest).replace(tzinfo=UTC)
            recorded_at = last.astimezone(UTC) + timedelta(microseconds=1)
            created = stamp(recorded_at)
        change_hex = self.new_hex_id()
        change, cause = _dashed(change_hex), _dashed(caused_by) if caused_by else None
        price = Decimal(price_units) / MONEY_UNITS
        effective = today.isoformat()
        # The change's INSERT, then the subscription's UPDATE: the order of seatflow's one flush.
        execute(
            self.s_change,
            (subscription, before, after, price_units, price_units, today if self.pg else effective, origin.value,
             ACTOR.name, self.param(caused_by) if caused_by else None, provisioning, created,
             self.param(change_hex)),
        )  # fmt: skip
        execute(self.s_update, (after, written, subscription))
        audited = {
            "subscription_id": target, "kind": "quantity", "quantity_before": before, "quantity_after": after,
            "price_before": str(price), "price_after": str(price), "effective_date": effective,
            "origin": origin.value, "requested_by": ACTOR.name, "reason": None, "caused_by_change_id": cause,
            "provisioning_status": provisioning, "billing_status": "open", "attempts": 0,
            "created_at": recorded_at.isoformat(), "id": change,
        }  # fmt: skip
        audit_rows = [
            (written, "api_key", self.actor_id, KEY_NAME, "api", "127.0.0.1", OPERATION, request,
             "subscription.quantity_changed", "subscription", target, json.dumps({"quantity": before}),
             json.dumps({"quantity": after}), self.param(self.new_hex_id())),
            (written, "api_key", self.actor_id, KEY_NAME, "api", "127.0.0.1", OPERATION, request,
             "license_change.created", "license_change", change, None, json.dumps(audited),
             self.param(self.new_hex_id())),
        ]  # fmt: skip
        # One statement for both rows, as the audit hook writes a flush's rows (psycopg: a pipeline, one round trip).
        self.executemany(self.s_audit, audit_rows)
        money = _money(price)
        shown = {
            "id": change, "subscription_id": target, "kind": "quantity", "quantity_before": before,
            "quantity_after": after, "price_before": money, "price_after": money, "effective_date": effective,
            "origin": origin.value, "requested_by": ACTOR.name, "reason": None, "caused_by_change_id": cause,
            "provisioning_status": provisioning, "billing_status": "open", "message": None, "attempts": 0,
            "created_at": recorded_at.isoformat().replace("+00:00", "Z"), "provisioned_at": None,
            "last_attempt_at": None, "notified_at": None,
        }  # fmt: skip
        # The event's data is the change as the API shows it: the same JSON as the request's answer.
        execute(self.s_event, (change, stamp(now), json.dumps(shown), written, self.param(self.new_hex_id())))
        return change_hex

    @staticmethod
    def _check_quantity(quantity: int, low: int, high: int | None, product: str) -> None:
        if not max(low, 1) <= quantity <= (QUANTITY_CAP if high is None else min(high, QUANTITY_CAP)):
            raise FloorUnsupported(f"{quantity} is out of {product}'s range")

    def _check_reduction(self, owners: list[tuple[Any, ...]], batches: list[tuple[Any, ...]], today: date) -> None:
        """This benchmark's reductions only: every seat of the child (and its parent) bought inside the reduction
        window (the seat batches are not computed: with every batch inside, any reduction is allowed)."""
        for _, _, behavior, window in owners:
            if behavior == "allowed":
                continue
            if behavior != "allowed_within_window" or window is None:
                raise FloorUnsupported(f"reduction behaviour {behavior}")
            first = today - timedelta(days=window)
            if any((row[4] if self.pg else date.fromisoformat(row[4])) < first for row in batches):
                raise FloorUnsupported("a seat batch outside its reduction window")


def floor_connect(url: str) -> Any:
    """The floor's connection, set up as seatflow's engine sets its connections up."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database), isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn
    import psycopg

    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname=parsed.database,
    )


def floor_run(url: str, warm: list[Planned], planned: list[Planned]) -> FloorResult:
    """``warm`` untimed (as seatflow's warm-up: the driver's statement cache, psycopg's prepared statements), then
    ``planned`` timed, one after the other on one connection."""
    conn = floor_connect(url)
    try:
        floor = Floor(conn, postgres=make_url(url).get_backend_name() != "sqlite")
        for item in warm:
            floor.record(item)
        recorded, issued = [], []
        busy0, total0 = cpu_jiffies()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for item in planned:
            recorded.append(floor.record(item))
            issued.append(floor.issued)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        busy1, total1 = cpu_jiffies()
    finally:
        conn.close()
    ids = [(uuid.UUID(hex=change), uuid.UUID(hex=request)) for change, request in recorded]
    return FloorResult(ids, wall, cpu, (busy1 - busy0) / max(1, total1 - total0), issued)


def audit_shapes(
    factory: sessionmaker[Session], requests: set[uuid.UUID]
) -> set[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
    """Each kind of audit row the requests wrote: action, target kind, the actor and request columns, the keys of
    before and after in order."""
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(
                AuditEntry.request_id,
                AuditEntry.action,
                AuditEntry.target_kind,
                AuditEntry.actor_kind,
                AuditEntry.actor_id,
                AuditEntry.actor_name,
                AuditEntry.origin,
                AuditEntry.ip,
                AuditEntry.operation,
                AuditEntry.before,
                AuditEntry.after,
            )
        ).all()
    return {
        (
            row.action,
            row.target_kind,
            f"{row.actor_kind} {row.actor_id} {row.actor_name} {row.origin} {row.ip} {row.operation}",
            tuple(row.before or ()),
            tuple(row.after or ()),
        )
        for row in rows
        if row.request_id in requests
    }


def verify_floor(
    factory: sessionmaker[Session],
    seatflow_factory: sessionmaker[Session],
    setup: Setup,
    planned: list[Planned],
    expected: dict[uuid.UUID, int],
    floor: FloorResult,
    recorded: list[tuple[uuid.UUID, uuid.UUID]],
) -> list[str]:
    """``verify``'s checks on the floor's database, read through seatflow's models (so its rows must be what
    seatflow reads), and: each of the floor's events holds what ``LicenseChangeRead`` makes of its change, and its
    audit rows have the shapes of seatflow's (actions, targets, actor, keys)."""
    problems = verify(factory, setup, planned, expected, floor.recorded)
    with unit_of_work(factory) as session:
        requests = {request for _, request in floor.recorded}
        data = {
            row.subject_id: row.data
            for row in session.execute(
                select(OutboxEvent.subject_id, OutboxEvent.data).where(OutboxEvent.type == RECORDED)
            )
        }
        mine = {change for change, _ in floor.recorded}
        changes = session.execute(
            select(LicenseChange).where(LicenseChange.id.in_(mine) | LicenseChange.caused_by_change_id.in_(mine))
        ).scalars()
        wrong = [
            c.id for c in changes if data.get(str(c.id)) != LicenseChangeRead.from_model(c).model_dump(mode="json")
        ]
        if wrong:
            problems.append(f"{len(wrong)} of the floor's events differ from LicenseChangeRead of their change")
    ours = audit_shapes(seatflow_factory, {request for _, request in recorded})
    theirs = audit_shapes(factory, requests)
    if ours != theirs:
        problems.append(
            f"the floor's audit rows {sorted(theirs - ours)} differ from seatflow's {sorted(ours - theirs)}"
        )
    return problems


# --- main ------------------------------------------------------------------------------------------------


def cpu_jiffies() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def report_floor(
    floor_url: str,
    seatflow_factory: sessionmaker[Session],
    setup: Setup,
    workload: tuple[list[Planned], list[Planned], dict[uuid.UUID, int]],
    recorded: list[tuple[uuid.UUID, uuid.UUID]],
    seatflow_times: tuple[float, float],
    statements: SeatflowStatements,
    *,
    threads: int,
) -> list[str]:
    """Runs the floor on its database, checks it (its statements a change too: ``compare_statements``), prints its
    figures beside seatflow's; the floor's problems."""
    warm, planned, expected = workload
    wall, cpu = seatflow_times
    postgres = make_url(floor_url).get_backend_name() != "sqlite"
    floor = floor_run(floor_url, warm, planned)
    floor_engine = make_engine(floor_url, pool_size=1, max_overflow=0)
    try:
        problems = verify_floor(
            make_sessionmaker(read_only(floor_engine)), seatflow_factory, setup, planned, expected, floor, recorded
        )
    finally:
        floor_engine.dispose()
    n = len(planned)
    where = (
        f"bare psycopg {version('psycopg')} on {make_url(floor_url).database}, a copy of the seeded database"
        if postgres
        else f"bare sqlite3 (SQLite {sqlite3.sqlite_version}) on a copy of the seeded database file"
    )
    print(f"floor: {where}; the same warm-up and changes, one a transaction, 1 thread, this process")
    print(f"floor wall: {floor.seconds:.2f} s  ->  {n / floor.seconds:.0f} changes/s")
    print(f"floor's CPU: {floor.cpu_seconds:.2f} s  ->  {floor.cpu_seconds / n * 1000:.2f} ms a change")
    print(f"machine CPUs busy during the floor: {floor.busy:.0%}")
    for problem in problems:
        print(f"FLOOR CHECK FAILED: {problem}")
    if not problems:
        print(
            "floor checks: ok (verify's checks on the floor's database; its events are LicenseChangeRead of its "
            "changes; its audit rows are shaped as seatflow's)"
        )
    ratio = (
        f"seatflow/floor: {wall / floor.seconds:.2f}x wall time a change "
        f"({n / wall:.0f} against {n / floor.seconds:.0f} changes/s"
    )
    if postgres:
        print(ratio + "; CPU not compared: the server's share is in its own processes)")
    else:
        print(
            ratio + f"), {cpu / floor.cpu_seconds:.2f}x CPU a change ({cpu / n * 1000:.2f} against "
            f"{floor.cpu_seconds / n * 1000:.2f} ms)"
        )
    if threads > 1:
        print(f"  (seatflow recorded from {threads} threads, the floor from one)")
    counts = compare_statements(planned, statements, floor.issued)
    for problem in counts:
        print(f"FLOOR CHECK FAILED: {problem}")
    if not counts:
        print("statement counts: ok (the floor issues seatflow's number of statements for every change)")
    return problems + counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="a scratch PostgreSQL database (dropped and recreated)")
    parser.add_argument("--changes", type=int, default=2000, help="quantity changes recorded (default 2000)")
    parser.add_argument("--parents", type=int, default=200, help="linked parents (default 200)")
    parser.add_argument("--children-per-parent", type=int, default=2, help="linked children a parent (default 2)")
    parser.add_argument("--standalone", type=int, default=200, help="unlinked subscriptions (default 200)")
    parser.add_argument("--linked-share", type=float, default=0.8, help="share of changes on linked children (0.8)")
    parser.add_argument("--threads", type=int, default=1, help="recording threads (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="cProfile the recording (its timings are not figures)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database(s) at the end")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-driver floor (see the docstring)")
    args = parser.parse_args(argv)

    workdir = tempfile.TemporaryDirectory(prefix="seatflow-bench-recording-")
    if args.postgres:
        url = args.postgres
        postgres_database(url, create=True)
    else:
        url = f"sqlite:///{Path(workdir.name) / 'bench.db'}"
    floor_url = None
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=max(5, args.threads), max_overflow=4)
        factory = make_sessionmaker(engine)
        setup = build(
            factory, parents=args.parents, children_per_parent=args.children_per_parent, standalone=args.standalone
        )
        planned, expected = plan(setup, changes=args.changes, linked_share=args.linked_share, seed=args.seed)
        if not args.no_floor:  # the floor's database: the seeded one as it is now, before anyone records a change
            if args.postgres:
                engine.dispose()  # CREATE DATABASE ... TEMPLATE wants nobody connected to the template
                floor_url = floor_database_url(url)
                postgres_copy(url, floor_url)
            else:
                floor_url = f"sqlite:///{Path(workdir.name) / 'floor.db'}"
                copy_sqlite_database(url, Path(workdir.name) / "floor.db")
        # Warm up (imports, statement caches) on a few changes of their own, then plan afresh from there.
        warm, expected_warm = plan(setup, changes=20, linked_share=args.linked_share, seed=args.seed + 1)
        record_all(factory, warm, 1)
        setup.quantity = expected_warm
        planned, expected = plan(setup, changes=args.changes, linked_share=args.linked_share, seed=args.seed)
        statements = SeatflowStatements(engine)  # each change's statements, counted against the floor's
        busy0, total0 = cpu_jiffies()
        profiler = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not wall: the machine is shared
        if profiler:
            profiler.enable()
        recorded, wall, cpu = record_all(factory, planned, args.threads, statements)
        if profiler:
            profiler.disable()
        busy1, total1 = cpu_jiffies()
        linked = sum(1 for p in planned if p.linked)
        with engine.connect() as conn:
            version = conn.exec_driver_sql(
                "select sqlite_version()" if engine.dialect.name == "sqlite" else "show server_version"
            ).scalar_one()
        print(f"database: {engine.dialect.name} {version}; python {sys.version.split()[0]}; cpus {os.cpu_count()}")
        print(f"source: {Path(change_service.__file__).resolve().parents[2]}")
        print(
            f"changes: {len(planned)} ({linked} on linked children, each with its parent's change; "
            f"{len(planned) - linked} standalone), one a transaction, {args.threads} thread(s)"
        )
        print(f"wall: {wall:.2f} s  ->  {len(planned) / wall:.0f} changes/s")
        print(f"this process's CPU: {cpu:.2f} s  ->  {cpu / len(planned) * 1000:.2f} ms a change")
        print(f"machine CPUs busy during the run: {(busy1 - busy0) / max(1, total1 - total0):.0%}")
        print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
        problems = verify(make_sessionmaker(read_only(engine)), setup, planned, expected, recorded)
        for problem in problems:
            print(f"CHECK FAILED: {problem}")
        if not problems:
            print(
                "checks: ok (parents = their children's sums; quantities as planned; each change recorded once, "
                "one parent change per linked child change; one recorded event per change; audit rows per request)"
            )
        if floor_url is not None:
            floor_problems = report_floor(
                floor_url,
                make_sessionmaker(read_only(engine)),
                setup,
                (warm, planned, expected),
                recorded,
                (wall, cpu),
                statements,
                threads=args.threads,
            )
            problems += floor_problems
        else:
            compare_statements(planned, statements, None)
        engine.dispose()
        return 1 if problems else 0
    finally:
        if args.postgres and not args.keep:
            postgres_database(url, create=False)
            if floor_url is not None:
                postgres_database(floor_url, create=False)
        workdir.cleanup()


if __name__ == "__main__":
    sys.exit(main())
