"""Search, filters and CSV exports of the console's lists (issue 15 item 2, SPEC §10, §18): customers,
subscriptions, invoices, credit notes and billing runs; every CSV cell neutralised as a spreadsheet would read it."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.billing.runs import run_billing
from seatflow.billing.service import void_invoice
from tests.console.conftest import READ_ONLY, LoginOn
from tests.factories import FACTORY_TODAY, create_contract, create_customer, create_subscription, noon
from tests.subscriptions.helpers import PineConeVet


@pytest.fixture
def evil(session: Session, vet: PineConeVet) -> str:
    """A customer whose name a spreadsheet would run as a formula, billed on the first run with Pine Cone Vet."""
    name = '=HYPERLINK("http://evil.example","Open")'
    customer = create_customer(session, name=name)
    contract = create_contract(session, customer=customer, name="-2+3")
    create_subscription(
        session, contract=contract, product=vet.catalog.e3, quantity=2, provider_account=vet.catalog.manual
    )
    run_billing(session, run_date=FACTORY_TODAY, now=noon(FACTORY_TODAY), requested_by="tests")
    return name


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_exports_neutralise_formulas(login_on: LoginOn, evil: str) -> None:
    client = login_on(READ_ONLY)
    for path, column in (
        ("/console/customers.csv", "name"),
        ("/console/subscriptions.csv", "customer"),
        ("/console/invoices.csv", "customer"),
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/csv"), path
        assert "attachment" in answer.headers["content-disposition"], path
        header, *rows = _rows(answer.text)
        cells = [row[header.index(column)] for row in rows]
        assert "'" + evil in cells, (path, cells)
        assert evil not in cells, path
    invoices = _rows(client.get("/console/invoices.csv").text)
    contracts = [row[invoices[0].index("contract")] for row in invoices[1:]]
    assert "'-2+3" in contracts
    totals = [row[invoices[0].index("total")] for row in invoices[1:]]
    assert "72.00" in totals
    assert all(not t.startswith("'") for t in totals), "numbers stay numbers"


def test_invoices_are_found_by_number_customer_status_and_issue_date(
    session: Session, login_on: LoginOn, vet: PineConeVet, evil: str
) -> None:
    first = session.scalars(select(Invoice).order_by(Invoice.number)).first()
    assert first is not None
    void_invoice(session, invoice=first, reason="Wrong contract.", now=noon(FACTORY_TODAY))
    client = login_on(READ_ONLY)

    def numbers(query: str) -> list[str]:
        answer = client.get(f"/console/invoices.csv?{query}")
        assert answer.status_code == 200
        return sorted(row[0] for row in _rows(answer.text)[1:])

    everything = numbers("")
    assert len(everything) == 4
    assert numbers(f"number={first.number[-3:]}") == [first.number]
    evil_numbers = [i.number for i in session.scalars(select(Invoice)) if i.bill_to.get("name") == evil]
    assert len(evil_numbers) == 1
    assert numbers("customer=hyperlink") == evil_numbers
    assert numbers("status=void") == [first.number]
    assert len(numbers("status=issued")) == 3
    assert numbers("issued_from=2026-12-02") == []
    assert numbers("issued_from=2026-12-01&issued_to=2026-12-01") == everything
    page = client.get(f"/console/invoices?number={first.number}")
    assert page.status_code == 200
    assert page.text.count('<tr id="i-') == 1
    assert "Export CSV" in page.text
    bad = client.get("/console/invoices?issued_from=yesterday")
    assert bad.status_code == 422
    assert "Enter the first issue day as YYYY-MM-DD" in bad.text
    notes = client.get("/console/credit-notes.csv")
    assert [row[0] for row in _rows(notes.text)[1:]] == ["CN-000001"]


def test_subscriptions_and_customers_are_searched_and_filtered(login_on: LoginOn, vet: PineConeVet, evil: str) -> None:
    client = login_on(READ_ONLY)
    memphis = client.get("/console/subscriptions?q=memphis")
    assert memphis.status_code == 200
    assert memphis.text.count('<tr id="s-') == 2, "Memphis's E3 and EMS"
    mine = _rows(client.get(f"/console/subscriptions.csv?customer={vet.customer.id}").text)
    assert len(mine) == 1 + 8, "the parent's two and the three locations' two each"
    assert {row[mine[0].index("customer")] for row in mine[1:]} == {"Pine Cone Vet"}
    assert _rows(client.get("/console/subscriptions.csv?status=cancelled").text)[1:] == []
    assert len(_rows(client.get("/console/subscriptions.csv?started_from=2026-12-01&started_to=2026-12-01").text)) == 10
    assert _rows(client.get("/console/subscriptions.csv?started_from=2026-12-02").text)[1:] == []
    assert client.get("/console/subscriptions?started_to=31/12/2026").status_code == 422

    found = client.get("/console/customers?q=pine&status=active")
    assert found.status_code == 200
    assert "Pine Cone Vet" in found.text
    assert "HYPERLINK" not in found.text
    assert client.get("/console/customers?status=inactive").text.count('href="/console/customers/0') == 0
    names = [row[1] for row in _rows(client.get("/console/customers.csv?q=pine").text)[1:]]
    assert names == ["Pine Cone Vet"]


def test_billing_runs_are_filtered_by_date_and_exported(login_on: LoginOn, evil: str) -> None:
    client = login_on(READ_ONLY)
    page = client.get("/console/billing?run_from=2026-12-01&run_to=2026-12-01")
    assert page.status_code == 200
    assert 'href="/console/billing/runs/' in page.text
    assert 'href="/console/billing/runs/' not in client.get("/console/billing?run_from=2026-12-02").text
    header, *rows = _rows(client.get("/console/billing/runs.csv").text)
    assert header[:2] == ["run_date", "started_at"]
    assert [(row[0], row[5], row[6]) for row in rows] == [("2026-12-01", "USD", "2084.00")]
