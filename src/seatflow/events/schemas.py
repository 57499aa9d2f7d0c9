from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from seatflow.events.models import Channel, DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from seatflow.schemas import IdStr, OneLine

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), OneLine]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), OneLine]
EventName = Annotated[str, StringConstraints(max_length=64), OneLine]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    events: Annotated[list[EventName], Field(min_length=1, max_length=20)]
    description: Description = ""


class EndpointChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    events: Annotated[list[EventName], Field(min_length=1, max_length=20)] | None = None
    description: Description | None = None
    active: bool | None = None


class EndpointRead(BaseModel):
    id: IdStr
    url: str
    description: str
    events: list[str]
    active: bool
    disabled_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> EndpointRead:
        return cls.model_validate(endpoint, from_attributes=True)


class EndpointCreated(EndpointRead):
    secret: str
    """The signing secret (``whsec_…``): shown this once."""


class EventRead(BaseModel):
    id: IdStr
    type: str
    subject_id: str
    occurred_at: datetime
    data: dict[str, Any]
    created_at: datetime
    dispatched_at: datetime | None

    @classmethod
    def from_model(cls, event: OutboxEvent) -> EventRead:
        return cls.model_validate(event, from_attributes=True)


class DeliveryRead(BaseModel):
    id: IdStr
    event_id: IdStr
    event: str
    subject_id: str
    channel: Channel
    endpoint_id: IdStr | None
    recipient: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, delivery: WebhookDelivery, event: OutboxEvent) -> DeliveryRead:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event=delivery.event_type,
            subject_id=event.subject_id,
            channel=delivery.channel,
            endpoint_id=delivery.endpoint_id,
            recipient=delivery.recipient,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )
