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

    .venv/bin/python bench/recording.py                          # SQLite, 2000 changes
    .venv/bin/python bench/recording.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_rec
    .venv/bin/python bench/recording.py --profile                # cProfile of the recording, top functions
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import os
import pstats
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from sqlalchemy import select
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


def record_one(factory: sessionmaker[Session], item: Planned) -> tuple[uuid.UUID, uuid.UUID]:
    """One change as ``POST /api/v1/subscriptions/{id}/quantity`` makes it; (change id, the request's id)."""
    scope = AuditScope(
        Origin.API, actor=AuditActor(ActorKind.API_KEY, KEY_ID, KEY_NAME), ip="127.0.0.1", operation=OPERATION
    )
    with unit_of_work(factory) as session:
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
    factory: sessionmaker[Session], planned: list[Planned], threads: int
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], float, float]:
    """(change id, request id) of each change in planned order; wall seconds; this process's CPU seconds."""
    results: list[tuple[uuid.UUID, uuid.UUID] | None] = [None] * len(planned)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if threads <= 1:
        for n, item in enumerate(planned):
            results[n] = record_one(factory, item)
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
                    results[n] = record_one(factory, planned[n])
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


# --- main ------------------------------------------------------------------------------------------------


def cpu_jiffies() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


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
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database at the end")
    args = parser.parse_args(argv)

    workdir = tempfile.TemporaryDirectory(prefix="seatflow-bench-recording-")
    if args.postgres:
        url = args.postgres
        postgres_database(url, create=True)
    else:
        url = f"sqlite:///{Path(workdir.name) / 'bench.db'}"
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=max(5, args.threads), max_overflow=4)
        factory = make_sessionmaker(engine)
        setup = build(
            factory, parents=args.parents, children_per_parent=args.children_per_parent, standalone=args.standalone
        )
        planned, expected = plan(setup, changes=args.changes, linked_share=args.linked_share, seed=args.seed)
        # Warm up (imports, statement caches) on a few changes of their own, then plan afresh from there.
        warm, expected_warm = plan(setup, changes=20, linked_share=args.linked_share, seed=args.seed + 1)
        record_all(factory, warm, 1)
        setup.quantity = expected_warm
        planned, expected = plan(setup, changes=args.changes, linked_share=args.linked_share, seed=args.seed)
        busy0, total0 = cpu_jiffies()
        profiler = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not wall: the machine is shared
        if profiler:
            profiler.enable()
        recorded, wall, cpu = record_all(factory, planned, args.threads)
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
        engine.dispose()
        return 1 if problems else 0
    finally:
        if args.postgres and not args.keep:
            postgres_database(url, create=False)
        workdir.cleanup()


if __name__ == "__main__":
    sys.exit(main())
