"""POST /api/v1/price-sheets/import and /fetch, GET /api/v1/price-sheets/prices (SPEC §13, §15)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.pricing.models import PriceSheetEntry
from seatflow.simulator import SimulatorServer
from tests.api.helpers import problem
from tests.factories import DemoCatalog
from tests.pricing.helpers import E5, december_list, january_list, row, sheet

CSV = {"content-type": "text/csv"}


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PriceSheetEntry)) or 0


def import_csv(client: TestClient, content: bytes, **params: str) -> dict[str, Any]:
    response = client.post("/api/v1/price-sheets/import", content=content, headers=CSV, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_import_as_text_csv_then_again_unchanged(client: TestClient, catalog: DemoCatalog) -> None:
    first = import_csv(client, december_list(), provider_account_id="Partner Center")

    assert {k: first[k] for k in ("rows_read", "inserted", "updated", "unchanged", "unmatched_rows")} == {
        "rows_read": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "unmatched_rows": 1,
    }
    assert first["unmatched_keys"] == ["CFQ7TTC0ZZZZ:0009"]
    assert (first["matched_products"], first["market"], first["currency"]) == (2, "US", "USD")

    again = import_csv(client, december_list())  # the only Partner Center account when none is named
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 5)

    corrected = import_csv(client, december_list(e3_annual="420"))
    assert corrected["updated"] == 1
    assert corrected["changes"][0] | {"line": 2} == corrected["changes"][0]
    assert (corrected["changes"][0]["cost_before"], corrected["changes"][0]["cost_after"]) == ("432.00", "420.00")


def test_import_as_a_multipart_upload(client: TestClient, catalog: DemoCatalog) -> None:
    response = client.post(
        "/api/v1/price-sheets/import",
        files={"file": ("december.csv", december_list(), "text/csv")},
        data={"provider_account_id": str(catalog.partner_center.id), "market": "us"},
    )

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["inserted"]) == ("december.csv", 5)


def test_prices_in_force_on_a_day(client: TestClient, catalog: DemoCatalog) -> None:
    import_csv(client, december_list())
    import_csv(client, january_list())

    def e3_on(day: str) -> list[dict[str, Any]]:
        response = client.get("/api/v1/price-sheets/prices", params={"product_id": str(catalog.e3.id), "on": day})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    december = e3_on("2026-12-31")
    assert [(p["term"], p["billing_plan"], p["cost"], p["cost_per_month"]) for p in december] == [
        ("P1M", "monthly", "43.20", "43.20"),
        ("P1Y", "monthly", "37.80", "37.80"),
        ("P1Y", "annual", "432.00", "36.00"),  # 432 / 12
    ]
    (january,) = e3_on("2027-01-01")
    assert (january["cost"], january["cost_per_month"], january["erp_per_month"]) == ("459.36", "38.28", "47.85")
    assert (january["effective_start"], january["effective_end"]) == ("2027-01-01", "2027-01-31")
    assert e3_on("2026-11-30") == []
    missing = client.get("/api/v1/price-sheets/prices", params={"product_id": "P-99999"})
    problem(missing, 404, "not_found")


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        (sheet([row()], [c for c in row() if c != "UnitPrice"]), 1, "UnitPrice"),
        (sheet([row(), row(E5, end="12/32/2026")]), 3, "EffectiveEndDate"),
        (sheet([row(), row(E5, price="-1")]), 3, "UnitPrice"),
        (sheet([row(), row(E5, erp="abc")]), 3, "ERP Price"),
        (sheet([row(), row(E5, term="P2M")]), 3, "TermDuration"),
        (sheet([row(), row(E5, plan="Biennial")]), 3, "BillingPlan"),
        (sheet([row(), row(E5, currency="GBP")]), 3, "Currency"),
    ],
)
def test_bad_input_is_a_422_naming_line_and_column_and_imports_nothing(
    client: TestClient, session: Session, catalog: DemoCatalog, content: bytes, line: int, column: str
) -> None:
    import_csv(client, december_list())
    before = count(session)

    response = client.post("/api/v1/price-sheets/import", content=content, headers=CSV)

    body = problem(response, 422, "price_sheet_invalid")
    assert (body["line"], body["column"]) == (line, column)
    assert body["detail"].startswith(f"line {line}, column {column}: ")
    assert count(session) == before


def test_an_empty_body_and_a_manual_account_are_refused(client: TestClient, catalog: DemoCatalog) -> None:
    problem(client.post("/api/v1/price-sheets/import", content=b"", headers=CSV), 422, "price_sheet_invalid")
    refused = client.post(
        "/api/v1/price-sheets/import", content=december_list(), headers=CSV, params={"provider_account_id": "Manual"}
    )
    problem(refused, 422, "price_sheet_account_invalid")


def test_fetch_reads_partner_centers_price_sheet(
    client: TestClient, session: Session, catalog: DemoCatalog, simulator: SimulatorServer
) -> None:
    catalog.partner_center.settings = {"base_url": simulator.url}
    session.flush()

    first = client.post("/api/v1/price-sheets/fetch", json={"provider_account_id": "Partner Center", "month": "202612"})

    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["source"], body["name"], body["market"], body["currency"]) == (
        "provider",
        "US history 202612",
        "US",
        "USD",
    )
    assert body["inserted"] == body["rows_read"] > 0
    assert body["effective_starts"] == ["2026-12-01"]
    assert body["matched_products"] == 10  # every demo Partner Center product is one of the simulator's offers
    assert body["unmatched_keys"] == ["CFQ7TTC0LFLZ:0002"]  # the simulator sells one SKU the catalog has not
    again = client.post("/api/v1/price-sheets/fetch", json={"provider_account_id": "Partner Center", "month": "202612"})
    assert (again.json()["inserted"], again.json()["unchanged"]) == (0, body["rows_read"])
    prices = client.get(
        "/api/v1/price-sheets/prices", params={"product_id": str(catalog.e3.id), "on": date(2026, 12, 1).isoformat()}
    ).json()["items"]
    assert {p["term"] for p in prices} <= {"P1M", "P1Y", "P3Y"}
    assert prices


def test_fetch_from_an_unreachable_partner_center_is_a_502(
    client: TestClient, session: Session, catalog: DemoCatalog
) -> None:
    catalog.partner_center.settings = {"base_url": "http://127.0.0.1:9", "timeout_seconds": 2}
    session.flush()

    response = client.post("/api/v1/price-sheets/fetch", json={"provider_account_id": "Partner Center"})

    problem(response, 502, "provider_error")
    assert count(session) == 0
