"""The renewal desk (SPEC §10 "renewals in the next 30/60/90 days", "cancel or don't renew"): what renews soon and
what its next term will be, with the actions at renewal (don't renew, renew again, another quantity, SKU, term or
billing plan, an add-on co-termed with its base, clear), each through the same services as the API, and a CSV.

What an action did is shown once on the page it redirects to, from a short-lived cookie signed with the session's
secret, as the queue does (never from the query string, which any link can write)."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import BillingPlan, Product, ProductKind, Term
from seatflow.catalog.rules import is_sellable, plan_text
from seatflow.config import Settings
from seatflow.console import queries
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    CsrfField,
    FormProblem,
    clean_text,
    error_status,
    now_of,
    redirect,
    render,
    require_id,
    secure,
)
from seatflow.csv_safe import safe_row
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.subscriptions import at_renewal, desk, lifecycle
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.changes import lock
from seatflow.subscriptions.desk import Renewal
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.rules import parse_quantity
from seatflow.subscriptions.schemas import SubscriptionUpdate
from seatflow.subscriptions.terms import offered
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 200
MAX_CUSTOMERS = 1000
FLASH_COOKIE = "seatflow_console_renewal_done"
FLASH_SECONDS = 60
DONE = ("dont_renew", "renew", "scheduled", "cleared")


@dataclass(frozen=True)
class Filters:
    days: int = 30
    customer: uuid.UUID | None = None
    below: bool = False

    @property
    def query(self) -> str:
        pairs = [("days", str(self.days))]
        if self.customer is not None:
            pairs.append(("customer", str(self.customer)))
            if self.below:
                pairs.append(("below", "1"))
        return urlencode(pairs)


def _filters(days: str, customer: str, below: str) -> Filters:
    """From the query string, anything unknown dropped: a day count of 1 to 366 (30 otherwise), a customer id."""
    count = int(days) if days.isdigit() and len(days) <= 3 else 30
    return Filters(count if 1 <= count <= desk.MAX_DAYS else 30, parse_id(customer), below == "1")


def _back(value: str) -> Filters:
    """The filters a form came from (only the page's own keys: never a URL to redirect anywhere else)."""
    pairs = dict(parse_qsl(value[:500]))
    return _filters(pairs.get("days", ""), pairs.get("customer", ""), pairs.get("below", ""))


def _page_url(filters: Filters) -> str:
    return f"{PREFIX}/renewals?{filters.query}"


# --- the flash of what an action did -------------------------------------------------------------------------------


def _sign(console: Console, body: str) -> str:
    return hmac.new(console.csrf.encode(), body.encode(), hashlib.sha256).hexdigest()


def _done(request: Request, console: Console, settings: Settings, filters: Filters, what: dict[str, str]) -> Response:
    response = redirect(_page_url(filters))
    body = base64.urlsafe_b64encode(json.dumps(what, separators=(",", ":")).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE,
        f"{body}.{_sign(console, body)}",
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        path=f"{PREFIX}/renewals",
    )
    return response


def _flash(request: Request, console: Console) -> dict[str, Any]:
    body, _, signature = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not body or not hmac.compare_digest(signature, _sign(console, body)):
        return {}
    try:
        found = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return {}
    if not isinstance(found, dict) or found.get("done") not in DONE:
        return {}
    subscription_id = parse_id(str(found.get("subscription", "")))
    if subscription_id is None:
        return {}
    subscription = subscriptions_repository.get(console.db, subscription_id)
    if subscription is None:
        return {}
    return {"done": found["done"], "renewal": desk.renewal_of(console.db, subscription)}


# --- the page ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What a row's forms offer: the SKUs it may renew on, the term and plan combinations of its next product."""

    products: list[Product]
    plans: list[tuple[Term, BillingPlan]]
    linked_parent: bool


def _choices(session: Session, rows: list[Renewal]) -> dict[uuid.UUID, Choices]:
    sellable: dict[tuple[uuid.UUID, ProductKind], list[Product]] = defaultdict(list)
    if rows:
        for product in catalog_repository.all_products(session):
            if is_sellable(product.status, product.kind, len(product.parents)):
                sellable[(product.provider_account_id, product.kind)].append(product)
    parents = queries.linked_children_by_parent(session, [r.subscription.id for r in rows])
    found = {}
    for row in rows:
        after = row.next_term.product if row.next_term else row.product
        same = sellable[(row.product.provider_account_id, row.product.kind)]
        found[row.subscription.id] = Choices(
            products=sorted((p for p in same if p.id != after.id), key=lambda p: p.name),
            plans=offered(after.kind, after.plans),
            linked_parent=bool(parents.get(row.subscription.id)),
        )
    return found


def _page(request: Request, console: Console, filters: Filters, status: int = 200, **extra: Any) -> HTMLResponse:
    today = now_of(request).date()
    rows, more = desk.upcoming_renewals(
        console.db,
        today=today,
        days=filters.days,
        customer_id=filters.customer,
        include_descendants=filters.below,
        limit=PER_PAGE,
    )
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:  # per currency: the monthly amounts now and after the renewals listed
        now_total, after_total = totals.get(row.subscription.currency, (Decimal(0), Decimal(0)))
        totals[row.subscription.currency] = (now_total + row.monthly_amount, after_total + row.monthly_amount_after)
    flash = _flash(request, console) if request.method == "GET" else {}
    page = render(
        request,
        "renewals.html",
        status,
        console=console,
        active="renewals",
        rows=rows,
        more=more is not None,
        choices=_choices(console.db, rows),
        filters=filters,
        windows=desk.WINDOWS,
        today=today,
        until=today + timedelta(days=filters.days),
        customers=queries.customers(console.db, search=None, limit=MAX_CUSTOMERS),
        totals=totals,
        plan_text=plan_text,
        flash=flash,
        error_in_row=extra.get("error_for") in {str(r.subscription.id) for r in rows},
        **extra,
    )
    if FLASH_COOKIE in request.cookies:
        page.delete_cookie(FLASH_COOKIE, path=f"{PREFIX}/renewals")
    return page


@router.get("/renewals", response_class=HTMLResponse)
def renewals_page(
    request: Request, console: ConsoleDep, days: str = "30", customer: str = "", below: str = ""
) -> Response:
    return _page(request, console, _filters(days, customer, below))


@router.get("/renewals.csv")
def renewals_csv(
    request: Request, console: ConsoleDep, days: str = "30", customer: str = "", below: str = ""
) -> Response:
    """Every row of the page's filters (all pages), as ``seatflow renewals upcoming --csv`` writes them."""
    filters = _filters(days, customer, below)
    today = now_of(request).date()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(desk.CSV_HEADER)
    cursor = None
    while True:
        rows, cursor = desk.upcoming_renewals(
            console.db,
            today=today,
            days=filters.days,
            customer_id=filters.customer,
            include_descendants=filters.below,
            cursor=cursor,
            limit=500,
        )
        writer.writerows(safe_row(desk.csv_row(r)) for r in rows)
        if cursor is None:
            break
    name = f"renewals-{filters.days}-days-{today}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- actions -------------------------------------------------------------------------------------------------------

BackField = Annotated[str, Form(max_length=500)]
Text = Annotated[str, Form(max_length=2000)]


def _act(
    request: Request,
    console: Console,
    settings: Settings,
    subscription_id: str,
    back: str,
    done: str,
    action: Callable[[Subscription], None],
) -> Response:
    """Run ``action(subscription)`` in a savepoint; the page again with the message when it is refused."""
    filters = _back(back)
    try:
        with console.attempt():
            subscription = lock(console.db, require_id(subscription_id, "subscription"))
            action(subscription)
    except FormProblem as problem:
        return _page(request, console, filters, 422, error=problem.message, error_for=subscription_id)
    except SeatflowError as error:
        return _page(request, console, filters, error_status(error), error=error.message, error_for=subscription_id)
    return _done(request, console, settings, filters, {"done": done, "subscription": subscription_id})


def _auto_renew(request: Request, console: Console, settings: Settings, ref: str, back: str, on: bool) -> Response:
    def action(subscription: Subscription) -> None:
        now = now_of(request)
        lifecycle.update_subscription(
            console.db,
            subscription=subscription,
            data=SubscriptionUpdate(auto_renew=on),
            today=now.date(),
            now=now,
            actor=console.actor,
        )

    return _act(request, console, settings, ref, back, "renew" if on else "dont_renew", action)


@router.post("/renewals/{subscription_id}/dont-renew", response_class=HTMLResponse)
def dont_renew(
    subscription_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)
    return _auto_renew(request, console, settings, subscription_id, back, False)


@router.post("/renewals/{subscription_id}/renew", response_class=HTMLResponse)
def renew_again(
    subscription_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)
    return _auto_renew(request, console, settings, subscription_id, back, True)


def _plan(value: str) -> tuple[Term | None, BillingPlan | None]:
    """``P1Y:annual`` from the form's select; empty keeps what is scheduled."""
    if not value:
        return None, None
    term, _, plan = value.partition(":")
    if term not in Term.__members__.values() or plan not in BillingPlan.__members__.values():
        raise FormProblem("Choose a term and billing plan from the list.")
    return Term(term), BillingPlan(plan)


@router.post("/renewals/{subscription_id}/change", response_class=HTMLResponse)
def change_at_renewal(
    subscription_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    quantity: Annotated[str, Form(max_length=20)] = "",
    product: Annotated[str, Form(max_length=100)] = "",
    plan: Annotated[str, Form(max_length=30)] = "",
    co_term_with: Annotated[str, Form(max_length=100)] = "",
    force: Annotated[str, Form(max_length=10)] = "",
    reason: Text = "",
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)

    def action(subscription: Subscription) -> None:
        term, billing_plan = _plan(plan)
        text = clean_text(reason, field="The reason")
        now = now_of(request)
        at_renewal.schedule_at_renewal(
            console.db,
            subscription_id=subscription.id,
            quantity=parse_quantity(quantity.strip()) if quantity.strip() else None,
            product_id=clean_text(product, field="The product") or None,
            term=term,
            billing_plan=billing_plan,
            co_term_subscription_id=clean_text(co_term_with, field="The subscription to co-term with") or None,
            force=force == "1",
            reason=text or None,
            actor=console.actor,
            now=now,
            today=now.date(),
        )

    return _act(request, console, settings, subscription_id, back, "scheduled", action)


@router.post("/renewals/{subscription_id}/clear", response_class=HTMLResponse)
def clear(
    subscription_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    back: BackField = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)

    def action(subscription: Subscription) -> None:
        at_renewal.clear_at_renewal(
            console.db, subscription_id=subscription.id, actor=console.actor, now=now_of(request)
        )

    return _act(request, console, settings, subscription_id, back, "cleared", action)
