"""Every write through the API and the console is in the audit log, as its caller's (SPEC §10, §17).

The app is the real one (no dependency overridden), on a committed database of the test's own: the sessions are the
requests' own, so what is checked is the wiring itself (the API key check, the console's login, the request's
session) and not a test double of it. Each write is followed by a look at the log for the record it wrote."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seatflow.audit.models import AuditEntry
from seatflow.auth import operators as accounts
from seatflow.auth.models import OperatorRole
from seatflow.auth.service import create_api_key
from seatflow.catalog.models import ProviderKind
from seatflow.clock import DatabaseTestClock
from seatflow.config import Settings
from seatflow.events.delivery import fan_out
from seatflow.events.outbox import emit
from seatflow.web.app import create_app
from tests.factories import FACTORY_TODAY, create_product, create_provider_account, noon

PASSWORD = "correct horse battery"
OPERATOR_EMAIL = "ops@reseller.example"
ADMIN_EMAIL = "admin@reseller.example"


@dataclass
class World:
    engine: Engine
    api: TestClient
    console: TestClient
    key_name: str
    manual_product_id: str
    manual_account_id: str

    def log(self, **params: str) -> list[dict[str, Any]]:
        page = self.api.get("/api/v1/audit-log", params={**params, "limit": "500"})
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    def rows(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.fixture
def world(committed_engine: Engine, database_url: str) -> Iterator[World]:
    url = committed_engine.url.render_as_string(hide_password=False)
    with Session(committed_engine) as session:  # no audit scope: the set-up is not an operator's action
        DatabaseTestClock(committed_engine).set(session, noon(FACTORY_TODAY))
        _, key = create_api_key(session, name="erp sync")
        for email, role in ((OPERATOR_EMAIL, OperatorRole.OPERATOR), (ADMIN_EMAIL, OperatorRole.ADMIN)):
            accounts.create_operator(session, email=email, name=email.split("@")[0], role=role, password=PASSWORD)
        account = create_provider_account(session, kind=ProviderKind.MANUAL, name="By hand")
        product = create_product(session, account=account, name="Seats")
        session.commit()
        ids = str(product.id), str(account.id)
    app = create_app(Settings(database_url=url, test_clock=True), engine=committed_engine)
    with TestClient(app, raise_server_exceptions=False) as api, TestClient(app, raise_server_exceptions=False) as web:
        api.headers["Authorization"] = f"Bearer {key}"
        yield World(committed_engine, api, web, "erp sync", *ids)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def login(client: TestClient, email: str) -> str:
    client.cookies.clear()
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/console/webhooks").text)


def api_write(world: World, method: str, path: str, expected: str, **body: Any) -> dict[str, Any]:
    """One API write; the log holds ``expected`` for the record it answered, as the API key's, from the API."""
    answer = world.api.request(method, path, json=body or None)
    assert answer.is_success, f"{method} {path} -> {answer.status_code}: {answer.text}"
    data: dict[str, Any] = answer.json() if answer.content else {}
    record = data["id"] if isinstance(data, dict) and "id" in data else path.split("/")[4]
    found = [e for e in world.log(entity_id=record) if e["action"] == expected]
    assert found, f"{method} {path}: no {expected} for {record} in {world.log(entity_id=record)}"
    entry = found[0]
    assert (entry["actor_kind"], entry["actor"], entry["origin"]) == ("api_key", world.key_name, "api")
    assert entry["ip"] == "testclient"
    assert entry["operation"].startswith(f"{method} /api/v1/")
    return data


def console_write(world: World, path: str, data: dict[str, str], entity_id: str, expected: str, who: str) -> None:
    answer = world.console.post(path, data=data, follow_redirects=False)
    assert answer.status_code in (200, 201, 303), f"POST {path} -> {answer.status_code}: {answer.text[:500]}"
    found = [e for e in world.log(entity_id=entity_id) if e["action"] == expected]
    assert found, f"POST {path}: no {expected} for {entity_id} in {world.log(entity_id=entity_id)}"
    assert (found[0]["actor_kind"], found[0]["actor"], found[0]["origin"]) == ("operator", who, "console")
    assert found[0]["operation"].startswith("POST /console/")
    assert "{" in found[0]["operation"]


def test_api_and_console_writes_are_each_audited_as_their_callers(world: World) -> None:
    assert world.rows() == 0, "the set-up is nobody's action"
    customer = api_write(world, "POST", "/api/v1/customers", "customer_account.created", name="Acme Dental")
    api_write(
        world,
        "POST",
        f"/api/v1/customers/{customer['id']}/contacts",
        "contact.created",
        email="it@acme.example",
        name="IT",
        roles=["administrator"],
    )
    contract = api_write(
        world,
        "POST",
        "/api/v1/contracts",
        "billing_contract.created",
        customer_id=customer["id"],
        name="Main",
        start_date=FACTORY_TODAY.isoformat(),
    )
    subscription = api_write(
        world,
        "POST",
        "/api/v1/subscriptions",
        "subscription.created",
        contract_id=contract["id"],
        product_id=world.manual_product_id,
        quantity=5,
        start_date=FACTORY_TODAY.isoformat(),
    )
    sub_id = subscription["id"]
    change = api_write(world, "POST", f"/api/v1/subscriptions/{sub_id}/quantity", "license_change.created", quantity=7)
    [quantity_row] = [e for e in world.log(entity_id=sub_id) if e["action"] == "subscription.quantity_changed"]
    assert (quantity_row["before"], quantity_row["after"]) == ({"quantity": 5}, {"quantity": 7})
    api_write(world, "PATCH", f"/api/v1/subscriptions/{sub_id}", "subscription.updated", billable=False)
    endpoint = api_write(
        world,
        "POST",
        "/api/v1/webhooks",
        "webhook_endpoint.created",
        url="https://erp.example/hooks",
        events=["license_change.failed"],
    )
    [endpoint_row] = [e for e in world.log(entity_id=endpoint["id"]) if e["action"] == "webhook_endpoint.created"]
    assert endpoint_row["after"]["secret"] == "[redacted]"
    assert endpoint["secret"] not in str(world.log())

    reads = world.rows()
    for path in ("/api/v1/audit-log", f"/api/v1/subscriptions/{sub_id}", "/api/v1/webhook-deliveries"):
        assert world.api.get(path).status_code == 200
    refused = world.api.post("/api/v1/customers", json={"name": ""})
    assert refused.status_code == 422
    assert world.rows() == reads, "reads and refused writes are not in the log"

    # The console, as an operator and as an administrator.
    csrf = login(world.console, OPERATOR_EMAIL)
    console_write(
        world,
        f"/console/queue/{change['id']}/confirm",
        {"csrf_token": csrf, "status": "provisioned", "message": "done by hand"},
        change["id"],
        "license_change.provisioning_status_changed",
        OPERATOR_EMAIL,
    )
    console_write(
        world,
        f"/console/renewals/{sub_id}/dont-renew",
        {"csrf_token": csrf},
        sub_id,
        "subscription.auto_renew_changed",
        OPERATOR_EMAIL,
    )
    csrf = login(world.console, ADMIN_EMAIL)
    before = world.rows()
    added = world.console.post(
        "/console/webhooks",
        data={"csrf_token": csrf, "url": "https://psa.example/in", "events": ["invoice.issued", "renewal.upcoming"]},
    )
    assert added.status_code == 201, added.text[:500]
    new_rows = [e for e in world.log(action="webhook_endpoint.created") if e["actor"] == ADMIN_EMAIL]
    assert len(new_rows) == 1
    assert world.rows() == before + 1
    console_endpoint = new_rows[0]["entity_id"]
    delivery_id = _a_delivery(world)
    console_write(
        world,
        f"/console/webhook-deliveries/{delivery_id}/replay",
        {"csrf_token": csrf},
        delivery_id,
        "webhook_delivery.replayed",
        ADMIN_EMAIL,
    )
    console_write(
        world,
        f"/console/webhooks/{console_endpoint}/active",
        {"csrf_token": csrf, "active": "false"},
        console_endpoint,
        "webhook_endpoint.active_changed",
        ADMIN_EMAIL,
    )
    console_write(
        world,
        f"/console/webhooks/{console_endpoint}/remove",
        {"csrf_token": csrf},
        console_endpoint,
        "webhook_endpoint.deleted",
        ADMIN_EMAIL,
    )
    page = world.console.get("/console/audit", params={"actor": ADMIN_EMAIL})
    assert page.status_code == 200
    assert "webhook_endpoint.deleted" in page.text
    assert "erp sync" not in page.text
    every = world.log()
    assert {e["origin"] for e in every} == {"api", "console"}
    assert all(e["actor_kind"] in ("api_key", "operator") for e in every)


def _a_delivery(world: World) -> str:
    """A delivery to the console's endpoint, made as the worker makes them (no scope: not in the log)."""
    with Session(world.engine) as session:
        emit(
            session,
            type="invoice.issued",
            subject_id="inv-1",
            data={"number": "INV-000001"},
            occurred_at=noon(FACTORY_TODAY),
        )
        fan_out(session, now=noon(FACTORY_TODAY))
        session.commit()
    deliveries = world.api.get("/api/v1/webhook-deliveries", params={"event": "invoice.issued"}).json()["items"]
    assert len(deliveries) == 1
    return str(deliveries[0]["id"])
