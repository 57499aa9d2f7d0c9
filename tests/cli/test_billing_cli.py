"""``seatflow bill`` and ``seatflow invoices …`` in subprocesses (SPEC §8, §14)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from seatflow.db import migrate
from seatflow.db.engine import make_engine
from tests.cli.conftest import Run
from tests.factories import load_demo_catalog
from tests.subscriptions.helpers import pine_cone_vet


@pytest.fixture
def vet_database(cli_database_url: str) -> None:
    migrate.upgrade(cli_database_url)
    engine = make_engine(cli_database_url)
    try:
        with Session(engine) as session:
            pine_cone_vet(session, load_demo_catalog(session))
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.usefixtures("vet_database")
def test_billing_from_the_terminal(run: Run, tmp_path: Path) -> None:
    preview = run("bill", "--date", "2026-12-01", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "would create 3 invoice(s)" in preview.stdout
    assert "USD: subtotal 2012.00, tax 0.00, total 2012.00" in preview.stdout

    billed = run("bill", "--date", "2026-12-01", "--json")
    assert billed.returncode == 0, billed.stderr
    assert json.loads(billed.stdout)["invoices_created"] == 3
    assert "created 0 invoice(s)" in run("bill", "--date", "2026-12-01").stdout

    listed = json.loads(run("invoices", "list", "--json").stdout)
    assert [i["number"] for i in listed] == ["INV-000001", "INV-000002", "INV-000003"]
    shown = run("invoices", "show", "INV-000002")
    assert shown.returncode == 0, shown.stderr
    assert "Microsoft 365 E3" in shown.stdout

    pdf = run("invoices", "pdf", "INV-000002", "-o", tmp_path / "ny.pdf")
    assert pdf.returncode == 0, pdf.stderr
    text = PdfReader(tmp_path / "ny.pdf").pages[0].extract_text()
    assert "Invoice INV-000002" in text
    assert "1006.00" in text

    exported = run("invoices", "export", "--from", "2026-12-01", "--to", "2026-12-31")
    assert exported.returncode == 0, exported.stderr
    assert len(list(csv.DictReader(io.StringIO(exported.stdout)))) == 6

    no_reason = run("invoices", "void", "INV-000002")
    assert no_reason.returncode != 0
    voided = run("invoices", "void", "INV-000002", "--reason", "Wrong address.")
    assert (voided.returncode, voided.stdout.strip()) == (0, "voided INV-000002 (credit note CN-000001)")
    twice = run("invoices", "void", "INV-000002", "--reason", "again")
    assert (twice.returncode, twice.stderr.strip()) == (4, "error [invoice_void]: Invoice INV-000002 is void already.")
    missing = run("invoices", "show", "INV-404")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error [not_found]: No invoice INV-404.")
    backwards = run("invoices", "export", "--from", "2026-12-31", "--to", "2026-12-01")
    assert (backwards.returncode, backwards.stderr.strip()) == (5, "error [invalid_date_range]: --to is before --from.")


@pytest.mark.usefixtures("vet_database")
def test_consolidated_invoices_from_the_terminal(run: Run) -> None:
    contracts = json.loads(run("contracts", "list", "--json").stdout)
    parent = next(c for c in contracts if c["name"] == "Pine Cone Vet - Parent")
    assert parent["consolidate_child_invoices"] is False
    updated = run("contracts", "update", parent["id"], "--consolidate-child-invoices")
    assert updated.returncode == 0, updated.stderr
    assert "consolidates its child contracts' invoices" in updated.stdout
    shown = json.loads(run("contracts", "show", parent["id"], "--json").stdout)
    assert shown["consolidate_child_invoices"] is True
    assert run("contracts", "update", parent["id"]).returncode != 0, "nothing to change is refused"

    billed = json.loads(run("bill", "--date", "2026-12-01", "--json").stdout)
    assert billed["invoices_created"] == 1
    assert billed["totals"]["USD"]["total"] == "2012.00"  # 50 x 36.00 + 20 x 10.60 = 1,800.00 + 212.00
    (invoice,) = json.loads(run("invoices", "list", "--json").stdout)
    assert (invoice["number"], invoice["consolidated"], len(invoice["sections"])) == ("INV-000001", True, 3)
    table = run("invoices", "show", "INV-000001")
    assert table.returncode == 0, table.stderr
    for expected in ("INV-000001-1", "INV-000001-3", "1006.00"):
        assert expected in table.stdout
    section = run("invoices", "show", "INV-000001-2")
    assert "a section of the consolidated invoice INV-000001" in section.stdout
    refused = run("invoices", "void", "INV-000001-2", "--reason", "Memphis only")
    assert refused.returncode != 0
    assert "INV-000001" in refused.stdout + refused.stderr
    exported = run("invoices", "export", "--from", "2026-12-01", "--to", "2026-12-31")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {r["invoice_number"] for r in rows} == {"INV-000001"}
    assert len(rows) == 6  # two lines per location
    assert "Pine Cone Vet - Memphis" in {r["line_contract_name"] for r in rows}
