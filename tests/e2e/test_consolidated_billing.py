"""Consolidated invoices through real processes (SPEC §8, issue 13 item 7): the operator sets the demo's Pine Cone Vet
parent contract to consolidate its locations' invoices over HTTP, runs billing over HTTP, and gets one invoice per
cycle for the three locations, a section per location, served as JSON and as a PDF.

Demo catalog prices: Microsoft 365 E3 36.00, EMS E3 10.60 per user per month."""

from __future__ import annotations

from io import BytesIO

import pytest
from pypdf import PdfReader

from tests.e2e.checks import LOCATIONS, PARENT_CONTRACT, assert_invariants, every
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BILLING_DAY = "2027-01-01"
"""December (the first cycle) and January (in advance, on its first day) are due."""


def test_pine_cone_vet_consolidated_over_http(stack: Stack) -> None:
    api = stack.api
    parent_id = stack.demo.contracts[PARENT_CONTRACT]
    patched = api.ok("PATCH", f"/api/v1/contracts/{parent_id}", json={"consolidate_child_invoices": True})
    assert patched["consolidate_child_invoices"] is True
    assert api.ok("GET", f"/api/v1/contracts/{parent_id}")["consolidate_child_invoices"] is True
    api.ok("POST", "/api/v1/test/clock", json={"now": f"{BILLING_DAY}T12:00:00Z"})

    answer = api.post("/api/v1/billing-runs", json={"date": BILLING_DAY})
    assert answer.status_code == 201, answer.text
    run = answer.json()

    consolidated = every(api, "/api/v1/invoices", contract_id=parent_id)
    assert [(i["period_start"], i["consolidated"]) for i in consolidated] == [
        ("2026-12-01", True),
        (BILLING_DAY, True),
    ]
    for invoice in consolidated:
        # E3: 50 x 36.00 = 1,800.00; EMS: 20 x 10.60 = 212.00; 1,800.00 + 212.00 = 2,012.00
        assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("2012.00", "0.00", "2012.00")
        assert invoice["bill_to"]["contract"] == PARENT_CONTRACT
        assert [s["contract_name"] for s in invoice["sections"]] == sorted(LOCATIONS)
        assert [s["subtotal"] for s in invoice["sections"]] == [
            "413.00",  # Atlanta: 10 x 36.00 + 5 x 10.60 = 360.00 + 53.00
            "593.00",  # Memphis: 15 x 36.00 + 5 x 10.60 = 540.00 + 53.00
            "1006.00",  # New York City: 25 x 36.00 + 10 x 10.60 = 900.00 + 106.00
        ]
        assert [s["number"] for s in invoice["sections"]] == [f"{invoice['number']}-{k}" for k in (1, 2, 3)]
        assert {line["contract_name"] for line in invoice["lines"]} == set(LOCATIONS)
    # The run counts documents sent: the two consolidated invoices and the head office's own (December, January).
    listed = every(api, "/api/v1/invoices", billing_run_id=run["id"])
    assert run["invoices_created"] == len(listed) == 4
    new_york = stack.demo.contracts["Pine Cone Vet - New York City"]
    assert [i["number"] for i in every(api, "/api/v1/invoices", contract_id=new_york)] == [
        i["number"] for i in consolidated
    ]
    section = api.ok("GET", f"/api/v1/invoices/{consolidated[0]['sections'][0]['id']}")
    assert section["consolidated_invoice_number"] == consolidated[0]["number"]
    refused = api.post(f"/api/v1/invoices/{section['id']}/void", json={"reason": "one location"})
    assert (refused.status_code, refused.json()["code"]) == (409, "invoice_in_consolidated")

    pdf = api.get(f"/api/v1/invoices/{consolidated[1]['id']}.pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
    for expected in (consolidated[1]["number"], *LOCATIONS, "413.00", "593.00", "1006.00", "2012.00"):
        assert expected in text, f"{expected!r} is not in the PDF"

    rerun = api.post("/api/v1/billing-runs", json={"date": BILLING_DAY})
    assert rerun.json()["invoices_created"] == 0
    assert_invariants(api, stack.sim)
    stack.traffic.assert_no_server_errors()
