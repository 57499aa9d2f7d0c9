"""d. A billing run over HTTP on the day the test clock was moved to, and an invoice's PDF (README walkthrough,
steps 4 and 5; SPEC §8)."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader

from tests.e2e.checks import E3, EMS, LOCATIONS, PARENT_CONTRACT, assert_invariants, every
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BILLING_DAY = "2027-01-01"
"""A month after the demo's start (FACTORY_TODAY, 2026-12-01): every billable contract's first two monthly cycles
are due."""
HEAD_OFFICE = "Pine Cone Vet - Head office"


def test_a_billing_run_invoices_each_location_and_the_invoice_downloads_as_pdf(stack: Stack) -> None:
    api = stack.api
    moved = api.ok("POST", "/api/v1/test/clock", json={"now": f"{BILLING_DAY}T12:00:00Z"})
    assert moved["now"].startswith(BILLING_DAY)
    # Both server processes read the moved clock from the database.
    assert {api.ok("GET", "/api/v1/test/clock")["now"][:10] for _ in range(8)} == {BILLING_DAY}

    answer = api.post("/api/v1/billing-runs", json={"date": BILLING_DAY})
    assert answer.status_code == 201, answer.text
    run = answer.json()
    invoices = every(api, "/api/v1/invoices", billing_run_id=run["id"])
    assert run["invoices_created"] == len(invoices) > 0
    contracts = stack.demo.contracts
    billed = {(str(i["contract_id"]), str(i["period_start"])): i for i in invoices}
    assert len(billed) == len(invoices), "a contract was invoiced twice for one cycle"
    assert contracts[PARENT_CONTRACT] not in {c for c, _ in billed}, "the non-billable parent contract was invoiced"
    # Every billable contract (the three locations and the head office's E5 voice chain), for December (the first
    # cycle, never billed before) and January (billed in advance on its first day).
    for contract in (*LOCATIONS, HEAD_OFFICE):
        assert {p for c, p in billed if c == contracts[contract]} == {"2026-12-01", BILLING_DAY}, contract
    numbers = sorted(str(i["number"]) for i in invoices)
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(invoices) + 1)], "invoice numbers are not gapless"
    assert run["totals"]["USD"]["total"] == str(sum(Decimal(str(i["total"])) for i in invoices))

    new_york = billed[(contracts["Pine Cone Vet - New York City"], BILLING_DAY)]
    lines = {
        str(line["description"]): (line["quantity"], line["unit_price"], line["amount"]) for line in new_york["lines"]
    }
    assert lines == {E3: (25, "36.00", "900.00"), EMS: (10, "10.60", "106.00")}
    assert new_york["total"] == "1006.00"
    pdf = api.get(f"/api/v1/invoices/{new_york['id']}.pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
    assert str(new_york["number"]) in text
    assert "1006.00" in text

    rerun = api.post("/api/v1/billing-runs", json={"date": BILLING_DAY})
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["invoices_created"] == 0, "a rerun for the same day invoiced again"
    assert len(every(api, "/api/v1/invoices")) == len(invoices)

    assert_invariants(api, stack.sim)
    stack.traffic.assert_no_server_errors()
