"""The new-commerce license-based price sheet (developer/get-a-price-sheet.md; SPEC §10, §15)."""

from __future__ import annotations

import csv
import io
import zipfile

import httpx

from tests.simulator.helpers import fault_of
from tests.simulator.nce import set_clock

SHEET = "/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value"
COLUMNS = [
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
]


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in reader]


def test_the_price_sheet_lists_every_sku_term_and_billing_plan(pc: httpx.Client) -> None:
    set_clock(pc, "2026-02-14T10:00:00Z")
    offer = {
        "productId": "CFQ7TTC0HDK0",
        "skuId": "0001",
        "name": "Advanced Communications",
        "terms": [
            {"termDuration": "P1Y", "billingCycle": "annual"},
            {"termDuration": "P1Y", "billingCycle": "monthly"},
        ],
        "unitPrice": "9.60",
        "erpPrice": "12.00",
    }
    pc.post("/_sim/offers", json=offer)
    response = pc.get(SHEET, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment; filename=sheets.csv"
    assert response.text.startswith('"ProductTitle","ProductId","SkuId"')
    rows = [row for row in _rows(response.text) if row["ProductId"] == "CFQ7TTC0HDK0"]
    assert rows[0] == {  # the page's example row, as the simulator writes it
        "ProductTitle": "Advanced Communications",
        "ProductId": "CFQ7TTC0HDK0",
        "SkuId": "0001",
        "SkuTitle": "Advanced Communications",
        "Publisher": "Microsoft Corporation",
        "SkuDescription": "Advanced Communications",
        "UnitOfMeasure": "",
        "TermDuration": "P1Y",
        "BillingPlan": "Annual",
        "Market": "US",
        "Currency": "USD",
        "UnitPrice": "115.2",
        "PricingTierRangeMin": "",
        "PricingTierRangeMax": "",
        "EffectiveStartDate": "2/1/2026 12:00:00 AM",
        "EffectiveEndDate": "2/28/2026 11:59:59 PM",
        "Tags": "License",
        "ERP Price": "144",
    }
    assert (rows[1]["BillingPlan"], rows[1]["UnitPrice"], rows[1]["ERP Price"]) == ("Monthly", "9.6", "12")
    e3 = [row for row in _rows(response.text) if row["ProductId"] == "CFQ7TTC0LFLX"]
    assert [(row["TermDuration"], row["BillingPlan"]) for row in e3] == [
        ("P1Y", "Monthly"),
        ("P1Y", "Annual"),
        ("P1M", "Monthly"),
    ]


def test_history_future_compression_and_bad_requests(pc: httpx.Client) -> None:
    history = pc.get(SHEET, params={"timeline": "history", "month": "202501"}, headers={"Accept-Encoding": "identity"})
    assert {row["EffectiveStartDate"] for row in _rows(history.text)} == {"1/1/2025 12:00:00 AM"}
    assert fault_of(pc.get(SHEET, params={"timeline": "future"})) == (404, "1000")
    assert fault_of(pc.get(SHEET, params={"timeline": "history"})) == (400, "800002")
    assert fault_of(pc.get(SHEET, params={"timeline": "someday"})) == (400, "800002")
    other_view = SHEET.replace("updatedlicensebased", "azure_consumption")
    assert fault_of(pc.get(other_view)) == (404, "1000")
    encoded = "/v1.0/sales/pricesheets(Market=%27de%27,PricesheetView=%27updatedlicensebased%27)/$value"
    germany = pc.get(encoded, headers={"Accept-Encoding": "identity"})
    assert {row["Market"] for row in _rows(germany.text)} == {"DE"}

    zipped = pc.get(SHEET, headers={"Accept-Encoding": "deflate"})
    assert zipped.headers["content-disposition"] == "attachment; filename=sheets.zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert archive.namelist() == ["sheets.csv"]
        assert _rows(archive.read("sheets.csv").decode()) == _rows(germany.text.replace('"DE"', '"US"'))


def test_the_price_sheet_is_faulted_like_every_partner_center_path(pc: httpx.Client) -> None:
    pc.post("/_sim/faults", json={"throttle_rate": 1})
    assert pc.get(SHEET).status_code == 429
    assert pc.get("/_sim/stats").json()["requests"] == {
        "GET /v1.0/sales/pricesheets(Market={market},PricesheetView={view})/$value": 1
    }
