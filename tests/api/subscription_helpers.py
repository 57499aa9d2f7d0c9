"""Helpers for the HTTP tests of customers, contracts and subscriptions: the demo catalog, creation through
the API, and a snapshot of what a write must leave untouched when it is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

from fastapi.testclient import TestClient

from seatflow.clock import Clock
from tests.api.helpers import all_items, get_json
from tests.factories import FACTORY_TODAY, noon

DEMO_CATALOG = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()


@dataclass(frozen=True)
class Demo:
    """Ids of the demo catalog: provider accounts by name, products by provisioning ID, bundles by name."""

    accounts: dict[str, str]
    products: dict[str, str]
    bundles: dict[str, str]


def load_demo(client: TestClient) -> Demo:
    response = client.post("/api/v1/catalog/import", content=DEMO_CATALOG, headers={"content-type": "application/yaml"})
    assert response.status_code == 200, response.text
    return Demo(
        accounts={a["name"]: a["id"] for a in all_items(client, "/api/v1/provider-accounts")},
        products={p["provisioning_id"]: p["id"] for p in all_items(client, "/api/v1/products")},
        bundles={b["name"]: b["id"] for b in all_items(client, "/api/v1/bundles")},
    )


def server_today(client: TestClient) -> date:
    """The server's today, from its own clock (the system clock unless the test pinned it)."""
    clock: Clock = client.app.state.clock  # type: ignore[attr-defined]
    return clock.today()


def post_json(client: TestClient, path: str, payload: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def create_customer(client: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    return post_json(client, "/api/v1/customers", {"name": name, **fields})


def create_contract(client: TestClient, customer: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    payload = {"customer_id": customer["id"], "name": name, "start_date": server_today(client).isoformat(), **fields}
    return post_json(client, "/api/v1/contracts", payload)


def create_subscription(
    client: TestClient, contract: dict[str, Any], product_id: str, quantity: int, **fields: Any
) -> dict[str, Any]:
    payload = {"contract_id": contract["id"], "product_id": product_id, "quantity": quantity, **fields}
    created = post_json(client, "/api/v1/subscriptions", payload)
    assert created == get_json(client, f"/api/v1/subscriptions/{created['id']}")
    return created


def quantity_of(client: TestClient, subscription_id: str) -> int:
    quantity: int = get_json(client, f"/api/v1/subscriptions/{subscription_id}")["quantity"]
    return quantity


def changes_of(client: TestClient, subscription_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/subscriptions/{subscription_id}/changes")
    assert response.status_code == 200, response.text
    changes: list[dict[str, Any]] = response.json()
    return changes


def snapshot(client: TestClient) -> dict[str, Any]:
    """Every subscription (as GET shows it) and every license change: a refused write changes neither."""
    return {
        "subscriptions": all_items(client, "/api/v1/subscriptions"),
        "license_changes": all_items(client, "/api/v1/license-changes"),
    }


class FrozenClock:
    blocking = False

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def today(self) -> date:
        return self.moment.date()


def freeze_clock(client: TestClient) -> date:
    """Pin the server's clock at noon on FACTORY_TODAY, so "today" is a fixed date that cannot move under a test
    that counts days from it, whatever the real date."""
    moment = noon(FACTORY_TODAY)
    client.app.state.clock = FrozenClock(moment)  # type: ignore[attr-defined]
    return moment.date()
