"""Tenant ids are GUIDs (or domain names): ``ABC…`` and ``abc…`` are one tenant, mapped to one customer account."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.customers.models import CustomerAccount
from seatflow.db import migrate
from seatflow.db.engine import make_engine
from tests.api.helpers import all_items, problem
from tests.factories import create_customer

TENANT = "6F1C2D3E-0000-4000-8000-00000000ABCD"
BEFORE = "5b1f0c3d9e27"
"""The revision before tenant ids were lower-cased."""


def test_a_tenant_in_other_capitals_is_a_duplicate(client: TestClient) -> None:
    first = client.post("/api/v1/customers", json={"name": "Contoso", "tenant_id": TENANT})
    assert first.status_code == 201, first.text

    again = client.post("/api/v1/customers", json={"name": "Contoso again", "tenant_id": TENANT.lower()})

    body = problem(again, 409, "duplicate_tenant")
    assert body["existing_customer_id"] == first.json()["id"]
    assert "Contoso" in body["detail"]
    assert [c["name"] for c in all_items(client, "/api/v1/customers")] == ["Contoso"]


def test_moving_another_account_onto_the_tenant_in_other_capitals_is_refused(client: TestClient) -> None:
    client.post("/api/v1/customers", json={"name": "Contoso", "tenant_id": TENANT.lower()})
    other = client.post("/api/v1/customers", json={"name": "Fabrikam", "tenant_id": "fabrikam.onmicrosoft.com"})

    moved = client.patch(f"/api/v1/customers/{other.json()['id']}", json={"tenant_id": TENANT})

    problem(moved, 409, "duplicate_tenant")
    assert client.get(f"/api/v1/customers/{other.json()['id']}").json()["tenant_id"] == "fabrikam.onmicrosoft.com"


def test_the_tenant_is_stored_lower_case_and_found_in_any_case(client: TestClient) -> None:
    created = client.post("/api/v1/customers", json={"name": "Contoso", "tenant_id": TENANT}).json()

    assert created["tenant_id"] == TENANT.lower()
    assert [c["id"] for c in all_items(client, "/api/v1/customers", tenant_id=TENANT)] == [created["id"]]
    assert [c["id"] for c in all_items(client, "/api/v1/customers", tenant_id=TENANT.lower())] == [created["id"]]


def test_the_same_account_may_send_its_tenant_again_in_other_capitals(client: TestClient) -> None:
    created = client.post("/api/v1/customers", json={"name": "Contoso", "tenant_id": TENANT.lower()}).json()

    again = client.patch(f"/api/v1/customers/{created['id']}", json={"tenant_id": TENANT})

    assert again.status_code == 200, again.text
    assert again.json()["tenant_id"] == TENANT.lower()


def test_every_writer_stores_it_lower_case(session: Session) -> None:
    customer = create_customer(session, name="Contoso")

    customer.tenant_id = TENANT
    session.flush()

    session.expire_all()
    assert session.get_one(CustomerAccount, customer.id).tenant_id == TENANT.lower()


@pytest.mark.parametrize("tenant", ["has space", "tenant\u00e9", "x" * 101])
def test_a_tenant_id_that_cannot_be_one_is_refused(client: TestClient, tenant: str) -> None:
    answer = client.post("/api/v1/customers", json={"name": "Contoso", "tenant_id": tenant})

    body = problem(answer, 422, "validation_failed")
    assert "tenant_id" in body["detail"]


# --- the migration -----------------------------------------------------------------------------------------

CUSTOMERS = sa.table(
    "customer_accounts",
    sa.column("id", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("currency", sa.String),
    sa.column("billing_address", sa.JSON),
    sa.column("status", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


@pytest.fixture
def old_database(empty_database_url: str) -> Iterator[tuple[str, sa.Engine]]:
    migrate.upgrade(empty_database_url, BEFORE)
    engine = make_engine(empty_database_url)
    yield empty_database_url, engine
    engine.dispose()


def add_customers(engine: sa.Engine, *tenants: str | None) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with engine.begin() as conn:
        for n, tenant in enumerate(tenants):
            conn.execute(
                CUSTOMERS.insert().values(
                    id=uuid.uuid4(),
                    name=f"Customer {n}",
                    tenant_id=tenant,
                    currency="USD",
                    billing_address={},
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )


def tenants(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {row.name: row.tenant_id for row in conn.execute(sa.select(CUSTOMERS.c.name, CUSTOMERS.c.tenant_id))}


def test_the_migration_lower_cases_existing_tenants(old_database: tuple[str, sa.Engine]) -> None:
    url, engine = old_database
    add_customers(engine, TENANT, "contoso.onmicrosoft.com", None)

    migrate.upgrade(url)

    assert tenants(engine) == {
        "Customer 0": TENANT.lower(),
        "Customer 1": "contoso.onmicrosoft.com",
        "Customer 2": None,
    }


def test_the_migration_stops_on_one_tenant_in_two_spellings_and_changes_nothing(
    old_database: tuple[str, sa.Engine],
) -> None:
    url, engine = old_database
    add_customers(engine, TENANT, TENANT.lower(), "Other-Tenant")

    with pytest.raises(RuntimeError) as stopped:
        migrate.upgrade(url)

    message = str(stopped.value)
    assert "Customer 0" in message
    assert "Customer 1" in message
    assert TENANT.lower() in message
    assert "Nothing was changed" in message
    assert migrate.current(url) == BEFORE
    assert tenants(engine) == {"Customer 0": TENANT, "Customer 1": TENANT.lower(), "Customer 2": "Other-Tenant"}
