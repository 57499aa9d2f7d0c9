"""``seatflow prices …`` in subprocesses, on a committed database, against the simulator over HTTP (SPEC §15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.clock import DatabaseTestClock
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from seatflow.pricing.models import PriceSheetEntry
from seatflow.simulator import SimulatorServer
from tests.cli.conftest import Run
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.pricing.helpers import E5, december_list, january_list, row, sheet


@pytest.fixture
def e3_code(cli_database_url: str, simulator: SimulatorServer) -> str:
    """The demo catalog, its Partner Center account at the simulator, the test clock at noon on 2026-12-01."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
            catalog = load_demo_catalog(session)
            catalog.partner_center.settings = {"base_url": simulator.url}
            session.commit()
            return catalog.e3.product_code
    finally:
        engine.dispose()


def entries(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(PriceSheetEntry)) or 0
    finally:
        engine.dispose()


def test_import_a_file_then_a_list_ahead_then_show_the_switch(
    run_on_test_clock: Run, e3_code: str, tmp_path: Path, cli_database_url: str
) -> None:
    december, january = tmp_path / "december.csv", tmp_path / "january.csv"
    december.write_bytes(b"\xef\xbb\xbf" + december_list())  # with a byte-order mark, as Excel saves it
    january.write_bytes(january_list())

    first = run_on_test_clock("prices", "import", december, "--market", "US", "--json")

    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert (result["inserted"], result["unmatched_keys"], result["future_rows"]) == (5, ["CFQ7TTC0ZZZZ:0009"], 0)
    again = run_on_test_clock("prices", "import", december)
    assert again.returncode == 0, again.stderr
    assert "1 SKU(s) not in the catalog (kept): CFQ7TTC0ZZZZ:0009" in again.stdout
    ahead = json.loads(run_on_test_clock("prices", "import", january, "--json").stdout)
    assert (ahead["inserted"], ahead["future_rows"]) == (1, 1)  # 2027-01-01 is after the test clock's today

    shown = run_on_test_clock("prices", "show", e3_code, "--json")  # today on the test clock: 2026-12-01
    assert shown.returncode == 0, shown.stderr
    assert [(p["term"], p["billing_plan"], p["cost_per_month"]) for p in json.loads(shown.stdout)] == [
        ("P1M", "monthly", "43.20"),
        ("P1Y", "monthly", "37.80"),
        ("P1Y", "annual", "36.00"),  # 432 / 12
    ]
    switched = json.loads(run_on_test_clock("prices", "show", e3_code, "--on", "2027-01-01", "--json").stdout)
    assert [(p["term"], p["cost"], p["cost_per_month"]) for p in switched] == [("P1Y", "459.36", "38.28")]
    assert entries(cli_database_url) == 6


def test_a_bad_file_exits_5_with_one_line_and_imports_nothing(
    run_on_test_clock: Run, e3_code: str, tmp_path: Path, cli_database_url: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(sheet([row(), row(E5), row(E5, term="P1M", plan="Monthly", price="sixty")]))

    refused = run_on_test_clock("prices", "import", bad)

    assert refused.returncode == 5
    assert refused.stderr.strip().splitlines() == [
        "error [price_sheet_invalid]: line 4, column UnitPrice: 'sixty' is not a number."
    ]
    assert entries(cli_database_url) == 0


def test_fetch_from_the_simulator_over_http(run_on_test_clock: Run, e3_code: str, cli_database_url: str) -> None:
    fetched = run_on_test_clock("prices", "fetch", "--account", "Partner Center", "--month", "202612", "--json")

    assert fetched.returncode == 0, fetched.stderr
    result = json.loads(fetched.stdout)
    assert (result["source"], result["name"], result["matched_products"]) == ("provider", "US history 202612", 10)
    assert result["inserted"] == result["rows_read"] == entries(cli_database_url) > 0
    again = json.loads(run_on_test_clock("prices", "fetch", "--month", "202612", "--json").stdout)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, result["rows_read"])
    bad_month = run_on_test_clock("prices", "fetch", "--month", "2026-12")
    assert bad_month.returncode != 0


def test_rules_price_a_purchase_then_an_override_and_the_renewal_notice(
    run_on_test_clock: Run, e3_code: str, tmp_path: Path
) -> None:
    december = tmp_path / "december.csv"
    december.write_bytes(december_list())
    assert run_on_test_clock("prices", "import", december).returncode == 0
    added = run_on_test_clock("prices", "rules", "add", "markup", "--percent", "20", "--json")
    assert added.returncode == 0, added.stderr
    assert (json.loads(added.stdout)["scope"], json.loads(added.stdout)["percent"]) == ("everything", "20")
    again = run_on_test_clock("prices", "rules", "add", "markup", "--percent", "25")
    assert again.returncode != 0
    assert again.stderr.count("\n") == 1
    assert "price_rule_exists" in again.stderr
    bad = run_on_test_clock("prices", "rules", "add", "fixed", "--price", "ten", "--currency", "USD")
    assert bad.returncode != 0
    assert "--price is a decimal number" in bad.stderr

    customer_id = run_on_test_clock("customers", "create", "Acme").stdout.split()[-1]
    made = run_on_test_clock("contracts", "create", customer_id, "--name", "Acme main", "--start", "2026-12-01")
    assert made.returncode == 0, made.stderr
    contract_id = made.stdout.split()[-1]
    bought = run_on_test_clock(
        "subscriptions", "create", "--contract", contract_id, "--product", e3_code, "--quantity", "10"
    )
    assert bought.returncode == 0, bought.stderr
    subscription_id = bought.stdout.split()[2]
    subscription = json.loads(run_on_test_clock("subscriptions", "show", subscription_id, "--json").stdout)
    assert (subscription["unit_price"], subscription["cost_price"]) == ("45.36", "37.80")  # 37.80 x 1.20

    refused = run_on_test_clock("prices", "override", subscription_id, "--price", "30", "--reason", "Loss leader")
    assert refused.returncode != 0
    assert "price_below_cost" in refused.stderr
    done = run_on_test_clock(
        "prices", "override", subscription_id, "--price", "30", "--reason", "Loss leader", "--allow-below-cost"
    )
    assert done.returncode == 0, done.stderr
    assert "45.36 -> 30.00 from 2027-12-01" in done.stdout  # from the renewal: the term's price is protected

    notices = run_on_test_clock("prices", "notices", "--days", "30", "--json")
    assert notices.returncode == 0, notices.stderr
    assert json.loads(notices.stdout) == []  # the renewal is a year away
    listed = json.loads(run_on_test_clock("prices", "rules", "list", "--json").stdout)
    assert [r["scope"] for r in listed] == ["subscription", "everything"]
