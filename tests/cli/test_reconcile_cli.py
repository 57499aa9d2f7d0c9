"""``seatflow reconcile …`` in subprocesses against the simulator (SPEC §9, §14)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from seatflow.cli.reconciliation import COLUMNS
from seatflow.clock import DatabaseTestClock
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import Subscription
from tests.cli.conftest import Run
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.reconciliation.helpers import change
from tests.subscriptions.helpers import pine_cone_vet


@pytest.fixture
def run(run_on_test_clock: Run) -> Run:
    """Every command here on the test clock, which ``bought`` sets to the test data's first day."""
    return run_on_test_clock


@pytest.fixture
def bought(cli_database_url: str, simulator: SimulatorServer) -> dict[str, str]:
    """Pine Cone Vet starting on FACTORY_TODAY, the test clock at noon that day, bought at the simulator; the
    ids the test needs."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    clock = DatabaseTestClock(engine)
    try:
        with Session(engine) as session:
            clock.set(session, noon(FACTORY_TODAY))
            catalog = load_demo_catalog(session)
            catalog.partner_center.settings = {"base_url": simulator.url}
            vet = pine_cone_vet(session, catalog)
            session.commit()
            ids = {"parent": str(vet.parent_e3.id), "atlanta": str(vet.locations["Atlanta"].e3.id)}
        Worker(sessionmaker(bind=engine), clock).drain(max_wait_seconds=30)
        with Session(engine) as session:
            ids["external"] = session.get_one(Subscription, vet.parent_e3.id).external_id or ""
    finally:
        engine.dispose()
    return ids


def test_drift_found_and_adopted_from_the_terminal(
    run: Run, bought: dict[str, str], simulator: SimulatorServer
) -> None:
    assert run("reconcile", "report").returncode == 0
    change(simulator, bought["external"], quantity=48)  # in Partner Center: the full resource, with its etag

    report = run("reconcile", "report", "--csv")

    assert report.returncode == 0, report.stderr
    (row,) = list(csv.DictReader(io.StringIO(report.stdout)))
    assert list(row) == COLUMNS
    assert (row["classification"], row["provider_quantity"], row["seatflow_quantity"]) == (
        "changed_at_provider",
        "48",
        "50",
    )
    no_child = run("reconcile", "adopt", bought["parent"])
    assert (no_child.returncode, no_child.stderr.split("]")[0]) == (5, "error [child_required")
    adopted = run("reconcile", "adopt", bought["parent"], "--child", bought["atlanta"])
    assert adopted.returncode == 0, adopted.stderr
    assert "10 → 8" in adopted.stdout
    assert "50 → 48" in adopted.stdout
    clean = run("reconcile", "report")
    assert "0 difference(s)" in clean.stdout
    assert run("reconcile", "change-log").returncode == 0


def test_the_csv_report_never_hands_a_spreadsheet_a_formula(
    run: Run, cli_database_url: str, simulator: SimulatorServer
) -> None:
    """A company named like a formula at the provider is an unmapped tenant whose detail starts with its name."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
            load_demo_catalog(session).partner_center.settings = {"base_url": simulator.url}
            session.commit()
    finally:
        engine.dispose()
    profile = {"companyName": '=HYPERLINK("http://x")', "tenantId": "formula-tenant"}
    httpx.post(f"{simulator.url}/v1/customers", json={"companyProfile": profile}).raise_for_status()

    report = run("reconcile", "report", "--csv")

    assert report.returncode == 0, report.stderr
    rows = {row["tenant_id"]: row for row in csv.DictReader(io.StringIO(report.stdout))}
    assert rows["formula-tenant"]["detail"].startswith('\'=HYPERLINK("http://x") (formula-tenant)')
