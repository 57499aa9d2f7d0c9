"""Webhooks (SPEC §13, §17): operators' endpoints, the deliveries and their replay, and the outbox of events."""

from __future__ import annotations

from fastapi import APIRouter, Response

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.events import delivery, endpoints
from seatflow.events.delivery import DeliveryFilters
from seatflow.events.models import Channel, DeliveryStatus
from seatflow.events.outbox import list_events
from seatflow.events.schemas import (
    DeliveryRead,
    EndpointChange,
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EventRead,
)
from seatflow.events.types import EVENT_TYPES
from seatflow.schemas import Page
from seatflow.web.deps import ActorDep, NowDep, SessionDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["webhooks"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.get("/webhooks/event-types", response_model=dict[str, str])
def event_types() -> dict[str, str]:
    """The events an endpoint can choose, each with what it means."""
    return EVENT_TYPES


@router.post("/webhooks", response_model=EndpointCreated, status_code=201)
def add_endpoint(body: EndpointCreate, session: SessionDep, actor: ActorDep) -> EndpointCreated:
    """Register a receiver. The answer holds the signing ``secret`` (``whsec_…``): it is never shown again.
    422 ``invalid_webhook_url``, ``unknown_event_type``."""
    made = endpoints.add_endpoint(
        session, url=body.url, events=body.events, description=body.description, created_by=actor.name
    )
    return EndpointCreated(**EndpointRead.from_model(made.endpoint).model_dump(), secret=made.secret)


@router.get("/webhooks", response_model=Page[EndpointRead])
def list_endpoints(session: SessionDep) -> Page[EndpointRead]:
    return Page(items=[EndpointRead.from_model(e) for e in endpoints.list_endpoints(session)], next_cursor=None)


@router.get("/webhooks/{endpoint_id}", response_model=EndpointRead)
def get_endpoint(endpoint_id: str, session: SessionDep) -> EndpointRead:
    return EndpointRead.from_model(endpoints.require_endpoint(session, endpoint_id))


@router.patch("/webhooks/{endpoint_id}", response_model=EndpointRead)
def change_endpoint(endpoint_id: str, body: EndpointChange, session: SessionDep) -> EndpointRead:
    """Change the URL, the events or the description, or turn it off (``active: false``) and on again."""
    endpoint = endpoints.require_endpoint(session, endpoint_id)
    return EndpointRead.from_model(
        endpoints.change_endpoint(
            session, endpoint, url=body.url, events=body.events, description=body.description, active=body.active
        )
    )


@router.delete("/webhooks/{endpoint_id}", status_code=204)
def remove_endpoint(endpoint_id: str, session: SessionDep) -> Response:
    """The endpoint and its deliveries go."""
    endpoints.remove_endpoint(session, endpoints.require_endpoint(session, endpoint_id))
    return Response(status_code=204)


def _deliveries(session: SessionDep, filters: DeliveryFilters, cursor: str | None, limit: int) -> Page[DeliveryRead]:
    rows, next_cursor = delivery.list_deliveries(session, filters, cursor=cursor, limit=limit)
    return Page(items=[DeliveryRead.from_model(d, e) for d, e in rows], next_cursor=next_cursor)


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=Page[DeliveryRead])
def endpoint_deliveries(
    endpoint_id: str,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    event: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[DeliveryRead]:
    """The endpoint's deliveries, newest first."""
    endpoint = endpoints.require_endpoint(session, endpoint_id)
    return _deliveries(
        session, DeliveryFilters(endpoint_id=endpoint.id, status=status, event_type=event), cursor, limit
    )


@router.get("/webhook-deliveries", response_model=Page[DeliveryRead])
def list_deliveries(
    session: SessionDep,
    status: DeliveryStatus | None = None,
    event: str | None = None,
    endpoint_id: str | None = None,
    channel: Channel | None = None,
    subject_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[DeliveryRead]:
    """Every delivery (webhooks and the operator's mail), newest first; ``subject_id`` is what the event is about
    (a license change's, an invoice's id)."""
    filters = DeliveryFilters(
        endpoint_id=filter_id("endpoint_id", endpoint_id),
        status=status,
        event_type=event,
        channel=channel,
        subject_id=subject_id,
    )
    return _deliveries(session, filters, cursor, limit)


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryRead)
def get_delivery(delivery_id: str, session: SessionDep) -> DeliveryRead:
    found = delivery.require_delivery(session, delivery_id)
    return DeliveryRead.from_model(found, delivery.event_of(session, found))


@router.post("/webhook-deliveries/{delivery_id}/replay", response_model=DeliveryRead)
def replay(delivery_id: str, session: SessionDep, now: NowDep) -> DeliveryRead:
    """Send it again (whatever its status) as soon as the worker can, with every attempt again; the receiver gets
    the same ``webhook-id``. 409 ``webhook_endpoint_inactive`` when its endpoint is off."""
    found = delivery.replay(session, delivery.require_delivery(session, delivery_id), now=now)
    return DeliveryRead.from_model(found, delivery.event_of(session, found))


@router.get("/events", response_model=Page[EventRead])
def events(
    session: SessionDep,
    type: str | None = None,
    subject_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[EventRead]:
    """The outbox, newest first: every event, whether or not an endpoint chose it."""
    rows, next_cursor = list_events(session, event_type=type, subject_id=subject_id, cursor=cursor, limit=limit)
    return Page(items=[EventRead.from_model(e) for e in rows], next_cursor=next_cursor)
