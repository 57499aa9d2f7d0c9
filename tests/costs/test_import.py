"""Importing cost lines: all or nothing, idempotent, each charge counted once (SPEC §16; costs/models.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.costs import queries
from seatflow.costs.errors import CostAccountInvalid, CostFileInvalid
from seatflow.costs.models import CostImport, CostKind, CostLine
from seatflow.costs.reconfile import read_file
from seatflow.costs.schemas import CostImportResult
from seatflow.costs.service import import_cost_lines
from tests.costs.helpers import SUBSCRIPTION, TENANT, june_lines, line, recon_csv
from tests.factories import DemoCatalog, create_contract, create_customer, create_subscription

NOW = datetime(2021, 7, 8, 9, 0, tzinfo=UTC)
JUNE = date(2021, 6, 1)


def load(session: Session, catalog: DemoCatalog, rows: list[dict[str, str]], **options: object) -> CostImportResult:
    return import_cost_lines(
        session,
        account=catalog.partner_center,
        lines=read_file(recon_csv(rows)),
        now=NOW,
        **options,  # type: ignore[arg-type]
    )


def counts(result: CostImportResult) -> tuple[int, int, int, int, int]:
    return result.lines_read, result.inserted, result.unchanged, result.replaced, result.superseded


def in_force_total(session: Session, catalog: DemoCatalog) -> Decimal:
    lines = queries.lines_in_force(session, account_id=catalog.partner_center.id, start=JUNE, end=date(2021, 6, 30))
    return sum((line.subtotal for line in lines), Decimal(0))


def stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CostLine)) or 0


def test_the_same_billed_file_twice_changes_nothing(session: Session, catalog: DemoCatalog) -> None:
    first = load(session, catalog, june_lines("G000000001"))
    again = load(session, catalog, june_lines("G000000001"))

    assert counts(first) == (3, 3, 0, 0, 0)
    assert counts(again) == (3, 0, 3, 0, 0)
    assert (first.kind, first.invoice_number, first.currency, first.period) == ("billed", "G000000001", "USD", None)
    assert first.subtotals == {"USD": Decimal("119.61")}  # 100.80 - 94.08 + 112.89
    assert stored(session) == 3
    assert in_force_total(session, catalog) == Decimal("119.61")
    line_row = session.scalars(select(CostLine).order_by(CostLine.id)).first()
    assert line_row is not None
    assert (line_row.customer_tenant_id, line_row.subscription_id) == (TENANT.lower(), SUBSCRIPTION.lower())
    assert (line_row.billed, line_row.billing_period, line_row.product_key) == (True, JUNE, "CFQ7TTC0LFLX:0001")


def test_an_unbilled_import_replaces_the_periods_earlier_unbilled_lines(session: Session, catalog: DemoCatalog) -> None:
    first = load(session, catalog, june_lines(), period=date(2021, 6, 30), currency="USD")
    changed = june_lines()
    changed[2] = line(
        charge="addQuantity",
        start="6/20/2021",
        effective="9.408",
        quantity="13",
        subtotal="122.30",  # 13 * 9.408 = 122.304
        reference="12d33e18-061e-4040-ad77-fcd77c1a9943",
    )
    second = load(session, catalog, changed, period=JUNE, currency="USD")

    assert counts(first) == (3, 3, 0, 0, 0)
    assert (first.kind, first.period, first.currency) == ("unbilled", JUNE, "USD")
    assert counts(second) == (3, 1, 2, 1, 0)  # the 12-seat charge replaced by the 13-seat one
    assert in_force_total(session, catalog) == Decimal("129.02")  # 100.80 - 94.08 + 122.30

    back = load(session, catalog, june_lines(), period=JUNE, currency="USD")
    assert counts(back) == (3, 1, 2, 1, 0)  # the 12-seat line is in force again, the 13-seat one replaced
    assert in_force_total(session, catalog) == Decimal("119.61")
    assert stored(session) == 4


def test_an_empty_unbilled_answer_replaces_the_whole_period(session: Session, catalog: DemoCatalog) -> None:
    load(session, catalog, june_lines(), period=JUNE, currency="USD")
    july = load(session, catalog, [line(start="7/18/2021", end="8/17/2021")], period=date(2021, 7, 1), currency="USD")
    empty = load(session, catalog, [], period=JUNE, currency="USD", kind=CostKind.UNBILLED)

    assert counts(july) == (1, 1, 0, 0, 0)  # another period: June's lines stay
    assert counts(empty) == (0, 0, 0, 3, 0)
    assert in_force_total(session, catalog) == Decimal(0)


def test_billed_lines_supersede_the_unbilled_ones_once(session: Session, catalog: DemoCatalog) -> None:
    load(session, catalog, june_lines(), period=JUNE, currency="USD")
    assert in_force_total(session, catalog) == Decimal("119.61")

    billed = load(session, catalog, june_lines("G000000001"))

    assert counts(billed) == (3, 3, 0, 0, 3)
    assert in_force_total(session, catalog) == Decimal("119.61")  # not 239.22: each charge once
    unbilled = session.scalars(select(CostLine).where(CostLine.billed.is_(False)).order_by(CostLine.id)).all()
    billed_ids = set(session.scalars(select(CostLine.id).where(CostLine.billed.is_(True))))
    assert all(u.superseded_by_import_id == uuid_of(billed) for u in unbilled)
    assert {u.superseded_by_line_id for u in unbilled} == billed_ids

    stale = load(session, catalog, june_lines(), period=JUNE, currency="USD")  # an old answer again
    assert counts(stale) == (3, 0, 3, 0, 0)
    assert in_force_total(session, catalog) == Decimal("119.61")


def test_an_unbilled_line_arriving_after_its_billed_line_is_stored_superseded(
    session: Session, catalog: DemoCatalog
) -> None:
    load(session, catalog, june_lines("G000000001"))
    late = june_lines()
    late[0]["OrderDate"] = "6/19/2021"  # another line key, the same charge

    stale = load(session, catalog, late[:1], period=JUNE, currency="USD")

    assert counts(stale) == (1, 1, 0, 0, 1)
    assert in_force_total(session, catalog) == Decimal("119.61")


def test_two_identical_charges_stay_two_and_are_superseded_one_to_one(session: Session, catalog: DemoCatalog) -> None:
    load(session, catalog, [line(), line()], period=JUNE, currency="USD")
    billed = load(session, catalog, [line(invoice="G000000001")])

    assert counts(billed) == (1, 1, 0, 0, 1)
    assert in_force_total(session, catalog) == Decimal("201.60")  # one billed, one still unbilled: 2 * 100.80


def test_totals_per_customer_subscription_product_and_period(session: Session, catalog: DemoCatalog) -> None:
    other = "0A1B2C3D-0000-4000-8000-000000000E55"
    load(session, catalog, [*june_lines("G000000001"), line(invoice="G000000001", subscription=other)])
    customer = create_customer(session, tenant_id=TENANT)
    subscription = create_subscription(
        session, contract=create_contract(session, customer=customer), product=catalog.e3, quantity=12
    )
    subscription.external_id = SUBSCRIPTION  # the provider's spelling, upper case
    session.flush()

    totals = queries.cost_totals(session, account_id=catalog.partner_center.id, start=JUNE, end=date(2021, 6, 30))

    assert [(t.subscription_id, t.product_key, t.billing_period, t.currency, t.subtotal, t.lines) for t in totals] == [
        (other.lower(), "CFQ7TTC0LFLX:0001", JUNE, "USD", Decimal("100.80"), 1),
        (SUBSCRIPTION.lower(), "CFQ7TTC0LFLX:0001", JUNE, "USD", Decimal("119.61"), 3),
    ]
    assert queries.seatflow_subscriptions(session, catalog.partner_center.id, [SUBSCRIPTION, other]) == {
        SUBSCRIPTION.lower(): subscription.id
    }
    mine = queries.lines_in_force(
        session,
        account_id=catalog.partner_center.id,
        start=JUNE,
        end=JUNE,
        customer_tenant_id=TENANT,
        subscription_id=other.upper(),
    )
    assert [line.subtotal for line in mine] == [Decimal("100.80")]


@pytest.mark.parametrize(
    ("rows", "options", "line_number", "column"),
    [
        ([line(), line(Currency="EUR")], {}, 3, "Currency"),  # the account's products are in USD
        ([line(invoice="G000000001"), line()], {}, 3, "InvoiceNumber"),  # a billed file with an unbilled line
        ([line(), line(invoice="G000000001")], {}, 3, "InvoiceNumber"),  # and the other way round
        ([line(invoice="G000000002")], {"invoice_number": "G000000001"}, 2, "InvoiceNumber"),
        ([line(currency="USD")], {"currency": "EUR", "kind": CostKind.UNBILLED}, 2, "Currency"),
    ],
)
def test_bad_input_imports_nothing(
    session: Session,
    catalog: DemoCatalog,
    rows: list[dict[str, str]],
    options: dict[str, object],
    line_number: int,
    column: str,
) -> None:
    with pytest.raises(CostFileInvalid) as caught:
        load(session, catalog, rows, **options)

    assert (caught.value.extra["line"], caught.value.extra["column"]) == (line_number, column)
    assert stored(session) == 0
    assert session.scalar(select(func.count()).select_from(CostImport)) == 0


def test_only_a_partner_center_account_takes_costs(session: Session, catalog: DemoCatalog) -> None:
    with pytest.raises(CostAccountInvalid):
        import_cost_lines(session, account=catalog.manual, lines=read_file(recon_csv([line()])), now=NOW)


def uuid_of(result: CostImportResult) -> uuid.UUID:
    return uuid.UUID(result.import_id)
