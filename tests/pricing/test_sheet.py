"""Reading Microsoft's price sheet rows (pure; no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from seatflow.catalog.models import BillingPlan, Term
from seatflow.pricing.errors import PriceSheetInvalid
from seatflow.pricing.sheet import parse_date, per_month, read_sheet
from tests.pricing.helpers import PAGE_EXAMPLE, row, sheet


def test_the_pages_example_row_as_printed() -> None:
    (only,) = read_sheet(PAGE_EXAMPLE.encode())

    assert only.line == 2
    assert only.product_key == "CFQ7TTC0HDK0:0001"
    assert (only.term, only.billing_plan) == (Term.P1Y, BillingPlan.ANNUAL)
    assert (only.market, only.currency) == ("US", "USD")
    assert (only.unit_price, only.erp_price) == (Decimal("115.2"), Decimal("144"))
    assert only.cost_per_month == Decimal("9.6")  # 115.2 / 12 months
    assert only.erp_per_month == Decimal("12")  # 144 / 12 months
    assert (only.effective_start, only.effective_end) == (date(2019, 2, 1), date(2021, 2, 4))
    assert (only.tier_min, only.tier_max) == (0, None)
    assert only.sku_title == "Advanced Communications"


def test_a_byte_order_mark_iso_dates_and_columns_in_another_order() -> None:
    columns = ("ERP Price", "UnitPrice", "EffectiveEndDate", "EffectiveStartDate", "Currency", "Market",
               "BillingPlan", "TermDuration", "SkuId", "ProductId")  # fmt: skip
    content = b"\xef\xbb\xbf" + sheet([row(start="2026-12-01", end="2026-12-31T23:59:59Z")], columns)

    (only,) = read_sheet(content)

    assert (only.effective_start, only.effective_end) == (date(2026, 12, 1), date(2026, 12, 31))
    assert only.cost_per_month == Decimal("36")  # 432 / 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2/1/2019 12:00:00 AM", date(2019, 2, 1)),
        ("2/4/2021 8:35:31 PM", date(2021, 2, 4)),
        ("12/31/2026 11:59:59 PM", date(2026, 12, 31)),
        ("1/1/2027", date(2027, 1, 1)),
        ("2027-01-01", date(2027, 1, 1)),
        ("2026-12-31T23:30:00-01:00", date(2027, 1, 1)),  # 00:30 UTC on the 1st
        ("2/30/2027 12:00:00 AM", None),
        ("13/1/2027", None),
        ("1/1/2027 13:00:00 PM", None),
        ("first of January", None),
    ],
)
def test_dates(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_per_month_by_billing_plan() -> None:
    assert per_month(Decimal("1296"), BillingPlan.TRIENNIAL) == Decimal("36")  # 1296 / 36
    assert per_month(Decimal("100"), BillingPlan.TRIENNIAL) == Decimal("2.7778")  # 2.77777… half up to 4 places
    assert per_month(Decimal("37.8"), BillingPlan.MONTHLY) == Decimal("37.8")


@pytest.mark.parametrize(
    ("changes", "line", "column"),
    [
        ({"UnitPrice": "-1"}, 3, "UnitPrice"),
        ({"UnitPrice": "12,50"}, 3, "UnitPrice"),
        ({"ERP Price": "NaN"}, 3, "ERP Price"),
        ({"UnitPrice": ""}, 3, "UnitPrice"),
        ({"TermDuration": "P2Y"}, 3, "TermDuration"),
        ({"BillingPlan": "Quarterly"}, 3, "BillingPlan"),
        ({"TermDuration": "P1M", "BillingPlan": "Annual"}, 3, "BillingPlan"),
        ({"EffectiveStartDate": "31/12/2026"}, 3, "EffectiveStartDate"),
        ({"EffectiveEndDate": "11/30/2026"}, 3, "EffectiveEndDate"),
        ({"ProductId": ""}, 3, "ProductId"),
        ({"Currency": "US$"}, 3, "Currency"),
        ({"PricingTierRangeMin": "1.5"}, 3, "PricingTierRangeMin"),
    ],
)
def test_a_bad_cell_names_its_line_and_column(changes: dict[str, str], line: int, column: str) -> None:
    content = sheet([row(), row(**changes)])

    with pytest.raises(PriceSheetInvalid) as caught:
        list(read_sheet(content))

    assert (caught.value.extra["line"], caught.value.extra["column"]) == (line, column)
    assert caught.value.message.startswith(f"line {line}, column {column}: ")


def test_a_missing_column_is_named_on_the_header_line() -> None:
    columns = [c for c in row() if c != "EffectiveStartDate"]

    with pytest.raises(PriceSheetInvalid) as caught:
        list(read_sheet(sheet([row()], columns)))

    assert (caught.value.extra["line"], caught.value.extra["column"]) == (1, "EffectiveStartDate")


def test_not_utf8_names_its_line() -> None:
    content = sheet([row()]) + b'"\xff"\r\n'

    with pytest.raises(PriceSheetInvalid) as caught:
        list(read_sheet(content))

    assert caught.value.extra["line"] == 3
