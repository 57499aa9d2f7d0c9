"""POST /api/v1/costs/import and /fetch, GET /api/v1/costs/lines (SPEC §13, §16)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.costs.models import CostLine
from seatflow.simulator import SimulatorServer
from tests.api.helpers import problem
from tests.api.subscription_helpers import freeze_clock
from tests.costs.helpers import SUBSCRIPTION, TENANT, june_lines, line, recon_csv
from tests.factories import DemoCatalog
from tests.simulator.helpers import CUSTOMER
from tests.simulator.nce import M365_E3, buy, cart_line, set_clock

CSV = {"content-type": "text/csv"}


def stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CostLine)) or 0


def import_csv(client: TestClient, content: bytes, **params: str) -> dict[str, Any]:
    response = client.post("/api/v1/costs/import", content=content, headers=CSV, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> tuple[int, ...]:
    return tuple(body[k] for k in ("lines_read", "inserted", "unchanged", "replaced", "superseded"))


def test_import_a_file_twice_then_the_invoice_of_its_lines(client: TestClient, catalog: DemoCatalog) -> None:
    first = import_csv(client, recon_csv(june_lines()), period="2021-06-15")
    again = import_csv(client, recon_csv(june_lines()), provider_account_id="Partner Center", period="2021-06-01")
    billed = import_csv(client, recon_csv(june_lines()), invoice="G000000001")  # blank InvoiceNumbers filled in

    assert (first["kind"], first["period"], first["currency"], first["subtotals"]) == (
        "unbilled",
        "2021-06-01",
        "USD",
        {"USD": "119.61"},  # 100.80 - 94.08 + 112.89
    )
    assert counts(first) == (3, 3, 0, 0, 0)
    assert counts(again) == (3, 0, 3, 0, 0)
    assert (billed["kind"], billed["invoice_number"], counts(billed)) == ("billed", "G000000001", (3, 3, 0, 0, 3))

    in_force = client.get("/api/v1/costs/lines", params={"start": "2021-06-01", "end": "2021-06-30"}).json()
    assert [(i["invoice_number"], i["charge_type"], i["subtotal"]) for i in in_force["items"]] == [
        ("G000000001", "new", "100.80"),
        ("G000000001", "addQuantity", "-94.08"),
        ("G000000001", "addQuantity", "112.89"),
    ]
    everything = client.get("/api/v1/costs/lines", params={"include_superseded": "true", "limit": 4}).json()
    assert len(everything["items"]) == 4
    assert everything["next_cursor"]
    rest = client.get(
        "/api/v1/costs/lines", params={"include_superseded": "true", "cursor": everything["next_cursor"]}
    ).json()
    superseded = [i for i in everything["items"] + rest["items"] if not i["in_force"]]
    assert [(i["billed"], i["superseded_by_line_id"] is not None) for i in superseded] == [(False, True)] * 3
    one = client.get("/api/v1/costs/lines", params={"customer": TENANT, "subscription": SUBSCRIPTION.lower()}).json()
    item = one["items"][1]
    assert (item["customer_tenant_id"], item["subscription_id"]) == (TENANT.lower(), SUBSCRIPTION.lower())
    assert (item["effective_unit_price"], item["billable_quantity"], item["unit_price"]) == ("-9.408", "10", "10.08")


def test_a_multipart_upload_with_its_fields(client: TestClient, catalog: DemoCatalog) -> None:
    response = client.post(
        "/api/v1/costs/import",
        files={"file": ("june.csv", recon_csv(june_lines()), "text/csv")},
        data={"provider_account_id": str(catalog.partner_center.id), "invoice": "G000000009"},
    )

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["invoice_number"], response.json()["inserted"]) == (
        "june.csv",
        "G000000009",
        3,
    )


@pytest.mark.parametrize(
    ("content", "line_number", "column"),
    [
        (recon_csv([line(), line(ChargeEndDate="31/31/2021")]), 3, "ChargeEndDate"),
        (recon_csv([line(), line(Subtotal="a lot")]), 3, "Subtotal"),
        (recon_csv([line(), line(Currency="GBP")]), 3, "Currency"),
        (recon_csv([line()], ["CustomerId", "SubscriptionId"]), 1, "ProductId"),
    ],
)
def test_bad_input_is_a_422_naming_line_and_column_and_imports_nothing(
    client: TestClient, session: Session, catalog: DemoCatalog, content: bytes, line_number: int, column: str
) -> None:
    import_csv(client, recon_csv(june_lines()))
    before = stored(session)

    response = client.post("/api/v1/costs/import", content=content, headers=CSV)

    body = problem(response, 422, "cost_file_invalid")
    assert (body["line"], body["column"]) == (line_number, column)
    assert body["detail"].startswith(f"line {line_number}, column {column}: ")
    assert stored(session) == before


def test_an_empty_body_and_a_manual_account_are_refused(client: TestClient, catalog: DemoCatalog) -> None:
    problem(client.post("/api/v1/costs/import", content=b"", headers=CSV), 422, "cost_file_invalid")
    refused = client.post(
        "/api/v1/costs/import", content=recon_csv([line()]), headers=CSV, params={"provider_account_id": "Manual"}
    )
    problem(refused, 422, "cost_account_invalid")


def test_fetch_reads_the_simulators_invoices_and_unbilled_lines(
    client: TestClient, session: Session, catalog: DemoCatalog, simulator: SimulatorServer, pc: httpx.Client
) -> None:
    catalog.partner_center.settings = {"base_url": simulator.url}
    session.flush()
    freeze_clock(client)  # seatflow's now: noon on December 1, 2026; previous period November
    set_clock(pc, "2026-11-10T09:00:00Z")
    [e3] = buy(pc, cart_line(pc, M365_E3, 25))  # November: 25 * 28.80 = 720.00
    set_clock(pc, "2026-12-01T09:00:00Z")
    planted = {"customerId": CUSTOMER, "productId": "CFQ7TTC0LFLX", "skuId": "0001", "quantity": 2}
    assert pc.post("/_sim/charges", json=planted).status_code == 201  # December: 2 * 28.80 = 57.60

    first = client.post("/api/v1/costs/fetch", json={})

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["invoices_listed"], body["invoices_skipped"]) == (0, [])
    assert [(i["name"], i["period"], counts(i), i["subtotals"]) for i in body["imports"]] == [
        ("unbilled previous USD", "2026-11-01", (1, 1, 0, 0, 0), {"USD": "720.00"}),
        ("unbilled current USD", "2026-12-01", (1, 1, 0, 0, 0), {"USD": "57.60"}),
    ]

    assert pc.post("/_sim/invoices/close", json={"period": "2026-11"}).status_code == 201
    second = client.post("/api/v1/costs/fetch", json={"provider_account_id": "Partner Center"}).json()

    assert [(i["name"], counts(i)) for i in second["imports"]] == [
        ("invoice G000000001", (1, 1, 0, 0, 1)),  # the billed line supersedes November's unbilled one
        ("unbilled previous USD", (0, 0, 0, 0, 0)),  # nothing unbilled left in November
        ("unbilled current USD", (1, 0, 1, 0, 0)),
    ]
    third = client.post("/api/v1/costs/fetch", json={}).json()
    assert third["invoices_skipped"] == ["G000000001"]
    lines = client.get("/api/v1/costs/lines", params={"start": "2026-11-01", "end": "2026-12-31"}).json()["items"]
    assert ("G000000001", e3["id"].lower(), "720.00") in [
        (i["invoice_number"], i["subscription_id"], i["subtotal"]) for i in lines
    ]
    assert sum(Decimal(i["subtotal"]) for i in lines) == Decimal("777.60")  # 720.00 + 57.60, each once
    assert {i["billing_period"] for i in lines} == {date(2026, 11, 1).isoformat(), date(2026, 12, 1).isoformat()}
    one = client.post("/api/v1/costs/fetch", json={"invoice": "G000000001"}).json()
    assert [(i["name"], counts(i)) for i in one["imports"]] == [("invoice G000000001", (1, 0, 1, 0, 0))]


def test_fetch_from_an_unreachable_partner_center_is_a_502(
    client: TestClient, session: Session, catalog: DemoCatalog
) -> None:
    catalog.partner_center.settings = {"base_url": "http://127.0.0.1:9", "timeout_seconds": 2}
    session.flush()

    problem(client.post("/api/v1/costs/fetch", json={}), 502, "provider_error")
    assert stored(session) == 0
    both = client.post("/api/v1/costs/fetch", json={"invoice": "G1", "unbilled": "current"})
    problem(both, 422, "validation_failed")
