"""Through real processes: ``seatflow simulator`` serving Partner Center's invoices and line items, and ``seatflow
costs …`` commands reading them into a committed SQLite file, on the test clock (SPEC §14, §16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderAccount
from seatflow.clock import DatabaseTestClock
from seatflow.costs import queries
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from tests.costs.helpers import line, recon_csv
from tests.e2e.stack import free_port
from tests.factories import FACTORY_TODAY, load_demo_catalog, noon
from tests.processes import runs_tested_source
from tests.simulator.helpers import CUSTOMER
from tests.simulator.nce import M365_E3, buy, cart_line, change, set_clock

pytestmark = pytest.mark.slow


@pytest.fixture
def simulator_process(tmp_path: Path) -> Iterator[str]:
    """``seatflow simulator`` in a process of its own (the demo seed); its URL once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    with (tmp_path / "simulator.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "seatflow", "simulator", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=runs_tested_source(env),
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to 30 s to start on a busy machine; no assertion on how long it took
            try:
                if httpx.get(f"{url}/_sim/clock", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the simulator never answered:\n{(tmp_path / 'simulator.log').read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def database(tmp_path: Path, simulator_process: str) -> str:
    """The demo catalog, its Partner Center account at the simulator process, the test clock at noon on
    2026-12-01, committed to a SQLite file."""
    url = f"sqlite:///{tmp_path / 'costs.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            DatabaseTestClock(engine).set(session, noon(FACTORY_TODAY))
            catalog = load_demo_catalog(session)
            catalog.partner_center.settings = {"base_url": simulator_process}
            session.commit()
    finally:
        engine.dispose()
    return url


def seatflow(tmp_path: Path, url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env |= {"SEATFLOW_DATABASE_URL": url, "SEATFLOW_TEST_CLOCK": "1"}
    return subprocess.run(
        [sys.executable, "-m", "seatflow", *map(str, args)],
        env=runs_tested_source(env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def fetched(tmp_path: Path, url: str, *args: str) -> dict[str, Any]:
    done = seatflow(tmp_path, url, "costs", "fetch", "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def counts(result: dict[str, Any]) -> list[tuple[str, int, int, int, int, int]]:
    keys = ("lines_read", "inserted", "unchanged", "replaced", "superseded")
    return [(i["name"], *(i[k] for k in keys)) for i in result["imports"]]


def in_force(url: str, start: str, end: str) -> Decimal:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            account_id = session.scalars(
                select(ProviderAccount.id).where(ProviderAccount.name == "Partner Center")
            ).one()
            lines = queries.lines_in_force(
                session,
                account_id=account_id,
                start=date.fromisoformat(start),
                end=date.fromisoformat(end),
            )
            return sum((line.subtotal for line in lines), Decimal(0))
    finally:
        engine.dispose()


def test_fetch_reads_what_the_simulator_billed_once_each(tmp_path: Path, simulator_process: str, database: str) -> None:
    with httpx.Client(base_url=simulator_process, timeout=10) as pc:
        set_clock(pc, "2026-11-10T09:00:00Z")
        [e3] = buy(pc, cart_line(pc, M365_E3, 25))  # 25 * 28.80 = 720.00, cycle Nov 10 - Dec 9 (30 days)
        out_of_band = {"customerId": CUSTOMER, "productId": "CFQ7TTC0LFLX", "skuId": "0001", "quantity": 3}
        assert pc.post("/_sim/charges", json=out_of_band).status_code == 201  # 3 * 28.80 = 86.40
        set_clock(pc, "2026-12-01T09:00:00Z")
        assert pc.post("/_sim/invoices/close", json={"period": "2026-11"}).status_code == 201  # G000000001
        assert change(pc, e3["id"], quantity=30).status_code == 200
        # Dec 1 - Dec 9: 9 of 30 days; 28.80 / 30 * 9 = 8.64: -8.64 * 25 = -216.00 and 8.64 * 30 = 259.20

        first = fetched(tmp_path, database)
        assert counts(first) == [
            ("invoice G000000001", 2, 2, 0, 0, 0),
            ("unbilled previous USD", 0, 0, 0, 0, 0),
            ("unbilled current USD", 2, 2, 0, 0, 0),
        ]
        again = fetched(tmp_path, database)
        assert again["invoices_skipped"] == ["G000000001"]
        assert counts(again)[-1] == ("unbilled current USD", 2, 0, 2, 0, 0)  # nothing changed
        assert in_force(database, "2026-11-01", "2026-12-31") == Decimal("849.60")  # 720 + 86.40 - 216 + 259.20

        assert pc.post("/_sim/invoices/close", json={}).status_code == 201  # December: G000000002
        closed = fetched(tmp_path, database)

    assert counts(closed) == [
        ("invoice G000000002", 2, 2, 0, 0, 2),  # the billed lines supersede December's unbilled ones
        ("unbilled previous USD", 0, 0, 0, 0, 0),
        ("unbilled current USD", 0, 0, 0, 0, 0),
    ]
    assert in_force(database, "2026-11-01", "2026-12-31") == Decimal("849.60")  # still each charge once
    shown = seatflow(tmp_path, database, "costs", "show", "--period", "2026-12", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [(i["invoice_number"], i["charge_type"], i["subtotal"]) for i in json.loads(shown.stdout)] == [
        ("G000000002", "addQuantity", "-216.00"),
        ("G000000002", "addQuantity", "259.20"),
    ]
    table = seatflow(tmp_path, database, "costs", "show")
    assert table.returncode == 0, table.stderr
    assert "in force: 849.60 USD" in table.stdout


def test_a_bad_file_exits_5_with_one_line_and_imports_nothing(
    tmp_path: Path, simulator_process: str, database: str
) -> None:
    good, bad = tmp_path / "june.csv", tmp_path / "bad.csv"
    good.write_bytes(recon_csv([line(invoice="G000000001")]))
    bad.write_bytes(recon_csv([line(), line(ChargeStartDate="someday")]))

    refused = seatflow(tmp_path, database, "costs", "import", bad)
    imported = seatflow(tmp_path, database, "costs", "import", good, "--json")
    again = seatflow(tmp_path, database, "costs", "import", good)

    assert refused.returncode == 5
    assert refused.stderr.strip().splitlines() == [
        "error [cost_file_invalid]: line 3, column ChargeStartDate: 'someday' is not a date (Microsoft's 9/1/2020, "
        "or ISO 2020-09-01T00:00:00Z)."
    ]
    assert imported.returncode == 0, imported.stderr
    assert (json.loads(imported.stdout)["inserted"], json.loads(imported.stdout)["kind"]) == (1, "billed")
    assert again.returncode == 0, again.stderr
    assert in_force(database, "2021-06-01", "2021-06-30") == Decimal("100.80")  # the one good line, once
