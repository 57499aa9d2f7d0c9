"""Benchmark: the provisioning worker draining linked child changes against the Partner Center simulator.

Sets up, untimed: a fresh migrated database (a SQLite file in a temporary directory, or with --postgres a
scratch PostgreSQL database dropped and recreated for every run and dropped at the end), the demo catalog with
its Partner Center account pointed at a Partner Center simulator, a Pine Cone Vet customer (its tenant
``pine-cone-vet-tenant`` is in the simulator's seed), --parents Microsoft 365 E3 parent subscriptions on a
non-billable parent contract, each with --children-per-parent linked children on child contracts (created on
the do-nothing account, then linked, as the flaky-provider test does). The parents are bought with one
in-process drain, through new commerce's carts (an availability lookup, a cart and its checkout a parent; checked
against the simulator's counters: one cart and one checkout a parent, no legacy ``POST /orders``), the simulator's
request counters are reset, and then --changes random child quantity
changes are recorded through ``change_quantity`` (each child change and, in the same transaction, the parent
change it causes; 100 child changes a transaction to keep the setup short, --changes-per-transaction 1 records
them one a transaction as the API does: the rows are the same).

Measured: 1 and 2 (--workers) ``seatflow worker --drain`` *processes* started together on that queue, from
spawning them until the queue is empty and until they have exited:

* changes per second: child changes provisioned / seconds from spawning the workers to the last
  ``provisioned_at`` (the queue empty); also against the time until every worker process exited;
* provider calls: the simulator's request counters (``GET /_sim/stats``) and the workers' own
  ``provider_calls``. New commerce changes a subscription by reading it (``GET``, for the full resource and its
  etag) and sending the whole resource back (``PATCH`` with ``If-Match``); a subscription's awaiting changes go
  out as one PATCH with the absolute quantity. So: one GET per parent with changes, one PATCH per parent whose
  quantity moved (a parent whose changes cancel out is read, shows the quantity already and gets no PATCH), and
  nothing else (no cart, no order, no stale etag, no 202) -- the number of parents, not of changes;
* latency: p50 / p99 of a child change's ``provisioned_at - created_at``. Every change was recorded before
  the workers started, so this is recording time + waiting in the queue, not a worker's reaction time; the
  same percentiles measured from the moment the workers were spawned (queue position) are printed beside it;
* CPU seconds of each worker process (``os.wait4``) and its peak RSS (``VmHWM`` in ``/proc/PID/status``,
  sampled every 50 ms while it runs: ``ru_maxrss`` of a child started by ``subprocess`` never reads below
  this process's own peak, since the child's memory before ``exec`` was a copy of ours), CPU seconds of the
  simulator during the
  drain, and how busy the machine's CPUs were (``/proc/stat``) during the drain.

The simulator runs in a process of its own (``seatflow simulator --port P``) unless --simulator thread puts it
in this process (which only waits during the drain). ``--faults throttle=0.05,error=0.05,lost=0.05`` makes the
simulator answer that share of the drain's Partner Center requests 429 (with ``Retry-After``), 5xx (nothing applied)
or apply a PATCH and drop its answer; the provider-call checks then become exactly-once checks (below).
``--profile`` instead drains with one in-process worker
wrapped in timers (claim, load, provider call, writing the outcome, release, commits, SQL) to show where a
worker's time goes; its timings are not benchmark figures.

    .venv/bin/python bench/provisioning.py                # SQLite, 1 then 2 workers
    .venv/bin/python bench/provisioning.py --postgres     # PostgreSQL database seatflow_bench_provisioning
    .venv/bin/python bench/provisioning.py --workers 2 --parents 100 --changes 1000

Exits 1 when a correctness check fails: a change not provisioned (child or parent), a parent's quantity at the
simulator not the database's or not its children's sum, PATCH requests other than one per parent whose quantity
moved, GET requests other than one per parent with changes, any other Partner Center request during the drain,
the workers' provider calls not the simulator's GETs + PATCHes, a worker exiting with an error, or the parents not
bought through one cart and one checkout each. With --faults the counts of GETs and PATCHes may exceed one a parent
(retries), and exactly-once is checked where it shows: each parent whose quantity moved has exactly one seat change
charged at the simulator (one ``ReferenceId`` of ``addQuantity``/``removeQuantity`` lines), every other parent none,
no Partner Center request other than GET and PATCH, and every change provisioned once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import ProviderAccount
from seatflow.catalog.providers import update_provider_account
from seatflow.catalog.schemas import ProviderAccountUpdate
from seatflow.clock import SystemClock
from seatflow.contracts.schemas import ContractCreate
from seatflow.contracts.service import create_contract
from seatflow.customers.schemas import CustomerCreate
from seatflow.customers.service import create_customer
from seatflow.db.engine import make_engine
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.partner_center.client import PartnerCenterClient
from seatflow.provisioning import partner_center as partner_center_module
from seatflow.provisioning import queue
from seatflow.provisioning import worker as worker_module
from seatflow.provisioning.providers import PartnerCenterProvider
from seatflow.provisioning.worker import Worker, WorkerConfig
from seatflow.simulator import SimulatorServer, SimulatorState
from seatflow.simulator.state import demo_seed
from seatflow.subscriptions import announcements
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.lifecycle import create_subscription
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeOrigin, LicenseChange, ProvisioningStatus, Subscription
from seatflow.subscriptions.schemas import Actor, SubscriptionCreate

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_provisioning"
PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
TENANT = "pine-cone-vet-tenant"  # in the simulator's demo seed
PRODUCT = "SPE_E3"  # Microsoft 365 E3 in the demo catalog; at most 300 seats a subscription at the simulator
SIM_MAXIMUM = 300
CHILD_QUANTITY = 10
DELTAS = (-2, -1, 1, 2, 3)
SUBSCRIPTION_ROUTE = "/v1/customers/{id}/subscriptions/{id}"
PATCH_ROUTE = f"PATCH {SUBSCRIPTION_ROUTE}"
FAULT_NAMES = {"throttle": "throttle_rate", "error": "error_rate", "lost": "lost_response_rate"}
GET_ROUTE = f"GET {SUBSCRIPTION_ROUTE}"
CART_ROUTE = "POST /v1/customers/{id}/carts"
CHECKOUT_ROUTE = "POST /v1/customers/{id}/carts/{id}/checkout"
LEGACY_ORDER_ROUTE = "POST /v1/customers/{id}/orders"
ACTOR = Actor(ChangeOrigin.OPERATOR, "bench/provisioning.py")
MB = 1_000_000
PROVISIONED, FAILED = ProvisioningStatus.PROVISIONED, ProvisioningStatus.FAILED


# --- the simulator ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Simulator:
    """The Partner Center simulator with the demo seed, in a process of its own or in a thread of this one."""

    def __init__(self, mode: str, workdir: Path) -> None:
        self.mode = mode
        self.process: subprocess.Popen[bytes] | None = None
        self.server: SimulatorServer | None = None
        if mode == "thread":
            self.server = SimulatorServer(SimulatorState.from_seed(demo_seed())).start()
            self.url = self.server.url
        else:
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            log = (workdir / f"simulator-{port}.log").open("wb")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "seatflow", "simulator", "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=_child_env({}),
            )
            log.close()
            self._wait_ready()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"the simulator exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/_sim/stats", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit("the simulator did not answer within 20 s")

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/_sim/stats").raise_for_status().json()
        return data

    def reset_stats(self) -> None:
        self.http.post("/_sim/stats/reset").raise_for_status()

    def set_latency(self, milliseconds: int) -> None:
        self.http.post("/_sim/faults", json={"latency_ms": milliseconds}).raise_for_status()

    def set_faults(self, settings: dict[str, Any]) -> None:
        self.http.post("/_sim/faults", json=settings).raise_for_status()

    def charges(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.http.get("/_sim/charges").raise_for_status().json()["items"]
        return items

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/_sim/state").raise_for_status().json()
        return data

    def cpu_seconds(self) -> float:
        """CPU time of the simulator's process so far (this process's, for the thread mode)."""
        if self.process is None:
            return time.process_time()
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    def close(self) -> None:
        self.http.close()
        if self.server is not None:
            self.server.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env.update(extra)
    return env


# --- the database ----------------------------------------------------------------------------------------


def _admin_connect(url: str) -> Any:
    import psycopg

    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",  # maintenance connection only: nothing in it is read or changed
        autocommit=True,
    )


def drop_postgres_database(url: str, *, create: bool) -> None:
    from psycopg import sql

    name = make_url(url).database
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    with _admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]


# --- setup -----------------------------------------------------------------------------------------------


@dataclass
class Linked:
    """The parents and children as the workload generator tracks them."""

    parents: list[uuid.UUID]
    children: list[uuid.UUID]
    parent_of: dict[uuid.UUID, uuid.UUID]
    quantity: dict[uuid.UUID, int]


def build(factory: sessionmaker[Session], sim_url: str, *, parents: int, children_per_parent: int) -> Linked:
    """The demo catalog, the customer, its contracts, the linked parents and their children (not timed)."""
    today = datetime.now(UTC).date()  # the worker's clock is the UTC system clock
    catalog = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()
    with unit_of_work(factory) as session:
        import_catalog(session, content=catalog, fmt=ImportFormat.DOCUMENT, default_currency="USD")
        pc = catalog_repository.provider_account_by_name(session, "Partner Center")
        do_nothing = catalog_repository.provider_account_by_name(session, "Do nothing")
        linked = catalog_repository.provider_account_by_name(session, "Linked subscriptions")
        assert pc is not None  # noqa: S101
        assert do_nothing is not None  # noqa: S101
        assert linked is not None  # noqa: S101
        update_provider_account(
            session, account=pc, data=ProviderAccountUpdate(settings={"base_url": sim_url, "timeout_seconds": 30})
        )
        product = catalog_repository.product_by_provisioning_id(session, pc.id, PRODUCT)
        assert product is not None  # noqa: S101
        customer = create_customer(
            session, data=CustomerCreate(name="Pine Cone Vet", tenant_id=TENANT), default_currency="USD"
        )
        parent_contract = create_contract(
            session,
            data=ContractCreate(
                customer_id=str(customer.id), name="Pine Cone Vet - Parent", billable=False, start_date=today
            ),
        )
        locations = [
            create_contract(
                session,
                data=ContractCreate(
                    customer_id=str(customer.id),
                    name=f"Pine Cone Vet - Location {n + 1}",
                    parent_contract_id=str(parent_contract.id),
                    start_date=today,
                ),
            )
            for n in range(children_per_parent)
        ]
        ids = (pc.id, do_nothing.id, linked.id, product.id, parent_contract.id, [c.id for c in locations])
    pc_id, do_nothing_id, linked_id, product_id, parent_contract_id, location_ids = ids
    result = Linked([], [], {}, {})
    per_transaction = 100
    for start in range(0, parents, per_transaction):
        with unit_of_work(factory) as session:
            linked_account = session.get_one(ProviderAccount, linked_id)
            for _ in range(start, min(parents, start + per_transaction)):
                parent = _subscribe(
                    session,
                    contract_id=parent_contract_id,
                    product_id=product_id,
                    account_id=pc_id,
                    quantity=CHILD_QUANTITY * children_per_parent,
                    today=today,
                )
                result.parents.append(parent.id)
                result.quantity[parent.id] = parent.quantity
                for location_id in location_ids:
                    child = _subscribe(
                        session,
                        contract_id=location_id,
                        product_id=product_id,
                        account_id=do_nothing_id,
                        quantity=CHILD_QUANTITY,
                        today=today,
                    )
                    link(session, subscription=child, target=parent, account=linked_account)
                    result.children.append(child.id)
                    result.parent_of[child.id] = parent.id
                    result.quantity[child.id] = child.quantity
    return result


def _subscribe(
    session: Session,
    *,
    contract_id: uuid.UUID,
    product_id: uuid.UUID,
    account_id: uuid.UUID,
    quantity: int,
    today: date,
) -> Subscription:
    data = SubscriptionCreate(
        contract_id=str(contract_id),
        product_id=str(product_id),
        provider_account_id=str(account_id),
        quantity=quantity,
        start_date=today,
        allow_end_user_modification=False,
    )
    subscription, _ = create_subscription(session, data=data, today=today, now=datetime.now(UTC), actor=ACTOR)
    return subscription


def buy_parents(
    factory: sessionmaker[Session], expected: int, simulator: Simulator
) -> tuple[float, int, dict[str, int]]:
    """One in-process drain that buys every parent at the simulator through a cart and its checkout (not
    measured); the Partner Center requests it made, by route."""
    simulator.reset_stats()
    worker = Worker(factory, SystemClock(), config=WorkerConfig())
    started = time.perf_counter()
    try:
        result = worker.drain(max_wait_seconds=600)
    finally:
        worker.registry.close()
    seconds = time.perf_counter() - started
    if result.tally.provisioned != expected:
        raise SystemExit(f"buying the parents provisioned {result.tally.provisioned} of {expected}: {result.as_dict()}")
    requests = _partner_center_requests(simulator.stats())
    carts, checkouts = requests.get(CART_ROUTE, 0), requests.get(CHECKOUT_ROUTE, 0)
    if carts != expected or checkouts != expected or requests.get(LEGACY_ORDER_ROUTE, 0):
        raise SystemExit(f"buying {expected} parents: expected one cart and one checkout each, no order: {requests}")
    if sum(requests.values()) != result.provider_calls:
        raise SystemExit(f"buying the parents: simulator counted {requests}, the worker {result.provider_calls} calls")
    return seconds, result.provider_calls, requests


def _partner_center_requests(stats: dict[str, Any]) -> dict[str, int]:
    """The simulator's request counters without its own ``/_sim`` routes (the bench's polls)."""
    return {route: n for route, n in stats["requests"].items() if " /_sim/" not in route}


@dataclass
class Workload:
    child_changes: list[uuid.UUID]
    parent_changes: list[uuid.UUID]
    parents_changed: int
    parents_moved: int
    """Parents whose quantity after the changes differs from before (the others' changes cancel out)."""
    seconds: float


def record_changes(
    factory: sessionmaker[Session], linked: Linked, *, changes: int, seed: int, per_transaction: int
) -> Workload:
    """``changes`` random child quantity changes through ``change_quantity``: each child change and the parent
    change it causes in one transaction, ``per_transaction`` child changes a transaction."""
    rng = random.Random(seed)
    quantity = dict(linked.quantity)
    planned: list[tuple[uuid.UUID, int]] = []
    while len(planned) < changes:
        child = rng.choice(linked.children)
        parent = linked.parent_of[child]
        delta = rng.choice(DELTAS)
        if quantity[child] + delta < 1 or not 1 <= quantity[parent] + delta <= SIM_MAXIMUM:
            continue
        quantity[child] += delta
        quantity[parent] += delta
        planned.append((child, quantity[child]))
    child_changes: list[uuid.UUID] = []
    started = time.perf_counter()
    for start in range(0, len(planned), per_transaction):
        with unit_of_work(factory) as session:
            for child, target in planned[start : start + per_transaction]:
                now = datetime.now(UTC)
                change = change_quantity(
                    session,
                    subscription_id=child,
                    quantity=target,
                    effective="now",
                    today=now.date(),
                    now=now,
                    actor=ACTOR,
                )
                assert isinstance(change, LicenseChange)  # noqa: S101 - effective now makes a license change
                child_changes.append(change.id)
    seconds = time.perf_counter() - started
    parent_changes: list[uuid.UUID] = []
    with unit_of_work(factory) as session:
        for chunk in _chunks(child_changes, 500):
            stmt = select(LicenseChange.id).where(LicenseChange.caused_by_change_id.in_(chunk))
            parent_changes += session.execute(stmt).scalars()
    before = linked.quantity
    linked.quantity = quantity
    touched = {linked.parent_of[child] for child, _ in planned}
    moved = {parent for parent in touched if quantity[parent] != before[parent]}
    return Workload(child_changes, parent_changes, len(touched), len(moved), seconds)


# --- measuring -------------------------------------------------------------------------------------------


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


@dataclass
class WorkerExit:
    pid: int
    exit_code: int
    seconds: float
    """From spawning the workers until this one exited."""
    cpu_seconds: float
    max_rss: int
    last_rss: int
    """The resident set at the last sample before the process exited."""
    result: dict[str, Any]
    stderr_tail: str


@dataclass
class Drain:
    started: datetime
    exits: list[WorkerExit]
    wall_seconds: float
    """Spawning the workers until the last one exited."""
    simulator_cpu: float
    machine_busy: float
    """Fraction of all CPUs busy during the drain (every process on the machine)."""


def run_workers(
    count: int, url: str, workdir: Path, simulator: Simulator, *, max_wait: float, batch_size: int | None
) -> Drain:
    env = {"SEATFLOW_DATABASE_URL": url}
    if batch_size is not None:
        env["SEATFLOW_WORKER_BATCH_SIZE"] = str(batch_size)
    command = [sys.executable, "-m", "seatflow", "worker", "--drain", "--max-wait", str(max_wait)]
    outputs: dict[int, tuple[Path, Path]] = {}
    sim_cpu, (busy, total) = simulator.cpu_seconds(), cpu_jiffies()
    started, t0 = datetime.now(UTC), time.perf_counter()
    for n in range(count):
        out, err = workdir / f"worker-{n}.json", workdir / f"worker-{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=workdir, env=_child_env(env))
        outputs[process.pid] = (out, err)
    exits: list[WorkerExit] = []
    try:
        _wait_workers(count, outputs, exits, t0)
    except BaseException:
        for pid in set(outputs) - {e.pid for e in exits}:
            os.kill(pid, signal.SIGTERM)  # our own worker processes; they finish the subscription in hand
        raise
    wall = time.perf_counter() - t0
    busy_after, total_after = cpu_jiffies()
    machine = (busy_after - busy) / max(1, total_after - total)
    return Drain(started, exits, wall, simulator.cpu_seconds() - sim_cpu, machine)


def _wait_workers(count: int, outputs: dict[int, tuple[Path, Path]], exits: list[WorkerExit], t0: float) -> None:
    peaks = dict.fromkeys(outputs, 0)
    last = dict.fromkeys(outputs, 0)
    while len(exits) < count:
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            for running in set(outputs) - {e.pid for e in exits}:
                peak, rss = _memory(running)
                peaks[running], last[running] = max(peaks[running], peak), rss or last[running]
            time.sleep(0.05)
            continue
        seconds = time.perf_counter() - t0
        if pid not in outputs:
            raise SystemExit(f"process {pid} (the simulator?) exited during the drain")
        out, err = outputs[pid]
        code = os.waitstatus_to_exitcode(status)
        try:
            result: dict[str, Any] = json.loads(out.read_text() or "{}")
        except json.JSONDecodeError:
            result = {}
        exits.append(
            WorkerExit(
                pid,
                code,
                seconds,
                usage.ru_utime + usage.ru_stime,
                peaks[pid],
                last[pid],
                result,
                err.read_text(errors="replace")[-2000:],
            )
        )


def _memory(pid: int) -> tuple[int, int]:
    """The process's resident-set high-water mark and resident set now (``VmHWM``, ``VmRSS``; bytes);
    zeros once it is gone."""
    values = {"VmHWM:": 0, "VmRSS:": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, *rest = line.split()
            if name in values:
                values[name] = int(rest[0]) * 1024
    except OSError:
        pass
    return values["VmHWM:"], values["VmRSS:"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


@dataclass
class Outcome:
    statuses: Counter[str]
    parent_statuses: Counter[str]
    created_to_provisioned: list[float]
    spawn_to_provisioned: list[float]
    first_provisioned: float
    last_provisioned: float
    attempt_gap_max: float


def read_outcome(factory: sessionmaker[Session], workload: Workload, started: datetime) -> Outcome:
    rows: list[tuple[ProvisioningStatus, datetime, datetime | None]] = []
    parent_rows: list[tuple[ProvisioningStatus, datetime | None, datetime | None]] = []
    with unit_of_work(factory) as session:
        for chunk in _chunks(workload.child_changes, 500):
            stmt = select(LicenseChange.provisioning_status, LicenseChange.created_at, LicenseChange.provisioned_at)
            rows += [tuple(r) for r in session.execute(stmt.where(LicenseChange.id.in_(chunk)))]  # type: ignore[misc]
        for chunk in _chunks(workload.parent_changes, 500):
            stmt = select(
                LicenseChange.provisioning_status, LicenseChange.last_attempt_at, LicenseChange.provisioned_at
            )
            parent_rows += [tuple(r) for r in session.execute(stmt.where(LicenseChange.id.in_(chunk)))]  # type: ignore[misc]
    done = [(c, p) for s, c, p in rows if s is PROVISIONED and p is not None]
    gaps = [(p - a).total_seconds() for s, a, p in parent_rows if s is PROVISIONED and a and p]
    from_spawn = [(p - started).total_seconds() for _, p in done]
    return Outcome(
        statuses=Counter(s.value for s, _, _ in rows),
        parent_statuses=Counter(s.value for s, _, _ in parent_rows),
        created_to_provisioned=[(p - c).total_seconds() for c, p in done],
        spawn_to_provisioned=from_spawn,
        first_provisioned=min(from_spawn, default=float("nan")),
        last_provisioned=max(from_spawn, default=float("nan")),
        attempt_gap_max=max(gaps, default=float("nan")),
    )


def _chunks(items: Sequence[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def parent_quantities(factory: sessionmaker[Session], parents: Sequence[uuid.UUID]) -> dict[str, int]:
    """External id -> quantity, as the database has them."""
    found: dict[str, int] = {}
    with unit_of_work(factory) as session:
        for chunk in _chunks(parents, 500):
            stmt = select(Subscription.external_id, Subscription.quantity).where(Subscription.id.in_(chunk))
            found.update({str(e): q for e, q in session.execute(stmt)})
    return found


# --- the phase profile (--profile) -----------------------------------------------------------------------


class PhaseTimer:
    """Wall time spent inside named functions (nested ones are counted in both), and SQL statements."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._restore: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        self._restore.append((owner, name, original))
        setattr(owner, name, timed)

    def watch_sql(self, engine: Engine) -> None:
        def before(conn: Any, *_: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self.seconds["SQL statements (cursor.execute)"] += time.perf_counter() - conn.info["bench_started"]
            self.calls["SQL statements (cursor.execute)"] += 1
            verb = statement.lstrip().split(None, 1)[0].upper()
            self.calls[f"  of which {verb}"] += 1

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    @contextmanager
    def installed(self) -> Iterator[PhaseTimer]:
        try:
            yield self
        finally:
            for owner, name, original in reversed(self._restore):
                setattr(owner, name, original)


def profile_drain(url: str, max_wait: float, batch_size: int | None) -> tuple[float, float, Any, PhaseTimer]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    config = WorkerConfig(batch_size=batch_size) if batch_size else WorkerConfig()
    worker = Worker(factory, SystemClock(), config=config)
    timer = PhaseTimer()
    timer.watch_sql(engine)
    timer.wrap(worker_module, "run_renewals", "renewals (first pass)")
    timer.wrap(queue, "claim", "claim: select due subscriptions + lease update")
    timer.wrap(queue, "load_job", "load_job: subscription, account, product, contract, customer, changes")
    timer.wrap(queue, "_partner_center_details", "  load_job's new-commerce details (country, next term, ids)")
    timer.wrap(queue, "next_term_of", "  next_term_of: the renewal's scheduled changes")
    timer.wrap(PartnerCenterProvider, "execute", "provider call: GET + PATCH of the subscription (HTTP)")
    timer.wrap(PartnerCenterClient, "get_subscription_with_etag", "  GET the subscription (HTTP, parse, etag)")
    timer.wrap(PartnerCenterClient, "update_subscription_with_etag", "  PATCH the full resource (If-Match; HTTP)")
    timer.wrap(PartnerCenterClient, "_send", "  HTTP round trips (httpx request, both)")
    timer.wrap(partner_center_module, "with_quantity", "  with_quantity: deep copy of the resource")
    timer.wrap(partner_center_module, "read_subscription", "  read_subscription: the resource as a record")
    timer.wrap(queue, "record_outcome", "record_outcome: settle changes + flow back to children")
    if hasattr(queue, "load_jobs"):
        timer.wrap(queue, "load_jobs", "load_jobs: a claimed batch's jobs together")
        timer.wrap(queue, "record_done_many", "record_done_many: a batch's Done outcomes + flow back + events")
        timer.wrap(queue, "release_many", "release_many: a batch's leases")
        timer.wrap(announcements, "announce_rows_at", "  outbox events (LicenseChangeRead + INSERT)")
    timer.wrap(queue, "release", "release: clear the lease")
    if hasattr(queue, "renew"):
        timer.wrap(queue, "renew", "renew: extend the lease before load and each op")
    timer.wrap(queue, "next_wakeup", "next_wakeup: anything left?")
    timer.wrap(Session, "commit", "commits (Session.commit, flush included)")
    with timer.installed():
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            result = worker.drain(max_wait_seconds=max_wait)
        finally:
            worker.registry.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    engine.dispose()
    return seconds, cpu, result, timer


# --- one run ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    database: str
    workers: int
    simulator: str
    changes: int
    parents: int
    parents_changed: int
    parents_moved: int
    setup: dict[str, float] = field(default_factory=dict)
    drain: Drain | None = None
    outcome: Outcome | None = None
    sim_requests: dict[str, int] = field(default_factory=dict)
    """Partner Center requests the simulator counted during the drain, by route (its own /_sim routes left out)."""
    sim_unusual: dict[str, int] = field(default_factory=dict)
    """Faults drawn, MS-RequestId replays and 202 answers during the drain: all zero in this benchmark."""
    faults: dict[str, Any] = field(default_factory=dict)
    """The simulator's fault settings during the drain (--faults); empty: none."""
    seat_changes: Counter[str] = field(default_factory=Counter)
    """Seat changes charged at the simulator during the drain: ReferenceIds of addQuantity/removeQuantity lines,
    by subscription."""
    failures: list[str] = field(default_factory=list)

    @property
    def patches(self) -> int:
        return self.sim_requests.get(PATCH_ROUTE, 0)

    def read_simulator(self, stats: dict[str, Any]) -> None:
        self.sim_requests = _partner_center_requests(stats)
        self.sim_unusual = {
            **{f"fault {kind}": int(n) for kind, n in stats.get("faults", {}).items()},
            "replays": int(stats.get("replays", 0)),
            "accepted (202)": int(stats.get("accepted", 0)),
        }

    @property
    def gets(self) -> int:
        return self.sim_requests.get(GET_ROUTE, 0)

    @property
    def other_requests(self) -> dict[str, int]:
        return {r: n for r, n in self.sim_requests.items() if r not in (GET_ROUTE, PATCH_ROUTE) and n}

    @property
    def worker_calls(self) -> int:
        assert self.drain is not None  # noqa: S101
        return sum(int(e.result.get("provider_calls", 0)) for e in self.drain.exits)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)
            print(f"  CHECK FAILED: {message}")


def run_once(args: argparse.Namespace, workers: int, workdir: Path) -> Run:
    if args.postgres:
        url = args.postgres
        drop_postgres_database(url, create=True)
    else:
        url = f"sqlite:///{workdir / f'bench-{workers}-workers.db'}"
    upgrade(url)
    engine = make_engine(url)
    for statement in args.sql or ():
        with engine.begin() as conn:
            conn.execute(text(statement))
    factory = make_sessionmaker(engine)
    simulator = Simulator("process" if args.profile else args.simulator, workdir)
    try:
        return _run(args, workers, workdir, url, engine, factory, simulator)
    finally:
        simulator.close()
        engine.dispose()
        if args.postgres and not args.keep:
            drop_postgres_database(url, create=False)


def _run(
    args: argparse.Namespace,
    workers: int,
    workdir: Path,
    url: str,
    engine: Engine,
    factory: sessionmaker[Session],
    simulator: Simulator,
) -> Run:
    label = "in-process worker, timed phases" if args.profile else f"{workers} worker process(es)"
    print(
        f"run: {server_version(engine)}, {label}, simulator in {simulator.mode} ({simulator.url}), "
        f"load average {_load()}"
    )
    started = time.perf_counter()
    linked = build(factory, simulator.url, parents=args.parents, children_per_parent=args.children_per_parent)
    build_seconds = time.perf_counter() - started
    buy_seconds, buy_calls, buy_requests = buy_parents(factory, args.parents, simulator)
    simulator.reset_stats()
    if args.latency_ms:
        simulator.set_latency(args.latency_ms)
    workload = record_changes(
        factory, linked, changes=args.changes, seed=args.seed, per_transaction=args.changes_per_transaction
    )
    run = Run(
        engine.dialect.name,
        workers,
        simulator.mode,
        args.changes,
        args.parents,
        workload.parents_changed,
        workload.parents_moved,
    )
    run.setup = {"build": build_seconds, "buy": buy_seconds, "record": workload.seconds}
    print(
        f"  setup (not measured): {args.parents} parents + {len(linked.children)} linked children in "
        f"{build_seconds:.1f} s; bought with {buy_calls} provider calls in {buy_seconds:.1f} s ({buy_requests}); "
        f"{args.changes} child changes ({workload.parents_changed} parents, {workload.parents_moved} of them with a "
        f"new quantity) recorded in {workload.seconds:.1f} s "
        f"({args.changes / workload.seconds:.0f}/s, {args.changes_per_transaction} a transaction)"
    )
    if args.profile:
        _profile(args, url, run, simulator)
        return run
    if args.analyze:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    # The workers refuse a database that is not at the code's head revision: migrate again in case the tree gained
    # a migration since the setup (a no-op otherwise).
    upgrade(url)
    if args.faults:
        run.faults = {**args.faults, "seed": args.seed}
        simulator.set_faults(run.faults)
        print(f"  faults during the drain: {run.faults}")
    drain = run_workers(workers, url, workdir, simulator, max_wait=args.max_wait, batch_size=args.batch_size)
    run.drain = drain
    if args.faults:
        simulator.set_faults(dict.fromkeys(FAULT_NAMES.values(), 0.0))
    run.read_simulator(simulator.stats())
    run.seat_changes = seat_changes(simulator.charges())
    run.outcome = read_outcome(factory, workload, drain.started)
    report(run)
    verify(run, factory, linked, simulator)
    return run


def _profile(args: argparse.Namespace, url: str, run: Run, simulator: Simulator) -> None:
    seconds, cpu, result, timer = profile_drain(url, args.max_wait, args.batch_size)
    run.read_simulator(simulator.stats())
    print(f"  drain (one in-process worker, instrumented): {seconds:.2f} s wall, {cpu:.2f} s CPU of this process")
    print(f"  worker result: {json.dumps(result.as_dict())}")
    print(f"  simulator requests: {run.sim_requests}")
    print(f"  {'phase':<72} {'calls':>7} {'total s':>8} {'ms/call':>8} {'share':>6}")
    for name, total in sorted(timer.seconds.items(), key=lambda item: -item[1]):
        calls = timer.calls[name]
        print(f"  {name:<72} {calls:7d} {total:8.2f} {total / calls * 1000:8.2f} {total / seconds:6.1%}")
    for name, calls in sorted(timer.calls.items()):
        if name.startswith("  of which"):
            print(f"  {name:<72} {calls:7d}")
    run.check(result.tally.provisioned == run.changes, f"provisioned {result.tally.provisioned} parent changes")
    check_provider_calls(run, result.provider_calls)


def report(run: Run) -> None:
    drain, outcome = run.drain, run.outcome
    assert drain is not None  # noqa: S101
    assert outcome is not None  # noqa: S101
    provisioned = outcome.statuses.get(PROVISIONED.value, 0)
    print(f"  drain: {run.workers} worker process(es) spawned at {drain.started:%H:%M:%S.%f} UTC")
    for n, e in enumerate(sorted(drain.exits, key=lambda e: e.seconds)):
        tally = {k: v for k, v in e.result.items() if v}
        print(
            f"    worker {n + 1} (pid {e.pid}): exit {e.exit_code} after {e.seconds:.2f} s, CPU {e.cpu_seconds:.2f} s, "
            f"peak RSS {e.max_rss / MB:.1f} MB (at the end {e.last_rss / MB:.1f} MB), {tally}"
        )
        if e.exit_code != 0:
            print("      stderr: " + e.stderr_tail.replace("\n", "\n      "))
    empty = outcome.last_provisioned
    print(
        f"  first change provisioned {outcome.first_provisioned:.2f} s after spawning (process start-up), "
        f"queue empty after {empty:.2f} s, workers exited after {drain.wall_seconds:.2f} s"
    )
    print(
        f"  child changes provisioned: {provisioned} of {run.changes}: {provisioned / empty:.0f}/s to the empty queue, "
        f"{provisioned / drain.wall_seconds:.0f}/s to the workers' exit"
    )
    print(
        f"  provider calls: simulator counted {sum(run.sim_requests.values())} ({run.sim_requests}); "
        f"workers counted {run.worker_calls}; parents with changes {run.parents_changed}, "
        f"{run.parents_moved} of them with a new quantity"
    )
    print(f"  faults drawn and replays at the simulator: {run.sim_unusual}")
    c2p, s2p = outcome.created_to_provisioned, outcome.spawn_to_provisioned
    print(
        f"  latency created_at -> provisioned_at: p50 {percentile(c2p, 0.5):.2f} s, p99 {percentile(c2p, 0.99):.2f} s, "
        f"max {max(c2p, default=float('nan')):.2f} s (recorded before the workers started)"
    )
    print(
        f"  spawn -> provisioned_at (queue position): p50 {percentile(s2p, 0.5):.2f} s, "
        f"p99 {percentile(s2p, 0.99):.2f} s"
    )
    print(f"  parent changes: provisioned_at - last_attempt_at at most {outcome.attempt_gap_max:.3f} s")
    print(
        f"  CPU during the drain: workers {sum(e.cpu_seconds for e in drain.exits):.2f} s, simulator "
        f"{drain.simulator_cpu:.2f} s ({run.simulator}); machine {drain.machine_busy:.0%} busy of "
        f"{os.cpu_count()} CPUs over {drain.wall_seconds:.2f} s"
    )


def check_provider_calls(run: Run, worker_calls: int) -> None:
    """New commerce: each parent with changes is read once (GET) and, when its quantity moved, sent back once with
    the absolute quantity (PATCH with If-Match); nothing else reaches Partner Center during the drain."""
    if run.faults:
        check_exactly_once(run)
        return
    run.check(
        run.patches == run.parents_moved,
        f"simulator PATCHes {run.patches} != parents with a new quantity {run.parents_moved} (one PATCH a parent)",
    )
    run.check(
        run.gets == run.parents_changed,
        f"simulator GETs of a subscription {run.gets} != parents with changes {run.parents_changed}",
    )
    run.check(
        worker_calls == run.gets + run.patches,
        f"workers' provider calls {worker_calls} != simulator GETs {run.gets} + PATCHes {run.patches}",
    )
    run.check(not run.other_requests, f"other Partner Center requests during the drain: {run.other_requests}")
    unusual = {k: n for k, n in run.sim_unusual.items() if n}
    run.check(not unusual, f"the simulator saw {unusual} during the drain")


def seat_changes(charges: list[dict[str, Any]]) -> Counter[str]:
    """Seat changes charged, by subscription: each is a refund and a charge on one ReferenceId (PC23)."""
    references = {
        (line["subscriptionId"], line["referenceId"])
        for line in charges
        if line["chargeType"] in ("addQuantity", "removeQuantity")
    }
    return Counter(subscription for subscription, _ in references)


def check_exactly_once(run: Run) -> None:
    """Under faults a request may be retried (a 429, a 5xx, an answer lost after the PATCH applied), so the counts
    of GETs and PATCHes may exceed one a parent; what must still hold is that Partner Center applied each parent's
    new quantity once: one seat change charged a parent that moved, none for the others (checked in verify)."""
    run.check(
        run.patches >= run.parents_moved,
        f"simulator PATCHes {run.patches} < parents with a new quantity {run.parents_moved}",
    )
    run.check(
        run.gets >= run.parents_changed, f"simulator GETs {run.gets} < parents with changes {run.parents_changed}"
    )
    run.check(not run.other_requests, f"other Partner Center requests during the drain: {run.other_requests}")
    twice = {s: n for s, n in run.seat_changes.items() if n != 1}
    run.check(
        not twice, f"{len(twice)} subscriptions charged a seat change more than once: {dict(list(twice.items())[:5])}"
    )
    run.check(
        len(run.seat_changes) == run.parents_moved,
        f"seat changes charged for {len(run.seat_changes)} subscriptions, "
        f"parents with a new quantity {run.parents_moved}",
    )


def verify(run: Run, factory: sessionmaker[Session], linked: Linked, simulator: Simulator) -> None:
    drain, outcome = run.drain, run.outcome
    assert drain is not None  # noqa: S101
    assert outcome is not None  # noqa: S101
    for e in drain.exits:
        run.check(e.exit_code == 0, f"worker {e.pid} exited with {e.exit_code}")
    run.check(outcome.statuses == Counter({PROVISIONED.value: run.changes}), f"child changes: {dict(outcome.statuses)}")
    run.check(
        outcome.parent_statuses == Counter({PROVISIONED.value: run.changes}),
        f"parent changes: {dict(outcome.parent_statuses)}",
    )
    tally = Counter[str]()
    for e in drain.exits:
        tally.update({k: int(v) for k, v in e.result.items() if isinstance(v, int)})
    run.check(tally["provisioned"] == run.changes, f"workers' tally: {dict(tally)}")
    run.check(tally["flowed_back"] == run.changes, f"workers' flowed_back {tally['flowed_back']}")
    check_provider_calls(run, run.worker_calls)
    if not run.faults:
        run.check(
            sum(run.seat_changes.values()) == run.parents_moved,
            f"seat changes charged {sum(run.seat_changes.values())} != parents with a new quantity {run.parents_moved}",
        )
    ours = parent_quantities(factory, linked.parents)
    at_sim = {s["id"]: s["quantity"] for s in simulator.state()["subscriptions"]}
    run.check(len(at_sim) == run.parents, f"{len(at_sim)} subscriptions at the simulator, expected {run.parents}")
    wrong = [e for e, q in ours.items() if at_sim.get(e) != q]
    run.check(not wrong, f"{len(wrong)} parents' quantity at the simulator differs from the database's")
    expected = {pid: linked.quantity[pid] for pid in linked.parents}
    run.check(sorted(ours.values()) == sorted(expected.values()), "parent quantities are not the children's sums")


# --- main ------------------------------------------------------------------------------------------------


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def source_state() -> str:
    """The commit, and whether the worker's code differs from it (benchmarks of a moving tree say so)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/seatflow"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if "provisioning" in line or "simulator" in line or "partner_center" in line]
    note = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"commit {commit}{note} ({len(dirty)} changed paths under src/seatflow)"


def summary(runs: list[Run]) -> None:
    print()
    print("Summary (changes/s = child changes provisioned / s from spawning the workers to the empty queue;")
    print("latency = created_at -> provisioned_at of a child change, all recorded before the workers started)")
    head = (
        f"  {'db':<10} {'workers':>7} {'sim':>7} {'changes':>7} {'to empty s':>10} {'exit s':>7} {'changes/s':>9}"
        f" {'GET':>6} {'PATCH':>6} {'worker calls':>12} {'p50 s':>6} {'p99 s':>6} {'CPU s/worker':>12} {'RSS MB':>7}"
    )
    print(head)
    for run in runs:
        if run.drain is None or run.outcome is None:
            continue
        o, d = run.outcome, run.drain
        provisioned = o.statuses.get(PROVISIONED.value, 0)
        cpu = "/".join(f"{e.cpu_seconds:.1f}" for e in d.exits)
        rss = max(e.max_rss for e in d.exits) / MB
        print(
            f"  {run.database:<10} {run.workers:7d} {run.simulator:>7} {provisioned:7d} {o.last_provisioned:10.2f}"
            f" {d.wall_seconds:7.2f} {provisioned / o.last_provisioned:9.0f} {run.gets:6d} {run.patches:6d}"
            f" {run.worker_calls:12d}"
            f" {percentile(o.created_to_provisioned, 0.5):6.2f} {percentile(o.created_to_provisioned, 0.99):6.2f}"
            f" {cpu:>12} {rss:7.1f}"
        )
    print(f"  load average at the end: {_load()}")


def parse_faults(value: str) -> dict[str, float]:
    """``throttle=0.05,error=0.05,lost=0.05`` as the simulator's fault settings."""
    settings: dict[str, float] = {}
    for part in value.split(","):
        kind, _, rate = part.partition("=")
        if kind.strip() not in FAULT_NAMES:
            raise argparse.ArgumentTypeError(f"unknown fault {kind.strip()!r}: use {', '.join(FAULT_NAMES)}")
        try:
            share = float(rate)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind.strip()}: {rate!r} is not a number") from None
        if not 0 <= share < 1:
            raise argparse.ArgumentTypeError(f"{kind.strip()}: the rate must be from 0 to less than 1")
        settings[FAULT_NAMES[kind.strip()]] = share
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=POSTGRES_URL,
        metavar="URL",
        help=f"a scratch PostgreSQL database, dropped and recreated for each run and dropped at the end "
        f"(default {POSTGRES_URL}); default: a SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--workers", type=int, action="append", help="worker processes; repeat for several runs (default: 1, then 2)"
    )
    parser.add_argument("--parents", type=int, default=1000, help="linked parent subscriptions (default 1000)")
    parser.add_argument("--changes", type=int, default=10_000, help="child quantity changes (default 10000)")
    parser.add_argument("--children-per-parent", type=int, default=2, help="linked children a parent (default 2)")
    parser.add_argument(
        "--changes-per-transaction",
        type=int,
        default=100,
        help="child changes recorded per transaction in the setup (default 100; 1 is how the API records them)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the changes (default 42)")
    parser.add_argument(
        "--simulator",
        choices=("process", "thread"),
        default="process",
        help="the simulator in a process of its own (default) or in a thread of this one",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="the simulator's added latency for every Partner Center request of the drain (default 0)",
    )
    parser.add_argument(
        "--faults",
        type=parse_faults,
        metavar="KIND=RATE,...",
        help="during the drain, the share of Partner Center requests answered 429 (throttle), 5xx (error) or applied "
        "with the answer lost (lost, PATCH only), e.g. throttle=0.05,error=0.05,lost=0.05; seeded by --seed",
    )
    parser.add_argument("--batch-size", type=int, help="SEATFLOW_WORKER_BATCH_SIZE (default: the worker's, 20)")
    parser.add_argument("--max-wait", type=float, default=600.0, help="the workers' --max-wait (default 600)")
    parser.add_argument(
        "--profile", action="store_true", help="drain with one in-process worker with timed phases instead"
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="run ANALYZE after recording the changes, so the planner's statistics know the queue's size",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database at the end")
    parser.add_argument(
        "--sql",
        action="append",
        metavar="STATEMENT",
        help="run this SQL after migrating, before the setup (to try an index before a migration has it); repeatable",
    )
    args = parser.parse_args(argv)
    if min(args.parents, args.children_per_parent, args.changes, args.changes_per_transaction) < 1:
        parser.error("--parents, --children-per-parent, --changes and --changes-per-transaction must be at least 1")
    if CHILD_QUANTITY * args.children_per_parent > SIM_MAXIMUM:
        parser.error(f"--children-per-parent at most {SIM_MAXIMUM // CHILD_QUANTITY}")
    counts = [1] if args.profile else (args.workers or [1, 2])
    if any(n < 1 for n in counts):
        parser.error("--workers must be at least 1")
    if args.faults and args.profile:
        parser.error("--faults measures worker processes; --profile drains in this process without faults")

    print("seatflow provisioning benchmark")
    print(f"  python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}")
    print(f"  source: {source_state()}; started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"  {args.parents} parents x {args.children_per_parent} linked children, {args.changes} child changes "
        f"(seed {args.seed}), simulator in {'process' if args.profile else args.simulator}"
    )
    for statement in args.sql or ():
        print(f"  extra SQL after migrating: {statement}")
    if args.latency_ms:
        print(f"  simulator latency during the drain: {args.latency_ms} ms a request")
    if args.analyze:
        print("  ANALYZE after recording the changes")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        for workers in counts:
            run = run_once(args, workers, Path(tmp))
            runs.append(run)
            print()
    if not args.profile:
        summary(runs)
    failures = [f for run in runs for f in run.failures]
    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print("  checks: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
