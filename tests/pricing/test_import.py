"""Importing price sheets into a provider account (SPEC §15): idempotent, all or nothing, lists ahead."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog.models import BillingPlan, Term
from seatflow.pricing import service
from seatflow.pricing.errors import PriceSheetAccountInvalid, PriceSheetInvalid
from seatflow.pricing.models import PriceSheetEntry, PriceSheetImport
from tests.factories import FACTORY_TODAY, DemoCatalog, noon
from tests.pricing.helpers import E5, PAGE_EXAMPLE, december_list, january_list, row, sheet

NOW = noon(FACTORY_TODAY)  # 2026-12-01 12:00 UTC


def entries(session: Session) -> list[tuple[object, ...]]:
    query = select(
        PriceSheetEntry.product_key,
        PriceSheetEntry.term,
        PriceSheetEntry.billing_plan,
        PriceSheetEntry.effective_start,
        PriceSheetEntry.unit_price,
        PriceSheetEntry.erp_price,
        PriceSheetEntry.cost_per_month,
        PriceSheetEntry.effective_end,
        PriceSheetEntry.import_id,
    ).order_by(PriceSheetEntry.product_key, PriceSheetEntry.term, PriceSheetEntry.billing_plan)
    return [tuple(r) for r in session.execute(query)]


def test_a_sheet_imports_then_reimports_unchanged(session: Session, catalog: DemoCatalog) -> None:
    first = service.import_price_sheet(
        session, account=catalog.partner_center, content=december_list(), now=NOW, name="december.csv"
    )

    assert (first.rows_read, first.inserted, first.updated, first.unchanged) == (5, 5, 0, 0)
    assert (first.market, first.currency) == ("US", "USD")
    assert first.matched_products == 2  # E3 and E5
    assert (first.unmatched_rows, first.unmatched_keys) == (1, ["CFQ7TTC0ZZZZ:0009"])
    assert first.effective_starts == [date(2026, 12, 1)]
    before = entries(session)
    assert len(before) == 5  # the unknown SKU's row is kept too

    again = service.import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)

    assert (again.rows_read, again.inserted, again.updated, again.unchanged) == (5, 0, 0, 5)
    assert again.changes == []
    assert entries(session) == before  # the same rows, still from the first import
    assert session.scalar(select(func.count()).select_from(PriceSheetImport)) == 2


def test_a_new_price_for_the_same_key_and_start_replaces_it_and_says_so(session: Session, catalog: DemoCatalog) -> None:
    service.import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)

    corrected = service.import_price_sheet(
        session, account=catalog.partner_center, content=december_list(e3_annual="420"), now=NOW
    )

    assert (corrected.inserted, corrected.updated, corrected.unchanged) == (0, 1, 4)
    (change,) = corrected.changes
    assert (change.line, change.product_key, change.term, change.billing_plan) == (
        2,
        "CFQ7TTC0LFLX:0001",
        Term.P1Y,
        BillingPlan.ANNUAL,
    )
    assert (change.cost_before, change.cost_after) == (Decimal("432"), Decimal("420"))
    prices = service.unit_prices(
        session,
        product=catalog.e3,
        term=Term.P1Y,
        billing_plan=BillingPlan.ANNUAL,
        market="US",
        currency="USD",
        on=date(2026, 12, 15),
    )
    assert prices is not None
    assert prices.cost_per_month == Decimal("35")  # 420 / 12
    assert str(prices.entry.import_id) == corrected.import_id


def test_a_future_list_is_imported_ahead_and_takes_over_on_its_start(session: Session, catalog: DemoCatalog) -> None:
    service.import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)

    ahead = service.import_price_sheet(session, account=catalog.partner_center, content=january_list(), now=NOW)

    assert (ahead.inserted, ahead.future_rows) == (1, 1)
    assert len(entries(session)) == 6  # beside December's five

    def e3_annual(on: date) -> tuple[Decimal, Decimal | None]:
        found = service.unit_prices(
            session,
            product=catalog.e3,
            term=Term.P1Y,
            billing_plan=BillingPlan.ANNUAL,
            market="US",
            currency="USD",
            on=on,
        )
        assert found is not None
        return found.cost_per_month, found.erp_per_month

    assert e3_annual(FACTORY_TODAY) == (Decimal("36"), Decimal("45"))  # 432 / 12, 540 / 12
    assert e3_annual(date(2026, 12, 31)) == (Decimal("36"), Decimal("45"))
    assert e3_annual(date(2027, 1, 1)) == (Decimal("38.28"), Decimal("47.85"))  # 459.36 / 12, 574.20 / 12
    monthly = service.unit_prices(
        session,
        product=catalog.e3,
        term=Term.P1Y,
        billing_plan=BillingPlan.MONTHLY,
        market="US",
        currency="USD",
        on=date(2026, 12, 20),
    )
    assert monthly is not None
    assert monthly.cost_per_month == Decimal("37.8")  # billed monthly: the row's price is one month's
    assert (
        service.unit_prices(
            session,
            product=catalog.e3,
            term=Term.P1Y,
            billing_plan=BillingPlan.MONTHLY,
            market="US",
            currency="USD",
            on=date(2027, 1, 1),  # December's list ended; January's has no P1Y monthly row
        )
        is None
    )
    in_force = service.entries_in_force(session, product=catalog.e3, on=date(2027, 1, 15))
    assert [(e.term, e.billing_plan, e.unit_price) for e in in_force] == [
        (Term.P1Y, BillingPlan.ANNUAL, Decimal("459.36"))
    ]


def test_an_open_ended_current_list_gives_way_to_the_later_start(session: Session, catalog: DemoCatalog) -> None:
    """A list without an end date and a later list: the latest start on or before the day is in force."""
    content = sheet(
        [
            row(E5, price="684", erp="855", end=""),
            row(E5, price="720", erp="900", start="2/1/2027 12:00:00 AM", end=""),
        ]
    )
    service.import_price_sheet(session, account=catalog.partner_center, content=content, now=NOW)

    (january,) = service.entries_in_force(session, product=catalog.e5, on=date(2027, 1, 31))
    (february,) = service.entries_in_force(session, product=catalog.e5, on=date(2027, 2, 1))

    assert (january.cost_per_month, february.cost_per_month) == (Decimal("57"), Decimal("60"))  # 684/12, 720/12


def test_the_pages_example_imports_with_its_sku_listed_as_unknown(session: Session, catalog: DemoCatalog) -> None:
    result = service.import_price_sheet(session, account=catalog.partner_center, content=PAGE_EXAMPLE.encode(), now=NOW)

    assert (result.inserted, result.unmatched_keys, result.matched_products) == (1, ["CFQ7TTC0HDK0:0001"], 0)


BAD = {
    "missing column": sheet([row()], [c for c in row() if c != "ERP Price"]),
    "bad date": sheet([row(), row(E5, start="2026-13-01")]),
    "negative price": sheet([row(), row(E5, price="-684")]),
    "non-numeric price": sheet([row(), row(E5, erp="eight hundred")]),
    "unknown term": sheet([row(), row(E5, term="P5Y")]),
    "unknown plan": sheet([row(), row(E5, plan="OneTime")]),
    "another currency": sheet([row(), row(E5, currency="EUR")]),
    "a currency not the account's": sheet([row(currency="EUR"), row(E5, currency="EUR")]),
    "another market": sheet([row(), row(E5, market="GB")]),
    "a row twice": sheet([row(), row(E5), row(E5, price="1")]),
}
WHERE = {
    "missing column": (1, "ERP Price"),
    "bad date": (3, "EffectiveStartDate"),
    "negative price": (3, "UnitPrice"),
    "non-numeric price": (3, "ERP Price"),
    "unknown term": (3, "TermDuration"),
    "unknown plan": (3, "BillingPlan"),
    "another currency": (3, "Currency"),
    "a currency not the account's": (2, "Currency"),
    "another market": (3, "Market"),
    "a row twice": (4, "EffectiveStartDate"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_line_and_column_and_imports_nothing(session: Session, catalog: DemoCatalog, case: str) -> None:
    service.import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)
    before = entries(session)
    imports = session.scalar(select(func.count()).select_from(PriceSheetImport))

    with pytest.raises(PriceSheetInvalid) as caught:
        service.import_price_sheet(session, account=catalog.partner_center, content=BAD[case], now=NOW)

    assert (caught.value.extra["line"], caught.value.extra["column"]) == WHERE[case]
    assert caught.value.code == "price_sheet_invalid"
    assert entries(session) == before
    assert session.scalar(select(func.count()).select_from(PriceSheetImport)) == imports


def test_the_account_currency_setting_decides(session: Session, catalog: DemoCatalog) -> None:
    catalog.partner_center.settings = {**catalog.partner_center.settings, "currency": "EUR", "country": "DE"}
    session.flush()
    euro = sheet([row(market="DE", currency="EUR")])

    result = service.import_price_sheet(session, account=catalog.partner_center, content=euro, now=NOW)

    assert (result.market, result.currency, result.inserted) == ("DE", "EUR", 1)
    with pytest.raises(PriceSheetInvalid, match="USD is not the currency of Partner Center"):
        service.import_price_sheet(session, account=catalog.partner_center, content=sheet([row(market="DE")]), now=NOW)


def test_only_partner_center_accounts_take_price_sheets(session: Session, catalog: DemoCatalog) -> None:
    with pytest.raises(PriceSheetAccountInvalid):
        service.import_price_sheet(session, account=catalog.manual, content=december_list(), now=NOW)
    assert service.resolve_account(session, None).id == catalog.partner_center.id
