"""Quantity changes in two steps (SPEC §6, §10): the form asks for a quantity and gets a confirmation page that
states what the change costs (the new monthly cost and the difference; each bill of an upfront plan), until when
added seats can still be removed and that after that they are paid until the term ends, what can be removed today,
or the renewal day of a change at renewal. Nothing is recorded before the contact confirms.

The confirmation carries the figures it showed, signed with the session's CSRF token. On confirming, the signature
is checked, the subscription is locked and the quote made again: if its quantity, its price or the day changed
meanwhile, the new figures are shown to be confirmed again instead of changing anything. Then the change is made
through ``change_quantity``, as the API makes it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog.models import Product
from seatflow.customers.models import CustomerAccount
from seatflow.errors import SeatflowError, ValidationFailed
from seatflow.ids import parse_id
from seatflow.portal import scope, wording
from seatflow.portal.quotes import EFFECTIVE, Quote, quote_change
from seatflow.portal.subscriptions import contract_page, subscription_page
from seatflow.portal.web import PREFIX, CsrfField, Portal, PortalDep, PortalError, now_of, redirect, render
from seatflow.subscriptions.changes import change_quantity, lock
from seatflow.subscriptions.models import ScheduledChange, Subscription
from seatflow.subscriptions.rules import parse_quantity

router = APIRouter(prefix=PREFIX, include_in_schema=False)

BACK = ("contract", "subscription")
"""The page a change was asked from, and returns to."""
Field = Annotated[str, Form(max_length=100)]


def _changeable(portal: Portal, subscription_id: str) -> tuple[Subscription, Product]:
    subscription = scope.require_subscription(portal.db, portal.viewer, parse_id(subscription_id))
    if not (portal.viewer.changes_quantities and subscription.allow_end_user_modification):
        raise PortalError(403, "Not allowed", "This subscription's quantity cannot be changed in the portal.")
    product = portal.db.get(Product, subscription.product_id)
    assert product is not None  # noqa: S101 - a foreign key guarantees it
    return subscription, product


def _sign(portal: Portal, subscription_id: uuid.UUID, fields: dict[str, str]) -> str:
    body = "|".join([str(subscription_id), *(f"{key}={fields[key]}" for key in sorted(fields))])
    return hmac.new(portal.csrf.encode(), body.encode(), hashlib.sha256).hexdigest()


def _quote(
    portal: Portal, subscription: Subscription, product: Product, quantity: str, effective: str, now: datetime
) -> Quote:
    if effective not in EFFECTIVE:
        raise ValidationFailed("Choose to change it now or at renewal.", code="effective_invalid")
    asked = parse_quantity(quantity, minimum=product.min_quantity, maximum=product.max_quantity)
    return quote_change(
        portal.db,
        subscription_id=subscription.id,
        quantity=asked,
        effective=effective,
        today=now.date(),
        now=now,
        actor=portal.actor,
    )


def _refused(
    request: Request, portal: Portal, subscription: Subscription, product: Product, error: SeatflowError, **form: str
) -> Response:
    """The page the change was asked from, with why it cannot be made (and "At renewal" for a reduction)."""
    portal.db.expire_all()
    reduction = error.code.startswith("reduction")
    renewal = subscription.term_end + timedelta(days=1)
    message = (
        error.message
        if error.code == "effective_invalid"
        else wording.change_problem(error, product=product.name, renewal=renewal)
    )
    status = 409 if reduction else 422
    extra = {"error_for": subscription.id, "error": message, "offer_renewal": reduction, "asked": form["asked"][:12]}
    if form["back"] == "subscription":
        return subscription_page(request, portal, subscription, status, **extra)
    return contract_page(request, portal, subscription.contract_id, status, **extra)


def _confirmation(
    request: Request,
    portal: Portal,
    subscription: Subscription,
    product: Product,
    quote: Quote,
    back: str,
    status: int = 200,
    *,
    changed: bool = False,
) -> Response:
    contract = scope.require_contract(portal.db, portal.viewer, subscription.contract_id)
    fields = quote.fields()
    return render(
        request,
        "confirm.html",
        status,
        portal=portal,
        subscription=subscription,
        product=product,
        contract=contract,
        account=portal.db.get(CustomerAccount, contract.customer_id),
        quote=quote,
        fields=fields,
        signature=_sign(portal, subscription.id, fields),
        back=back,
        back_url=_back_url(subscription, back),
        changed=changed,
    )


def _back_url(subscription: Subscription, back: str, done: str | None = None) -> str:
    if back == "subscription":
        return f"{PREFIX}/subscriptions/{subscription.id}" + (f"?{done}=1" if done else "")
    query = f"?{done}={subscription.id}" if done else ""
    return f"{PREFIX}/contracts/{subscription.contract_id}{query}#s-{subscription.id}"


@router.post("/subscriptions/{subscription_id}/quantity", response_class=HTMLResponse)
def ask_quantity(
    subscription_id: str,
    request: Request,
    portal: PortalDep,
    quantity: Field = "",
    effective: Field = "now",
    back: Field = "contract",
    csrf_token: CsrfField = None,
) -> Response:
    """The confirmation of a change: what it costs and allows. Nothing is recorded."""
    portal.check_csrf(csrf_token)
    subscription, product = _changeable(portal, subscription_id)
    back = back if back in BACK else "contract"
    try:
        quote = _quote(portal, subscription, product, quantity, effective, now_of(request))
    except SeatflowError as error:
        return _refused(request, portal, subscription, product, error, asked=quantity, back=back)
    return _confirmation(request, portal, subscription, product, quote, back)


@router.post("/subscriptions/{subscription_id}/quantity/confirm", response_class=HTMLResponse)
def confirm_quantity(
    subscription_id: str,
    request: Request,
    portal: PortalDep,
    quantity: Field = "",
    effective: Field = "",
    before: Field = "",
    unit_price: Field = "",
    on: Field = "",
    back: Field = "contract",
    signature: Annotated[str, Form(max_length=200)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """The change, as confirmed: the same figures must still hold, or they are shown again to be confirmed."""
    portal.check_csrf(csrf_token)
    subscription, product = _changeable(portal, subscription_id)
    back = back if back in BACK else "contract"
    signed = {"quantity": quantity, "effective": effective, "before": before, "unit_price": unit_price, "on": on}
    if not hmac.compare_digest(signature, _sign(portal, subscription.id, signed)):
        raise PortalError(403, "Refused", "This confirmation was altered or has expired. Start the change again.")
    now = now_of(request)
    try:
        lock(portal.db, subscription.id)  # until the change is committed: nobody changes it between quote and change
        quote = _quote(portal, subscription, product, quantity, effective, now)
        if quote.fields() != signed:
            return _confirmation(request, portal, subscription, product, quote, back, 409, changed=True)
        with portal.db.begin_nested():
            result = change_quantity(
                portal.db,
                subscription_id=subscription.id,
                quantity=quote.after.quantity,
                effective=effective,
                today=now.date(),
                now=now,
                actor=portal.actor,
            )
    except SeatflowError as error:
        return _refused(request, portal, subscription, product, error, asked=quantity, back=back)
    done = "scheduled" if isinstance(result, ScheduledChange) else "changed"
    return redirect(_back_url(subscription, back, done))
