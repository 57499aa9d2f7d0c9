"""An invoice and a credit for the document tests: ten seats from 1 January, cancelled on the 21st with refunds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice
from seatflow.billing.runs import run_billing
from seatflow.catalog.models import ProviderKind, ReductionBehavior
from seatflow.subscriptions.lifecycle import cancel
from tests.factories import (
    OPERATOR,
    create_contract,
    create_customer,
    create_product,
    create_provider_account,
    create_subscription,
    noon,
)

JAN_1, JAN_21, FEB_1, FEB_28 = date(2027, 1, 1), date(2027, 1, 21), date(2027, 2, 1), date(2027, 2, 28)


def invoice_and_credit(
    session: Session, *, customer: str = "Contoso", contract: str = "Contoso", product: str = "Widget"
) -> list[Invoice]:
    """January's invoice (10 x 31.00) and February's credit note, which credits Jan 21-31 (-10 x 31.00 x 11/31 =
    -110.00: a cycle whose total is negative is a credit note)."""
    account = create_provider_account(session, kind=ProviderKind.DO_NOTHING)
    owner = create_customer(session, name=customer)
    made = create_product(session, account=account, name=product, reduction_behavior=ReductionBehavior.ALLOWED)
    terms = create_contract(session, customer=owner, name=contract, start_date=JAN_1, process_refunds=True)
    seats = create_subscription(
        session, contract=terms, product=made, quantity=10, start_date=JAN_1, today=JAN_1, unit_price=Decimal("31.00")
    )
    run_billing(session, run_date=JAN_1, now=noon(JAN_1), requested_by="tests")
    cancel(session, subscription=seats, cascade=False, today=JAN_21, now=noon(JAN_21), actor=OPERATOR)
    run_billing(session, run_date=FEB_1, now=noon(FEB_1), requested_by="tests")
    session.flush()
    return list(session.scalars(select(Invoice).order_by(Invoice.period_start)))
