"""Reading Microsoft's reconciliation file and the API's line items (pure; modern-invoice-reconciliation-file.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from seatflow.costs.errors import CostFileInvalid
from seatflow.costs.reconfile import line_keys, read_file, read_items
from tests.costs.helpers import COLUMNS, PAGE_SAMPLE, SUBSCRIPTION, TENANT, june_lines, line, recon_csv
from tests.partner_center.helpers import documented


def test_the_pages_sample_row_reads_with_every_column() -> None:
    (row,) = read_file(recon_csv([PAGE_SAMPLE]))

    assert (row.line, row.invoice_number, row.customer_tenant_id) == (
        2,
        "G002297372",
        "196e2273-9651-43a3-ba7e-7cbcd918fc40",
    )
    assert (row.product_key, row.availability_id, row.charge_type) == ("DZH318Z0BNZ5:006G", "DZH318Z08B80", "New")
    assert (row.order_date, row.charge_start, row.charge_end) == (
        date(2020, 10, 3),
        date(2020, 9, 1),
        date(2020, 9, 30),
    )
    assert (row.unit_price, row.effective_unit_price) == (Decimal("0.045"), Decimal("0.03825"))
    assert (row.quantity, row.billable_quantity) == (1, Decimal("0.005001"))
    assert (row.subtotal, row.tax_total, row.total, row.currency) == (
        Decimal("0.01"),
        Decimal(0),
        Decimal("0.045"),  # the page's sample Total, as printed
        "EUR",
    )
    assert row.billing_frequency == "Monthly"
    assert row.reference_id == "025d68a6-1bd6-42ab-9636-15e8d776a30e"
    assert row.month == date(2020, 10, 1)  # the order date's billing period


def test_the_seat_example_reads_with_a_byte_order_mark_lower_cased_ids_and_negative_prices() -> None:
    rows = read_file(b"\xef\xbb\xbf" + recon_csv(june_lines("G000000001")))

    assert [(r.charge_type, r.effective_unit_price, r.billable_quantity, r.subtotal) for r in rows] == [
        ("new", Decimal("10.08"), Decimal(10), Decimal("100.8")),
        ("addQuantity", Decimal("-9.408"), Decimal(10), Decimal("-94.08")),
        ("addQuantity", Decimal("9.408"), Decimal(12), Decimal("112.89")),
    ]
    assert {(r.customer_tenant_id, r.subscription_id) for r in rows} == {(TENANT.lower(), SUBSCRIPTION.lower())}
    assert rows[0].product_key == "CFQ7TTC0LFLX:0001"


def test_camel_case_columns_in_any_order_and_totalForCustomer_are_read() -> None:
    renamed = {name: name[0].lower() + name[1:] for name in COLUMNS} | {"Total": "totalForCustomer"}
    values = {renamed[k]: v for k, v in line(Total="101.00", TaxTotal="0.20").items()}
    (row,) = read_file(recon_csv([values], reversed([renamed[c] for c in COLUMNS])))

    assert (row.subtotal, row.tax_total, row.total) == (Decimal("100.8"), Decimal("0.2"), Decimal("101"))


def test_blank_optional_columns_take_their_defaults() -> None:
    only = ("CustomerId", "SubscriptionId", "ProductId", "SkuId", "ChargeType", "ChargeStartDate", "ChargeEndDate")
    required = (*only, "Quantity", "UnitPrice", "EffectiveUnitPrice", "Subtotal", "Currency")
    (row,) = read_file(recon_csv([line(Subtotal="100.80")], required))

    assert (row.invoice_number, row.order_date, row.billable_quantity) == ("", None, Decimal(10))
    assert (row.tax_total, row.total) == (Decimal(0), Decimal("100.80"))  # Total = Subtotal + TaxTotal
    assert row.month == date(2021, 6, 1)  # no order date: the charge start's month


def test_more_than_six_decimals_are_rounded_half_up() -> None:
    (row,) = read_file(recon_csv([line(EffectiveUnitPrice="11.2258064516")]))  # 12 / 31 * 29

    assert row.effective_unit_price == Decimal("11.225806")


def test_line_keys_are_stable_and_keep_identical_lines_apart() -> None:
    rows = read_file(recon_csv([line(), line(), line(Quantity="11")]))
    again = read_file(recon_csv([line(Subtotal="100.800000"), line(), line(Quantity="11")]))

    keys = line_keys(rows)
    assert len(set(keys)) == 3  # two identical charges stay two
    assert line_keys(again) == keys  # 100.8 and 100.800000 are one amount


@pytest.mark.parametrize(
    ("rows", "columns", "line_number", "column"),
    [
        ([line()], [c for c in COLUMNS if c != "EffectiveUnitPrice"], 1, "EffectiveUnitPrice"),
        ([line()], [c for c in COLUMNS if c != "SubscriptionId"], 1, "SubscriptionId"),
        ([line(), line(ChargeStartDate="13/45/2021")], COLUMNS, 3, "ChargeStartDate"),
        ([line(), line(ChargeEndDate="6/1/2021")], COLUMNS, 3, "ChargeEndDate"),  # before its start
        ([line(), line(Subtotal="12,50")], COLUMNS, 3, "Subtotal"),
        ([line(), line(UnitPrice="ten")], COLUMNS, 3, "UnitPrice"),
        ([line(), line(Quantity="1.5")], COLUMNS, 3, "Quantity"),
        ([line(), line(Currency="US Dollar")], COLUMNS, 3, "Currency"),
        ([line(), line(SubscriptionId="")], COLUMNS, 3, "SubscriptionId"),
        ([line(), line(ProductId="CFQ7/TTC0")], COLUMNS, 3, "ProductId"),
        ([line(), line(EffectiveUnitPrice="NaN")], COLUMNS, 3, "EffectiveUnitPrice"),
    ],
)
def test_bad_input_names_the_line_and_column(
    rows: list[dict[str, str]], columns: list[str], line_number: int, column: str
) -> None:
    with pytest.raises(CostFileInvalid) as caught:
        read_file(recon_csv(rows, columns))

    assert caught.value.code == "cost_file_invalid"
    assert (caught.value.extra["line"], caught.value.extra["column"]) == (line_number, column)
    assert caught.value.message.startswith(f"line {line_number}, column {column}: ")


def test_a_short_row_an_empty_file_and_bad_bytes_are_refused() -> None:
    short = recon_csv([line()]) + b'"x","y"\r\n'
    with pytest.raises(CostFileInvalid, match=r"^line 3, column CustomerName: the row has 2 fields"):
        read_file(short)
    with pytest.raises(CostFileInvalid, match=r"^line 1: the file is empty"):
        read_file(b"  \r\n")
    with pytest.raises(CostFileInvalid, match=r"^line 2: the file is not UTF-8"):
        read_file(recon_csv([line()]).replace(b"Pine Cone", b"Pine \xff"))


def test_the_documented_api_items_read_as_the_files_rows() -> None:
    """get-invoiceline-items.md example 4: amounts as strings and as numbers, an ``org:`` customer, a decimal
    billable quantity, a charge date with a -08:00 offset."""
    phone, power_bi, waf, e3 = read_items(documented("client_invoice_lineitems")["items"])

    assert (phone.line, phone.charge_type, phone.unit_price, phone.quantity) == (1, "new", Decimal(0), 25)
    assert (power_bi.unit_price, power_bi.effective_unit_price, power_bi.subtotal) == (
        Decimal(16),
        Decimal("14.4"),
        Decimal(720),  # 50 * 14.4
    )
    assert (power_bi.tax_total, power_bi.total, power_bi.order_date) == (Decimal(73), Decimal(793), date(2021, 5, 20))
    assert (waf.billable_quantity, waf.charge_start, waf.charge_end) == (
        Decimal("3.1618"),
        date(2019, 2, 4),  # 09:22 at -08:00 is 17:22 UTC, the same day
        date(2019, 3, 3),
    )
    assert (e3.customer_tenant_id, e3.tax_total, e3.total) == (
        "9060d13d-c5ed-482e-b059-a15a38cbb28e",
        Decimal("1.61"),
        Decimal("17.61"),
    )


def test_an_item_without_a_required_field_is_refused() -> None:
    items = documented("client_invoice_lineitems")["items"]
    del items[1]["chargeType"]

    with pytest.raises(CostFileInvalid, match=r"^line 2, column ChargeType: the item has no ChargeType"):
        read_items(items)
