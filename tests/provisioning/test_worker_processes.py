"""Real ``seatflow worker`` processes against a committed database and the Partner Center simulator (SPEC §7).

A worker killed at any point leaves work the next one finishes, without buying twice or losing a change; two
workers share one queue on PostgreSQL without handling a change twice; SIGTERM finishes the subscription in
hand and leaves nothing claimed. The workers run on the test clock (``SEATFLOW_TEST_CLOCK=1``) set to noon of
FACTORY_TODAY, so the factories' dates are the workers' today whatever day the tests run on.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import ColumnElement, Engine, Select, func, select
from sqlalchemy.orm import Session

from seatflow.clock import DatabaseTestClock
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.provisioning.plan import friendly_name
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import (
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
)
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)

AWAITING, PROVISIONED, FAILED = (
    ProvisioningStatus.AWAITING,
    ProvisioningStatus.PROVISIONED,
    ProvisioningStatus.FAILED,
)
TENANT = "pine-cone-vet-tenant"
ORDERS, PATCHES = "POST /v1/customers/{id}/orders", "PATCH /v1/customers/{id}/subscriptions/{id}"

FAST_WORKER = {
    "SEATFLOW_TEST_CLOCK": "1",
    "SEATFLOW_WORKER_BACKOFF_BASE_SECONDS": "0.05",
    "SEATFLOW_WORKER_BACKOFF_MAX_SECONDS": "0.5",
    "SEATFLOW_WORKER_MAX_ATTEMPTS": "30",
    "SEATFLOW_WORKER_ORDER_POLL_SECONDS": "0.2",
    "SEATFLOW_WORKER_IDLE_SECONDS": "0.2",
}
"""Small backoffs and polls, so that retries and the end of a lease cost fractions of a second."""


# --- worker processes ------------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit within {timeout} s\n{self.logs()}")

    def result(self) -> dict[str, Any]:
        """What ``seatflow worker --drain`` printed: its counts, as one JSON object."""
        data: dict[str, Any] = json.loads(self.stdout.read_text())
        return data

    def logs(self) -> str:
        return f"stdout:\n{self.stdout.read_text()[-3000:]}\nstderr:\n{self.stderr.read_text()[-3000:]}"


class Workers:
    """``seatflow worker`` processes on one database; whatever is still running at the end is killed."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
        self.env.update(FAST_WORKER, SEATFLOW_DATABASE_URL=database_url)
        self.started: list[WorkerProcess] = []

    def start(self, *args: str, **env: str) -> WorkerProcess:
        n = len(self.started)
        stdout, stderr = self.tmp_path / f"worker-{n}.out", self.tmp_path / f"worker-{n}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "seatflow", "worker", *args],
                stdout=out,  # files, not pipes: a chatty worker never blocks on a full pipe
                stderr=err,
                env={**self.env, **env},
                cwd=self.tmp_path,  # no stray .env file is read
            )
        process = WorkerProcess(popen, stdout, stderr)
        self.started.append(process)
        return process

    def drain(self, *, max_wait: float = 120, **env: str) -> dict[str, Any]:
        process = self.start("--drain", "--max-wait", str(max_wait), **env)
        assert process.wait(timeout=max_wait + 30) == 0, process.logs()
        return process.result()

    def kill_all(self) -> None:
        for process in self.started:
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path, committed_engine: Engine, empty_database_url: str) -> Iterator[Workers]:
    started = Workers(tmp_path, empty_database_url)
    try:
        yield started
    finally:
        started.kill_all()


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, process: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.popen.poll() is not None:
            pytest.fail(f"the worker exited ({process.popen.returncode}) before {what}\n{process.logs()}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}\n{process.logs()}")
        time.sleep(0.02)


# --- the data --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedFleet:
    """Parents on the Partner Center account, each the linked parent of two children on two locations."""

    parents: list[uuid.UUID]
    parent_of: dict[uuid.UUID, uuid.UUID]
    """child -> its linked parent"""
    quantities: dict[uuid.UUID, int]
    """child -> the quantity the test gave it last"""


def linked_fleet(engine: Engine, simulator: SimulatorServer, *, parents: int, child_quantity: int = 10) -> LinkedFleet:
    """Committed: each parent awaits its purchase (its children's sum); the children were linked after they
    were created, which pushes nothing."""
    with unit_of_work(make_sessionmaker(engine)) as session:
        DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
        catalog = load_demo_catalog(session)
        catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
        customer = create_customer(session, name="Pine Cone Vet", tenant_id=TENANT)
        parent_contract = create_contract(session, customer=customer, name="Parent", billable=False)
        locations = [
            create_contract(session, customer=customer, name=f"Location {n}", parent=parent_contract) for n in range(2)
        ]
        parent_ids, parent_of, quantities = [], {}, {}
        for _ in range(parents):
            parent = create_subscription(
                session,
                contract=parent_contract,
                product=catalog.e3,
                quantity=len(locations) * child_quantity,
                provider_account=catalog.partner_center,
            )
            parent_ids.append(parent.id)
            for location in locations:
                child = create_subscription(
                    session,
                    contract=location,
                    product=catalog.e3,
                    quantity=child_quantity,
                    provider_account=catalog.do_nothing,
                )
                link(session, subscription=child, target=parent, account=catalog.linked)
                parent_of[child.id] = parent.id
                quantities[child.id] = child_quantity
    return LinkedFleet(parent_ids, parent_of, quantities)


def change_children(engine: Engine, fleet: LinkedFleet, *, changes: int, seed: int) -> set[uuid.UUID]:
    """``changes`` random quantity changes of the children (each pushes the same delta onto its parent), in one
    committed transaction. Answers the parents that got changes."""
    rng = random.Random(seed)
    clock = DatabaseTestClock(engine)
    children = sorted(fleet.quantities)
    changed: set[uuid.UUID] = set()
    made = 0
    with unit_of_work(make_sessionmaker(engine)) as session:
        while made < changes:
            child = rng.choice(children)
            target = max(1, fleet.quantities[child] + rng.choice([-2, -1, 1, 2, 3]))
            if target == fleet.quantities[child]:
                continue
            now = clock.now()
            change = change_quantity(
                session,
                subscription_id=child,
                quantity=target,
                effective="now",
                today=now.date(),
                now=now,
                actor=OPERATOR,
            )
            assert isinstance(change, LicenseChange)
            fleet.quantities[child] = target
            changed.add(fleet.parent_of[child])
            made += 1
    return changed


# --- reading the database and the simulator --------------------------------------------------------------


def read(engine: Engine, stmt: Select[Any]) -> list[Any]:
    """Outside any transaction, so that polling never queues behind a worker for SQLite's write lock."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return list(conn.execute(stmt).scalars())


def count_changes(engine: Engine, *where: ColumnElement[bool]) -> int:
    return int(read(engine, select(func.count()).select_from(LicenseChange).where(*where))[0])


def claimed(engine: Engine) -> int:
    stmt = select(func.count()).select_from(Subscription).where(Subscription.claimed_by.is_not(None))
    return int(read(engine, stmt)[0])


def parent_changes(*where: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The changes pushed up by the children (SPEC §5)."""
    return [LicenseChange.origin == ChangeOrigin.LINKED_CHILD, *where]


def purchases(fleet: LinkedFleet, *where: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    return [LicenseChange.kind == ChangeKind.CREATE, LicenseChange.subscription_id.in_(fleet.parents), *where]


def sim_state(simulator: SimulatorServer) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{simulator.url}/_sim/state").json()
    return state


def sim_requests(simulator: SimulatorServer) -> Counter[str]:
    return Counter(httpx.get(f"{simulator.url}/_sim/stats").json()["requests"])


def set_faults(simulator: SimulatorServer, **faults: object) -> None:
    httpx.post(f"{simulator.url}/_sim/faults", json=faults).raise_for_status()


def assert_all_settled(engine: Engine) -> None:
    """Nothing awaiting or failed anywhere, and no subscription left claimed."""
    stuck = count_changes(engine, LicenseChange.provisioning_status.in_((AWAITING, FAILED)))
    assert stuck == 0, f"{stuck} changes are still awaiting or failed"
    assert claimed(engine) == 0, "a subscription is still claimed"


def assert_simulator_matches(engine: Engine, simulator: SimulatorServer, fleet: LinkedFleet) -> None:
    """One subscription per parent at the simulator (none bought twice), each with the parent's provider id and
    quantity, which is its children's sum."""
    subscriptions = sim_state(simulator)["subscriptions"]
    names = Counter(s["friendlyName"] for s in subscriptions)
    one_each = Counter({friendly_name(p): 1 for p in fleet.parents})
    assert names == one_each, "not one subscription per parent at the simulator (one bought twice, or missing)"
    at_sim = {s["friendlyName"]: s for s in subscriptions}
    with Session(engine) as session:
        rows = session.scalars(
            select(Subscription).where(Subscription.id.in_(fleet.parent_of.keys() | set(fleet.parents)))
        )
        found = {s.id: s for s in rows}
        for child, quantity in fleet.quantities.items():
            assert found[child].quantity == quantity
        for parent in fleet.parents:
            children_sum = sum(q for child, q in fleet.quantities.items() if fleet.parent_of[child] == parent)
            ours = found[parent]
            assert ours.quantity == children_sum
            assert at_sim[friendly_name(parent)]["id"] == ours.external_id
            assert at_sim[friendly_name(parent)]["quantity"] == ours.quantity, f"parent {parent}"


# --- a worker killed mid-run -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_while_changes_go_out_leaves_the_rest_to_the_next_one_and_nothing_twice(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    fleet = linked_fleet(committed_engine, simulator, parents=50)
    bought = workers.drain()
    assert bought["provisioned"] == 50
    changed = change_children(committed_engine, fleet, changes=300, seed=3)
    total = count_changes(committed_engine, *parent_changes())
    assert total == 300
    set_faults(simulator, latency_ms=50)  # about 2.5 s of calls, one per changed parent
    requests_before = sim_requests(simulator)

    looping = workers.start(SEATFLOW_WORKER_LEASE_SECONDS="2")
    wait_until(
        lambda: (
            count_changes(committed_engine, *parent_changes(LicenseChange.provisioning_status == PROVISIONED))
            >= total // 5
            and claimed(committed_engine) >= 2
        ),
        timeout=60,
        what="a fifth of the parent changes were provisioned",
        process=looping,
    )
    looping.popen.send_signal(signal.SIGKILL)
    looping.wait(timeout=10)

    done_at_kill = count_changes(committed_engine, *parent_changes(LicenseChange.provisioning_status == PROVISIONED))
    assert 0 < done_at_kill < total, "the kill did not happen while the changes went out"
    assert claimed(committed_engine) > 0, "the kill left no lease for the next worker to wait out"
    rest = workers.drain(max_wait=120)

    assert rest["provisioned"] == total - done_at_kill, rest
    assert count_changes(committed_engine, *parent_changes(LicenseChange.provisioning_status == PROVISIONED)) == total
    of_children = [LicenseChange.subscription_id.in_(fleet.parent_of), LicenseChange.kind == ChangeKind.QUANTITY]
    assert count_changes(committed_engine, *of_children) == 300
    flowed_back = count_changes(committed_engine, *of_children, LicenseChange.provisioning_status == PROVISIONED)
    assert flowed_back == 300, "a child's change did not flow back"
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
    patches = sim_requests(simulator)[PATCHES] - requests_before[PATCHES]
    # One absolute-quantity call per changed parent; the kill may have cut off the one call in flight, which
    # the next worker sends again.
    assert len(changed) <= patches <= len(changed) + 1, (patches, len(changed))


@pytest.mark.slow
def test_a_worker_killed_while_orders_go_out_with_lost_answers_never_buys_twice(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    """An order whose answer was lost (or whose worker died) is found again by its friendlyName before any
    re-send, by the next worker."""
    fleet = linked_fleet(committed_engine, simulator, parents=50)
    set_faults(simulator, latency_ms=30, lost_response_rate=0.3, seed=5)
    sent_unanswered = purchases(fleet, LicenseChange.provisioning_status == AWAITING)
    sent_unanswered.append(LicenseChange.provider_request_id.is_not(None))

    looping = workers.start(SEATFLOW_WORKER_LEASE_SECONDS="2")
    wait_until(
        lambda: (
            count_changes(committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)) >= 10
            and count_changes(committed_engine, *sent_unanswered) >= 3
        ),
        timeout=60,
        what="ten orders were provisioned and three were sent without an answer",
        process=looping,
    )
    looping.popen.send_signal(signal.SIGKILL)
    looping.wait(timeout=10)

    in_doubt = set(read(committed_engine, select(LicenseChange.id).where(*sent_unanswered)))
    bought_at_kill = count_changes(
        committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)
    )
    assert bought_at_kill < 50, "the kill came after every order was provisioned"
    assert len(in_doubt) >= 3, "the kill did not happen while orders were in doubt"
    rest = workers.drain(max_wait=120)

    assert rest["provisioned"] == 50 - bought_at_kill, rest
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
    assert len(sim_state(simulator)["orders"]) == 50, "an order was placed twice"
    with Session(committed_engine) as session:
        found_again = [c.message for c in session.scalars(select(LicenseChange).where(LicenseChange.id.in_(in_doubt)))]
    assert "Found at Partner Center after a lost answer." in found_again, found_again


# --- two workers, one queue ------------------------------------------------------------------------------


def start_two(workers: Workers) -> list[WorkerProcess]:
    return [workers.start("--drain", "--max-wait", "60", SEATFLOW_WORKER_BATCH_SIZE="5") for _ in range(2)]


def finish(processes: list[WorkerProcess]) -> list[dict[str, Any]]:
    for process in processes:
        assert process.wait(timeout=90) == 0, process.logs()
    return [process.result() for process in processes]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_one_queue_and_send_every_change_exactly_once(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    fleet = linked_fleet(committed_engine, simulator, parents=100)
    set_faults(simulator, latency_ms=10)

    bought = finish(start_two(workers))

    assert sim_requests(simulator)[ORDERS] == 100, "an order went out twice (or not at all)"
    assert sum(r["subscriptions"] for r in bought) == 100, bought
    assert sum(r["provisioned"] for r in bought) == 100, bought
    assert count_changes(committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)) == 100
    assert count_changes(committed_engine, *purchases(fleet, LicenseChange.attempts != 1)) == 0

    changed = change_children(committed_engine, fleet, changes=250, seed=8)
    httpx.post(f"{simulator.url}/_sim/stats/reset").raise_for_status()
    results = finish(start_two(workers))

    requests = sim_requests(simulator)
    assert requests[PATCHES] == len(changed), "each changed parent's changes go out as one call, once"
    assert requests[ORDERS] == 0
    assert sum(r["subscriptions"] for r in results) == len(changed), results
    assert sum(r["provisioned"] for r in results) == 250, results
    assert count_changes(committed_engine, *parent_changes(LicenseChange.provisioning_status == PROVISIONED)) == 250
    assert count_changes(committed_engine, *parent_changes(LicenseChange.attempts != 1)) == 0
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
    assert all(r["subscriptions"] > 0 for r in bought + results), f"a worker did nothing: {bought} {results}"


# --- SIGTERM ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_finishes_the_subscription_in_hand_and_leaves_nothing_claimed(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    fleet = linked_fleet(committed_engine, simulator, parents=50)
    set_faults(simulator, latency_ms=100)  # about 5 s of orders
    bought = purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)

    looping = workers.start()
    wait_until(
        lambda: count_changes(committed_engine, *bought) >= 5,
        timeout=60,
        what="five orders were provisioned",
        process=looping,
    )
    looping.popen.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    exit_code = looping.wait(timeout=15)
    stopped_in = time.monotonic() - signalled

    assert exit_code == 0, looping.logs()
    assert stopped_in < 5, f"SIGTERM took {stopped_in:.1f} s"
    assert claimed(committed_engine) == 0, "a subscription is still claimed"
    done = count_changes(committed_engine, *bought)
    assert done < 50, "the worker finished everything before it was told to stop"
    # The order in hand was finished and recorded: everything the simulator sold is provisioned in seatflow.
    assert len(sim_state(simulator)["subscriptions"]) == done
    half_sent = purchases(fleet, LicenseChange.provisioning_status == AWAITING)
    assert count_changes(committed_engine, *half_sent, LicenseChange.provider_request_id.is_not(None)) == 0

    rest = workers.drain(max_wait=60)

    assert rest["provisioned"] == 50 - done, rest
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
