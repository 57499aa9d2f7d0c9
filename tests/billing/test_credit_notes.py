"""Credit notes (SPEC §8, issue 13 item 6): a void is answered by a credit note, a cycle whose total is negative is
a credit note, not an invoice; credit notes have their own gapless ``CN-`` sequence, reference the invoice they
credit, and come as JSON, PDF and CSV. Every figure has its arithmetic beside it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session

from seatflow.billing.models import CreditReason, DocumentKind, InvoiceStatus, LineKind
from seatflow.billing.service import CREDIT_NOTE_EXPORT_COLUMNS, CreditNoteNotVoidable, InvoiceVoid, void_invoice
from tests.billing.support import (
    bill,
    cancel_on,
    contract,
    credit_notes,
    expected_numbers,
    invoices,
    line_rows,
    lines,
    numbers,
    open_shop,
    subscribe,
)
from tests.factories import noon
from tests.provisioning.conftest import ManualClock

D = date
JAN_1, JAN_31, FEB_1, FEB_28, MAR_1 = D(2027, 1, 1), D(2027, 1, 31), D(2027, 2, 1), D(2027, 2, 28), D(2027, 3, 1)
TAX = Decimal("0.0825")


def test_a_void_is_answered_by_a_credit_note_of_the_invoice(session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=JAN_1, tax_rate=TAX)
    subscribe(session, shop, on, quantity=10, price="31.00", start=JAN_1)
    bill(session, JAN_1)
    (january,) = invoices(session, on)
    # 10 x 31.00 = 310.00; tax 310.00 x 0.0825 = 25.575 -> 25.58; total 335.58
    assert (january.number, january.subtotal, january.tax, january.total) == (
        "INV-000001",
        Decimal("310.00"),
        Decimal("25.58"),
        Decimal("335.58"),
    )

    void_invoice(session, invoice=january, reason="Wrong address", now=noon(D(2027, 1, 5)))
    session.expire_all()

    (note,) = credit_notes(session, on)
    assert (note.number, note.kind, note.credit_reason, note.credits_invoice_id) == (
        "CN-000001",
        DocumentKind.CREDIT_NOTE,
        CreditReason.VOID,
        january.id,
    )
    assert (note.status, note.issue_date, note.due_date, note.billing_run_id) == (
        InvoiceStatus.ISSUED,
        D(2027, 1, 5),  # the day of the void
        D(2027, 1, 5),
        None,
    )
    assert (note.period_start, note.period_end) == (JAN_1, JAN_31)
    # The invoice's lines and totals, negated: -10 x 31.00 = -310.00; tax -25.58; total -335.58
    assert line_rows(session, note) == [(LineKind.RECURRING, JAN_1, JAN_31, -10, Decimal("31.00"), Decimal("-310.00"))]
    assert (note.subtotal, note.tax, note.total) == (Decimal("-310.00"), Decimal("-25.58"), Decimal("-335.58"))
    assert (note.bill_to, note.tax_rate) == (january.bill_to, january.tax_rate)

    again = bill(session, D(2027, 1, 5))
    session.expire_all()
    (rebilled,) = invoices(session, on)
    assert (again.invoices_created, again.credit_notes_created) == (1, 0)
    # Rebilled as it was: 10 x 31.00 = 310.00 + 25.58 tax = 335.58, as INV-000002. Sent: 335.58 - 335.58 + 335.58.
    assert (rebilled.number, rebilled.total) == ("INV-000002", Decimal("335.58"))
    assert january.total + note.total + rebilled.total == Decimal("335.58")

    with pytest.raises(InvoiceVoid):
        void_invoice(session, invoice=january, reason="again", now=noon(D(2027, 1, 6)))
    with pytest.raises(CreditNoteNotVoidable) as refused:
        void_invoice(session, invoice=note, reason="undo", now=noon(D(2027, 1, 6)))
    assert refused.value.code == "credit_note_not_voidable"
    void_invoice(session, invoice=rebilled, reason="Wrong contract", now=noon(D(2027, 1, 7)))
    session.expire_all()
    assert [n.number for n in credit_notes(session, on)] == ["CN-000001", "CN-000002"]
    assert numbers(session) == expected_numbers(2), "credit notes take no invoice number"


def test_a_cycle_whose_total_is_negative_is_a_credit_note(session: Session) -> None:
    shop = open_shop(session)
    refunded = contract(session, shop, start_date=JAN_1, process_refunds=True, tax_rate=TAX)
    other = contract(session, shop, start_date=JAN_1)
    cancelled = subscribe(session, shop, refunded, quantity=10, price="31.00", start=JAN_1)
    subscribe(session, shop, other, product="B", quantity=2, price="5.00", start=JAN_1)
    bill(session, JAN_1)  # INV-000001 and INV-000002
    cancel_on(session, cancelled, D(2027, 1, 21))

    february = bill(session, FEB_1)
    session.expire_all()

    assert (february.invoices_created, february.credit_notes_created) == (1, 1)
    # 2 x 5.00 = 10.00 (INV-000003); -110.00 - 9.08 tax = -119.08 (CN-000001)
    assert february.totals["USD"].as_json() == {
        "invoices": 1,
        "subtotal": "-100.00",  # 10.00 - 110.00
        "tax": "-9.08",
        "total": "-109.08",  # 10.00 - 119.08
        "credit_notes": 1,
    }
    (first, note) = invoices(session, refunded)
    assert (note.number, note.kind, note.credit_reason) == (
        "CN-000001",
        DocumentKind.CREDIT_NOTE,
        CreditReason.NEGATIVE_CYCLE,
    )
    assert note.credits_invoice_id == first.id, "it credits the contract's invoice before it"
    assert (note.period_start, note.period_end, note.issue_date, note.due_date) == (FEB_1, FEB_28, FEB_1, FEB_1)
    # Jan 21-31 = 11 of 31 days: -10 x 31.00 x 11/31 = -110.00; tax -110.00 x 0.0825 = -9.075 -> -9.08
    assert (note.subtotal, note.tax, note.total) == (Decimal("-110.00"), Decimal("-9.08"), Decimal("-119.08"))
    assert sum(line.amount for line in lines(session, note)) == Decimal("-110.00")
    assert numbers(session) == expected_numbers(3)
    assert bill(session, MAR_1).invoices_created == 1  # other's March: 2 x 5.00; the cancelled one bills nothing
    assert [n.number for n in credit_notes(session)] == ["CN-000001"]


# --- the API ----------------------------------------------------------------------------------------------


@pytest.fixture
def api(client: TestClient) -> TestClient:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(D(2027, 2, 3)), datetime.now(UTC))
    return client


def test_credit_notes_over_the_api_json_pdf_and_csv(api: TestClient, session: Session) -> None:
    shop = open_shop(session)
    on = contract(session, shop, start_date=JAN_1, name="Head office", tax_rate=TAX)
    subscribe(session, shop, on, quantity=10, price="31.00", start=JAN_1)
    assert api.post("/api/v1/billing-runs", json={"date": "2027-01-01"}).status_code == 201

    voided = api.post("/api/v1/invoices/INV-000001/void", json={"reason": "Wrong address."})

    assert voided.status_code == 200, voided.text
    invoice = voided.json()
    (ref,) = invoice["credited_by"]
    assert ref["number"] == "CN-000001"
    assert api.get("/api/v1/invoices/INV-000001").json() == invoice
    note = api.get(f"/api/v1/credit-notes/{ref['id']}").json()
    assert api.get("/api/v1/credit-notes/CN-000001").json() == note
    assert (note["kind"], note["credit_reason"], note["credits_invoice_id"], note["credits_invoice_number"]) == (
        "credit_note",
        "void",
        invoice["id"],
        "INV-000001",
    )
    assert (note["issue_date"], note["period_start"], note["period_end"], note["billing_run_id"]) == (
        "2027-02-03",  # the clock's today
        "2027-01-01",
        "2027-01-31",
        None,
    )
    # -10 x 31.00 = -310.00; tax -25.58 (310.00 x 0.0825 = 25.575); total -335.58
    assert (note["subtotal"], note["tax"], note["total"]) == ("-310.00", "-25.58", "-335.58")
    assert [(line["quantity"], line["amount"]) for line in note["lines"]] == [(-10, "-310.00")]

    listed = api.get("/api/v1/credit-notes", params={"contract_id": str(on.id)}).json()
    assert [n["number"] for n in listed["items"]] == ["CN-000001"]
    by_invoice = api.get("/api/v1/credit-notes", params={"credits_invoice_id": invoice["id"]}).json()
    assert [n["number"] for n in by_invoice["items"]] == ["CN-000001"]
    assert [i["number"] for i in api.get("/api/v1/invoices").json()["items"]] == ["INV-000001"]
    assert api.get("/api/v1/invoices/CN-000001").json()["code"] == "not_found"
    assert api.get("/api/v1/credit-notes/INV-000001").status_code == 404
    assert api.post("/api/v1/invoices/CN-000001/void", json={"reason": "x"}).status_code == 404

    pdf = api.get("/api/v1/credit-notes/CN-000001.pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("Credit note CN-000001", "invoice INV-000001", "-310.00", "-335.58", "nothing is to be paid"):
        assert expected in text, f"{expected!r} is not in the PDF's text"

    exported = api.get("/api/v1/credit-notes/export.csv", params={"date_from": "2027-02-01", "date_to": "2027-02-28"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(rows[0]) == CREDIT_NOTE_EXPORT_COLUMNS
    assert [
        (r["credit_note_number"], r["credits_invoice_number"], r["credit_reason"], r["amount"], r["credit_note_total"])
        for r in rows
    ] == [("CN-000001", "INV-000001", "void", "-310.00", "-335.58")]
    invoices_csv = api.get("/api/v1/invoices/export.csv", params={"date_from": "2027-01-01", "date_to": "2027-02-28"})
    assert "CN-000001" not in invoices_csv.text

    rebilled = api.post("/api/v1/billing-runs", json={"date": "2027-02-03"})
    assert (rebilled.json()["invoices_created"], rebilled.json()["credit_notes_created"]) == (2, 0)  # Jan again, Feb
    bad = api.get("/api/v1/credit-notes/export.csv", params={"date_from": "2027-02-28", "date_to": "2027-02-01"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_date_range")
    assert api.get("/api/v1/credit-notes", params={"credits_invoice_id": "nope"}).status_code == 422
