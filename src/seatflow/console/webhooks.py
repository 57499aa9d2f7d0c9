"""The webhooks page (SPEC §17): operators' endpoints (an administrator adds, turns off or on, removes them; the
signing secret is shown once, on the page that answers the adding), and the deliveries with their state, filtered,
with a replay button for each. Deliveries to the operator's notification address are listed with them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.auth.models import OperatorRole
from seatflow.console.forms import done, notice_of, shown
from seatflow.console.web import PREFIX, Console, ConsoleDep, CsrfField, error_status, now_of, render
from seatflow.errors import SeatflowError
from seatflow.events import delivery, endpoints
from seatflow.events.delivery import DeliveryFilters
from seatflow.events.models import DeliveryStatus
from seatflow.events.types import EVENT_TYPES
from seatflow.ids import parse_id
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 100


def _filters(status: str, event: str, endpoint: str) -> dict[str, Any]:
    return {
        "status": DeliveryStatus(status) if status in DeliveryStatus.__members__.values() else None,
        "event": event if event in EVENT_TYPES else None,
        "endpoint": parse_id(endpoint),
    }


def _query(filters: dict[str, Any], **extra: str) -> str:
    pairs = {
        "status": filters["status"].value if filters["status"] else "",
        "event": filters["event"] or "",
        "endpoint": str(filters["endpoint"]) if filters["endpoint"] else "",
        **extra,
    }
    return urlencode({k: v for k, v in pairs.items() if v})


def _page(
    request: Request, console: Console, filters: dict[str, Any], status: int = 200, cursor: str = "", **extra: Any
) -> Response:
    rows, next_cursor = delivery.list_deliveries(
        console.db,
        DeliveryFilters(endpoint_id=filters["endpoint"], status=filters["status"], event_type=filters["event"]),
        cursor=cursor[:100] or None,
        limit=PER_PAGE,
    )
    found = endpoints.list_endpoints(console.db)
    page = render(
        request,
        "webhooks.html",
        status,
        console=console,
        active="webhooks",
        endpoints=found,
        names={e.id: e.url for e in found},
        deliveries=rows,
        event_types=EVENT_TYPES,
        statuses=list(DeliveryStatus),
        filters=filters,
        query=_query(filters),
        next_query=_query(filters, cursor=next_cursor) if next_cursor else None,
        notice=notice_of(request, console),
        **extra,
    )
    return shown(page, request)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request, console: ConsoleDep, status: str = "", event: str = "", endpoint: str = "", cursor: str = ""
) -> Response:
    return _page(request, console, _filters(status, event, endpoint), cursor=cursor)


@router.post("/webhooks", response_class=HTMLResponse)
async def add_endpoint(request: Request, console: ConsoleDep, csrf_token: CsrfField = None) -> Response:
    """The page again, with the new endpoint's secret shown this once (never in a redirect or a cookie)."""
    console.authorize(csrf_token, OperatorRole.ADMIN)
    form = await request.form()
    url = str(form.get("url", ""))[:2000]
    chosen = [str(v) for v in form.getlist("events")][:20]
    description = str(form.get("description", ""))[:300]
    filters = _filters("", "", "")
    try:
        with console.attempt():
            made = endpoints.add_endpoint(
                console.db, url=url, events=chosen, description=description, created_by=console.operator.email
            )
    except SeatflowError as error:
        typed = {"url": url, "events": chosen, "description": description}
        return _page(request, console, filters, error_status(error), add_error=error.message, typed=typed)
    return _page(request, console, filters, 201, created=made.endpoint, secret=made.secret)


@router.post("/webhooks/{endpoint_id}/active", response_class=HTMLResponse)
def set_active(
    endpoint_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    active: Annotated[str, Form(max_length=5)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token, OperatorRole.ADMIN)
    try:
        with console.attempt():
            endpoint = endpoints.require_endpoint(console.db, endpoint_id)
            endpoints.change_endpoint(console.db, endpoint, active=active == "true")
    except SeatflowError as error:
        return _page(request, console, _filters("", "", ""), error_status(error), error=error.message)
    notice = f"{endpoint.url} is {'on' if endpoint.active else 'off'}."
    return done(f"{PREFIX}/webhooks", request, console, settings, notice)


@router.post("/webhooks/{endpoint_id}/remove", response_class=HTMLResponse)
def remove(
    endpoint_id: str, request: Request, console: ConsoleDep, settings: SettingsDep, csrf_token: CsrfField = None
) -> Response:
    console.authorize(csrf_token, OperatorRole.ADMIN)
    try:
        with console.attempt():
            endpoint = endpoints.require_endpoint(console.db, endpoint_id)
            url = endpoint.url
            endpoints.remove_endpoint(console.db, endpoint)
    except SeatflowError as error:
        return _page(request, console, _filters("", "", ""), error_status(error), error=error.message)
    return done(f"{PREFIX}/webhooks", request, console, settings, f"Removed {url} and its deliveries.")


@router.post("/webhook-deliveries/{delivery_id}/replay", response_class=HTMLResponse)
def replay(
    delivery_id: str,
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    back: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    console.authorize(csrf_token)
    filters = _back(back)
    try:
        with console.attempt():
            found = delivery.require_delivery(console.db, delivery_id)
            delivery.replay(console.db, found, now=now_of(request))
    except SeatflowError as error:
        return _page(request, console, filters, error_status(error), error=error.message, error_for=delivery_id)
    notice = f"The {found.event_type} delivery will be sent again as soon as the worker can."
    return done(f"{PREFIX}/webhooks?{_query(filters)}", request, console, settings, notice)


def _back(value: str) -> dict[str, Any]:
    """The filters a form came from (the page's own keys only: never a URL to go anywhere else)."""
    pairs = dict(parse_qsl(value[:2000]))
    return _filters(pairs.get("status", ""), pairs.get("event", ""), pairs.get("endpoint", ""))
