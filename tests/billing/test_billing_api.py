"""Billing over the API (SPEC §8, §13): runs and previews, invoices as JSON, PDF and CSV, voiding."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session

from seatflow.billing.service import EXPORT_COLUMNS
from tests.factories import load_demo_catalog
from tests.subscriptions.helpers import pine_cone_vet


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def _new_york(client: TestClient) -> dict[str, Any]:
    invoices = client.get("/api/v1/invoices").json()["items"]
    (found,) = [i for i in invoices if i["bill_to"]["contract"] == "Pine Cone Vet - New York City"]
    return found


def test_a_dry_run_previews_and_writes_nothing_then_the_run_bills(client: TestClient, session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))

    preview = client.post("/api/v1/billing-runs", json={"date": "2026-12-01", "dry_run": True})

    assert preview.status_code == 200, preview.text
    assert preview.json()["id"] is None
    assert preview.json()["totals"] == {
        "USD": {"invoices": 3, "subtotal": "2012.00", "tax": "0.00", "total": "2012.00"}
    }
    assert sorted(i["subtotal"] for i in preview.json()["preview"]) == ["1006.00", "413.00", "593.00"]
    assert client.get("/api/v1/invoices").json()["items"] == []

    run = client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})

    assert run.status_code == 201, run.text
    assert run.json()["invoices_created"] == 3
    assert run.json()["totals"] == preview.json()["totals"]
    assert client.get(f"/api/v1/billing-runs/{run.json()['id']}").json()["invoices_created"] == 3
    again = client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    assert again.json()["invoices_created"] == 0
    new_york = _new_york(client)
    assert new_york["number"] == "INV-000002"
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in new_york["lines"]] == [
        (10, "10.60", "106.00"),
        (25, "36.00", "900.00"),
    ]
    assert (new_york["period_start"], new_york["period_end"], new_york["due_date"]) == (
        "2026-12-01",
        "2026-12-31",
        "2026-12-31",
    )
    assert client.get(f"/api/v1/invoices/{new_york['number']}").json()["id"] == new_york["id"]


def test_the_pdf_holds_the_lines_and_totals(client: TestClient, session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))
    client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    new_york = _new_york(client)

    response = client.get(f"/api/v1/invoices/{new_york['id']}.pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (
        "Invoice INV-000002",
        "Pine Cone Vet",
        "Contract: Pine Cone Vet - New York City",
        "2026-12-01 to 2026-12-31",
        "Microsoft 365 E3",
        "Enterprise Mobility + Security E3",
        "900.00",
        "106.00",
        "Subtotal",
        "1006.00",
        "Total USD",
    ):
        assert expected in text, f"{expected!r} is not in the PDF's text"


def test_the_csv_export_has_the_documented_columns_and_one_row_per_line(client: TestClient, session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))
    client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})

    response = client.get("/api/v1/invoices/export.csv", params={"date_from": "2026-12-01", "date_to": "2026-12-31"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == 6, "two lines on each of three invoices"
    new_york = [r for r in rows if r["contract_name"] == "Pine Cone Vet - New York City"]
    assert [(r["product_name"], r["quantity"], r["amount"], r["invoice_total"]) for r in new_york] == [
        ("Enterprise Mobility + Security E3", "10", "106.00", "1006.00"),
        ("Microsoft 365 E3", "25", "900.00", "1006.00"),
    ]
    empty = client.get("/api/v1/invoices/export.csv", params={"date_from": "2027-01-01", "date_to": "2027-01-31"})
    assert empty.text.splitlines() == [",".join(EXPORT_COLUMNS)]


def test_a_voided_invoice_is_billed_again_with_a_new_number(client: TestClient, session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))
    client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    new_york = _new_york(client)

    voided = client.post(f"/api/v1/invoices/{new_york['id']}/void", json={"reason": "Wrong address."})

    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["void_reason"]) == ("void", "Wrong address.")
    _problem(client.post(f"/api/v1/invoices/{new_york['id']}/void", json={"reason": "again"}), 409, "invoice_void")
    rebilled = client.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    assert rebilled.json()["invoices_created"] == 1
    issued = client.get("/api/v1/invoices", params={"status": "issued"}).json()["items"]
    again = [i for i in issued if i["bill_to"]["contract"] == "Pine Cone Vet - New York City"]
    assert [(i["number"], i["subtotal"], i["period_start"]) for i in again] == [("INV-000004", "1006.00", "2026-12-01")]


def test_bad_billing_requests_are_refused(client: TestClient) -> None:
    _problem(client.post("/api/v1/billing-runs", json={"date": "12/01/2026"}), 422, "validation_failed")
    _problem(client.post("/api/v1/billing-runs", json={"date": "2026-12-01", "extra": 1}), 422, "validation_failed")
    _problem(client.get("/api/v1/invoices/INV-999999"), 404, "not_found")
    _problem(client.get("/api/v1/invoices/INV-999999.pdf"), 404, "not_found")
    _problem(client.post("/api/v1/invoices/INV-999999/void", json={"reason": "x"}), 404, "not_found")
    _problem(client.post("/api/v1/invoices/INV-999999/void", json={"reason": ""}), 422, "validation_failed")
    _problem(
        client.get("/api/v1/invoices/export.csv", params={"date_from": "2026-12-31", "date_to": "2026-12-01"}),
        422,
        "invalid_date_range",
    )
    _problem(client.get("/api/v1/invoices/export.csv"), 422, "validation_failed")
    _problem(client.get("/api/v1/invoices", params={"contract_id": "nope"}), 422, "validation_failed")
