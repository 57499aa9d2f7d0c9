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
from tests.processes import runs_tested_source

AWAITING, PROVISIONED, FAILED = (
    ProvisioningStatus.AWAITING,
    ProvisioningStatus.PROVISIONED,
    ProvisioningStatus.FAILED,
)
TENANT = "pine-cone-vet-tenant"
CARTS = "POST /v1/customers/{id}/carts"
CHECKOUTS = "POST /v1/customers/{id}/carts/{id}/checkout"
PATCHES = "PATCH /v1/customers/{id}/subscriptions/{id}"
"""A purchase is a cart and its checkout; a change is a GET of the subscription and a PATCH of it (SPEC §7)."""

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
        self.env = runs_tested_source({k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")})
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


def parent_quantities(fleet: LinkedFleet) -> dict[uuid.UUID, int]:
    """Each parent's quantity as the test made it: its children's sum."""
    sums = dict.fromkeys(fleet.parents, 0)
    for child, quantity in fleet.quantities.items():
        sums[fleet.parent_of[child]] += quantity
    return sums


def change_children(engine: Engine, fleet: LinkedFleet, *, changes: int, seed: int) -> tuple[set[uuid.UUID], int]:
    """``changes`` random quantity changes of the children (each pushes the same delta onto its parent), in one
    committed transaction. Answers the parents that got changes, and how many of them end on another quantity
    than they had (the others' deltas cancel out: Partner Center already shows their quantity, so nothing is
    PATCHed for them)."""
    before = parent_quantities(fleet)
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
    after = parent_quantities(fleet)
    return changed, sum(1 for parent in changed if after[parent] != before[parent])


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


def cart_ids(engine: Engine, *where: ColumnElement[bool]) -> dict[uuid.UUID, str | None]:
    """change -> the Partner Center cart it stored, of the changes ``where`` selects."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        rows = conn.execute(select(LicenseChange.id, LicenseChange.provider_cart_id).where(*where))
        return dict(rows.all())


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
    """One subscription per parent at the simulator (none bought twice), each the parent's external id with the
    parent's quantity, which is its children's sum; each bought by one order, from one cart, the one the parent's
    purchase stored."""
    state = sim_state(simulator)
    subscriptions = state["subscriptions"]
    at_sim = {s["id"]: s for s in subscriptions}
    assert len(at_sim) == len(subscriptions) == len(fleet.parents), (
        f"{len(subscriptions)} subscriptions at the simulator for {len(fleet.parents)} parents (one bought twice?)"
    )
    with Session(engine) as session:
        external_ids = Counter(
            session.scalars(select(Subscription.external_id).where(Subscription.id.in_(fleet.parents)))
        )
        carts = Counter(session.scalars(select(LicenseChange.provider_cart_id).where(*purchases(fleet))))
    assert None not in external_ids, "a parent has no Partner Center subscription id"
    assert set(external_ids.values()) == {1}, f"two parents point at one Partner Center subscription: {external_ids}"
    assert set(external_ids) == set(at_sim), "the parents' external ids are not the simulator's subscriptions"
    bought_by = Counter(line.get("subscriptionId") for order in state["orders"] for line in order["lineItems"])
    assert bought_by == Counter(dict.fromkeys(at_sim, 1)), "not one order line per subscription (an order twice?)"
    assert None not in carts, "a purchase stored no cart"
    assert set(carts.values()) == {1}, f"two purchases stored one cart: {carts}"
    ordered = {c["id"] for c in state["carts"] if c["status"] == "Ordered"}
    assert ordered == set(carts), "the checked-out carts are not the ones the purchases stored"
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
            assert ours.external_id is not None
            assert at_sim[ours.external_id]["quantity"] == ours.quantity, f"parent {parent}"


# --- a worker killed mid-run -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_while_changes_go_out_leaves_the_rest_to_the_next_one_and_nothing_twice(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    fleet = linked_fleet(committed_engine, simulator, parents=50)
    bought = workers.drain()
    assert bought["provisioned"] == 50
    changed, moved = change_children(committed_engine, fleet, changes=300, seed=3)
    total = count_changes(committed_engine, *parent_changes())
    assert total == 300
    set_faults(simulator, latency_ms=50)  # about 5 s of calls, a GET and a PATCH per changed parent
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
    requests = sim_requests(simulator) - requests_before
    patches = requests[PATCHES]
    # One PATCH of the full resource per parent whose quantity moved; every moved parent holds its new quantity at
    # the simulator (checked above), so each got at least one. The kill may have cut off the one PATCH in flight,
    # which the next worker sends again after its GET if the simulator did not apply it.
    assert moved <= patches <= moved + 1, (patches, moved, len(changed))
    assert requests[CARTS] == requests[CHECKOUTS] == 0, "a change bought something"


@pytest.mark.slow
def test_a_worker_killed_while_orders_go_out_with_lost_answers_never_buys_twice(
    committed_engine: Engine, simulator: SimulatorServer, workers: Workers
) -> None:
    """A purchase whose checkout answer was lost (or whose worker died) checks out the cart it stored before its
    first checkout again, by the next worker: the simulator answers a cart's first result again and buys nothing
    more. Never a second cart for it, never a second order."""
    fleet = linked_fleet(committed_engine, simulator, parents=50)
    set_faults(simulator, latency_ms=30, lost_response_rate=0.3, seed=5)
    sent_unanswered = purchases(fleet, LicenseChange.provisioning_status == AWAITING)
    sent_unanswered.append(LicenseChange.provider_cart_id.is_not(None))

    looping = workers.start(SEATFLOW_WORKER_LEASE_SECONDS="2")
    wait_until(
        lambda: (
            count_changes(committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)) >= 10
            and count_changes(committed_engine, *sent_unanswered) >= 3
        ),
        timeout=60,
        what="ten purchases were provisioned and three had a cart stored without an answer",
        process=looping,
    )
    looping.popen.send_signal(signal.SIGKILL)
    looping.wait(timeout=10)

    in_doubt = cart_ids(committed_engine, *sent_unanswered)
    bought_at_kill = count_changes(
        committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)
    )
    assert bought_at_kill < 50, "the kill came after every purchase was provisioned"
    assert len(in_doubt) >= 3, "the kill did not happen while purchases were in doubt"
    rest = workers.drain(max_wait=120)

    assert rest["provisioned"] == 50 - bought_at_kill, rest
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
    assert len(sim_state(simulator)["orders"]) == 50, "an order was placed twice"
    # The changes in doubt at the kill were bought with the carts they had stored then, not with new ones.
    after = cart_ids(committed_engine, LicenseChange.id.in_(in_doubt))
    assert after == in_doubt, "a purchase in doubt was bought with another cart than the one it stored"
    provisioned = count_changes(
        committed_engine, LicenseChange.id.in_(in_doubt), LicenseChange.provisioning_status == PROVISIONED
    )
    assert provisioned == len(in_doubt)
    requests = sim_requests(simulator)
    # Answers were lost: some carts were checked out more than once, and still bought once (orders == 50).
    assert requests[CHECKOUTS] > 50, requests
    assert requests[CARTS] >= 50, requests


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

    requests = sim_requests(simulator)
    assert requests[CARTS] == 100, "a purchase made a cart twice (or not at all)"
    assert requests[CHECKOUTS] == 100, "a cart was checked out twice (or not at all)"
    assert sum(r["subscriptions"] for r in bought) == 100, bought
    assert sum(r["provisioned"] for r in bought) == 100, bought
    assert count_changes(committed_engine, *purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)) == 100
    assert count_changes(committed_engine, *purchases(fleet, LicenseChange.attempts != 1)) == 0

    changed, moved = change_children(committed_engine, fleet, changes=250, seed=8)
    httpx.post(f"{simulator.url}/_sim/stats/reset").raise_for_status()
    results = finish(start_two(workers))

    requests = sim_requests(simulator)
    # Every parent whose quantity moved holds its new quantity at the simulator (assert_simulator_matches), so
    # each got at least one PATCH; as many PATCHes as such parents: each got its changes in one PATCH, once.
    assert requests[PATCHES] == moved, "each changed parent's changes go out as one PATCH, once"
    assert requests[CARTS] == requests[CHECKOUTS] == 0
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
    set_faults(simulator, latency_ms=100)  # about 10 s of purchases (a cart and its checkout each)
    bought = purchases(fleet, LicenseChange.provisioning_status == PROVISIONED)

    looping = workers.start()
    wait_until(
        lambda: count_changes(committed_engine, *bought) >= 5,
        timeout=60,
        what="five purchases were provisioned",
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
    # The purchase in hand was finished and recorded: everything the simulator sold is provisioned in seatflow.
    assert len(sim_state(simulator)["subscriptions"]) == done
    half_sent = purchases(fleet, LicenseChange.provisioning_status == AWAITING)
    assert count_changes(committed_engine, *half_sent, LicenseChange.provider_cart_id.is_not(None)) == 0

    rest = workers.drain(max_wait=60)

    assert rest["provisioned"] == 50 - done, rest
    assert_all_settled(committed_engine)
    assert_simulator_matches(committed_engine, simulator, fleet)
