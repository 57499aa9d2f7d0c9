"""``seatflow credit-notes …``, ``seatflow contracts schedule`` and ``bill-from``, and runs after today, in
subprocesses on the test clock (SPEC §8, §14; issue 13 items 3, 6, 9)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from seatflow.clock import TestClockState as ClockRow  # a Test* name would be collected
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from tests.billing.support import contract, open_shop, subscribe
from tests.cli.conftest import Run
from tests.factories import noon

TODAY = date(2027, 2, 3)


@pytest.fixture
def contract_id(cli_database_url: str) -> str:
    """A monthly contract from Jan 1, 2027 with 10 seats at 31.00; the test clock at noon on Feb 3, 2027."""
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            shop = open_shop(session)
            on = contract(session, shop, start_date=date(2027, 1, 1), name="Head office")
            subscribe(session, shop, on, quantity=10, price="31.00", start=date(2027, 1, 1))
            session.add(ClockRow(id=1, frozen_at=noon(TODAY), set_at=datetime.now(UTC)))
            session.commit()
            return str(on.id)
    finally:
        engine.dispose()


def test_credit_notes_schedule_changes_and_bounds_from_the_terminal(
    run_on_test_clock: Run, contract_id: str, tmp_path: Path
) -> None:
    run = run_on_test_clock
    future = run("bill", "--date", "2027-02-04")
    assert future.returncode != 0
    assert len(future.stderr.strip().splitlines()) == 1
    assert future.stderr.startswith("error [billing_date_in_future]: ")

    billed = run("bill", "--date", "2027-02-01")
    assert billed.returncode == 0, billed.stderr
    assert "created 2 invoice(s)" in billed.stdout  # January and February, 10 x 31.00 each

    voided = run("invoices", "void", "INV-000001", "--reason", "Wrong address.")
    assert (voided.returncode, voided.stdout.strip()) == (0, "voided INV-000001 (credit note CN-000001)")
    listed = json.loads(run("credit-notes", "list", "--json").stdout)
    assert [(n["number"], n["credits_invoice_number"], n["total"]) for n in listed] == [
        ("CN-000001", "INV-000001", "-310.00")  # -10 x 31.00
    ]
    shown = run("credit-notes", "show", "CN-000001")
    assert shown.returncode == 0, shown.stderr
    assert "credits INV-000001" in shown.stdout
    pdf = run("credit-notes", "pdf", "CN-000001", "-o", tmp_path / "cn.pdf")
    assert pdf.returncode == 0, pdf.stderr
    assert "Credit note CN-000001" in PdfReader(tmp_path / "cn.pdf").pages[0].extract_text()
    exported = run("credit-notes", "export", "--from", "2027-02-01", "--to", "2027-02-28")
    assert exported.returncode == 0, exported.stderr
    assert [r["credit_note_number"] for r in csv.DictReader(io.StringIO(exported.stdout))] == ["CN-000001"]
    missing = run("credit-notes", "show", "INV-000002")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error [not_found]: No credit note INV-000002.")

    inside = run("contracts", "schedule", contract_id, "--frequency", "quarterly")
    assert inside.returncode != 0
    assert len(inside.stderr.strip().splitlines()) == 1
    assert inside.stderr.startswith("error [billing_schedule_change_mid_cycle]: ")
    assert "the next cycle boundary is 2027-03-01" in inside.stderr
    changed = run("contracts", "schedule", contract_id, "--frequency", "quarterly", "--effective", "2027-03-01")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "Head office: quarterly in advance, prorated by days, from 2027-03-01"
    late = run("contracts", "bill-from", contract_id, "2027-03-01")
    assert late.returncode != 0
    assert late.stderr.startswith("error [bill_from_after_billing]: ")
