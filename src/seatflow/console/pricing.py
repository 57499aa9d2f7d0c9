"""The pricing page (SPEC §15): the price rules in force, most specific first, and the renewal price notices (the
subscriptions renewing in the next 30, 60 or 90 days whose price or cost changes at renewal). Rules are made with
``seatflow prices rules`` or the API; this page shows what they do."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from seatflow.catalog.models import Product
from seatflow.console.web import PREFIX, ConsoleDep, now_of, render
from seatflow.customers.models import CustomerAccount
from seatflow.pricing.models import PriceRule
from seatflow.subscriptions import repricing

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WINDOWS = (30, 60, 90)


@router.get("/pricing", response_class=HTMLResponse)
def pricing_page(request: Request, console: ConsoleDep, days: str = "30") -> Response:
    window = int(days) if days.isdigit() and int(days) in WINDOWS else WINDOWS[0]
    session = console.db
    rules = sorted(
        session.scalars(select(PriceRule).where(PriceRule.retired_at.is_(None)).order_by(PriceRule.created_at.desc())),
        key=lambda r: -r.scope.rank,
    )
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_({r.product_id for r in rules})))}
    customers = {
        c.id: c
        for c in session.scalars(select(CustomerAccount).where(CustomerAccount.id.in_({r.customer_id for r in rules})))
    }
    today = now_of(request).date()
    notices = repricing.renewal_notices(session, today=today, days=window)
    return render(
        request,
        "pricing.html",
        console=console,
        active="pricing",
        rules=rules,
        products=products,
        customers=customers,
        notices=notices,
        windows=WINDOWS,
        days=window,
        today=today,
        percent=_percent,
    )


def _percent(value: Decimal | None) -> str:
    return format(value.normalize(), "f") if value is not None else ""
