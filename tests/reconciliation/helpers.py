"""Partner Center as the reconciliation tests see it: subscriptions bought at the simulator the new-commerce way
(an availability looked up, a cart, its checkout) and changed there the way Microsoft asks (GET, then PATCH of the
full resource with its etag), behind seatflow's back; and the API calls of the report and its fixes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from tests.processes import runs_tested_source

TENANT = "pine-cone-vet-tenant"

# The simulator's demo SKUs (src/seatflow/simulator/demo_state.json), as ``productId:skuId``.
M365_E3 = "CFQ7TTC0LFLX:0001"
EMS_E3 = "CFQ7TTC0LFK5:0002"
BUSINESS_PREMIUM = "CFQ7TTC0LCHC:0002"
OFFICE_E5 = "CFQ7TTC0LF8S:0002"
AUDIO_CONFERENCING = "CFQ7TTC0LHS5:0001"
"""An add-on: its prerequisite SKU is Office 365 E5."""


def catalog_item(simulator: SimulatorServer, sku: str) -> str:
    """The SKU's current ``productId:skuId:availabilityId``, read from its availabilities as a client does."""
    product_id, sku_id = sku.split(":")
    response = httpx.get(
        f"{simulator.url}/v1/products/{product_id}/skus/{sku_id}/availabilities", params={"country": "US"}
    )
    response.raise_for_status()
    item: str = response.json()["items"][0]["catalogItemId"]
    return item


def buy(
    simulator: SimulatorServer,
    sku: str,
    quantity: int,
    *,
    tenant: str = TENANT,
    term: str = "P1Y",
    billing: str = "monthly",
) -> dict[str, Any]:
    """Buy one subscription at Partner Center behind seatflow's back; answer it as GET shows it."""
    line = {
        "id": 0,
        "catalogItemId": catalog_item(simulator, sku),
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": billing,
    }
    cart = httpx.post(
        f"{simulator.url}/v1/customers/{tenant}/carts",
        json={"PartnerOnRecordAttestationAccepted": True, "lineItems": [line]},
    )
    assert cart.status_code == 201, cart.text
    result = httpx.post(f"{simulator.url}/v1/customers/{tenant}/carts/{cart.json()['id']}/checkout").json()
    assert result["orderErrors"] == [], result
    (subscription_id,) = [item["subscriptionId"] for order in result["orders"] for item in order["lineItems"]]
    return subscription(simulator, subscription_id, tenant=tenant)


def subscription(simulator: SimulatorServer, external_id: str, *, tenant: str = TENANT) -> dict[str, Any]:
    response = httpx.get(f"{simulator.url}/v1/customers/{tenant}/subscriptions/{external_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def change(simulator: SimulatorServer, external_id: str, *, tenant: str = TENANT, **changes: Any) -> dict[str, Any]:
    """Change a subscription in Partner Center: the full resource as read, changed, with its etag."""
    current = subscription(simulator, external_id, tenant=tenant)
    response = httpx.patch(
        f"{simulator.url}/v1/customers/{tenant}/subscriptions/{external_id}",
        json=current | changes,
        headers={"If-Match": current["attributes"]["etag"]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def move_clock(simulator: SimulatorServer, now: str) -> None:
    httpx.post(f"{simulator.url}/_sim/clock", json={"now": now}).raise_for_status()


def report(client: TestClient) -> list[dict[str, Any]]:
    response = client.post("/api/v1/reconciliations", json={"provider_account_id": "Partner Center"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def import_(client: TestClient, external_id: str, contract_id: object, **extra: Any) -> httpx.Response:
    response: httpx.Response = client.post(
        "/api/v1/reconciliations/import",
        json={
            "provider_account_id": "Partner Center",
            "tenant_id": extra.pop("tenant_id", TENANT),
            "external_id": external_id,
            "contract_id": str(contract_id),
            **extra,
        },
    )
    return response


def bought_in_seatflow(session: Session, subscription: Subscription, *, external_id: str | None) -> Subscription:
    """As if the worker had bought it (or it came from another system): its changes provisioned, and the provider
    id it records (None: none recorded)."""
    changes = select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)
    for found in session.execute(changes).scalars():
        found.provisioning_status = ProvisioningStatus.PROVISIONED
    subscription.external_id = external_id
    session.flush()
    return subscription


def run_seatflow(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``seatflow`` command in a process of its own, on ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATFLOW_")}
    env["SEATFLOW_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "seatflow", *args],
        env=runs_tested_source(env),
        cwd=cwd,  # no stray .env file is read
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
