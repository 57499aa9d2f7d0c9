"""Reconciliation over every tenant sees every customer, page after page (SPEC §9, §10): 1,200 customers at a real
simulator server, read by ``seatflow reconcile report`` in a process of its own through the real Partner Center
client over HTTP, on a committed database of the test's own (SQLite file, or PostgreSQL under
SEATFLOW_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seatflow.simulator import SimulatorServer
from tests.factories import create_contract, create_customer, load_demo_catalog
from tests.reconciliation.helpers import buy, run_seatflow

CUSTOMER_PAGES = "GET /v1/customers"


def _reconcile(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_seatflow(database_url, tmp_path, "reconcile", "report", *args)


def test_twelve_hundred_customers_are_all_seen_across_pages(
    committed_engine: Engine, empty_database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> None:
    created = httpx.post(f"{simulator.url}/_sim/customers/bulk", json={"count": 1200, "prefix": "bulk"})
    assert created.status_code == 201, created.text
    assert created.json()["customers"] == 1201  # and Pine Cone Vet, from the demo seed
    with Session(committed_engine) as session:
        catalog = load_demo_catalog(session)
        catalog.partner_center.settings = {"base_url": simulator.url}
        last = create_customer(session, name="Last Page Ltd", tenant_id="bulk-001200")
        create_contract(session, customer=last, name="Last Page Ltd")
        create_customer(session, name="First Page Ltd", tenant_id="bulk-000001")
        sku = catalog.business_premium.offer_id
        session.commit()
    assert sku
    stray = buy(simulator, sku, 3, tenant="bulk-001200")
    httpx.post(f"{simulator.url}/_sim/stats/reset").raise_for_status()

    answer = _reconcile(empty_database_url, tmp_path, "--json")

    assert answer.returncode == 0, answer.stderr
    items = json.loads(answer.stdout)
    unmapped = {i["tenant_id"] for i in items if i["classification"] == "unmapped_tenant"}
    assert len(unmapped) == 1199  # 1,201 customers at the provider, 2 of them mapped
    assert {"bulk-000002", "bulk-000750", "bulk-001199", "pine-cone-vet-tenant"} <= unmapped
    assert not {"bulk-000001", "bulk-001200"} & unmapped
    (unknown,) = [i for i in items if i["classification"] == "unknown_to_seatflow"]
    assert (unknown["tenant_id"], unknown["external_id"], unknown["provider_quantity"]) == (
        "bulk-001200",
        stray["id"],
        3,
    )
    pages = httpx.get(f"{simulator.url}/_sim/stats").json()["requests"][CUSTOMER_PAGES]
    assert pages > 1
    assert pages == 3  # 500 customers a page at most

    table = _reconcile(empty_database_url, tmp_path)

    assert table.returncode == 0, table.stderr
    assert "1201 customer(s) at the provider, 2 tenant(s), 1 provider subscription(s), 1200 difference(s)" in " ".join(
        table.stdout.split()
    )
