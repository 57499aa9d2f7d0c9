"""SPEC §18: a CSV export never hands a spreadsheet a formula, whatever a customer, contract or product is named;
numbers (a credit's -110.00) stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.billing.models import DocumentKind
from seatflow.billing.service import export_lines
from seatflow.csv_safe import safe_cell
from tests.web.invoices import FEB_28, JAN_1, invoice_and_credit

FORMULA = '=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (FORMULA, "'" + FORMULA),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("-110.00", "-110.00"),
        ("+5", "+5"),
        ("-10", "-10"),
        ("-1.5e3", "-1.5e3"),
        (-10, "-10"),
        ("Contoso = Fabrikam", "Contoso = Fabrikam"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_cell_that_would_be_a_formula_is_prefixed(value: object, written: str) -> None:
    assert safe_cell(value) == written


def test_the_invoice_export_neutralises_names_and_keeps_negative_amounts(client: TestClient, session: Session) -> None:
    invoice_and_credit(session, customer=FORMULA, contract="+SUM(1,2)", product="@Widget")

    range_ = {"date_from": str(JAN_1), "date_to": str(FEB_28)}
    response = client.get("/api/v1/invoices/export.csv", params=range_)
    # February's total is negative: a credit note (SPEC §8), in the credit notes' export.
    credits = client.get("/api/v1/credit-notes/export.csv", params=range_)

    assert response.status_code == 200, response.text
    assert credits.status_code == 200, credits.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    credit_rows = list(csv.DictReader(io.StringIO(credits.text)))
    assert [(r["customer_name"], r["contract_name"], r["product_name"]) for r in rows + credit_rows] == [
        ("'" + FORMULA, "'+SUM(1,2)", "'@Widget")
    ] * 2
    assert [(r["quantity"], r["amount"], r["invoice_total"]) for r in rows] == [("10", "310.00", "310.00")]
    # -10 x 31.00 x 11/31 = -110.00
    assert [(r["quantity"], r["amount"], r["credit_note_total"]) for r in credit_rows] == [
        ("-10", "-110.00", "-110.00")
    ]


def test_no_cell_of_the_export_starts_a_formula(session: Session) -> None:
    invoice_and_credit(session, customer="-Contoso", contract="=1+1", product="\tWidget")

    text = "".join(export_lines(session, date_from=JAN_1, date_to=FEB_28)) + "".join(
        export_lines(session, date_from=JAN_1, date_to=FEB_28, kind=DocumentKind.CREDIT_NOTE)
    )

    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "", 1).isdigit(), row
