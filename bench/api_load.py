"""Benchmark: the REST API under load, past its capacity and through a SIGTERM (SPEC §11, issue 11).

Sets up, untimed: a fresh database (a SQLite file in a temporary directory, or with --postgres a scratch
PostgreSQL database ``seatflow_bench_api_load_<pid>`` created for the run and dropped at the end), migrated by
``seatflow db upgrade``; then, through the services: a do-nothing and a linked provider account, one license
product whose reductions are always allowed, --subscriptions subscriptions of which a tenth are linked
children (20 a parent, on location contracts under one non-billable parent contract) and the rest standalone
(10 a contract, one contract a customer), all at quantity 99, and an API key from ``seatflow apikey create``.
Then it starts ``seatflow serve --host 127.0.0.1 --port P [--workers W]`` as a subprocess (its own process
group; stdout and stderr to a log file) and waits until ``/healthz`` answers.

The requests: 80 % quantity changes (``POST /api/v1/subscriptions/{id}/quantity`` with ``effective: now``)
spread uniformly over the standalone and child subscriptions (so some land on children of one parent at the
same time, and push their delta up to it), 20 % reads (one subscription, its changes, a contract's
subscriptions). The k-th change sent to a subscription asks for 100 + (37 k mod 97): up and down, and never
the quantity it already has (that would be a 422 ``no_change``) unless 96 changes in a row to it were lost.

Measured (latency is from sending a request to its whole answer; percentiles are nearest-rank):

1. capacity: a warm-up, then --clients closed-loop clients (each sends its next request when the last one is
   answered) for --capacity-seconds: answers per second (2xx only), p50/p99. By default twice as many
   clients as the server admits at once (2 x SEATFLOW_MAX_CONCURRENT_REQUESTS x --workers), so every process
   stays saturated although the kernel hands each keep-alive connection to one process, unevenly; the
   surplus waits in the server's queue (well under its 2 s, so no 503). With --workers 1 this is one
   process's capacity.
2. overload: an open loop at --multiplier (2) times that rate for --duration seconds (a fixed arrival
   schedule: request i is due at i / rate, whatever the server does; at most --max-requests, at most
   --max-in-flight (1024) outstanding, and a request that waits for a free slot counts that wait as
   lateness): every status, p50/p95/p99/max by status, the 503s with and without ``Retry-After`` and by code
   (``server_busy``, ``database_busy``), any other status (a 500 is a defect), transport errors, how late the
   load generator sent (if it is late, this process, not the server, was the bottleneck), the server's CPU
   seconds (its process tree) and ours.
3. SIGTERM under load: the same open loop; after --sigterm-after seconds SIGTERM to the server's process;
   the seconds until it has exited, its exit status, what became of the requests in flight, and whether any
   of its processes outlived it.

1b. steady rate (only with --steady-rate R): an open loop at R requests/s for --steady-seconds (20), after the
   capacity phase: by default quantity changes only (``--steady-mix changes``: issue 16's target is 200 quantity
   changes/s with p99 < 100 ms from one process), or the 80/20 mix (``--steady-mix mix``); p50/p95/p99/max and the
   target's verdict (p99 below --steady-p99-ms, 100). Its answers count in the checks as phase 1's do (only 2xx
   and 503), and with --steady-strict a p99 above the bound or a 503 fails the run.

1b + run-once (only with --run-once-every S, which needs --steady-rate): during the steady phase a client of its
   own posts ``POST /api/v1/worker/run-once`` (``{}``, the same API key) every S seconds, one at a time (a call
   due while the last is unanswered goes when it is answered): their count, statuses, p50/p90/max next to the
   quantity changes' own in that phase, and what the passes did (the answers' counts summed). So that each pass
   has work, the linked parents are then Partner Center subscriptions (``seatflow simulator`` in a process of
   its own, its URL the account's ``base_url``; an offer of up to 100,000 seats and a customer tenant added
   through its control paths), bought at the simulator in setup by an in-process drain: every change the load
   makes to a child pushes its delta to its parent, and the next run-once sends the parent's new quantity
   (a GET and a PATCH) and settles the children's changes. One run-once just before the phase, not measured,
   provisions what the earlier phases left. The standalone subscriptions stay do-nothing (their changes are
   ``not_applicable`` when recorded: nothing for the worker). It replaces the 1-second bound of
   ``tests/e2e/test_concurrency.py``'s run-once test as the speed figure (speed is the benches' business).
   Not in the overload phase: there run-once is shed ``503 server_busy`` like any other request, by design.

Afterwards it checks the database: every linked parent's quantity equals its children's sum (no update lost
under concurrency), and the quantity changes the API recorded are at least the 2xx answers to quantity
changes and at most those plus the requests whose answer was lost.

    .venv/bin/python bench/api_load.py                       # SQLite, one server process
    .venv/bin/python bench/api_load.py --workers 2 --postgres
    .venv/bin/python bench/api_load.py --duration 30 --subscriptions 5000 --env SEATFLOW_LOG_LEVEL=WARNING
    .venv/bin/python bench/api_load.py --steady-rate 40 --steady-seconds 10 --run-once-every 0.5

Exits 1 when: any status other than 2xx and 503 (or a transport error or timeout) in phases 1 and 2, any
status other than 2xx and 503 in phase 3 (refused connections after the SIGTERM are expected), a 503
without ``Retry-After`` or with a code other than ``server_busy`` and ``database_busy``, the overload's p99
above --max-p99 (10 s), the shutdown slower than --max-shutdown (10 s), a server process left behind, or a
database check failing; with --run-once-every also when a run-once answers anything but 2xx (or nothing) or
reports a failed change.
Only loopback: the server listens on 127.0.0.1 and every request goes there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.catalog.models import ProductKind, ProviderAccount, ProviderKind, ReductionBehavior, Term
from seatflow.catalog.providers import create_provider_account
from seatflow.catalog.schemas import ProductCreate, ProviderAccountCreate
from seatflow.catalog.service import create_product
from seatflow.clock import SystemClock
from seatflow.config import Settings
from seatflow.contracts.schemas import ContractCreate
from seatflow.contracts.service import create_contract
from seatflow.customers.schemas import CustomerCreate
from seatflow.customers.service import create_customer
from seatflow.db.engine import make_engine
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.provisioning.worker import Worker, WorkerConfig
from seatflow.subscriptions.lifecycle import create_subscription
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeKind, ChangeOrigin, LicenseChange, Subscription
from seatflow.subscriptions.schemas import Actor, SubscriptionCreate

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432"
ACTOR = Actor(ChangeOrigin.OPERATOR, "bench/api_load.py")
INITIAL_QUANTITY = 99  # outside 100..196, the quantities the load asks for: the first change is never no_change
CHILDREN_PER_PARENT = 20
SUBSCRIPTIONS_PER_CONTRACT = 10
CHANGE_SHARE = 0.8
CLIENT_TIMEOUT = 60.0  # seconds; a request unanswered by then is a defect (the server must answer or shed)
BUSY_CODES = ("server_busy", "database_busy")  # the server's 503s: past capacity / no database in time
IDLE_REUSE_SECONDS = 3.0  # an idle keep-alive connection is reused only this long (uvicorn closes it at 5 s)
SETUP_BATCH = 200
RUN_ONCE_PATH = "/api/v1/worker/run-once"
SIM_PRODUCT, SIM_SKU = "CFQ7TTC0BNCH", "0001"  # an offer the bench adds to the simulator (NCE ids' format)
SIM_MAXIMUM = 100_000  # the simulator's default 300 seats a license is far below a parent's (20 x 100..196)
SIM_TENANT_PREFIX = "bench-api-load"  # the simulator names the one bulk customer <prefix>-000001


# --- processes and the machine ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env.update(extra)
    return env


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from ``/proc/*/task/*/children``); empty once ``pid`` is gone."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        tasks = Path(f"/proc/{current}/task")
        try:
            names = [t.name for t in tasks.iterdir()]
        except OSError:
            continue
        found.append(current)
        for name in names:
            with contextlib.suppress(OSError):
                pending += [int(c) for c in (tasks / name / "children").read_text().split()]
    return found


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (the ones still running)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def seatflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "seatflow", *args]


def run_cli(args: Sequence[str], env: dict[str, str], workdir: Path) -> str:
    done = subprocess.run(
        seatflow_command(*args), env=child_env(env), cwd=workdir, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"seatflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Simulator:
    """``seatflow simulator`` (the Partner Center simulator, demo seed) in a process group of its own, with an
    offer big enough for the linked parents and one customer tenant added through its control paths."""

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        self.url = f"http://{HOST}:{port}"
        self.log_path = workdir / f"simulator-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                seatflow_command("simulator", "--host", HOST, "--port", str(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=child_env({}),
                start_new_session=True,
            )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.tenant = f"{SIM_TENANT_PREFIX}-000001"

    def start(self, timeout: float = 30) -> None:
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"the simulator exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/_sim/stats").status_code == 200:
                    break
            if time.monotonic() - started > timeout:
                raise SystemExit(f"the simulator did not answer within {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)
        offer = {
            "productId": SIM_PRODUCT,
            "skuId": SIM_SKU,
            "name": "Bench License",
            "maximumQuantity": SIM_MAXIMUM,
            "terms": [{"termDuration": "P1M", "billingCycle": "monthly"}],
        }
        self.http.post("/_sim/offers", json=offer).raise_for_status()
        self.http.post("/_sim/customers/bulk", json={"count": 1, "prefix": SIM_TENANT_PREFIX}).raise_for_status()

    def requests(self) -> Counter[str]:
        """Partner Center requests it has counted so far, by route (its own ``/_sim`` routes left out)."""
        stats: dict[str, Any] = self.http.get("/_sim/stats").raise_for_status().json()
        return Counter({route: n for route, n in stats["requests"].items() if " /_sim/" not in route})

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


# --- the database ----------------------------------------------------------------------------------------


def postgres_database(action: str, name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pg_test_db.py"), action, name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pg_test_db.py {action} {name} failed: {done.stderr.strip()}")


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]


@dataclass
class Data:
    targets: list[str]
    """Subscriptions the load changes: standalone ones and linked children."""
    contracts: list[str]
    parents: dict[str, list[str]]
    """Linked parent -> its children."""


def build(factory: sessionmaker[Session], subscriptions: int, simulator: Simulator | None = None) -> Data:
    """The catalog, customers, contracts and subscriptions, through the services (not timed). With a
    simulator the product is a Partner Center one (the simulator's bench offer) and the linked parents are
    on a Partner Center account pointed at it, for a customer with its tenant; everything else as without."""
    today = datetime.now(UTC).date()
    children = subscriptions // 10
    parents = max(1, -(-children // CHILDREN_PER_PARENT)) if children else 0
    standalone = subscriptions - children - parents
    with unit_of_work(factory) as session:
        do_nothing = create_provider_account(
            session, data=ProviderAccountCreate(name="Do nothing (bench)", kind=ProviderKind.DO_NOTHING)
        )
        linked = create_provider_account(
            session, data=ProviderAccountCreate(name="Linked (bench)", kind=ProviderKind.LINKED)
        )
        parent_account = do_nothing
        if simulator is not None:
            parent_account = create_provider_account(
                session,
                data=ProviderAccountCreate(
                    name="Partner Center (bench)",
                    kind=ProviderKind.PARTNER_CENTER,
                    settings={"base_url": simulator.url, "timeout_seconds": 30},
                ),
            )
        product = create_product(
            session,
            data=ProductCreate(
                provider_account_id=str(parent_account.id),
                kind=ProductKind.LICENSE,
                name="Bench License",
                offer_id=f"{SIM_PRODUCT}:{SIM_SKU}" if simulator is not None else None,
                term=Term.P1M,
                list_price="10.00",
                cost_price="8.00",
                min_quantity=1,
                reduction_behavior=ReductionBehavior.ALLOWED,
            ),
            default_currency="USD",
        )
        do_nothing_id, linked_id, product_id = str(do_nothing.id), linked.id, str(product.id)
        parent_account_id = str(parent_account.id)

    def subscribe(
        session: Session, contract_id: str, quantity: int = INITIAL_QUANTITY, account_id: str = do_nothing_id
    ) -> Subscription:
        data = SubscriptionCreate(
            contract_id=contract_id,
            product_id=product_id,
            provider_account_id=account_id,
            quantity=quantity,
            start_date=today,
        )
        subscription, _ = create_subscription(session, data=data, today=today, now=datetime.now(UTC), actor=ACTOR)
        return subscription

    result = Data([], [], {})
    if children:
        with unit_of_work(factory) as session:
            account = session.get_one(ProviderAccount, linked_id)
            tenant = simulator.tenant if simulator is not None else None
            customer = create_customer(
                session, data=CustomerCreate(name="Linked Co", tenant_id=tenant), default_currency="USD"
            )
            parent_contract = create_contract(
                session,
                data=ContractCreate(
                    customer_id=str(customer.id), name="Linked Co - Parent", billable=False, start_date=today
                ),
            )
            locations = [
                create_contract(
                    session,
                    data=ContractCreate(
                        customer_id=str(customer.id),
                        name=f"Linked Co - Location {n + 1}",
                        parent_contract_id=str(parent_contract.id),
                        start_date=today,
                    ),
                )
                for n in range(CHILDREN_PER_PARENT)
            ]
            result.contracts += [str(c.id) for c in locations]
            left = children
            for _ in range(parents):
                count = min(left, CHILDREN_PER_PARENT)
                # the children are linked afterwards (which pushes nothing), so the parent starts at their sum
                parent = subscribe(session, str(parent_contract.id), INITIAL_QUANTITY * count, parent_account_id)
                kids = []
                for location in locations[:count]:
                    child = subscribe(session, str(location.id))
                    link(session, subscription=child, target=parent, account=account)
                    kids.append(str(child.id))
                left -= count
                result.parents[str(parent.id)] = kids
                result.targets += kids
    contracts = -(-standalone // SUBSCRIPTIONS_PER_CONTRACT)
    made = 0
    for start in range(0, contracts, SETUP_BATCH // SUBSCRIPTIONS_PER_CONTRACT):
        with unit_of_work(factory) as session:
            for n in range(start, min(contracts, start + SETUP_BATCH // SUBSCRIPTIONS_PER_CONTRACT)):
                customer = create_customer(
                    session, data=CustomerCreate(name=f"Bench Customer {n:05d}"), default_currency="USD"
                )
                contract = create_contract(
                    session,
                    data=ContractCreate(customer_id=str(customer.id), name=f"Bench {n:05d}", start_date=today),
                )
                result.contracts.append(str(contract.id))
                for _ in range(min(SUBSCRIPTIONS_PER_CONTRACT, standalone - made)):
                    result.targets.append(str(subscribe(session, str(contract.id)).id))
                    made += 1
    return result


def buy_parents(factory: sessionmaker[Session], data: Data, simulator: Simulator) -> tuple[float, dict[str, object]]:
    """One in-process drain that buys every linked parent at the simulator (not timed): the seconds it took
    and its counts. Afterwards the load's pushes to a parent are quantity changes for the worker to send."""
    started = time.monotonic()
    worker = Worker(factory, SystemClock(), config=WorkerConfig())
    try:
        result = worker.drain(max_wait_seconds=120)
    finally:
        worker.registry.close()
    if result.tally.provisioned != len(data.parents) or result.tally.failed:
        raise SystemExit(
            f"buying the {len(data.parents)} parents at the simulator: {result.as_dict()}\n{simulator.log_tail()}"
        )
    return time.monotonic() - started, result.as_dict()


@dataclass
class DatabaseCheck:
    parents_wrong: list[str]
    api_quantity_changes: int


def check_database(url: str, data: Data) -> DatabaseCheck:
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        wrong = []
        with unit_of_work(factory) as session:
            for parent, kids in data.parents.items():
                quantity = session.execute(
                    select(Subscription.quantity).where(Subscription.id == uuid.UUID(parent))
                ).scalar_one()
                total = session.execute(
                    select(func.sum(Subscription.quantity)).where(Subscription.id.in_([uuid.UUID(k) for k in kids]))
                ).scalar_one()
                if quantity != total:
                    wrong.append(f"parent {parent}: {quantity}, its children's sum {total}")
            recorded = session.execute(
                select(func.count()).where(
                    LicenseChange.kind == ChangeKind.QUANTITY,
                    LicenseChange.origin == ChangeOrigin.API,
                    LicenseChange.caused_by_change_id.is_(None),
                )
            ).scalar_one()
        return DatabaseCheck(wrong, int(recorded))
    finally:
        engine.dispose()


# --- the server ------------------------------------------------------------------------------------------


class Server:
    """``seatflow serve`` in a process group of its own, its output in a log file."""

    def __init__(self, url: str, workers: int, workdir: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        command = seatflow_command("serve", "--host", HOST, "--port", str(self.port))
        if workers != 1 or self.supports_workers(workdir):
            command += ["--workers", str(workers)]
        self.command = command
        env = child_env({"SEATFLOW_DATABASE_URL": url, **extra_env})
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env, start_new_session=True
            )
        self.pids: list[int] = [self.process.pid]
        self.seen: set[int] = set()
        """Every process of the server seen at a snapshot: more than at the start means some were restarted."""

    @staticmethod
    def supports_workers(workdir: Path) -> bool:
        done = subprocess.run(
            seatflow_command("serve", "--help"), capture_output=True, text=True, cwd=workdir, check=False
        )
        return "--workers" in done.stdout

    def wait_ready(self, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    time.sleep(0.5)  # let every worker process bind and settle
                    self.pids = process_tree(self.process.pid)
                    self.seen.update(self.pids)
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the server did not answer within {timeout:g} s:\n{self.log_tail()}")

    def cpu(self) -> dict[int, float]:
        """CPU seconds so far of each of its processes."""
        pids = process_tree(self.process.pid)
        self.seen.update(pids)
        return cpu_seconds(pids)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """Make sure nothing of it is left: SIGKILL to its process group (ours) if it still runs."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        for pid in sorted(self.seen | set(self.pids)):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


# --- the load --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    """``change`` or ``read``."""
    due: float
    """When the schedule wanted it sent (closed loop: when the client was ready)."""
    started: float
    """When its task ran (the load generator's own lag is started - due)."""
    sent: float
    """When it got a connection slot and was written (a slot's wait is sent - started)."""
    done: float
    status: int | None
    """None: no HTTP answer (``error`` says why)."""
    error: str | None = None
    retry_after: str | None = None
    code: str | None = None
    body: str = ""
    opened: float | None = None
    """When the connection it went on was opened (before ``sent``: a kept-alive one)."""

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def lag(self) -> float:
        return self.started - self.due

    @property
    def slot_wait(self) -> float:
        return self.sent - self.started


class Workload:
    """What to send next: 80 % quantity changes over the targets, 20 % reads."""

    def __init__(self, data: Data, seed: int) -> None:
        self.data = data
        self.rng = random.Random(seed)
        self.sent: Counter[str] = Counter()
        self.change_share = CHANGE_SHARE
        """1.0 in the steady phase with --steady-mix changes: quantity changes only."""

    def next(self) -> tuple[str, str, str, bytes | None]:
        rng = self.rng
        if rng.random() < self.change_share:
            target = rng.choice(self.data.targets)
            k = self.sent[target]
            self.sent[target] += 1
            body = json.dumps({"quantity": 100 + (37 * k) % 97, "effective": "now"}).encode()
            return "change", "POST", f"/api/v1/subscriptions/{target}/quantity", body
        pick = rng.random()
        if pick < 0.5:
            return "read", "GET", f"/api/v1/subscriptions/{rng.choice(self.data.targets)}", None
        if pick < 0.75:
            return "read", "GET", f"/api/v1/subscriptions/{rng.choice(self.data.targets)}/changes", None
        return "read", "GET", f"/api/v1/subscriptions?contract_id={rng.choice(self.data.contracts)}&limit=50", None


class NoAnswer(Exception):
    """The connection ended before a whole answer."""


class Client:
    """A small HTTP/1.1 client on asyncio streams: keep-alive connections to one loopback port, bodies with
    Content-Length or chunked. httpx's async pool costs milliseconds of CPU a request with hundreds of
    connections, which on a 2-CPU machine would make the load generator, not the server, the bottleneck."""

    def __init__(self, host: str, port: int, api_key: str, *, timeout: float = CLIENT_TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.header = f"Host: {host}:{port}\r\nAuthorization: Bearer {api_key}\r\nAccept: application/json\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float, float]] = []
        """Kept-alive connections: reader, writer, idle since, opened at."""

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float, bool]:
        now = time.monotonic()
        while self.idle:
            reader, writer, since, opened = self.idle.pop()
            if now - since < IDLE_REUSE_SECONDS and not reader.at_eof():
                return reader, writer, opened, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return reader, writer, now, False

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, dict[str, str], bytes, float]:
        """The status, headers and body, and when the connection it went on was opened."""
        try:
            reader, writer = None, None
            async with asyncio.timeout(self.timeout):
                reader, writer, opened, reused = await self._connection()
                head = f"{method} {path} HTTP/1.1\r\n{self.header}"
                if body is not None:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                writer.write((head + "\r\n").encode("latin-1") + (body or b""))
                try:
                    status, headers, content = await self._read(reader)
                except (NoAnswer, ConnectionError) as exc:
                    raise NoAnswer("reused connection closed" if reused else str(exc) or "closed") from exc
        except BaseException:
            if writer is not None:
                writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic(), opened))
        return status, headers, content, opened

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        line = await reader.readline()
        if not line:
            raise NoAnswer("closed without an answer")
        try:
            status = int(line.split(None, 2)[1])
        except (IndexError, ValueError) as exc:
            raise NoAnswer(f"bad status line {line[:40]!r}") from exc
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            if "content-length" in headers:
                content = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while size := int((await reader.readline()).split(b";")[0], 16):
                    parts.append(await reader.readexactly(size))
                    await reader.readline()
                await reader.readline()
                content = b"".join(parts)
            else:
                content = await reader.read()
                headers["connection"] = "close"
        except asyncio.IncompleteReadError as exc:
            raise NoAnswer("closed in the middle of an answer") from exc
        return status, headers, content

    def close(self) -> None:
        for _, writer, _, _ in self.idle:
            writer.close()
        self.idle.clear()


async def send(client: Client, workload: Workload, due: float, started: float) -> Sample:
    kind, method, path, body = workload.next()
    sent = time.monotonic()
    try:
        status, headers, content, opened = await client.request(method, path, body)
    except TimeoutError:
        return Sample(kind, due, started, sent, time.monotonic(), None, f"no answer in {client.timeout:g} s")
    except ConnectionRefusedError:
        return Sample(kind, due, started, sent, time.monotonic(), None, "connection refused")
    except (NoAnswer, OSError) as exc:
        return Sample(kind, due, started, sent, time.monotonic(), None, f"{type(exc).__name__}: {exc}"[:80])
    sample = Sample(
        kind, due, started, sent, time.monotonic(), status, retry_after=headers.get("retry-after"), opened=opened
    )
    if status >= 400:
        sample.body = content[:300].decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            payload = json.loads(content)
            sample.code = payload.get("code") if isinstance(payload, dict) else None
    return sample


async def closed_loop(
    server: Server, api_key: str, workload: Workload, *, clients: int, seconds: float, cap: int
) -> list[Sample]:
    """``clients`` clients, each sending its next request when its last is answered, for ``seconds``."""
    samples: list[Sample] = []
    deadline = time.monotonic() + seconds
    client = Client(HOST, server.port, api_key)

    async def one_client() -> None:
        while time.monotonic() < deadline and len(samples) < cap:
            now = time.monotonic()
            samples.append(await send(client, workload, now, now))

    try:
        await asyncio.gather(*(one_client() for _ in range(clients)))
    finally:
        client.close()
    return samples


@dataclass
class OpenLoop:
    samples: list[Sample]
    scheduled: int
    started: float
    stopped: float
    signal_at: float | None = None
    exit_at: float | None = None
    exit_code: int | None = None
    server_cpu_total: float | None = None
    """The server's whole CPU time (its processes reaped by it included), from wait4 when it exited."""
    in_flight_at_signal: int = 0


async def open_loop(
    server: Server,
    api_key: str,
    workload: Workload,
    *,
    rate: float,
    seconds: float,
    cap: int,
    max_in_flight: int,
    sigterm: tuple[float, float] | None = None,
) -> OpenLoop:
    """Request i is due at start + i / rate, for ``seconds`` (at most ``cap`` requests); a request waits for
    one of ``max_in_flight`` slots (connections), and that wait counts as lateness. With ``sigterm`` =
    (after, patience): SIGTERM to the server ``after`` seconds in, give up waiting for it ``patience`` seconds
    later, and stop sending half a second after it has exited."""
    samples: list[Sample] = []
    slots = asyncio.Semaphore(max_in_flight)
    total = min(cap, int(rate * seconds))
    result = OpenLoop(samples, 0, time.monotonic(), 0.0)
    in_flight = 0
    client = Client(HOST, server.port, api_key)

    async def one(due: float) -> None:
        nonlocal in_flight
        started = time.monotonic()
        async with slots:
            in_flight += 1
            try:
                samples.append(await send(client, workload, due, started))
            finally:
                in_flight -= 1

    async def terminate(after: float, patience: float) -> None:
        await asyncio.sleep(after)
        result.in_flight_at_signal = in_flight
        server.seen.update(process_tree(server.process.pid))
        result.signal_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        while time.monotonic() - result.signal_at < patience:
            pid, status, usage = os.wait4(server.process.pid, os.WNOHANG)
            if pid:
                result.exit_at = time.monotonic()
                result.exit_code = server.process.returncode = os.waitstatus_to_exitcode(status)
                result.server_cpu_total = usage.ru_utime + usage.ru_stime
                return
            await asyncio.sleep(0.005)

    tasks: list[asyncio.Task[None]] = []
    killer = asyncio.create_task(terminate(*sigterm)) if sigterm else None
    start = time.monotonic() + 0.05
    result.started = start
    try:
        for i in range(total):
            due = start + i / rate
            if killer is not None and killer.done() and time.monotonic() > (result.exit_at or 0) + 0.5:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        result.scheduled = len(tasks)
        result.stopped = time.monotonic()
        if killer is not None:
            await killer
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=CLIENT_TIMEOUT + 30)
    finally:
        client.close()
    return result


@dataclass
class RunOnceCall:
    """One ``POST /api/v1/worker/run-once``."""

    due: float
    sent: float
    done: float
    status: int | None
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    """The answer's counts (``provisioned``, ``flowed_back``, ``provider_calls``, ...); empty unless 2xx."""
    body: str = ""

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post_run_once(client: Client, due: float) -> RunOnceCall:
    sent = time.monotonic()
    try:
        status, _, content, _ = await client.request("POST", RUN_ONCE_PATH, b"{}")
    except TimeoutError:
        return RunOnceCall(due, sent, time.monotonic(), None, f"no answer in {client.timeout:g} s")
    except (NoAnswer, OSError) as exc:
        return RunOnceCall(due, sent, time.monotonic(), None, f"{type(exc).__name__}: {exc}"[:80])
    call = RunOnceCall(due, sent, time.monotonic(), status)
    if call.ok:
        with contextlib.suppress(ValueError):
            payload = json.loads(content)
            call.counts = payload if isinstance(payload, dict) else {}
    else:
        call.body = content[:300].decode("utf-8", "replace")
    return call


async def run_once_loop(server: Server, api_key: str, *, every: float, seconds: float) -> list[RunOnceCall]:
    """``POST /api/v1/worker/run-once`` due every ``every`` seconds from ``every`` on, for ``seconds``, on a
    client of its own, one at a time: a call due while the last is unanswered goes as soon as it is answered."""
    calls: list[RunOnceCall] = []
    client = Client(HOST, server.port, api_key)
    start = time.monotonic() + 0.05
    try:
        for i in range(1, int(seconds / every) + 1):
            due = start + i * every
            if due > start + seconds:
                break
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            calls.append(await post_run_once(client, due))
    finally:
        client.close()
    return calls


async def run_once_now(server: Server, api_key: str) -> RunOnceCall:
    """One run-once on a connection of its own, at once."""
    client = Client(HOST, server.port, api_key)
    try:
        return await post_run_once(client, time.monotonic())
    finally:
        client.close()


# --- figures ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def status_key(sample: Sample) -> str:
    return str(sample.status) if sample.status is not None else (sample.error or "error")


@dataclass
class Phase:
    name: str
    samples: list[Sample]
    seconds: float
    offered_rate: float | None
    server_cpu: float
    client_cpu: float
    server_cpu_by_process: dict[int, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status is not None and 200 <= s.status < 300]

    def busy(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 503]

    def others(self) -> list[Sample]:
        return [s for s in self.samples if s.status is None or not (200 <= s.status < 300 or s.status == 503)]

    def statuses(self) -> Counter[str]:
        return Counter(status_key(s) for s in self.samples)


def describe(phase: Phase) -> None:
    ok, busy = phase.ok(), phase.busy()
    answered = [s for s in phase.samples if s.status is not None]
    print(f"  {phase.name}")
    print(f"    requests             {len(phase.samples)} in {phase.seconds:.1f} s", end="")
    if phase.offered_rate is not None:
        print(f" (offered {phase.offered_rate:.0f}/s, sent {len(phase.samples) / phase.seconds:.0f}/s)")
    else:
        print(f" ({len(phase.samples) / phase.seconds:.0f}/s)")
    print(f"    2xx                  {len(ok)} ({len(ok) / phase.seconds:.1f}/s)")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(phase.statuses().items()))
    print(f"    statuses             {statuses}")
    for label, group in (("all answers", answered), ("2xx", ok), ("503", busy)):
        if group:
            lat = [s.latency for s in group]
            print(
                f"    latency {label:<12} p50 {ms(percentile(lat, 0.5))} ms, p95 {ms(percentile(lat, 0.95))} ms, "
                f"p99 {ms(percentile(lat, 0.99))} ms, max {ms(max(lat))} ms"
            )
    if busy:
        with_header = sum(1 for s in busy if s.retry_after is not None)
        values = Counter(s.retry_after for s in busy)
        print(
            f"    503                  {len(busy)}: {with_header} with Retry-After {dict(values)}, "
            f"codes {dict(Counter(s.code for s in busy))}"
        )
    if phase.offered_rate is not None and phase.samples:
        lag = [s.lag for s in phase.samples]
        wait = [s.slot_wait for s in phase.samples]
        print(
            f"    sent late            generator lag p50 {ms(percentile(lag, 0.5))} ms, p99 "
            f"{ms(percentile(lag, 0.99))} ms; waiting for one of the connections p99 {ms(percentile(wait, 0.99))} ms"
        )
    working = {pid: cpu for pid, cpu in phase.server_cpu_by_process.items() if cpu >= 0.05}
    split = f" ({', '.join(f'{cpu:.1f}' for cpu in working.values())} by process)" if len(working) > 1 else ""
    print(f"    CPU seconds          server {phase.server_cpu:.1f}{split}, load generator {phase.client_cpu:.1f}")
    for other in Counter((status_key(s), s.code, s.body[:160]) for s in phase.others()).most_common(5):
        (status, code, body), count = other
        print(f"    OTHER                {count} x {status} {code or ''} {body!r}")
    for note in phase.notes:
        print(f"    {note}")


def describe_run_once(
    phase: Phase, calls: Sequence[RunOnceCall], every: float, requests: Counter[str]
) -> dict[str, Any]:
    """The run-once calls of the steady phase next to its quantity changes, and what the passes did."""
    latency = [c.latency for c in calls]
    changes = [s.latency for s in phase.samples if s.kind == "change" and s.status is not None]
    statuses = Counter(str(c.status) if c.status is not None else (c.error or "error") for c in calls)
    work: Counter[str] = Counter()
    for call in calls:
        work.update({k: v for k, v in call.counts.items() if isinstance(v, int) and not isinstance(v, bool)})
    provisioned = [int(c.counts.get("provisioned", 0)) for c in calls if c.ok]
    late = max((c.sent - c.due for c in calls), default=0.0)
    row: dict[str, Any] = {
        "every": every,
        "calls": len(calls),
        "statuses": dict(statuses),
        "p50": percentile(latency, 0.5),
        "p90": percentile(latency, 0.9),
        "max": max(latency, default=math.nan),
        "changes_p50": percentile(changes, 0.5),
        "changes_p90": percentile(changes, 0.9),
        "changes_p99": percentile(changes, 0.99),
        "changes_max": max(changes, default=math.nan),
        "work": dict(work),
        "provider_requests": dict(requests),
    }
    print(
        f"    run-once             {len(calls)} calls due every {every:g} s, one at a time (sent at most "
        f"{ms(late)} ms late); statuses {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}"
    )
    print(f"    latency run-once     p50 {ms(row['p50'])} ms, p90 {ms(row['p90'])} ms, max {ms(row['max'])} ms")
    print(
        f"    latency changes      p50 {ms(row['changes_p50'])} ms, p90 {ms(row['changes_p90'])} ms, p99 "
        f"{ms(row['changes_p99'])} ms, max {ms(row['changes_max'])} ms (the {len(changes)} answered quantity "
        "changes of this phase)"
    )
    print(
        "    run-once did         "
        + ", ".join(f"{k} {work.get(k, 0)}" for k in ("provisioned", "flowed_back", "subscriptions", "provider_calls"))
        + ", "
        + ", ".join(f"{k} {work.get(k, 0)}" for k in ("failed", "retrying", "waiting", "handed_off"))
        + f" (summed; provisioned a call {min(provisioned, default=0)}-{max(provisioned, default=0)})"
    )
    print(
        f"    simulator counted    {sum(requests.values())} Partner Center requests: "
        + (", ".join(f"{route}: {n}" for route, n in sorted(requests.items())) or "none")
    )
    return row


def measured(name: str, server: Server, run: Callable[[], Any], *, rate: float | None = None) -> tuple[Phase, Any]:
    server_cpu, client_cpu, started = server.cpu(), time.process_time(), time.monotonic()
    result = run()
    seconds = time.monotonic() - started
    samples = result.samples if isinstance(result, OpenLoop) else result
    if isinstance(result, OpenLoop):
        seconds = max(result.stopped - result.started, 1e-9)
    server_after = server.cpu()
    by_process = {pid: server_after.get(pid, 0.0) - cpu for pid, cpu in server_cpu.items()}
    total = sum(server_after.values()) - sum(server_cpu.values())
    if isinstance(result, OpenLoop) and result.server_cpu_total is not None:
        # it has exited: wait4's figure, its reaped children included
        total = result.server_cpu_total - sum(server_cpu.values())
        by_process = {}
    phase = Phase(name, samples, seconds, rate, total, time.process_time() - client_cpu, by_process)
    return phase, result


def write_samples(path: Path, phases: Sequence[Phase], signal_at: float | None) -> None:
    """Every request: seconds from the first one's due time (and from the SIGTERM), status, error, code."""
    t0 = min((s.due for phase in phases for s in phase.samples), default=0.0)
    columns = "phase,kind,due,started,sent,done,since_sigterm,status,error,retry_after,code,connection_opened"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns.split(","))
        for number, phase in enumerate(phases, 1):
            for s in phase.samples:
                since = f"{s.sent - signal_at:.4f}" if signal_at is not None and number == 3 else ""
                times = [f"{t - t0:.4f}" for t in (s.due, s.started, s.sent, s.done)]
                opened = f"{s.opened - t0:.4f}" if s.opened is not None else ""
                writer.writerow([number, s.kind, *times, since, s.status, s.error, s.retry_after, s.code, opened])


# --- the run ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--workers", type=int, default=1, help="server processes (seatflow serve --workers)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of the overload phase (15)")
    parser.add_argument("--subscriptions", type=int, default=2000, help="subscriptions (2000; a tenth linked)")
    parser.add_argument(
        "--clients", type=int, help="closed-loop clients of the capacity phase (default: 2 x what it admits)"
    )
    parser.add_argument("--capacity-seconds", type=float, default=10.0, help="seconds of the capacity phase (10)")
    parser.add_argument("--multiplier", type=float, default=2.0, help="overload rate / capacity (2)")
    parser.add_argument("--rate", type=float, help="the overload rate in requests/s (default: multiplier x capacity)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="at most this many requests a phase")
    parser.add_argument(
        "--max-in-flight", type=int, default=1024, help="outstanding requests (connections) at most (1024)"
    )
    parser.add_argument("--sigterm-after", type=float, default=3.0, help="seconds of load before the SIGTERM (3)")
    parser.add_argument("--max-shutdown", type=float, default=10.0, help="seconds the server may take to exit (10)")
    parser.add_argument("--max-p99", type=float, default=10.0, help="the overload's p99 bound in seconds (10)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--steady-rate", type=float, help="a steady open-loop phase at this rate (requests/s)")
    parser.add_argument("--steady-seconds", type=float, default=20.0, help="seconds of the steady phase (20)")
    parser.add_argument(
        "--steady-mix",
        choices=("changes", "mix"),
        default="changes",
        help="steady phase: quantity changes only (default) or the 80/20 mix of the other phases",
    )
    parser.add_argument("--steady-p99-ms", type=float, default=100.0, help="the steady phase's p99 target (100 ms)")
    parser.add_argument(
        "--steady-strict", action="store_true", help="fail the run if the steady phase misses its target"
    )
    parser.add_argument(
        "--run-once-every",
        type=float,
        metavar="SECONDS",
        help="in the steady phase, POST /api/v1/worker/run-once every SECONDS from a client of its own (the linked "
        "parents then Partner Center subscriptions at a simulator, so each pass provisions the load's changes)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="an environment variable for the server"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--samples", type=Path, help="also write every request to this CSV file")
    parser.add_argument("--server-log", type=Path, help="copy the server's output to this file")
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)
    if any(not name.startswith("SEATFLOW_") for name in extra_env):
        parser.error("--env takes SEATFLOW_* variables")
    if args.clients is None:
        limit = Settings.model_fields.get("max_concurrent_requests")
        admitted = limit.default if limit is not None else 16
        args.clients = 2 * int(extra_env.get("SEATFLOW_MAX_CONCURRENT_REQUESTS", admitted)) * args.workers
    if args.workers < 1 or args.subscriptions < 20 or args.duration <= 0 or args.clients < 1:
        parser.error("--workers >= 1, --subscriptions >= 20, --duration > 0, --clients >= 1")
    if args.run_once_every is not None and not (args.steady_rate and 0 < args.run_once_every <= args.steady_seconds):
        parser.error("--run-once-every needs --steady-rate, and 0 < --run-once-every <= --steady-seconds")

    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        workdir = Path(tmp)
        name = f"seatflow_bench_api_load_{os.getpid()}"
        url = f"{POSTGRES_ADMIN}/{name}" if args.postgres else f"sqlite:///{workdir / 'bench.db'}"
        if args.postgres:
            postgres_database("create", name)
        simulator = Simulator(workdir) if args.run_once_every else None
        try:
            if simulator is not None:
                simulator.start()
            return bench(args, url, workdir, extra_env, simulator)
        finally:
            if simulator is not None:
                simulator.stop()
            if args.postgres:
                postgres_database("drop", name)


def bench(
    args: argparse.Namespace, url: str, workdir: Path, extra_env: dict[str, str], simulator: Simulator | None
) -> int:
    failures: list[str] = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            failures.append(message)

    print("seatflow API load benchmark")
    print(
        f"  machine              {os.cpu_count()} CPUs, load average {load_average()}, Python {sys.version.split()[0]}"
    )
    started = time.monotonic()
    run_cli(["db", "upgrade"], {"SEATFLOW_DATABASE_URL": url}, workdir)
    engine = make_engine(url)
    try:
        version = server_version(engine)
        data = build(make_sessionmaker(engine), args.subscriptions, simulator)
        bought = buy_parents(make_sessionmaker(engine), data, simulator) if simulator is not None else None
    finally:
        engine.dispose()
    key = run_cli(["apikey", "create", "bench-api-load"], {"SEATFLOW_DATABASE_URL": url}, workdir)
    api_key = key.strip().splitlines()[-1].strip()
    print(f"  database             {version} ({'scratch PostgreSQL database' if args.postgres else 'SQLite file'})")
    print(
        f"  data                 {args.subscriptions} subscriptions: {len(data.targets)} changed by the load "
        f"({sum(len(k) for k in data.parents.values())} linked children under {len(data.parents)} parents), "
        f"{len(data.contracts)} contracts; set up in {time.monotonic() - started:.1f} s (not timed)"
    )
    if simulator is not None and bought is not None:
        print(
            f"  simulator            seatflow simulator at {simulator.url}: the {len(data.parents)} linked parents "
            f"are Partner Center subscriptions, bought there in setup ({bought[0]:.1f} s, {bought[1]})"
        )

    server = Server(url, args.workers, workdir, extra_env)
    phases: list[Phase] = []
    steady: Phase | None = None
    run_once_calls: list[RunOnceCall] = []
    run_once_row: dict[str, Any] | None = None
    summary: dict[str, Any] = {}
    try:
        ready = server.wait_ready()
        print(
            f"  server               {' '.join(server.command[2:])} (pid {server.process.pid}, processes "
            f"{len(server.pids)}; answered after {ready:.1f} s)"
        )
        if extra_env:
            print(f"  server environment   {' '.join(f'{k}={v}' for k, v in extra_env.items())}")
        print(f"  load average         {load_average()} before the load")
        print()
        workload = Workload(data, args.seed)

        warm = asyncio.run(
            closed_loop(server, api_key, workload, clients=args.clients, seconds=2, cap=args.max_requests)
        )
        capacity, _ = measured(
            f"1. capacity: {args.clients} closed-loop clients, {args.capacity_seconds:g} s",
            server,
            lambda: asyncio.run(
                closed_loop(
                    server,
                    api_key,
                    workload,
                    clients=args.clients,
                    seconds=args.capacity_seconds,
                    cap=args.max_requests,
                )
            ),
        )
        phases.append(capacity)
        describe(capacity)
        rate_2xx = len(capacity.ok()) / capacity.seconds
        rate = args.rate or max(1.0, args.multiplier * rate_2xx)
        print(f"    capacity             {rate_2xx:.1f} answers/s (2xx); overload rate {rate:.0f}/s")
        print(f"    load average         {load_average()}")

        if args.steady_rate:
            workload.change_share = 1.0 if args.steady_mix == "changes" else CHANGE_SHARE
            what = "quantity changes only" if args.steady_mix == "changes" else "80 % changes, 20 % reads"
            if args.run_once_every:
                what += f"; run-once every {args.run_once_every:g} s"
            if args.run_once_every:
                # the parents' changes the earlier phases left are provisioned first: each measured pass has only
                # what the load made since the last
                catch_up = asyncio.run(run_once_now(server, api_key))
                run_once_calls.append(catch_up)
                print(
                    f"  run-once before 1b   {catch_up.status or catch_up.error} in {ms(catch_up.latency)} ms, "
                    f"not measured: the earlier phases' backlog, {catch_up.counts or catch_up.body[:200]}"
                )
            simulator_before = simulator.requests() if simulator is not None else Counter[str]()

            measured_calls: list[RunOnceCall] = []

            async def steady_load() -> OpenLoop:
                load = open_loop(
                    server,
                    api_key,
                    workload,
                    rate=args.steady_rate,
                    seconds=args.steady_seconds,
                    cap=args.max_requests,
                    max_in_flight=args.max_in_flight,
                )
                if not args.run_once_every:
                    return await load
                passes = run_once_loop(server, api_key, every=args.run_once_every, seconds=args.steady_seconds)
                result, calls = await asyncio.gather(load, passes)
                measured_calls.extend(calls)
                return result

            steady, _ = measured(
                f"1b. steady rate: open loop at {args.steady_rate:g}/s for {args.steady_seconds:g} s ({what})",
                server,
                lambda: asyncio.run(steady_load()),
                rate=args.steady_rate,
            )
            workload.change_share = CHANGE_SHARE
            describe(steady)
            if args.run_once_every:
                requests = simulator.requests() - simulator_before if simulator is not None else Counter[str]()
                run_once_calls += measured_calls
                run_once_row = describe_run_once(steady, measured_calls, args.run_once_every, requests)
            answered = [s.latency for s in steady.samples if s.status is not None]
            steady_p99 = percentile(answered, 0.99)
            per_2xx = steady.server_cpu / max(1, len(steady.ok()))
            met = steady_p99 * 1000 < args.steady_p99_ms and not steady.busy() and not steady.others()
            print(
                f"    server CPU           {per_2xx * 1000:.1f} ms a 2xx; {steady.server_cpu / steady.seconds:.2f} "
                "CPUs busy serving"
            )
            print(
                f"    target               {args.steady_rate:g}/s with p99 < {args.steady_p99_ms:g} ms: "
                + ("MET" if met else "NOT MET")
                + f" (p99 {ms(steady_p99)} ms, {len(steady.busy())} 503, {len(steady.others())} other)"
            )
            print(f"    load average         {load_average()}")

        overload, _ = measured(
            f"2. overload: open loop at {rate:.0f}/s for {args.duration:g} s",
            server,
            lambda: asyncio.run(
                open_loop(
                    server,
                    api_key,
                    workload,
                    rate=rate,
                    seconds=args.duration,
                    cap=args.max_requests,
                    max_in_flight=args.max_in_flight,
                )
            ),
            rate=rate,
        )
        phases.append(overload)
        describe(overload)
        print(f"    load average         {load_average()}")

        patience = max(args.max_shutdown, 10.0) + 5
        shutdown, loop = measured(
            f"3. SIGTERM after {args.sigterm_after:g} s of the open loop at {rate:.0f}/s",
            server,
            lambda: asyncio.run(
                open_loop(
                    server,
                    api_key,
                    workload,
                    rate=rate,
                    seconds=args.sigterm_after + patience,
                    cap=args.max_requests,
                    max_in_flight=args.max_in_flight,
                    sigterm=(args.sigterm_after, patience),
                )
            ),
            rate=rate,
        )
        stop_seconds = (loop.exit_at - loop.signal_at) if loop.exit_at and loop.signal_at else None
        left = [pid for pid in sorted(server.seen) if alive(pid)]
        after = [s for s in shutdown.samples if loop.signal_at and s.sent >= loop.signal_at]
        cut = [s for s in shutdown.samples if loop.signal_at and s.sent < loop.signal_at and s.status is None]
        signal_at = loop.signal_at or float("nan")
        last_answer = max((s.done for s in shutdown.samples if s.status is not None), default=math.nan) - signal_at
        refused = [s.sent for s in after if s.error == "connection refused"]
        served = [s for s in after if s.status is not None and s.sent - signal_at > 0.2]
        late_connections = {s.opened for s in served}
        first_refused = min(refused, default=math.nan) - signal_at
        shutdown.notes += [
            f"SIGTERM              {loop.in_flight_at_signal} requests in flight; exited after "
            + (f"{stop_seconds:.2f} s with status {loop.exit_code}" if stop_seconds is not None else "NOT AT ALL")
            + f"; {len(left)} of its {len(server.seen)} processes left",
            f"after SIGTERM        {len(after)} sent: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(status_key(s) for s in after).items())),
            f"cut                  {len(cut)} requests sent before the SIGTERM got no answer",
            f"served after SIGTERM {len(served)} requests sent after it were answered (the last sent "
            f"+{max((s.sent for s in served), default=math.nan) - signal_at:.2f} s), on {len(late_connections)} "
            "kept-alive connections",
            f"timeline             after the SIGTERM: last answer +{last_answer:.2f} s, first refused connection "
            f"+{first_refused:.2f} s, exit +{stop_seconds or float('nan'):.2f} s",
        ]
        phases.append(shutdown)
        describe(shutdown)
    finally:
        server.stop()

    log = server.log_text()
    if args.server_log:
        args.server_log.write_text(log)
    tracebacks = log.count("Traceback (most recent call last)")
    shed_lines = sum(1 for line in log.splitlines() if "http.shed" in line)
    notable = Counter(
        re.sub(r"\d+", "N", line)[:100]
        for line in log.splitlines()
        if "http.shed" not in line and "http.request" not in line and line.strip()
    )
    restarted = sorted(server.seen - set(server.pids))
    db = check_database(url, data)
    every = [s for phase in phases for s in phase.samples] + warm + (steady.samples if steady else [])
    changes_ok = sum(1 for s in every if s.kind == "change" and s.status is not None and 200 <= s.status < 300)
    changes_unknown = sum(1 for s in every if s.kind == "change" and s.status is None)
    print()
    print("  after the run")
    print(
        f"    server log           {len(log.splitlines())} lines: {shed_lines} http.shed warnings, {tracebacks} "
        f"tracebacks; its processes {len(server.pids)} at the start, {len(restarted)} more appeared later"
    )
    for line, count in notable.most_common(8):
        print(f"      {count:5d} x {line}")
    print(
        f"    database             {db.api_quantity_changes} API quantity changes recorded; {changes_ok} answered "
        f"2xx, {changes_unknown} without an answer; {len(db.parents_wrong)} linked parents off their children's sum"
    )
    if tracebacks:
        print("    last lines of the server log:")
        print("      " + server.log_tail(30).replace("\n", "\n      "))

    # checks
    for phase in phases[:2] + ([steady] if steady else []):
        others = phase.others()
        check(not others, f"{phase.name}: {len(others)} answers not 2xx/503: {dict(Counter(map(status_key, others)))}")
    others = [s for s in phases[2].others() if s.status is not None]
    check(not others, f"phase 3: {len(others)} answers not 2xx/503: {dict(Counter(map(status_key, others)))}")
    busy = [s for phase in phases + ([steady] if steady else []) for s in phase.busy()]
    check(
        all(s.retry_after is not None for s in busy),
        f"{sum(s.retry_after is None for s in busy)} 503s lack Retry-After",
    )
    check(
        all(s.code in BUSY_CODES for s in busy),
        f"{sum(s.code not in BUSY_CODES for s in busy)} 503s with another code than {'/'.join(BUSY_CODES)}",
    )
    overload_p99 = percentile([s.latency for s in phases[1].samples if s.status is not None], 0.99)
    check(overload_p99 <= args.max_p99, f"overload p99 {overload_p99:.2f} s above {args.max_p99:g} s")
    if steady and args.steady_strict:
        steady_p99 = percentile([s.latency for s in steady.samples if s.status is not None], 0.99)
        check(
            steady_p99 * 1000 < args.steady_p99_ms and not steady.busy(),
            f"steady phase: p99 {steady_p99 * 1000:.0f} ms (bound {args.steady_p99_ms:g} ms), "
            f"{len(steady.busy())} 503s",
        )
    if args.run_once_every:
        bad = [c for c in run_once_calls if not c.ok]
        first = f"; the first: {bad[0].status or bad[0].error} {bad[0].body[:120]!r}" if bad else ""
        check(
            bool(run_once_calls) and not bad,
            f"run-once: {len(bad)} of {len(run_once_calls)} calls not 2xx "
            f"{dict(Counter(str(c.status) if c.status is not None else c.error for c in bad))}{first}",
        )
        failed = sum(int(c.counts.get("failed", 0)) for c in run_once_calls)
        check(not failed, f"run-once: {failed} changes failed at the provider")
    check(stop_seconds is not None and stop_seconds <= args.max_shutdown, f"shutdown took {stop_seconds} s")
    check(not left, f"{len(left)} server processes outlived the SIGTERM: {left}")
    check(not restarted, f"server processes were replaced during the run (new: {restarted})")
    check(not db.parents_wrong, f"linked parents off their children's sum: {db.parents_wrong[:3]}")
    check(
        changes_ok <= db.api_quantity_changes <= changes_ok + changes_unknown,
        f"{db.api_quantity_changes} quantity changes recorded for {changes_ok} 2xx answers "
        f"(+{changes_unknown} unanswered)",
    )

    # the summary table
    print()
    print(f"Summary ({version}, {args.workers} server process(es), load average {load_average()} at the end)")
    header = (
        f"  {'phase':<10} {'rate/s':>7} {'sent':>6} {'2xx':>6} {'2xx/s':>6} {'503':>6} {'other':>5}"
        f" {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv CPU':>7} {'gen CPU':>7}"
    )
    print(header)
    labelled = list(zip(("capacity", "overload", "sigterm"), phases, strict=True))
    if steady:
        labelled.insert(1, ("steady", steady))
    for label, phase in labelled:
        lat = [s.latency for s in phase.samples if s.status is not None]
        row: dict[str, Any] = {
            "offered_rate": phase.offered_rate,
            "sent": len(phase.samples),
            "ok": len(phase.ok()),
            "ok_per_s": len(phase.ok()) / phase.seconds,
            "busy": len(phase.busy()),
            "other": len(phase.others()),
            "p50": percentile(lat, 0.5),
            "p95": percentile(lat, 0.95),
            "p99": percentile(lat, 0.99),
            "max": max(lat, default=float("nan")),
            "server_cpu": phase.server_cpu,
            "client_cpu": phase.client_cpu,
            "statuses": dict(phase.statuses()),
        }
        summary[label] = row
        offered = f"{phase.offered_rate:.0f}" if phase.offered_rate else "closed"
        print(
            f"  {label:<10} {offered:>7} {row['sent']:>6} {row['ok']:>6} {row['ok_per_s']:>6.0f} {row['busy']:>6}"
            f" {row['other']:>5} {ms(row['p50']):>7} {ms(row['p95']):>7} {ms(row['p99']):>7} {ms(row['max']):>7}"
            f" {phase.server_cpu:>7.1f} {phase.client_cpu:>7.1f}"
        )
    print(f"  shutdown: {stop_seconds:.2f} s after SIGTERM" if stop_seconds is not None else "  shutdown: none")
    if run_once_row is not None:
        summary["run_once"] = run_once_row
        work = run_once_row["work"]
        print(
            f"  run-once (steady phase): {run_once_row['calls']} calls every {run_once_row['every']:g} s, "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(run_once_row['statuses'].items()))}; p50 / p90 / max "
            f"{ms(run_once_row['p50'])} / {ms(run_once_row['p90'])} / {ms(run_once_row['max'])} ms (quantity changes "
            f"{ms(run_once_row['changes_p50'])} / {ms(run_once_row['changes_p90'])} / "
            f"{ms(run_once_row['changes_max'])} ms); provisioned {work.get('provisioned', 0)}, flowed back "
            f"{work.get('flowed_back', 0)}, {work.get('provider_calls', 0)} provider calls"
        )
    capacity_ok, overload_ok = summary["capacity"]["ok_per_s"], summary["overload"]["ok_per_s"]
    per_ok = phases[0].server_cpu / max(1, len(phases[0].ok()))
    shed = len(phases[1].busy())
    per_busy = (phases[1].server_cpu - per_ok * len(phases[1].ok())) / shed if shed else math.nan
    summary.update(goodput_ratio=overload_ok / capacity_ok if capacity_ok else None, cpu_per_2xx=per_ok)
    summary["cpu_per_503_estimate"] = per_busy
    print(
        f"  2xx/s under overload / capacity: {overload_ok / capacity_ok if capacity_ok else math.nan:.2f}; server CPU "
        f"{per_ok * 1000:.1f} ms a 2xx (phase 1), about {per_busy * 1000:.1f} ms a 503 (phase 2, the rest of its CPU)"
    )
    if args.json:
        summary.update(
            database=version,
            workers=args.workers,
            shutdown_seconds=stop_seconds,
            failures=failures,
            load_average=load_average(),
        )
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    if args.samples:
        write_samples(args.samples, phases, loop.signal_at)
    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print("  checks: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
