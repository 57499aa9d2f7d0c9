"""A shop whose products are sold in every new-commerce combination (P1M monthly; P1Y monthly or annual; P3Y
monthly, annual or triennial), for the tests of billing on NCE terms (SPEC §2, §8)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderKind, ReductionBehavior
from seatflow.catalog.rules import NCE_PLANS
from seatflow.catalog.schemas import PlanIn
from tests.billing.support import Shop
from tests.factories import create_customer, create_product, create_provider_account

EVERY_PLAN = [PlanIn(term=term, billing_plan=plan) for term, plans in NCE_PLANS.items() for plan in plans]


def nce_shop(
    session: Session,
    *,
    products: tuple[str, ...] = ("A", "B"),
    provider: ProviderKind = ProviderKind.DO_NOTHING,
    reductions: ReductionBehavior = ReductionBehavior.ALLOWED,
    currency: str = "USD",
) -> Shop:
    """Products ``"<name> product"`` on one provider account; reductions ``allowed`` unless told otherwise (the
    reseller's rule: the refund window is a billing matter, SPEC §8)."""
    account = create_provider_account(session, kind=provider)
    customer = create_customer(session, currency=currency)
    made = {
        name: create_product(
            session,
            account=account,
            name=f"{name} product",
            reduction_behavior=reductions,
            plans=EVERY_PLAN,
            list_price=None,  # every subscription is given its unit price
        )
        for name in products
    }
    return Shop(customer, made)
