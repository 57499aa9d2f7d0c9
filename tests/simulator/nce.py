"""Helpers for the new-commerce tests: Microsoft's documented examples (tests/fixtures/partner_center), a shape
check against them, and short calls on the cart and subscription paths."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.simulator.helpers import CUSTOMER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "partner_center"

# The demo seed's new-commerce SKUs (src/seatflow/simulator/demo_state.json)
M365_E3 = "CFQ7TTC0LFLX:0001"
M365_E3_ITEM = "CFQ7TTC0LFLX:0001:CFQ7TTC0LB30"  # the base of Microsoft's create-a-cart-with-add-ons NCE example
M365_E5_ITEM = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"  # the catalog item of Microsoft's create-a-cart NCE example
EMS_E3 = "CFQ7TTC0LFK5:0002"
OFFICE_E5 = "CFQ7TTC0LF8S:0002"
AUDIO_CONFERENCING = "CFQ7TTC0LHS5:0001"
PHONE_SYSTEM = "CFQ7TTC0LH9T:0001"
CALLING_PLAN = "CFQ7TTC0LH8Z:0001"
START = "2026-01-10T09:00:00Z"
"""Where the NCE tests set the simulator's clock: nothing depends on today's date."""


def documented(name: str) -> Any:
    """A documented example, without the ``_source``/``_note`` keys that say where it comes from."""
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert body.pop("_source").startswith("https://learn.microsoft.com/partner-center/developer/")
    body.pop("_note", None)
    return body


def missing_from(actual: Any, example: Any, path: str = "$") -> list[str]:
    """The properties of Microsoft's example that ``actual`` lacks or holds as another JSON type (objects are
    compared property by property, arrays by their first elements)."""
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{path} is not an object"]
        gaps: list[str] = []
        for key, value in example.items():
            if key not in actual:
                gaps.append(f"{path}.{key}")
            elif value is not None:
                gaps += missing_from(actual[key], value, f"{path}.{key}")
        return gaps
    if isinstance(example, list):
        if not isinstance(actual, list):
            return [f"{path} is not an array"]
        return missing_from(actual[0], example[0], f"{path}[0]") if example and actual else []
    if isinstance(example, bool):
        same = isinstance(actual, bool)
    elif isinstance(example, int | float):
        same = isinstance(actual, int | float) and not isinstance(actual, bool)
    else:
        same = isinstance(actual, type(example))
    return [] if same else [f"{path} is {type(actual).__name__}, not {type(example).__name__}"]


def assert_documented_shape(actual: Any, example_name: str, *, ignore: tuple[str, ...] = ()) -> None:
    gaps = [gap for gap in missing_from(actual, documented(example_name)) if not gap.startswith(ignore)]
    assert gaps == [], f"not in the shape of {example_name}: {gaps}"


def set_clock(pc: httpx.Client, moment: str = START) -> datetime:
    response = pc.post("/_sim/clock", json={"now": moment})
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


def catalog_item(pc: httpx.Client, sku: str) -> str:
    """The current ``catalogItemId`` of a SKU, read as a client does: from its availabilities."""
    product_id, sku_id = sku.split(":")
    response = pc.get(f"/v1/products/{product_id}/skus/{sku_id}/availabilities", params={"country": "US"})
    assert response.status_code == 200, response.text
    item: str = response.json()["items"][0]["catalogItemId"]
    return item


def cart_line(
    pc: httpx.Client, sku: str, quantity: int, *, term: str = "P1Y", billing: str = "monthly", **extra: Any
) -> dict[str, Any]:
    return {
        "catalogItemId": catalog_item(pc, sku),
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": billing,
        **extra,
    }


def create_cart(pc: httpx.Client, *lines: dict[str, Any], customer: str = CUSTOMER, **headers: str) -> httpx.Response:
    body = {
        "PartnerOnRecordAttestationAccepted": True,
        "lineItems": [{"id": n, **line} for n, line in enumerate(lines)],
    }
    return pc.post(f"/v1/customers/{customer}/carts", json=body, headers=headers)


def checkout(pc: httpx.Client, cart_id: str, *, customer: str = CUSTOMER, **headers: str) -> httpx.Response:
    return pc.post(f"/v1/customers/{customer}/carts/{cart_id}/checkout", headers=headers)


def buy(pc: httpx.Client, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    """Create a cart, check it out, and answer the subscriptions it bought (as GET shows them)."""
    created = create_cart(pc, *lines)
    assert created.status_code == 201, created.text
    result = checkout(pc, created.json()["id"]).json()
    assert result["orderErrors"] == [], result
    ids = [line["subscriptionId"] for order in result["orders"] for line in order["lineItems"]]
    return [get_subscription(pc, subscription_id) for subscription_id in ids]


def get_subscription(pc: httpx.Client, subscription_id: str) -> dict[str, Any]:
    response = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{subscription_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def patch_full(pc: httpx.Client, subscription: dict[str, Any], **changes: Any) -> httpx.Response:
    """PATCH as Microsoft asks: the full resource as last read, changed, with its etag in ``If-Match``."""
    return pc.patch(
        f"/v1/customers/{CUSTOMER}/subscriptions/{subscription['id']}",
        json=subscription | changes,
        headers={"If-Match": subscription["attributes"]["etag"]},
    )


def change(pc: httpx.Client, subscription_id: str, **changes: Any) -> httpx.Response:
    """GET the subscription, then PATCH it changed (the client's read-modify-write)."""
    return patch_full(pc, get_subscription(pc, subscription_id), **changes)
