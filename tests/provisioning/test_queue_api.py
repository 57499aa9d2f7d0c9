"""The provisioning queue over the API (SPEC §13): run-once, requeue, confirm, notifications."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from seatflow.simulator import SimulatorServer
from seatflow.web.deps import get_clock, get_session_factory
from tests.factories import DemoCatalog, load_demo_catalog
from tests.provisioning.conftest import ManualClock
from tests.subscriptions.helpers import PineConeVet, pine_cone_vet


@pytest.fixture
def queue_api(client: TestClient, session_factory: sessionmaker[Session], clock: ManualClock) -> TestClient:
    """The API whose worker runs on the test's transaction and whose clock is the test's."""
    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_session_factory] = lambda: session_factory
    app.dependency_overrides[get_clock] = lambda: clock
    return client


def _vet(session: Session, simulator: SimulatorServer | None = None, *, manual: bool = False) -> PineConeVet:
    catalog: DemoCatalog = load_demo_catalog(session)
    if simulator is not None:
        catalog.partner_center.settings = {"base_url": simulator.url}
    return pine_cone_vet(session, catalog, parent_account=catalog.manual if manual else None)


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_run_once_provisions_new_york_at_the_simulator(
    queue_api: TestClient, session: Session, simulator: SimulatorServer
) -> None:
    vet = _vet(session, simulator)
    new_york = vet.locations["New York City"].e3
    changed = queue_api.post(f"/api/v1/subscriptions/{new_york.id}/quantity", json={"quantity": 35})
    assert changed.status_code == 200, changed.text
    assert changed.json()["provisioning_status"] == "awaiting_provisioning"

    ran = queue_api.post("/api/v1/worker/run-once", json={"drain": True, "max_wait_seconds": 30})

    assert ran.status_code == 200, ran.text
    counts = ran.json()
    assert counts["failed"] == 0
    assert counts["provisioned"] == 3, "the two parent purchases and New York's parent change"
    assert counts["flowed_back"] == 1
    child = queue_api.get(f"/api/v1/license-changes/{changed.json()['id']}").json()
    assert child["provisioning_status"] == "provisioned"
    parent = queue_api.get(f"/api/v1/subscriptions/{vet.parent_e3.id}").json()
    assert parent["quantity"] == 60
    assert parent["external_id"]
    awaiting = queue_api.get("/api/v1/license-changes", params={"provisioning_status": "awaiting_provisioning"})
    assert awaiting.json()["items"] == []


def test_a_manual_change_is_notified_confirmed_and_flows_back(queue_api: TestClient, session: Session) -> None:
    vet = _vet(session, manual=True)
    new_york = vet.locations["New York City"].e3
    child_id = queue_api.post(f"/api/v1/subscriptions/{new_york.id}/quantity", json={"quantity": 35}).json()["id"]
    queue_api.post("/api/v1/worker/run-once")
    open_notes = queue_api.get("/api/v1/notifications", params={"resolved": "false"}).json()["items"]
    # Not yet bought, the parent's purchase and New York's +10 are one thing to do: buy 60.
    subjects = sorted(n["subject"] for n in open_notes)
    assert subjects == [
        "Provision by hand: buy 20 Enterprise Mobility + Security E3 (Pine Cone Vet)",
        "Provision by hand: buy 60 Microsoft 365 E3 (Pine Cone Vet)",
    ]
    e3_note = next(n for n in open_notes if "buy 60" in n["subject"])

    _problem(
        queue_api.post(f"/api/v1/license-changes/{child_id}/confirm", json={"status": "provisioned"}),
        409,
        "not_confirmable",
    )
    confirmed = queue_api.post(
        f"/api/v1/license-changes/{e3_note['license_change_id']}/confirm", json={"status": "provisioned"}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert [(c["kind"], c["provisioning_status"]) for c in confirmed.json()] == [
        ("create", "provisioned"),
        ("quantity", "provisioned"),
    ]
    assert queue_api.get(f"/api/v1/license-changes/{child_id}").json()["provisioning_status"] == "provisioned"
    resolved = queue_api.get("/api/v1/notifications", params={"resolved": "true"}).json()["items"]
    assert [n["id"] for n in resolved] == [e3_note["id"]]

    # The next change: handed over, refused by the distributor, requeued with its child.
    second = queue_api.post(f"/api/v1/subscriptions/{new_york.id}/quantity", json={"quantity": 40}).json()["id"]
    queue_api.post("/api/v1/worker/run-once")
    (parent_change,) = queue_api.get("/api/v1/license-changes", params={"caused_by_change_id": second}).json()["items"]
    failed = queue_api.post(
        f"/api/v1/license-changes/{parent_change['id']}/confirm",
        json={"status": "failed", "message": "Out of stock at the distributor."},
    )
    assert failed.status_code == 200, failed.text
    child = queue_api.get(f"/api/v1/license-changes/{second}").json()
    assert child["provisioning_status"] == "failed"
    assert child["message"] == "Its linked parent's change failed: Out of stock at the distributor."

    requeued = queue_api.post(f"/api/v1/license-changes/{parent_change['id']}/requeue")
    assert requeued.status_code == 200, requeued.text
    assert {c["id"] for c in requeued.json()} == {parent_change["id"], second}
    assert {c["provisioning_status"] for c in requeued.json()} == {"awaiting_provisioning"}


def test_bad_queue_requests_are_refused_with_their_codes(queue_api: TestClient, session: Session) -> None:
    vet = _vet(session, manual=True)
    change_id = queue_api.get("/api/v1/license-changes", params={"subscription_id": str(vet.parent_e3.id)}).json()[
        "items"
    ][0]["id"]

    _problem(queue_api.post(f"/api/v1/license-changes/{change_id}/requeue"), 409, "not_failed")
    _problem(queue_api.post("/api/v1/license-changes/nope/requeue"), 404, "not_found")
    _problem(queue_api.post("/api/v1/license-changes/0190a0a0-0000-7000-8000-000000000000/requeue"), 404, "not_found")
    _problem(
        queue_api.post(f"/api/v1/license-changes/{change_id}/confirm", json={"status": "failed"}),
        422,
        "message_required",
    )
    _problem(
        queue_api.post(f"/api/v1/license-changes/{change_id}/confirm", json={"status": "done"}),
        422,
        "validation_failed",
    )
    _problem(queue_api.post("/api/v1/worker/run-once", json={"max_wait_seconds": -1}), 422, "validation_failed")
    still = queue_api.get(f"/api/v1/license-changes/{change_id}").json()
    assert still["provisioning_status"] == "awaiting_provisioning"
