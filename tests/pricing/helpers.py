"""Price sheets for the tests, in Microsoft's columns (developer/get-a-price-sheet.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

COLUMNS = (
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
)

# Microsoft's page, "Response example for new commerce", as printed: its header's last name closes with a
# typographic quote, and the one row is Advanced Communications, P1Y billed Annual at 115.2 (ERP 144).
PAGE_EXAMPLE = (
    '"ProductTitle","ProductId","SkuId","SkuTitle","Publisher","SkuDescription","UnitOfMeasure","TermDuration",'
    '"BillingPlan","Market","Currency","UnitPrice","PricingTierRangeMin","PricingTierRangeMax",'
    '"EffectiveStartDate","EffectiveEndDate","Tags","ERP Price\u201c\n'
    '"Advanced Communications","CFQ7TTC0HDK0","0001","Advanced Communications","Microsoft Corporation",'
    '"Advanced meetings, calling, workflow integration, and management tools for IT.","","P1Y","Annual","US",'
    '"USD","115.2","","","2/1/2019 12:00:00 AM","2/4/2021 8:35:31 PM","License","144"\n'
)

# Demo catalog keys (src/seatflow/catalog/demo_catalog.yaml).
E3 = ("CFQ7TTC0LFLX", "0001", "Microsoft 365 E3")
E5 = ("CFQ7TTC0LF8S", "0002", "Office 365 E5")
UNKNOWN = ("CFQ7TTC0ZZZZ", "0009", "A SKU seatflow does not sell")


def row(
    sku: tuple[str, str, str] = E3,
    *,
    term: str = "P1Y",
    plan: str = "Annual",
    price: str = "432",
    erp: str = "540",
    start: str = "12/1/2026 12:00:00 AM",
    end: str = "12/31/2026 11:59:59 PM",
    market: str = "US",
    currency: str = "USD",
    **overrides: str,
) -> dict[str, str]:
    product_id, sku_id, title = sku
    values = {
        "ProductTitle": title,
        "ProductId": product_id,
        "SkuId": sku_id,
        "SkuTitle": title,
        "Publisher": "Microsoft Corporation",
        "SkuDescription": f"{title}, with a comma",
        "UnitOfMeasure": "",
        "TermDuration": term,
        "BillingPlan": plan,
        "Market": market,
        "Currency": currency,
        "UnitPrice": price,
        "PricingTierRangeMin": "",
        "PricingTierRangeMax": "",
        "EffectiveStartDate": start,
        "EffectiveEndDate": end,
        "Tags": "License",
        "ERP Price": erp,
    }
    values.update(overrides)
    return values


def sheet(rows: Iterable[Mapping[str, str]], columns: Iterable[str] = COLUMNS) -> bytes:
    """Quoted as Microsoft writes it, CRLF line ends."""
    out = io.StringIO()
    names = list(columns)
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(names)
    for values in rows:
        writer.writerow([values.get(name, "") for name in names])
    return out.getvalue().encode("utf-8")


def december_list(*, e3_annual: str = "432") -> bytes:
    """December 2026: E3 in three combinations and E5, one unknown SKU.

    E3 P1Y Annual 432 a year = 432 / 12 = 36.00 a month (ERP 540 / 12 = 45.00); P1Y Monthly 37.80 a month
    (36.00 * 1.05); P1M Monthly 43.20 (36.00 * 1.20); E5 P1Y Annual 684 = 57.00 a month."""
    return sheet(
        [
            row(E3, price=e3_annual),
            row(E3, plan="Monthly", price="37.8", erp="47.25"),
            row(E3, term="P1M", plan="Monthly", price="43.2", erp="54"),
            row(E5, price="684", erp="855"),
            row(UNKNOWN, price="120", erp="150"),
        ]
    )


def january_list() -> bytes:
    """January 2027, published ahead: E3 P1Y Annual up to 459.36 a year = 38.28 a month (ERP 574.20 / 12 =
    47.85)."""
    return sheet(
        [
            row(E3, price="459.36", erp="574.2", start="1/1/2027 12:00:00 AM", end="1/31/2027 11:59:59 PM"),
        ]
    )
