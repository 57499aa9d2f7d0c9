"""Small builders and readers for the billing tests: a shop (customer, products that accept reductions), contracts,
subscriptions and changes on given days, runs, and invoices read back as plain tuples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from seatflow.billing.models import CreditReason, DocumentKind, Invoice, InvoiceLine, InvoiceStatus, LineKind
from seatflow.billing.runs import RunSummary, run_billing
from seatflow.catalog.models import Product, ProviderKind, ReductionBehavior
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.lifecycle import cancel
from seatflow.subscriptions.models import LicenseChange, Subscription
from tests.factories import (
    OPERATOR,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    noon,
)

RECURRING, PRORATION = LineKind.RECURRING, LineKind.PRORATION


@dataclass(frozen=True)
class Shop:
    customer: CustomerAccount
    products: dict[str, Product]
    """By name; names sort the way lines are ordered on an invoice (by product name)."""


def open_shop(session: Session, *, currency: str = "USD", products: tuple[str, ...] = ("A", "B", "C")) -> Shop:
    """A customer and do-nothing products whose reductions are always allowed (SPEC §6 never gets in the way)."""
    account = create_provider_account(session, kind=ProviderKind.DO_NOTHING)
    customer = create_customer(session, currency=currency)
    made = {
        name: create_product(
            session, account=account, name=f"{name} product", reduction_behavior=ReductionBehavior.ALLOWED
        )
        for name in products
    }
    return Shop(customer, made)


def contract(session: Session, shop: Shop, *, start_date: date, **fields: Any) -> BillingContract:
    return create_contract(session, customer=shop.customer, start_date=start_date, **fields)


def subscribe(
    session: Session,
    shop: Shop,
    on: BillingContract,
    *,
    product: str = "A",
    quantity: int,
    price: str,
    start: date,
    today: date | None = None,
    **fields: Any,
) -> Subscription:
    """Created on ``today`` (default: its start), starting on ``start``."""
    return create_subscription(
        session,
        contract=on,
        product=shop.products[product],
        quantity=quantity,
        start_date=start,
        today=today or start,
        unit_price=Decimal(price),
        **fields,
    )


def set_quantity(session: Session, subscription: Subscription, quantity: int, on: date) -> LicenseChange:
    """A change made on ``on`` and effective that day."""
    change = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective="now",
        today=on,
        now=noon(on),
        actor=OPERATOR,
    )
    assert isinstance(change, LicenseChange)
    return change


def cancel_on(session: Session, subscription: Subscription, on: date) -> LicenseChange:
    (change,) = cancel(session, subscription=subscription, cascade=False, today=on, now=noon(on), actor=OPERATOR)
    return change


def bill(session: Session, day: date, *, dry_run: bool = False) -> RunSummary:
    summary = run_billing(session, run_date=day, now=noon(day), requested_by="tests", dry_run=dry_run)
    session.flush()
    return summary


def invoices(session: Session, on: BillingContract | None = None, *, issued_only: bool = True) -> list[Invoice]:
    """The documents that bill a period (invoices, and credit notes of negative cycles; not a void's credit note),
    oldest cycle first, then oldest number."""
    stmt = (
        select(Invoice)
        .where(or_(Invoice.credit_reason.is_(None), Invoice.credit_reason != CreditReason.VOID))
        .order_by(Invoice.period_start, Invoice.number)
    )
    if on is not None:
        stmt = stmt.where(Invoice.contract_id == on.id)
    if issued_only:
        stmt = stmt.where(Invoice.status == InvoiceStatus.ISSUED)
    return list(session.scalars(stmt))


def lines(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    stmt = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
    return list(session.scalars(stmt))


LineRow = tuple[LineKind, date, date, int, Decimal, Decimal]
"""(kind, period start, period end, quantity, unit price, amount)."""


def line_rows(session: Session, invoice: Invoice) -> list[LineRow]:
    return [
        (line.kind, line.period_start, line.period_end, line.quantity, line.unit_price, line.amount)
        for line in lines(session, invoice)
    ]


def numbers(session: Session) -> list[str]:
    """Invoice numbers (credit notes have a sequence of their own)."""
    return sorted(session.scalars(select(Invoice.number).where(Invoice.kind == DocumentKind.INVOICE)))


def credit_notes(session: Session, on: BillingContract | None = None) -> list[Invoice]:
    """Credit notes, by number."""
    stmt = select(Invoice).where(Invoice.kind == DocumentKind.CREDIT_NOTE).order_by(Invoice.number)
    if on is not None:
        stmt = stmt.where(Invoice.contract_id == on.id)
    return list(session.scalars(stmt))


def expected_numbers(count: int) -> list[str]:
    return [f"INV-{n:06d}" for n in range(1, count + 1)]
