"""Reconciliation against the simulator (SPEC §9): drift found, classified, and fixed in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions.models import ChangeOrigin, Subscription
from tests.factories import create_contract, create_subscription
from tests.reconciliation.helpers import bought_in_seatflow, buy, change, report
from tests.subscriptions.helpers import PineConeVet


def _report(client: TestClient) -> list[dict[str, Any]]:
    return report(client)


def _sim_patch(simulator: SimulatorServer, tenant: str, external_id: str, **body: Any) -> None:
    change(simulator, external_id, tenant=tenant, **body)


def test_in_sync_after_provisioning_there_is_nothing_to_report(client: TestClient, vet: PineConeVet) -> None:
    assert _report(client) == []


def test_a_quantity_changed_at_the_provider_is_adopted_onto_the_chosen_child(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    parent = session.get_one(Subscription, vet.parent_e3.id)
    assert parent.external_id
    _sim_patch(simulator, "pine-cone-vet-tenant", parent.external_id, quantity=53)

    (item,) = _report(client)

    assert item["classification"] == "changed_at_provider"
    assert (item["provider_quantity"], item["seatflow_quantity"], item["children_quantity"]) == (53, 50, 50)
    assert item["subscription_id"] == str(parent.id)
    assert item["fixes"] == ["adopt", "push"]

    memphis = vet.locations["Memphis"].e3
    refused = client.post("/api/v1/reconciliations/adopt", json={"subscription_id": str(parent.id)})
    assert refused.status_code == 422
    assert refused.json()["code"] == "child_required"
    adopted = client.post(
        "/api/v1/reconciliations/adopt",
        json={"subscription_id": str(parent.id), "child_subscription_id": str(memphis.id)},
    )

    assert adopted.status_code == 200, adopted.text
    assert {(c["subscription_id"], c["quantity_before"], c["quantity_after"], c["origin"]) for c in adopted.json()} == {
        (str(memphis.id), 15, 18, "provider_sync"),
        (str(parent.id), 50, 53, "provider_sync"),
    }
    assert {c["provisioning_status"] for c in adopted.json()} == {"provisioned"}
    session.expire_all()
    children = [session.get_one(Subscription, loc.e3.id).quantity for loc in vet.locations.values()]
    assert session.get_one(Subscription, parent.id).quantity == sum(children) == 53
    assert _report(client) == []
    assert client.get("/api/v1/reconciliations/change-log-check").json() == []


def test_push_sends_seatflows_quantity_back_to_the_provider(
    client: TestClient,
    session: Session,
    vet: PineConeVet,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
) -> None:
    parent = session.get_one(Subscription, vet.parent_ems.id)
    assert parent.external_id
    _sim_patch(simulator, "pine-cone-vet-tenant", parent.external_id, quantity=25)

    pushed = client.post("/api/v1/reconciliations/push", json={"subscription_id": str(parent.id)})

    assert pushed.status_code == 200, pushed.text
    assert (pushed.json()["quantity_before"], pushed.json()["quantity_after"]) == (20, 20)
    assert pushed.json()["provisioning_status"] == "awaiting_provisioning"
    (pending,) = _report(client)
    assert pending["classification"] == "provisioning_pending"
    make_worker().drain(max_wait_seconds=30)
    state = httpx.get(f"{simulator.url}/_sim/state").json()
    assert next(s for s in state["subscriptions"] if s["id"] == parent.external_id)["quantity"] == 20
    assert _report(client) == []


def test_a_subscription_bought_only_at_the_provider_is_unknown_and_can_be_imported(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    catalog = vet.catalog
    assert catalog.business_premium.offer_id
    external_id = buy(simulator, catalog.business_premium.offer_id, 4)["id"]

    (item,) = _report(client)

    assert item["classification"] == "unknown_to_seatflow"
    assert (item["external_id"], item["provider_quantity"], item["fixes"]) == (external_id, 4, ["import"])
    contract = create_contract(session, customer=vet.customer, name="Pine Cone Vet - Head office")
    session.commit()
    imported = client.post(
        "/api/v1/reconciliations/import",
        json={
            "provider_account_id": "Partner Center",
            "tenant_id": "pine-cone-vet-tenant",
            "external_id": external_id,
            "contract_id": str(contract.id),
        },
    )

    assert imported.status_code == 201, imported.text
    assert (imported.json()["external_id"], imported.json()["quantity"]) == (external_id, 4)
    assert imported.json()["product_id"] == str(catalog.business_premium.id)
    (created,) = client.get(f"/api/v1/subscriptions/{imported.json()['id']}/changes").json()
    assert (created["origin"], created["provisioning_status"]) == (ChangeOrigin.PROVIDER_SYNC.value, "provisioned")
    assert _report(client) == []
    again = client.post(
        "/api/v1/reconciliations/import",
        json={
            "provider_account_id": "Partner Center",
            "tenant_id": "pine-cone-vet-tenant",
            "external_id": external_id,
            "contract_id": str(contract.id),
        },
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_mapped")


def test_missing_and_unmapped_are_reported(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    httpx.post(
        f"{simulator.url}/v1/customers",
        json={"companyProfile": {"tenantId": "stray-tenant", "companyName": "Stray Co"}},
    ).raise_for_status()
    ghost = bought_in_seatflow(
        session,
        create_subscription(session, contract=vet.parent_contract, product=vet.catalog.business_premium, quantity=3),
        external_id="00000000-0000-0000-0000-00000000dead",
    )
    session.commit()

    items = {i["classification"]: i for i in _report(client)}

    assert set(items) == {"unmapped_tenant", "missing_at_provider"}
    assert items["unmapped_tenant"]["tenant_id"] == "stray-tenant"
    missing = items["missing_at_provider"]
    assert (missing["subscription_id"], missing["seatflow_quantity"], missing["fixes"]) == (str(ghost.id), 3, ["push"])
    assert "holds no such subscription" in missing["detail"]


def test_the_change_log_check_finds_a_quantity_its_log_does_not_explain(
    client: TestClient, session: Session, vet: PineConeVet
) -> None:
    atlanta = session.get_one(Subscription, vet.locations["Atlanta"].e3.id)
    atlanta.quantity = 12  # written behind the change log's back
    session.commit()

    found = client.get("/api/v1/reconciliations/change-log-check").json()

    assert found == [{"subscription_id": str(atlanta.id), "quantity": 12, "change_log_quantity": 10}]


def test_bad_reconciliation_requests(client: TestClient, vet: PineConeVet) -> None:
    manual = client.post("/api/v1/reconciliations", json={"provider_account_id": "Manual"})
    assert (manual.status_code, manual.json()["code"]) == (409, "not_reconcilable")
    missing = client.post("/api/v1/reconciliations", json={"provider_account_id": "Nope"})
    assert missing.status_code == 404
    assert client.post("/api/v1/reconciliations/adopt", json={"subscription_id": "nope"}).status_code == 404
    assert client.post("/api/v1/reconciliations", json={}).status_code == 422


def test_a_failing_provider_answers_502_provider_error_and_changes_nothing(
    client: TestClient, session: Session, vet: PineConeVet, simulator: SimulatorServer
) -> None:
    httpx.post(f"{simulator.url}/_sim/faults", json={"error_rate": 1.0}).raise_for_status()
    parent = session.get_one(Subscription, vet.parent_e3.id)

    report = client.post("/api/v1/reconciliations", json={"provider_account_id": "Partner Center"})
    adopt = client.post("/api/v1/reconciliations/adopt", json={"subscription_id": str(parent.id)})

    for answer in (report, adopt):
        assert answer.status_code == 502, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["status"], problem["code"]) == (502, "provider_error")
        assert problem["provider_status"] in (500, 503)
        assert "Partner Center" in problem["detail"]
    session.expire_all()
    assert session.get_one(Subscription, parent.id).quantity == 50
