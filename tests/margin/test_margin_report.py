"""The margin report (SPEC §16): Microsoft's cost beside seatflow's invoices, per customer to the cent, and the
leaks with the lines that prove them.

December 2026. Microsoft 365 E3, one-year term billed monthly, costs 37.80 a seat a month (the December price
list); a 20 % markup prices it at 37.80 x 1.20 = 45.36. Every contract bills monthly in advance from 2026-12-01.
Microsoft's lines are written as its reconciliation file writes them (tests/costs/helpers.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from seatflow.costs.reconfile import read_file
from seatflow.costs.service import import_cost_lines
from seatflow.margin.service import GroupBy, LeakKind, MarginRangeInvalid, margin_report
from seatflow.pricing.models import RuleKind
from seatflow.pricing.rules import NewRule, add_rule
from seatflow.pricing.service import import_price_sheet
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.repricing import override_price
from tests.billing.support import bill
from tests.costs.helpers import line, recon_csv
from tests.factories import OPERATOR, DemoCatalog, create_contract, create_customer, create_subscription, noon
from tests.pricing.helpers import december_list

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
DEC_1, DEC_31 = date(2026, 12, 1), date(2026, 12, 31)


def bought(session: Session, catalog: DemoCatalog, name: str, seats: int, **fields: object) -> Subscription:
    customer = create_customer(session, name=name, tenant_id=f"{name.split()[0].lower()}.onmicrosoft.com")
    contract = create_contract(session, customer=customer, name=f"{name} main", start_date=DEC_1)
    subscription = create_subscription(session, contract=contract, product=catalog.e3, quantity=seats, **fields)
    subscription.external_id = f"{name.split()[0].upper()}-0000-4000-8000-0000000000E3"  # Microsoft's spelling
    return subscription


def charge(subscription_id: str, tenant: str, seats: int, subtotal: str, **fields: str) -> dict[str, str]:
    """Microsoft's December cycle charge for the subscription: seats x 37.80."""
    return line(
        charge=fields.pop("charge", "cycleCharge"),
        start="12/1/2026",
        end="12/31/2026",
        unit_price="37.8",
        effective="37.8",
        quantity=str(seats),
        subtotal=subtotal,
        invoice="G000001226",
        subscription=subscription_id,
        CustomerId=tenant,
        CustomerName=tenant.split(".")[0].title(),
        reference=f"ref-{subscription_id[:6]}-{seats}",
        **fields,
    )


@pytest.fixture
def december(session: Session, catalog: DemoCatalog) -> dict[str, Subscription]:
    import_price_sheet(session, account=catalog.partner_center, content=december_list(), now=NOW)
    add_rule(session, NewRule(kind=RuleKind.MARKUP, percent=Decimal(20)), now=NOW, actor="test")
    subs = {
        "alder": bought(session, catalog, "Alder Clinic", 10),
        "birch": bought(session, catalog, "Birch Dental", 20),  # Microsoft has 25 (raised in Partner Center)
        "cedar": bought(session, catalog, "Cedar Vet", 10),  # overridden below cost
        "dogwood": bought(session, catalog, "Dogwood Pharmacy", 5, billable=False),  # never billed
        "elm": bought(session, catalog, "Elm Physio", 3),
    }
    override_price(
        session,
        subscription_id=subs["cedar"].id,
        unit_price=Decimal("30.00"),
        reason="Matching a competitor for the first year",
        allow_below_cost=True,
        allow_above_erp=False,
        effective=DEC_1,
        today=DEC_1,
        now=noon(DEC_1),
        actor=OPERATOR,
    )
    bill(session, DEC_1)
    lines = [
        charge(subs["alder"].external_id or "", "alder.onmicrosoft.com", 10, "378"),  # 10 x 37.80 = 378.00
        charge(subs["birch"].external_id or "", "birch.onmicrosoft.com", 25, "945"),  # 25 x 37.80 = 945.00
        charge(subs["cedar"].external_id or "", "cedar.onmicrosoft.com", 10, "378"),  # 10 x 37.80 = 378.00
        charge(subs["dogwood"].external_id or "", "dogwood.onmicrosoft.com", 5, "189"),  # 5 x 37.80 = 189.00
        charge(subs["elm"].external_id or "", "elm.onmicrosoft.com", 3, "113.4"),  # 3 x 37.80 = 113.40
        # Bought in Partner Center by hand for Elm: seatflow has never heard of it. 2 x 37.80 = 75.60
        charge("9e9e9e9e-0000-4000-8000-00000000beef", "elm.onmicrosoft.com", 2, "75.6", charge="new"),
    ]
    import_cost_lines(session, account=catalog.partner_center, lines=read_file(recon_csv(lines)), now=NOW)
    return subs


def test_the_margin_per_customer_to_the_cent(session: Session, december: dict[str, Subscription]) -> None:
    report = margin_report(session, start=DEC_1, end=DEC_31, group_by=GroupBy.CUSTOMER)

    rows = {r.name: (r.revenue, r.cost, r.margin, r.margin_percent) for r in report.rows}
    assert rows == {
        # 10 x 45.36 = 453.60 against 378.00: 75.60, 75.60 / 453.60 = 16.67 %
        "Alder Clinic": (Decimal("453.60"), Decimal("378.00"), Decimal("75.60"), Decimal("16.67")),
        # 20 x 45.36 = 907.20 against 945.00: -37.80, -4.17 %
        "Birch Dental": (Decimal("907.20"), Decimal("945.00"), Decimal("-37.80"), Decimal("-4.17")),
        # 10 x 30.00 = 300.00 against 378.00: -78.00, -26.00 %
        "Cedar Vet": (Decimal("300.00"), Decimal("378.00"), Decimal("-78.00"), Decimal("-26.00")),
        # not billable: nothing invoiced against 189.00
        "Dogwood Pharmacy": (Decimal("0"), Decimal("189.00"), Decimal("-189.00"), None),
        # 3 x 45.36 = 136.08 against 113.40: 22.68, 16.67 %
        "Elm Physio": (Decimal("136.08"), Decimal("113.40"), Decimal("22.68"), Decimal("16.67")),
        "Not in seatflow": (Decimal("0"), Decimal("75.60"), Decimal("-75.60"), None),
    }
    [usd] = report.totals
    # revenue 453.60 + 907.20 + 300.00 + 136.08 = 1,796.88; cost 378 + 945 + 378 + 189 + 113.40 + 75.60 = 2,079.00
    assert (usd.revenue, usd.cost, usd.margin) == (Decimal("1796.88"), Decimal("2079.00"), Decimal("-282.12"))
    assert usd.margin_percent == Decimal("-15.70")  # -282.12 / 1,796.88 = -15.700...


def test_the_four_leaks_each_with_its_lines(session: Session, december: dict[str, Subscription]) -> None:
    report = margin_report(session, start=DEC_1, end=DEC_31)

    found = {(leak.kind, leak.customer_name or leak.provider_subscription_id): leak for leak in report.leaks}
    assert set(found) == {
        (LeakKind.UNKNOWN_SUBSCRIPTION, "Elm"),
        (LeakKind.COST_WITHOUT_REVENUE, "Dogwood Pharmacy"),
        (LeakKind.FEWER_SEATS_BILLED, "Birch Dental"),
        (LeakKind.NEGATIVE_MARGIN, "Cedar Vet"),
    }
    oob = found[(LeakKind.UNKNOWN_SUBSCRIPTION, "Elm")]
    assert (oob.amount, oob.provider_subscription_id) == (Decimal("75.60"), "9e9e9e9e-0000-4000-8000-00000000beef")
    assert [(c.charge_type, c.quantity, c.subtotal) for c in oob.cost_lines] == [("new", 2, Decimal("75.6"))]

    unbilled = found[(LeakKind.COST_WITHOUT_REVENUE, "Dogwood Pharmacy")]
    assert unbilled.amount == Decimal("189.00")
    assert [c.subtotal for c in unbilled.cost_lines] == [Decimal("189")]
    assert unbilled.invoice_lines == []

    short = found[(LeakKind.FEWER_SEATS_BILLED, "Birch Dental")]
    assert (short.day, short.seats_paid, short.seats_billed) == (DEC_1, 25, 20)
    assert short.amount == Decimal("226.80")  # 5 seats short x 45.36 = 226.80 a month
    assert [c.quantity for c in short.cost_lines] == [25]
    assert [(i.quantity, i.amount) for i in short.invoice_lines] == [(20, Decimal("907.2000"))]

    loss = found[(LeakKind.NEGATIVE_MARGIN, "Cedar Vet")]
    assert loss.amount == Decimal("78.00")  # 378.00 - 300.00
    assert [(i.quantity, i.amount) for i in loss.invoice_lines] == [(10, Decimal("300.0000"))]
    assert [c.subtotal for c in loss.cost_lines] == [Decimal("378")]


def test_rows_by_product_and_by_subscription_add_up_to_the_same_totals(
    session: Session, december: dict[str, Subscription]
) -> None:
    by_customer = margin_report(session, start=DEC_1, end=DEC_31, group_by=GroupBy.CUSTOMER)
    for group_by in (GroupBy.PRODUCT, GroupBy.SUBSCRIPTION, GroupBy.CONTRACT):
        report = margin_report(session, start=DEC_1, end=DEC_31, group_by=group_by)
        assert sum(r.margin for r in report.rows) == Decimal("-282.12")
        assert [(t.revenue, t.cost) for t in report.totals] == [(t.revenue, t.cost) for t in by_customer.totals]
    by_product = margin_report(session, start=DEC_1, end=DEC_31, group_by=GroupBy.PRODUCT)
    e3 = next(r for r in by_product.rows if r.name == "Microsoft 365 E3")
    assert (e3.revenue, e3.cost) == (Decimal("1796.88"), Decimal("2003.40"))  # 2,079.00 - 75.60 not in seatflow


def test_billed_but_not_bought_and_a_range_outside_the_lines(
    session: Session, december: dict[str, Subscription], catalog: DemoCatalog
) -> None:
    extra = bought(session, catalog, "Fir Optics", 4)  # billed by seatflow, never charged by Microsoft
    bill(session, DEC_1)
    report = margin_report(session, start=DEC_1, end=DEC_31)
    [leak] = [leak for leak in report.leaks if leak.kind is LeakKind.REVENUE_WITHOUT_COST]
    assert (leak.customer_name, leak.amount) == ("Fir Optics", Decimal("181.44"))  # 4 x 45.36 = 181.44
    assert [i.subscription_id for i in leak.invoice_lines] == [extra.id]

    november = margin_report(session, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert (november.rows, november.leaks, november.totals) == ([], [], [])


def test_a_bad_range_is_refused(session: Session) -> None:
    with pytest.raises(MarginRangeInvalid, match="before it starts"):
        margin_report(session, start=DEC_31, end=DEC_1)
    with pytest.raises(MarginRangeInvalid, match="at most"):
        margin_report(session, start=date(2020, 1, 1), end=DEC_31)
