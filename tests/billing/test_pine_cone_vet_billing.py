"""Seed 003's billing: each location billed for its own licenses, the parent contract never (SPEC §8)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice, InvoiceLine, LineKind
from seatflow.billing.runs import run_billing
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import BillingStatus, LicenseChange
from tests.factories import OPERATOR, load_demo_catalog, noon
from tests.subscriptions.helpers import pine_cone_vet

DEC_1, DEC_16, JAN_1 = date(2026, 12, 1), date(2026, 12, 16), date(2027, 1, 1)


def bill(session: Session, day: date) -> dict[str, Invoice]:
    run_billing(session, run_date=day, now=noon(day), requested_by="tests")
    session.flush()
    invoices = session.scalars(select(Invoice).where(Invoice.issue_date == day)).all()
    return {invoice.bill_to["contract"]: invoice for invoice in invoices}


def lines_of(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    return list(
        session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position))
    )


def test_each_location_gets_its_invoice_and_the_parent_contract_none(session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))

    invoices = bill(session, DEC_1)

    subtotals = {name: invoice.subtotal for name, invoice in invoices.items()}
    assert subtotals == {
        "Pine Cone Vet - Atlanta": Decimal("413.00"),
        "Pine Cone Vet - New York City": Decimal("1006.00"),
        "Pine Cone Vet - Memphis": Decimal("593.00"),
    }
    new_york = invoices["Pine Cone Vet - New York City"]
    assert (new_york.period_start, new_york.period_end) == (DEC_1, date(2026, 12, 31))
    assert [(line.quantity, line.unit_price, line.amount) for line in lines_of(session, new_york)] == [
        (10, Decimal("10.60"), Decimal("106.00")),
        (25, Decimal("36.00"), Decimal("900.00")),
    ]


def test_new_york_adding_ten_mid_december_is_prorated_on_the_january_invoice(session: Session) -> None:
    vet = pine_cone_vet(session, load_demo_catalog(session))
    bill(session, DEC_1)
    added = change_quantity(
        session,
        subscription_id=vet.locations["New York City"].e3.id,
        quantity=35,
        effective=DEC_16,
        today=DEC_1,
        now=noon(DEC_1),
        actor=OPERATOR,
    )
    from seatflow.subscriptions.renewals import run_renewals

    run_renewals(session, today=DEC_16, now=noon(DEC_16))  # the scheduled change applies on its date

    january = bill(session, JAN_1)["Pine Cone Vet - New York City"]

    lines = [(line.kind, line.quantity, line.unit_price, line.amount) for line in lines_of(session, january)]
    assert lines == [
        (LineKind.RECURRING, 10, Decimal("10.60"), Decimal("106.00")),
        (LineKind.RECURRING, 35, Decimal("36.00"), Decimal("1260.00")),
        (LineKind.PRORATION, 10, Decimal("36.00"), Decimal("185.81")),
    ]
    assert january.subtotal == Decimal("1551.81")
    assert (january.period_start, january.period_end) == (JAN_1, date(2027, 1, 31))
    child_change = session.scalars(
        select(LicenseChange).where(
            LicenseChange.subscription_id == vet.locations["New York City"].e3.id, LicenseChange.quantity_after == 35
        )
    ).one()
    assert child_change.billing_status is BillingStatus.INVOICED
    assert child_change.invoice_id == january.id
    del added


def test_a_rerun_for_the_same_date_creates_nothing(session: Session) -> None:
    pine_cone_vet(session, load_demo_catalog(session))
    first = run_billing(session, run_date=DEC_1, now=noon(DEC_1), requested_by="tests")
    again = run_billing(session, run_date=DEC_1, now=noon(DEC_1), requested_by="tests")
    assert (first.invoices_created, again.invoices_created) == (3, 0)
    numbers = sorted(session.scalars(select(Invoice.number)))
    assert numbers == ["INV-000001", "INV-000002", "INV-000003"]
