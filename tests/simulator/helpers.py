"""Helpers for the simulator tests: the demo offers they buy and short calls on Partner Center's paths."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

CUSTOMER = "pine-cone-vet-tenant"
BUSINESS_PREMIUM = "031c9e47-4802-4248-838e-778fb1d2cc05"
EXTRA_FILE_STORAGE = "53fc25f7-6639-4f78-bb44-3c2dfec3ed40"
M365_E3 = "4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c05"
OFFICE_E5 = "4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c01"
PHONE_SYSTEM = "4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c03"
CALLING_PLAN = "4c2b6f87-4b8e-4c1f-9d0e-5e3f1a2b7c04"


def line(offer_id: str, quantity: int, *, number: int = 0, **extra: Any) -> dict[str, Any]:
    return {"lineItemNumber": number, "offerId": offer_id, "quantity": quantity, **extra}


def order(pc: httpx.Client, *lines: dict[str, Any], customer: str = CUSTOMER, **headers: str) -> httpx.Response:
    return pc.post(f"/v1/customers/{customer}/orders", json={"lineItems": list(lines)}, headers=headers)


def buy(pc: httpx.Client, offer_id: str, quantity: int, **extra: Any) -> dict[str, Any]:
    """Buy one subscription and return it as the simulator shows it."""
    response = order(pc, line(offer_id, quantity, **extra))
    assert response.status_code == 201, response.text
    subscription_id = response.json()["lineItems"][0]["subscriptionId"]
    return subscription(pc, subscription_id)


def subscription(pc: httpx.Client, subscription_id: str) -> dict[str, Any]:
    response = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{subscription_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def patch(pc: httpx.Client, subscription_id: str, **changes: Any) -> httpx.Response:
    return pc.patch(f"/v1/customers/{CUSTOMER}/subscriptions/{subscription_id}", json=changes)


def fault_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "description", "data", "source"}, body
    assert response.headers["content-type"] == "application/json"
    return response.status_code, body["code"]


def all_subscriptions(pc: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = pc.get("/_sim/state").json()["subscriptions"]
    return items


def move_clock(pc: httpx.Client, **delta: float) -> datetime:
    """Move the simulator's clock forward by ``timedelta(**delta)``; it keeps running from there."""
    now = datetime.fromisoformat(pc.get("/_sim/clock").json()["now"])
    moved = now + timedelta(**delta)
    response = pc.post("/_sim/clock", json={"now": moved.isoformat()})
    assert response.status_code == 200, response.text
    return moved
