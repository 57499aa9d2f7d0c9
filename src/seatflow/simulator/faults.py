"""Fault injection settings (SPEC §10: error rate, 429s, latency, lost responses, slow provisioning, slow
subscription changes) and the largest page ``GET /v1/customers`` answers."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class ControlError(ValueError):
    """Bad input on a control path (``/_sim/...``) or in a seed: answered 400 with ``{"error": message}``."""


@dataclass(frozen=True)
class FaultSettings:
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    lost_response_rate: float = 0.0
    latency_ms: int = 0
    route_latency_ms: dict[str, int] = field(default_factory=dict)
    """The latency of the routes named here, instead of ``latency_ms``: each named as ``/_sim/stats`` counts it
    (``"POST /v1/customers/{id}/carts/{id}/checkout"``). A test can keep one call in flight for as long as it needs
    while the others answer at their pace."""
    provisioning_delay_s: float = 0.0
    retry_after_s: int = 1
    seed: int | None = None
    accepted_rate: float = 0.0
    """The share of new-commerce subscription changes answered ``202 Accepted`` and applied only after
    ``provisioning_delay_s`` (Partner Center's answer when a PATCH "takes longer than the expected time")."""
    max_page_size: int = 500
    """The most customers one page of ``GET /v1/customers`` holds, whatever ``size`` asks for."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def merged(self, changes: Any, *, routes: Collection[str] | None = None) -> FaultSettings:
        """These settings with ``changes`` (a JSON object of some of the fields) applied; ``ControlError`` on an
        unknown field, a value out of range or (``routes``: the names a route can have) a route ``route_latency_ms``
        names that is not one of ``routes``, leaving nothing half-applied."""
        if not isinstance(changes, dict):
            raise ControlError("faults must be a JSON object")
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise ControlError(f"unknown fault settings: {', '.join(unknown)}")
        values = {name: _check(name, value) for name, value in changes.items()}
        if routes is not None and "route_latency_ms" in values:
            check_routes(values["route_latency_ms"], routes)
        return replace(self, **values)


def check_routes(route_latency_ms: Collection[str], routes: Collection[str]) -> None:
    """``ControlError`` when ``route_latency_ms`` names a route that is not one of ``routes``."""
    unknown = sorted(set(route_latency_ms) - set(routes))
    if unknown:
        raise ControlError(
            f"route_latency_ms names unknown routes: {', '.join(unknown)} (a route is named as /_sim/stats"
            ' names it: "GET /v1/customers/{id}/subscriptions")'
        )


_RATES = {"error_rate", "throttle_rate", "lost_response_rate", "accepted_rate"}


def _check(name: str, value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if name in _RATES:
        if not number or not 0 <= value <= 1:
            raise ControlError(f"{name} must be a number from 0 to 1")
        return float(value)
    if name == "provisioning_delay_s":
        if not number or value < 0:
            raise ControlError(f"{name} must be a number of seconds, 0 or more")
        return float(value)
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ControlError("seed must be an integer or null")
        return value
    if name == "route_latency_ms":
        if not isinstance(value, dict) or not all(
            isinstance(route, str) and isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0
            for route, ms in value.items()
        ):
            raise ControlError(f"{name} must map routes to whole numbers of milliseconds, 0 or more")
        return dict(value)
    if name == "max_page_size":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ControlError(f"{name} must be a whole number, 1 or more")
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:  # latency_ms, retry_after_s
        raise ControlError(f"{name} must be a whole number, 0 or more")
    return value


@dataclass(frozen=True)
class FaultDraw:
    """The faults one ``/v1`` request gets, drawn before it is handled."""

    latency_s: float = 0.0
    throttle_after_s: int | None = None
    """Answer 429 with this Retry-After."""
    error_status: int | None = None
    """Answer this 5xx without handling the request."""
    lose_response: bool = False
    """Handle the request, then close the connection without an answer."""
