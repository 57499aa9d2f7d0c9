"""``seatflow worker`` and ``seatflow changes list|requeue|confirm`` in subprocesses (SPEC §7, §14)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from seatflow.clock import DatabaseTestClock
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.subscriptions.models import ChangeKind
from tests.cli.conftest import Run
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.subscriptions.helpers import pine_cone_vet


@pytest.fixture
def run(run_on_test_clock: Run) -> Run:
    """Every command here on the test clock, which ``manual_parent`` sets to the test data's first day."""
    return run_on_test_clock


@pytest.fixture
def manual_parent(cli_database_url: str) -> str:
    """Pine Cone Vet starting on FACTORY_TODAY, the test clock at noon that day, its parent subscriptions on the
    manual account; the parent E3's id."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
            catalog = load_demo_catalog(session)
            vet = pine_cone_vet(session, catalog, parent_account=catalog.manual)
            session.commit()
            return str(vet.parent_e3.id)
    finally:
        engine.dispose()


def _changes(run: Run, *args: str) -> list[dict[str, object]]:
    listed = run("changes", "list", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    changes: list[dict[str, object]] = json.loads(listed.stdout)
    return changes


def test_the_operators_queue_from_the_terminal(run: Run, manual_parent: str) -> None:
    once = run("worker", "--once")
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["handed_off"] == 2, "the parent E3 and EMS purchases, each handed to a person"
    (create,) = [c for c in _changes(run, "--subscription", manual_parent) if c["kind"] == ChangeKind.CREATE]

    no_reason = run("changes", "confirm", str(create["id"]), "--status", "failed")
    assert no_reason.returncode == 5
    assert no_reason.stderr.strip() == "error [message_required]: Say why it failed: --message is required."

    refused = run("changes", "confirm", str(create["id"]), "--status", "failed", "--message", "No stock.")
    assert refused.returncode == 0, refused.stderr
    (failed,) = _changes(run, "--status", "failed")
    assert (failed["id"], failed["message"]) == (create["id"], "No stock.")

    requeued = run("changes", "requeue", str(create["id"]))
    assert requeued.returncode == 0, requeued.stderr
    assert "awaiting_provisioning" in requeued.stdout
    assert _changes(run, "--status", "failed") == []

    again = run("changes", "requeue", str(create["id"]))
    assert again.returncode == 4
    assert again.stderr.startswith("error [not_failed]: Only a failed change can be requeued")
    unknown = run("changes", "requeue", "no-such-change")
    assert (unknown.returncode, unknown.stderr.strip()) == (3, "error [not_found]: No license change 'no-such-change'.")

    confirmed = run("changes", "confirm", str(create["id"]), "--status", "provisioned", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    assert [c["provisioning_status"] for c in json.loads(confirmed.stdout)] == ["provisioned"]
