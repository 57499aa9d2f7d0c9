"""``seatflow renewals …`` in subprocesses (SPEC §7, §10, §14): what renews soon as a table or CSV, a change at
renewal, don't renew and renew again; a refusal is one line and a non-zero exit. On the test clock, at noon of
FACTORY_TODAY (2026-12-01)."""

from __future__ import annotations

import csv
import io
import subprocess
import uuid
from datetime import date

import pytest
from sqlalchemy.orm import Session

from seatflow.clock import DatabaseTestClock
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.subscriptions.models import Subscription
from tests.cli.conftest import Run
from tests.factories import (
    FACTORY_TODAY,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)


@pytest.fixture
def e3_id(cli_database_url: str) -> str:
    """Northwind's 10 Microsoft 365 E3, renewing on 2027-01-15 (in 45 days), committed; the test clock set."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            catalog = load_demo_catalog(session)
            contract = create_contract(
                session, customer=create_customer(session, name="Northwind"), start_date=date(2026, 1, 1)
            )
            e3 = create_subscription(
                session, contract=contract, product=catalog.e3, quantity=10, start_date=date(2026, 1, 15)
            )
            create_subscription(session, contract=contract, product=catalog.ems, quantity=4)  # renews in a year
            session.commit()
            DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
            session.commit()
            return str(e3.id)
    finally:
        engine.dispose()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def test_the_renewal_desk_from_the_terminal(run_on_test_clock: Run, e3_id: str, cli_database_url: str) -> None:
    run = run_on_test_clock
    assert "0 renewals in the next 30 days" in ok(run("renewals", "upcoming"))
    table = ok(run("renewals", "upcoming", "--days", "60"))
    assert "2027-01-15" in table
    assert "Microsoft 365 E3" in table
    assert "renews as it is" in table
    assert "1 renewal in the next 60 days" in table

    changed = ok(run("renewals", "set", e3_id, "--product", "ENTERPRISEPREMIUM", "--quantity", "12"))
    # 10 x 36.00 = 360.00 now; 12 x 38.00 = 456.00 on Office 365 E5 after.
    assert "monthly 360.00 → 456.00 USD (12 x 38.00)" in changed
    [row] = list(csv.DictReader(io.StringIO(ok(run("renewals", "upcoming", "--days", "60", "--csv")))))
    assert (row["subscription_id"], row["renewal_date"], row["product"], row["next_product"]) == (
        e3_id,
        "2027-01-15",
        "Microsoft 365 E3",
        "Office 365 E5",
    )
    assert (row["monthly_amount"], row["monthly_amount_after"]) == ("360.00", "456.00")
    assert row["changes"] == "quantity 10 → 12; product Microsoft 365 E3 → Office 365 E5; unit price 36.00 → 38.00"

    stopped = ok(run("renewals", "dont-renew", e3_id))
    assert stopped.strip() == "does not renew: expires on 2027-01-15"
    [row] = list(csv.DictReader(io.StringIO(ok(run("renewals", "upcoming", "--days", "60", "--csv")))))
    assert (row["auto_renew"], row["expires_on"], row["monthly_amount_after"]) == ("no", "2027-01-15", "0.00")

    refused = run("renewals", "set", e3_id, "--quantity", "12")
    assert refused.returncode == 5
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error [not_renewing]: The subscription does not renew")

    again = ok(run("renewals", "renew", e3_id))
    assert again.strip() == "renews on 2027-01-15: renews as it is; monthly 360.00 → 360.00 USD (10 x 36.00)"

    too_far = run("renewals", "upcoming", "--days", "400")
    assert (too_far.returncode, too_far.stderr.strip()) == (
        5,
        "error [invalid_days]: days must be between 1 and 366, not 400.",
    )
    missing = run("renewals", "set", "nope", "--quantity", "3")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error [not_found]: No subscription 'nope'.")

    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            assert session.get_one(Subscription, uuid.UUID(e3_id)).auto_renew is True
    finally:
        engine.dispose()
