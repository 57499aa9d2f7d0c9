from __future__ import annotations

from seatflow.errors import Conflict, NotFound, ValidationFailed


class EndpointNotFound(NotFound):
    pass


class DeliveryNotFound(NotFound):
    pass


class UnknownEventType(ValidationFailed):
    code = "unknown_event_type"


class EndpointUrlInvalid(ValidationFailed):
    code = "invalid_webhook_url"


class EndpointInactive(Conflict):
    code = "webhook_endpoint_inactive"
