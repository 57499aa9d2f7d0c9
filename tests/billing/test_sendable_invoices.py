"""Invoices a finance team can send (SPEC §8, issue 13 item 8): seller and customer with addresses and tax IDs,
payment terms and payment instructions, in the JSON and on the PDF, recorded when the invoice is issued."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from pypdf import PdfReader
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.catalog.models import ProviderKind
from seatflow.config import Settings
from seatflow.contracts.models import BillingContract
from tests.factories import FACTORY_TODAY, create_product, create_provider_account, create_subscription, noon
from tests.provisioning.conftest import ManualClock

SELLER = {
    "seller_name": "Northwind IT",
    "seller_address": "1 Harbour Road|Portsmouth PO1 2AB|United Kingdom",
    "seller_email": "billing@northwind.example",
    "seller_tax_id": "GB123456789",
    "seller_payment_instructions": "Bank transfer to Northwind IT|IBAN GB29 NWBK 6016 1331 9268 19, BIC NWBKGB2L",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, default_currency="USD", **SELLER)  # type: ignore[arg-type]


@pytest.fixture
def api(client: TestClient) -> TestClient:
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.clock = ManualClock(noon(FACTORY_TODAY), datetime.now(UTC))
    return client


def _pdf_text(response: Response) -> str:
    assert response.status_code == 200, response.text
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_an_invoice_carries_both_parties_the_terms_and_how_to_pay(api: TestClient, session: Session) -> None:
    customer = api.post(
        "/api/v1/customers",
        json={
            "name": "Contoso GmbH",
            "tax_id": "DE811907980",
            "billing_address": {"line1": "Hauptstrasse 5", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        },
    ).json()
    assert customer["tax_id"] == "DE811907980"
    contract = api.post(
        "/api/v1/contracts",
        json={"customer_id": customer["id"], "name": "Contoso", "start_date": "2026-12-01", "payment_terms_days": 14},
    ).json()
    account = create_provider_account(session, kind=ProviderKind.DO_NOTHING)
    product = create_product(session, account=account, name="Seat")
    billed = session.get_one(BillingContract, uuid.UUID(contract["id"]))
    create_subscription(session, contract=billed, product=product, quantity=3)
    assert api.post("/api/v1/billing-runs", json={"date": "2026-12-01"}).status_code == 201

    invoice = api.get("/api/v1/invoices/INV-000001").json()

    assert invoice["seller"] == {
        "name": "Northwind IT",
        "address": ["1 Harbour Road", "Portsmouth PO1 2AB", "United Kingdom"],
        "email": "billing@northwind.example",
        "tax_id": "GB123456789",
    }
    assert invoice["bill_to"]["tax_id"] == "DE811907980"
    assert invoice["bill_to"]["address"]["city"] == "Berlin"
    assert (invoice["issue_date"], invoice["due_date"], invoice["payment_terms_days"]) == (
        "2026-12-01",
        "2026-12-15",  # Dec 1 + 14 days
        14,
    )
    assert invoice["payment_instructions"] == (
        "Bank transfer to Northwind IT\nIBAN GB29 NWBK 6016 1331 9268 19, BIC NWBKGB2L"
    )

    text = _pdf_text(api.get("/api/v1/invoices/INV-000001.pdf"))
    for expected in (
        "Northwind IT",
        "1 Harbour Road",
        "Tax ID GB123456789",
        "billing@northwind.example",
        "Contoso GmbH",
        "Hauptstrasse 5",
        "Berlin",
        "Tax ID DE811907980",
        "Payment terms",
        "14 days net",
        "Due 2026-12-15",
        "Please quote INV-000001",
        "IBAN GB29 NWBK 6016 1331 9268 19",
    ):
        assert expected in text, f"{expected!r} is not in the PDF's text"

    # What was sent stays as sent: the seller moves, the issued invoice does not.
    app = api.app
    assert isinstance(app, FastAPI)
    app.state.settings = Settings(database_url=str(app.state.settings.database_url), seller_name="Northwind Two")
    assert api.get("/api/v1/invoices/INV-000001").json()["seller"]["name"] == "Northwind IT"
    assert "Northwind Two" not in _pdf_text(api.get("/api/v1/invoices/INV-000001.pdf"))
    # An invoice issued before sellers were recorded prints the seller configured now.
    recorded = session.get_one(Invoice, uuid.UUID(invoice["id"]))
    recorded.seller = {}
    session.flush()
    assert "Northwind Two" in _pdf_text(api.get("/api/v1/invoices/INV-000001.pdf"))


def test_a_customers_tax_id_is_set_and_cleared(api: TestClient) -> None:
    created = api.post("/api/v1/customers", json={"name": "Fabrikam", "tax_id": " FR40303265045 "}).json()
    assert created["tax_id"] == "FR40303265045"
    cleared = api.patch(f"/api/v1/customers/{created['id']}", json={"tax_id": ""})
    assert (cleared.status_code, cleared.json()["tax_id"]) == (200, None)
    too_long = api.post("/api/v1/customers", json={"name": "Fabrikam 2", "tax_id": "X" * 51})
    assert (too_long.status_code, too_long.json()["code"]) == (422, "validation_failed")
