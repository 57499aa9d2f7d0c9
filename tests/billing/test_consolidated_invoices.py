"""Consolidated invoices (SPEC §8, issue 13 item 7): a parent contract that says ``consolidate_child_invoices`` gets
one invoice per cycle for its billable children's charges, addressed to its customer, a section per location; each
line still names its location's contract. Every figure has its arithmetic beside it.

Seed 003 (Pine Cone Vet) at the demo catalog's prices: Microsoft 365 E3 36.00, EMS E3 10.60 per user per month.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seatflow.billing.models import BILLS_PERIOD, CreditReason, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.runs import run_billing
from seatflow.billing.schemas import BillingRunRead, document_read
from seatflow.billing.service import EXPORT_COLUMNS, InvoiceFilters, InvoiceInConsolidated, list_invoices, void_invoice
from seatflow.contracts.models import BillingContract
from tests.billing.support import bill, cancel_on, lines, open_shop, subscribe
from tests.factories import create_contract, create_subscription, load_demo_catalog, noon
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet

DEC_1, DEC_31, JAN_1, JAN_2 = date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2)
ATLANTA, MEMPHIS, NEW_YORK = "Pine Cone Vet - Atlanta", "Pine Cone Vet - Memphis", "Pine Cone Vet - New York City"


def consolidated_vet(session: Session, **options: object) -> PineConeVet:
    vet = pine_cone_vet(session, load_demo_catalog(session), **options)  # type: ignore[arg-type]
    vet.parent_contract.consolidate_child_invoices = True
    session.flush()
    return vet


def documents(session: Session) -> list[Invoice]:
    """The documents that are sent (no sections), by number."""
    stmt = select(Invoice).where(Invoice.consolidated_invoice_id.is_(None)).order_by(Invoice.number)
    return list(session.scalars(stmt))


def sections(session: Session, document: Invoice) -> list[Invoice]:
    stmt = select(Invoice).where(Invoice.consolidated_invoice_id == document.id).order_by(Invoice.number)
    return list(session.scalars(stmt))


def test_pine_cone_vet_gets_one_invoice_for_its_three_locations(session: Session) -> None:
    vet = consolidated_vet(session)

    summary = bill(session, DEC_1)

    assert (summary.invoices_created, summary.credit_notes_created) == (1, 0)
    assert summary.totals["USD"].as_json() == {
        "invoices": 1,  # one document sent, not its three sections
        "subtotal": "2012.00",  # 413.00 + 593.00 + 1006.00
        "tax": "0.00",
        "total": "2012.00",
    }
    (invoice,) = documents(session)
    assert (invoice.number, invoice.kind, invoice.consolidated) == ("INV-000001", DocumentKind.INVOICE, True)
    assert invoice.contract_id == vet.parent_contract.id
    assert invoice.customer_id == vet.customer.id
    assert invoice.bill_to["name"] == "Pine Cone Vet"
    assert invoice.bill_to["contract"] == "Pine Cone Vet - Parent"
    assert (invoice.period_start, invoice.period_end, invoice.due_date) == (DEC_1, DEC_31, date(2026, 12, 31))
    # per product: E3 50 x 36.00 = 1,800.00 (10 + 15 + 25 seats); EMS 20 x 10.60 = 212.00 (5 + 5 + 10 seats)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("2012.00"), Decimal(0), Decimal("2012.00"))
    assert lines(session, invoice) == [], "the document's lines are its sections'"

    parts = sections(session, invoice)
    assert [(s.number, s.bill_to["contract"], s.subtotal) for s in parts] == [
        ("INV-000001-1", ATLANTA, Decimal("413.00")),  # 10 x 36.00 = 360.00 + 5 x 10.60 = 53.00
        ("INV-000001-2", MEMPHIS, Decimal("593.00")),  # 15 x 36.00 = 540.00 + 5 x 10.60 = 53.00
        ("INV-000001-3", NEW_YORK, Decimal("1006.00")),  # 25 x 36.00 = 900.00 + 10 x 10.60 = 106.00
    ]
    assert sum(s.subtotal for s in parts) == invoice.subtotal  # 413.00 + 593.00 + 1006.00 = 2012.00
    assert [s.contract_id for s in parts] == [
        vet.locations[n].contract.id for n in ("Atlanta", "Memphis", "New York City")
    ]
    assert {s.kind for s in parts} == {DocumentKind.INVOICE}
    assert {s.status for s in parts} == {InvoiceStatus.ISSUED}

    read = document_read(session, invoice)
    assert read.consolidated is True
    assert [(s.number, s.contract_name, s.location, s.subtotal) for s in read.sections] == [
        ("INV-000001-1", ATLANTA, "Pine Cone Vet", Decimal("413.00")),
        ("INV-000001-2", MEMPHIS, "Pine Cone Vet", Decimal("593.00")),
        ("INV-000001-3", NEW_YORK, "Pine Cone Vet", Decimal("1006.00")),
    ]
    assert [(line.contract_name, line.quantity, line.unit_price, line.amount) for line in read.lines] == [
        (ATLANTA, 5, Decimal("10.60"), Decimal("53.00")),  # 5 x 10.60
        (ATLANTA, 10, Decimal("36.00"), Decimal("360.00")),  # 10 x 36.00
        (MEMPHIS, 5, Decimal("10.60"), Decimal("53.00")),  # 5 x 10.60
        (MEMPHIS, 15, Decimal("36.00"), Decimal("540.00")),  # 15 x 36.00
        (NEW_YORK, 10, Decimal("10.60"), Decimal("106.00")),  # 10 x 10.60
        (NEW_YORK, 25, Decimal("36.00"), Decimal("900.00")),  # 25 x 36.00
    ]
    assert {line.contract_id for line in read.lines if line.contract_name == NEW_YORK} == {
        str(vet.locations["New York City"].contract.id)
    }
    # per product over the lines: E3 360.00 + 540.00 + 900.00 = 1,800.00; EMS 53.00 + 53.00 + 106.00 = 212.00
    by_price: dict[Decimal, Decimal] = {}
    for line in read.lines:
        by_price[line.unit_price] = by_price.get(line.unit_price, Decimal(0)) + line.amount
    assert by_price == {Decimal("36.00"): Decimal("1800.00"), Decimal("10.60"): Decimal("212.00")}

    # The sections bill each location's period: a rerun is a no-op.
    again = bill(session, DEC_1)
    assert (again.invoices_created, again.credit_notes_created) == (0, 0)
    assert len(documents(session)) == 1

    listed, _ = list_invoices(session, InvoiceFilters())
    assert [i.number for i in listed] == ["INV-000001"]
    by_location, _ = list_invoices(session, InvoiceFilters(contract_id=vet.locations["Memphis"].contract.id))
    assert [i.number for i in by_location] == ["INV-000001"], "a location's contract finds the document"


def test_a_section_bills_its_period_the_unique_index_still_holds(session: Session) -> None:
    consolidated_vet(session)
    bill(session, DEC_1)
    (invoice,) = documents(session)
    first = sections(session, invoice)[0]
    assert "NOT consolidated" in BILLS_PERIOD
    twin = Invoice(
        **{
            column.key: getattr(first, column.key)
            for column in Invoice.__table__.columns
            if column.key not in {"id", "number", "consolidated_invoice_id"}
        },
        number="INV-999999",
    )
    with session.begin_nested():
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.flush()


def test_chunks_of_one_contract_still_give_one_invoice(session: Session) -> None:
    consolidated_vet(session)

    summary = run_billing(session, run_date=DEC_1, now=noon(DEC_1), requested_by="tests", chunk_size=1)
    session.flush()

    assert summary.invoices_created == 1
    assert summary.contracts_considered == 3  # the three locations (the parent is not billable)
    (invoice,) = documents(session)
    assert invoice.total == Decimal("2012.00")  # 413.00 + 593.00 + 1006.00
    assert len(sections(session, invoice)) == 3


def test_without_the_flag_each_location_gets_its_own_invoice(session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))

    summary = bill(session, DEC_1)

    assert summary.invoices_created == 3
    found = documents(session)
    assert [i.number for i in found] == ["INV-000001", "INV-000002", "INV-000003"]
    assert {i.bill_to["contract"]: (i.subtotal, i.consolidated) for i in found} == {
        ATLANTA: (Decimal("413.00"), False),  # 10 x 36.00 + 5 x 10.60 = 360.00 + 53.00
        MEMPHIS: (Decimal("593.00"), False),  # 15 x 36.00 + 5 x 10.60 = 540.00 + 53.00
        NEW_YORK: (Decimal("1006.00"), False),  # 25 x 36.00 + 10 x 10.60 = 900.00 + 106.00
    }
    assert all(i.consolidated_invoice_id is None for i in found)


def test_a_dry_run_previews_the_consolidated_document_with_its_sections(session: Session) -> None:
    consolidated_vet(session)

    summary = bill(session, DEC_1, dry_run=True)

    (document,) = summary.preview
    assert documents(session) == []
    read = BillingRunRead.from_summary(summary, None)
    assert read.preview is not None
    (shown,) = read.preview
    assert (shown.consolidated, shown.total) == (True, Decimal("2012.00"))  # 413.00 + 593.00 + 1006.00
    assert [s.contract_name for s in shown.sections] == [ATLANTA, MEMPHIS, NEW_YORK]
    assert document.subtotal == Decimal("2012.00")


def test_void_and_rebill_the_consolidated_invoice(session: Session) -> None:
    consolidated_vet(session)
    bill(session, DEC_1)
    (invoice,) = documents(session)
    first_sections = sections(session, invoice)

    with pytest.raises(InvoiceInConsolidated) as refused:
        void_invoice(session, invoice=first_sections[0], reason="Wrong location.", now=noon(JAN_2))
    assert refused.value.extra["consolidated_invoice_number"] == "INV-000001"
    assert first_sections[0].status is InvoiceStatus.ISSUED, "nothing changed"

    void_invoice(session, invoice=invoice, reason="Wrong address.", now=noon(JAN_2))
    session.flush()

    assert invoice.status is InvoiceStatus.VOID
    assert {s.status for s in sections(session, invoice)} == {InvoiceStatus.VOID}
    (note,) = session.scalars(select(Invoice).where(Invoice.kind == DocumentKind.CREDIT_NOTE, Invoice.consolidated))
    assert (note.number, note.credit_reason, note.credits_invoice_id) == ("CN-000001", CreditReason.VOID, invoice.id)
    # -(413.00 + 593.00 + 1006.00) = -2012.00
    assert (note.subtotal, note.tax, note.total) == (Decimal("-2012.00"), Decimal(0), Decimal("-2012.00"))
    note_sections = sections(session, note)
    assert [(s.number, s.bill_to["contract"], s.subtotal, s.credit_reason) for s in note_sections] == [
        ("CN-000001-1", ATLANTA, Decimal("-413.00"), CreditReason.VOID),  # -(360.00 + 53.00)
        ("CN-000001-2", MEMPHIS, Decimal("-593.00"), CreditReason.VOID),  # -(540.00 + 53.00)
        ("CN-000001-3", NEW_YORK, Decimal("-1006.00"), CreditReason.VOID),  # -(900.00 + 106.00)
    ]
    assert [s.credits_invoice_id for s in note_sections] == [s.id for s in first_sections]
    assert [line.amount for line in lines(session, note_sections[2])] == [Decimal("-106.00"), Decimal("-900.00")]
    assert len(session.scalars(select(Invoice).where(Invoice.kind == DocumentKind.CREDIT_NOTE)).all()) == 4
    read = document_read(session, invoice)
    assert [ref.number for ref in read.credited_by] == ["CN-000001"]

    # The next run bills December again, consolidated again, with the same figures; and January.
    rebilled = bill(session, JAN_2)

    assert (rebilled.invoices_created, rebilled.credit_notes_created) == (2, 0)
    issued = [d for d in documents(session) if d.kind is DocumentKind.INVOICE and d.status is InvoiceStatus.ISSUED]
    assert [(d.number, d.period_start, d.total) for d in issued] == [
        ("INV-000002", DEC_1, Decimal("2012.00")),  # December again: 413.00 + 593.00 + 1006.00
        ("INV-000003", JAN_1, Decimal("2012.00")),  # January: the same seats at the same prices
    ]
    assert [(s.bill_to["contract"], s.subtotal) for s in sections(session, issued[0])] == [
        (ATLANTA, Decimal("413.00")),
        (MEMPHIS, Decimal("593.00")),
        (NEW_YORK, Decimal("1006.00")),
    ]
    assert bill(session, JAN_2).invoices_created == 0


def test_a_child_at_another_tax_rate_gets_its_own_document(session: Session) -> None:
    vet = consolidated_vet(session)
    memphis = vet.locations["Memphis"].contract
    memphis.tax_rate = Decimal("0.0925")
    session.flush()

    summary = bill(session, DEC_1)

    assert summary.invoices_created == 2
    first, second = documents(session)
    by_rate = {d.tax_rate: d for d in (first, second)}
    zero, taxed = by_rate[Decimal(0)], by_rate[Decimal("0.0925")]
    assert [s.bill_to["contract"] for s in sections(session, zero)] == [ATLANTA, NEW_YORK]
    assert zero.total == Decimal("1419.00")  # 413.00 + 1006.00
    assert [s.bill_to["contract"] for s in sections(session, taxed)] == [MEMPHIS]
    # 593.00 x 0.0925 = 54.8525 -> 54.85; 593.00 + 54.85 = 647.85
    assert (taxed.subtotal, taxed.tax, taxed.total) == (Decimal("593.00"), Decimal("54.85"), Decimal("647.85"))
    assert summary.totals["USD"].as_json()["total"] == "2066.85"  # 1419.00 + 647.85
    del memphis


def test_tax_is_computed_once_on_the_consolidated_subtotal(session: Session) -> None:
    shop = open_shop(session)
    parent = create_contract(
        session, customer=shop.customer, name="Head", billable=False, start_date=DEC_1, consolidate_child_invoices=True
    )
    children = [
        create_contract(
            session, customer=shop.customer, name=f"Site {n}", parent=parent, start_date=DEC_1, tax_rate=Decimal("0.1")
        )
        for n in (1, 2)
    ]
    for child in children:
        subscribe(session, shop, child, quantity=1, price="0.05", start=DEC_1)

    bill(session, DEC_1)

    (invoice,) = documents(session)
    # each site: 1 x 0.05 = 0.05, its own tax 0.005 -> 0.01; the document: 0.10 x 0.1 = 0.01 (one rounding)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("0.10"), Decimal("0.01"), Decimal("0.11"))


def test_a_billable_parent_bills_its_own_subscriptions_as_a_section(session: Session) -> None:
    shop = open_shop(session)
    parent = create_contract(
        session, customer=shop.customer, name="Head office", start_date=DEC_1, consolidate_child_invoices=True
    )
    branch = create_contract(session, customer=shop.customer, name="Branch", parent=parent, start_date=DEC_1)
    subscribe(session, shop, parent, quantity=2, price="20.00", start=DEC_1)
    subscribe(session, shop, branch, product="B", quantity=3, price="10.00", start=DEC_1)

    summary = bill(session, DEC_1)

    assert summary.invoices_created == 1
    (invoice,) = documents(session)
    assert invoice.contract_id == parent.id
    assert [(s.bill_to["contract"], s.contract_id, s.subtotal) for s in sections(session, invoice)] == [
        ("Branch", branch.id, Decimal("30.00")),  # 3 x 10.00
        ("Head office", parent.id, Decimal("40.00")),  # 2 x 20.00
    ]
    assert invoice.total == Decimal("70.00")  # 30.00 + 40.00
    assert bill(session, DEC_1).invoices_created == 0


def test_a_negative_consolidated_cycle_is_a_credit_note(session: Session) -> None:
    shop = open_shop(session)
    parent = create_contract(
        session, customer=shop.customer, name="Head", billable=False, start_date=DEC_1, consolidate_child_invoices=True
    )
    north = create_contract(
        session, customer=shop.customer, name="North", parent=parent, start_date=DEC_1, process_refunds=True
    )
    south = create_contract(session, customer=shop.customer, name="South", parent=parent, start_date=DEC_1)
    cancelled = subscribe(session, shop, north, quantity=10, price="31.00", start=DEC_1)
    subscribe(session, shop, south, product="B", quantity=1, price="5.00", start=DEC_1)
    bill(session, DEC_1)  # INV-000001: 310.00 + 5.00
    (december,) = documents(session)
    cancel_on(session, cancelled, date(2026, 12, 21))

    january = bill(session, JAN_1)

    assert (january.invoices_created, january.credit_notes_created) == (0, 1)
    note = next(d for d in documents(session) if d.kind is DocumentKind.CREDIT_NOTE)
    assert (note.number, note.consolidated, note.credit_reason) == ("CN-000001", True, CreditReason.NEGATIVE_CYCLE)
    assert note.credits_invoice_id == december.id, "it credits the group's consolidated invoice before it"
    # North: Dec 21-31 = 11 of 31 days: -10 x 31.00 x 11/31 = -110.00; South: 1 x 5.00 = 5.00; -110.00 + 5.00
    assert note.total == Decimal("-105.00")
    assert [(s.number, s.bill_to["contract"], s.kind, s.subtotal) for s in sections(session, note)] == [
        ("CN-000001-1", "North", DocumentKind.CREDIT_NOTE, Decimal("-110.00")),
        ("CN-000001-2", "South", DocumentKind.CREDIT_NOTE, Decimal("5.00")),
    ]
    assert bill(session, JAN_1).credit_notes_created == 0


def test_a_child_contract_created_with_the_flag_off_is_billed_alone(session: Session) -> None:
    catalog = load_demo_catalog(session)
    vet = consolidated_vet(session)
    other = create_contract(session, customer=vet.customer, name="Unrelated", start_date=DEC_1)
    create_subscription(
        session, contract=other, product=catalog.e3, quantity=1, provider_account=catalog.do_nothing, start_date=DEC_1
    )

    summary = bill(session, DEC_1)

    assert summary.invoices_created == 2  # the consolidated one, and the unrelated contract's own
    plain = [d for d in documents(session) if not d.consolidated]
    assert [(d.bill_to["contract"], d.total) for d in plain] == [("Unrelated", Decimal("36.00"))]  # 1 x 36.00
    assert session.get(BillingContract, other.id) is not None


# --- the API, the PDF and the CSV -------------------------------------------------------------------------------


def test_the_contract_flag_round_trips_and_bad_input_is_refused(client: TestClient, session: Session) -> None:
    shop = open_shop(session)
    session.commit()
    created = client.post(
        "/api/v1/contracts",
        json={
            "customer_id": str(shop.customer.id),
            "name": "Head",
            "billable": False,
            "start_date": "2026-12-01",
            "consolidate_child_invoices": True,
        },
    )
    assert created.status_code == 201, created.text
    contract = created.json()
    assert contract["consolidate_child_invoices"] is True
    assert client.get(f"/api/v1/contracts/{contract['id']}").json()["consolidate_child_invoices"] is True
    turned = client.patch(f"/api/v1/contracts/{contract['id']}", json={"consolidate_child_invoices": False})
    assert (turned.status_code, turned.json()["consolidate_child_invoices"]) == (200, False)

    for bad in ("maybe", 2, [True], {"x": 1}):
        answer = client.patch(f"/api/v1/contracts/{contract['id']}", json={"consolidate_child_invoices": bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "validation_failed"
    assert client.get(f"/api/v1/contracts/{contract['id']}").json()["consolidate_child_invoices"] is False


def test_one_document_over_the_api_with_its_pdf_and_csv(client: TestClient, session: Session) -> None:
    vet = consolidated_vet(session)
    session.commit()
    assert client.post("/api/v1/billing-runs", json={"date": "2026-12-01"}).status_code == 201

    listed = client.get("/api/v1/invoices").json()["items"]
    assert [(i["number"], i["consolidated"], i["total"]) for i in listed] == [
        ("INV-000001", True, "2012.00")  # 413.00 + 593.00 + 1006.00
    ]
    (invoice,) = listed
    assert [(s["number"], s["contract_name"], s["subtotal"]) for s in invoice["sections"]] == [
        ("INV-000001-1", ATLANTA, "413.00"),  # 10 x 36.00 + 5 x 10.60
        ("INV-000001-2", MEMPHIS, "593.00"),  # 15 x 36.00 + 5 x 10.60
        ("INV-000001-3", NEW_YORK, "1006.00"),  # 25 x 36.00 + 10 x 10.60
    ]
    assert [(line["contract_name"], line["amount"]) for line in invoice["lines"]][:2] == [
        (ATLANTA, "53.00"),  # 5 x 10.60
        (ATLANTA, "360.00"),  # 10 x 36.00
    ]
    assert client.get("/api/v1/invoices/INV-000001").json() == invoice
    for location in vet.locations.values():
        found = client.get("/api/v1/invoices", params={"contract_id": str(location.contract.id)}).json()["items"]
        assert [i["number"] for i in found] == ["INV-000001"]

    section = client.get("/api/v1/invoices/INV-000001-3").json()
    assert (section["consolidated_invoice_number"], section["consolidated_invoice_id"]) == ("INV-000001", invoice["id"])
    assert [line["contract_name"] for line in section["lines"]] == [NEW_YORK, NEW_YORK]
    refused = client.post("/api/v1/invoices/INV-000001-3/void", json={"reason": "New York only."})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["code"], refused.json()["consolidated_invoice_number"]) == (
        "invoice_in_consolidated",
        "INV-000001",
    )
    assert client.get("/api/v1/invoices/INV-000001-3").json()["status"] == "issued", "nothing changed"

    pdf = client.get("/api/v1/invoices/INV-000001.pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in (
        "Invoice INV-000001",
        f"Pine Cone Vet: {ATLANTA}",
        f"Pine Cone Vet: {MEMPHIS}",
        f"Pine Cone Vet: {NEW_YORK}",
        "413.00",
        "593.00",
        "1006.00",
        "2012.00",  # the document's subtotal and total
    ):
        assert expected in text, f"{expected!r} is not in the PDF's text"

    exported = client.get("/api/v1/invoices/export.csv", params={"date_from": "2026-12-01", "date_to": "2026-12-31"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert [
        (r["invoice_number"], r["line"], r["line_contract_name"], r["amount"], r["invoice_total"]) for r in rows
    ] == [
        ("INV-000001", "1", ATLANTA, "53.00", "2012.00"),
        ("INV-000001", "2", ATLANTA, "360.00", "2012.00"),
        ("INV-000001", "3", MEMPHIS, "53.00", "2012.00"),
        ("INV-000001", "4", MEMPHIS, "540.00", "2012.00"),
        ("INV-000001", "5", NEW_YORK, "106.00", "2012.00"),
        ("INV-000001", "6", NEW_YORK, "900.00", "2012.00"),
    ]
    assert {r["line_contract_id"] for r in rows if r["line_contract_name"] == MEMPHIS} == {
        str(vet.locations["Memphis"].contract.id)
    }
    assert {r["contract_name"] for r in rows} == {"Pine Cone Vet - Parent"}

    voided = client.post("/api/v1/invoices/INV-000001/void", json={"reason": "Wrong address."})
    assert voided.status_code == 200, voided.text
    assert [ref["number"] for ref in voided.json()["credited_by"]] == ["CN-000001"]
    note = client.get("/api/v1/credit-notes/CN-000001").json()
    assert (note["consolidated"], note["total"]) == (True, "-2012.00")  # -(413.00 + 593.00 + 1006.00)
    assert [s["subtotal"] for s in note["sections"]] == ["-413.00", "-593.00", "-1006.00"]
    assert [n["number"] for n in client.get("/api/v1/credit-notes").json()["items"]] == ["CN-000001"]
