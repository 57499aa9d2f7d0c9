"""Every subscription, searchable by customer, contract or product, filtered by status, account and start date,
the newest first, with a CSV of all rows of the filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.console import listing
from seatflow.console.forms import optional_day
from seatflow.console.web import ConsoleDep, FormProblem, plain, render
from seatflow.ids import parse_id
from seatflow.subscriptions.models import SubscriptionStatus

router = APIRouter(include_in_schema=False)
PER_PAGE = 100


def _filters(
    q: str, status: str, customer: str, contract: str, started_from: str, started_to: str
) -> tuple[listing.SubscriptionFilters, str | None]:
    """The filters of the query string (unknown values dropped) and a message for a date that is not one."""
    problem = None
    try:
        start, end = optional_day(started_from, label="the first day"), optional_day(started_to, label="the last day")
    except FormProblem as error:
        start, end, problem = None, None, error.message
    chosen = SubscriptionStatus(status) if status in SubscriptionStatus.__members__.values() else None
    filters = listing.SubscriptionFilters(
        search=plain(q).strip()[:200],
        status=chosen,
        customer=parse_id(customer),
        contract=parse_id(contract),
        started_from=start,
        started_to=end,
    )
    return filters, problem


def _query(filters: listing.SubscriptionFilters) -> str:
    pairs: dict[str, Any] = {
        "q": filters.search,
        "status": filters.status.value if filters.status else "",
        "customer": filters.customer or "",
        "contract": filters.contract or "",
        "started_from": filters.started_from or "",
        "started_to": filters.started_to or "",
    }
    return urlencode({key: str(value) for key, value in pairs.items() if value})


@router.get("/subscriptions", response_class=HTMLResponse)
def subscriptions_page(
    request: Request,
    console: ConsoleDep,
    q: str = "",
    status: str = "",
    customer: str = "",
    contract: str = "",
    started_from: str = "",
    started_to: str = "",
    before: str = "",
) -> Response:
    filters, problem = _filters(q, status, customer, contract, started_from, started_to)
    rows, next_before = listing.subscriptions(console.db, filters, before=parse_id(before), limit=PER_PAGE)
    return render(
        request,
        "subscriptions.html",
        422 if problem else 200,
        console=console,
        active="subscriptions",
        rows=rows,
        filters=filters,
        query=_query(filters),
        statuses=[s.value for s in SubscriptionStatus],
        next_before=next_before,
        error=problem,
    )


@router.get("/subscriptions.csv")
def subscriptions_csv(
    console: ConsoleDep,
    q: str = "",
    status: str = "",
    customer: str = "",
    contract: str = "",
    started_from: str = "",
    started_to: str = "",
) -> Response:
    filters, _ = _filters(q, status, customer, contract, started_from, started_to)
    rows = (listing.subscription_row(row) for row in listing.all_subscriptions(console.db, filters))
    return listing.csv_response("subscriptions.csv", listing.SUBSCRIPTION_HEADER, rows)
