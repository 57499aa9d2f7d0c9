"""The end-to-end lane (SPEC §11, STYLE "Tests"): ``seatflow serve --workers 2``, ``seatflow worker`` and
``seatflow simulator`` as real processes on a committed database of the test's own (an SQLite file, or a fresh
PostgreSQL database when SEATFLOW_TEST_DATABASE_URL is set), driven over HTTP and in the browser.

Set-up is done once per run the way an operator would: ``seatflow db upgrade`` and ``seatflow demo-load`` on a
template database, with the test clock (which every process reads from the database) at noon of FACTORY_TODAY.
Each test gets a copy of the template, the one simulator process reset to the demo seed with its clock at the same
moment, and its own ``serve`` and ``worker`` processes. Teardown stops every process with SIGTERM and fails when one
takes longer than 10 s, leaves a process behind, or logged a traceback.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from seatflow.clock import DatabaseTestClock
from seatflow.db.engine import make_engine
from seatflow.simulator.state import demo_seed
from tests.e2e.checks import Demo, wait_settled
from tests.e2e.stack import FAST_WORKER, Client, Clients, Launcher, Process, Traffic, free_port, wait_until
from tests.factories import FACTORY_TODAY, noon
from tests.processes import runs_tested_source

START = noon(FACTORY_TODAY)
UNDER_FAKETIME = "faketime" in os.environ.get("LD_PRELOAD", "")
"""``make test-later`` runs under libfaketime, which breaks sleeping in Python 3.11: with
FAKETIME_DONT_FAKE_MONOTONIC=1 every ``time.sleep`` raises EINVAL (wolfcw/libfaketime#426), without it every
timed ``threading`` wait hangs. The lane's processes sleep (uvicorn, the worker, the simulator's latency), so it
cannot run there; it never reads the real date anyway (every process is on the test clock)."""
STARTUP_S = 60.0
"""How long a process may take to answer after it was started (a loaded CI machine is slow)."""


@dataclass
class Stack:
    api_url: str
    sim_url: str
    api_key: str
    database_url: str
    launcher: Launcher
    traffic: Traffic
    clients: Clients
    serve: Process
    workers: list[Process]
    api: Client
    """An operator's API client."""
    sim: Client
    """The simulator (Partner Center's paths and its control paths)."""
    demo: Demo

    def client(self, name: str) -> Client:
        """Another API client with the operator's key (one per thread)."""
        return self.clients.new(name, self.api_url, api_key=self.api_key)

    def start_worker(self, *args: str, **env: str) -> Process:
        worker = self.launcher.start("worker", "worker", *args, **env)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return self.launcher.logs()


@dataclass(frozen=True)
class Template:
    database_url: str
    api_key: str


def _environment(database_url: str) -> dict[str, str]:
    env = runs_tested_source({k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")})
    env.update(FAST_WORKER, SEATFLOW_DATABASE_URL=database_url, SEATFLOW_TEST_CLOCK="1")
    return env


def _postgres_admin(database_url: str, *statements: str) -> None:
    url = make_url(database_url)
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()


def _set_test_clock(database_url: str) -> None:
    """Every process reads "now" from here (SEATFLOW_TEST_CLOCK=1); set before any of them runs."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            DatabaseTestClock(engine).set(session, START)
            session.commit()
    finally:
        engine.dispose()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_up(process: Process, url: str, launcher: Launcher) -> None:
    def up() -> bool:
        if not process.running:
            pytest.fail(f"{process.name} exited before it answered\n{launcher.logs()}")
        return _answers(url)

    wait_until(up, timeout=STARTUP_S, what=f"{process.name} answers {url}", logs=launcher.logs)


@pytest.fixture(scope="session")
def e2e_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``seatflow simulator`` process for the run; each test resets it to the demo seed. Its URL."""
    if UNDER_FAKETIME:
        pytest.skip("libfaketime breaks sleeping in Python 3.11 (see UNDER_FAKETIME in tests/e2e/conftest.py)")
    launcher = Launcher(tmp_path_factory.mktemp("e2e-simulator"), _environment("sqlite://"))
    try:
        url = f"http://127.0.0.1:{free_port()}"
        simulator = launcher.start("simulator", "simulator", "--port", url.rsplit(":", 1)[1])
        _wait_up(simulator, f"{url}/_sim/clock", launcher)
        yield url
        simulator.stop()
    finally:
        launcher.kill_all()


@pytest.fixture(scope="session")
def demo_template(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, e2e_simulator: str
) -> Iterator[Template]:
    """A database migrated by ``seatflow db upgrade`` with the demo loaded by ``seatflow demo-load``, its Partner
    Center account pointing at the run's simulator; each test works on a copy."""
    workdir = tmp_path_factory.mktemp("e2e-template")
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    name = f"seatflow_e2e_template_{uuid.uuid4().hex[:8]}"
    if postgres:
        _postgres_admin(database_url, f'CREATE DATABASE "{name}"')
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{workdir / 'template.db'}"
    launcher = Launcher(workdir, _environment(url))
    try:
        launcher.run("db", "upgrade")
        _set_test_clock(url)
        loaded = launcher.run("demo-load", "--simulator-url", e2e_simulator)
        api_key = loaded.strip().splitlines()[-1]
        assert api_key.startswith("sfk_"), f"demo-load's last line is not an API key:\n{loaded}"
        yield Template(url, api_key)
    finally:
        launcher.kill_all()
        if postgres:
            _postgres_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def e2e_database_url(demo_template: Template, tmp_path: Path) -> Iterator[str]:
    """A copy of the template, the test's own, its test clock at START again."""
    template = make_url(demo_template.database_url)
    if template.get_backend_name() == "postgresql":
        name = f"seatflow_e2e_{uuid.uuid4().hex[:8]}"
        _postgres_admin(demo_template.database_url, f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
        url = template.set(database=name).render_as_string(hide_password=False)
    else:
        assert template.database
        copy = tmp_path / "seatflow.db"
        for suffix in ("", "-wal"):
            if Path(template.database + suffix).exists():
                shutil.copyfile(template.database + suffix, str(copy) + suffix)
        url = f"sqlite:///{copy}"
        name = ""
    _set_test_clock(url)
    try:
        yield url
    finally:
        if name:
            _postgres_admin(demo_template.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def stack(tmp_path: Path, e2e_database_url: str, demo_template: Template, e2e_simulator: str) -> Iterator[Stack]:
    """The demo loaded and provisioned: the simulator holds Pine Cone Vet's parents and the E5 voice chain, and
    a worker is running (``stack.workers[0]``)."""
    launcher = Launcher(tmp_path, _environment(e2e_database_url))
    traffic = Traffic()
    clients = Clients(traffic)
    try:
        sim = clients.new("simulator", e2e_simulator)
        sim.ok("POST", "/_sim/reset", json=demo_seed())
        sim.ok("POST", "/_sim/clock", json={"now": START.isoformat()})
        api_url = f"http://127.0.0.1:{free_port()}"
        port = api_url.rsplit(":", 1)[1]
        serve = launcher.start("serve", "serve", "--host", "127.0.0.1", "--port", port, "--workers", "2")
        worker = launcher.start("worker", "worker")
        _wait_up(serve, f"{api_url}/healthz", launcher)
        api = clients.new("operator", api_url, api_key=demo_template.api_key)
        wait_settled(api, timeout=STARTUP_S, logs=launcher.logs)
        stack = Stack(
            api_url,
            e2e_simulator,
            demo_template.api_key,
            e2e_database_url,
            launcher,
            traffic,
            clients,
            serve,
            [worker],
            api,
            sim,
            Demo.read(api),
        )
        yield stack
        clients.close()
        _stop_all(stack)
    finally:
        clients.close()
        launcher.kill_all()


def _stop_all(stack: Stack) -> None:
    """SIGTERM to each process; every one must be gone within 10 s, and none may have logged a traceback."""
    problems = []
    for process in [*stack.workers, stack.serve]:
        try:
            process.stop()
        except pytest.fail.Exception as stopped_late:
            problems.append(str(stopped_late))
    for process in [*stack.workers, stack.serve]:
        for traceback in process.tracebacks():
            problems.append(f"{process.name} logged a traceback:\n{traceback}")
    if problems:
        pytest.fail("\n\n".join(problems))
