"""``seatflow operators …`` in subprocesses: the console's logins."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from seatflow.auth import operators as accounts
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.errors import SeatflowError
from tests.cli.conftest import Run
from tests.factories import FACTORY_TODAY, noon


def test_operators_are_created_listed_and_disabled(run: Run, cli_database_url: str) -> None:
    migrate.upgrade(cli_database_url)
    created = run("operators", "create", "Ops@Reseller.example", "--role", "admin", "--password", "long enough pass")
    assert created.returncode == 0, created.stderr
    assert "operator ops@reseller.example (admin) created" in created.stdout
    weak = run("operators", "create", "two@reseller.example", "--password", "short")
    assert (weak.returncode, weak.stderr.split("]")[0]) == (5, "error [weak_password")
    again = run("operators", "create", "ops@reseller.example", "--password", "long enough pass")
    assert (again.returncode, again.stderr.split("]")[0]) == (4, "error [duplicate_operator")
    assert "ops@reseller.example" in run("operators", "list").stdout

    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            accounts.login(
                session, email="ops@reseller.example", password="long enough pass", ip="t", now=noon(FACTORY_TODAY)
            )
        assert run("operators", "disable", "ops@reseller.example").returncode == 0
        with Session(engine) as session, pytest.raises(SeatflowError) as refused:
            accounts.login(
                session, email="ops@reseller.example", password="long enough pass", ip="t", now=noon(FACTORY_TODAY)
            )
        assert refused.value.code == "login_failed"
    finally:
        engine.dispose()
