"""``/api/v1/webhooks``, ``/webhook-deliveries``, ``/events`` and ``/audit-log`` through HTTP (SPEC §13)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from seatflow.events.delivery import fan_out
from seatflow.events.outbox import emit
from tests.factories import FACTORY_TODAY, noon

NOW = noon(FACTORY_TODAY)


def add(client: TestClient, **body: object) -> dict[str, object]:
    answer = client.post(
        "/api/v1/webhooks", json={"url": "https://erp.example/hooks", "events": ["license_change.failed"], **body}
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, object] = answer.json()
    return found


def test_the_secret_is_shown_once(client: TestClient) -> None:
    made = add(client, description="ERP")
    assert str(made["secret"]).startswith("whsec_")
    assert made["events"] == ["license_change.failed"]
    assert made["active"] is True
    shown = client.get(f"/api/v1/webhooks/{made['id']}").json()
    assert "secret" not in shown
    assert "secret" not in client.get("/api/v1/webhooks").json()["items"][0]


def test_bad_endpoints_are_refused_with_a_code(client: TestClient) -> None:
    bad_url = client.post("/api/v1/webhooks", json={"url": "ftp://x.example", "events": ["invoice.issued"]})
    assert (bad_url.status_code, bad_url.json()["code"]) == (422, "invalid_webhook_url")
    bad_event = client.post("/api/v1/webhooks", json={"url": "https://x.example", "events": ["invoice.paid"]})
    assert (bad_event.status_code, bad_event.json()["code"]) == (422, "unknown_event_type")
    none = client.post("/api/v1/webhooks", json={"url": "https://x.example", "events": []})
    assert none.status_code == 422
    assert client.get("/api/v1/webhooks/not-an-id").status_code == 404
    assert client.get("/api/v1/webhook-deliveries/01a24ab6-08bb-7000-b255-07def28afe37").status_code == 404


def test_change_turn_off_and_remove(client: TestClient) -> None:
    made = add(client)
    changed = client.patch(
        f"/api/v1/webhooks/{made['id']}", json={"events": ["invoice.issued", "credit_note.issued"], "active": False}
    )
    assert changed.status_code == 200
    assert (changed.json()["events"], changed.json()["active"]) == (["invoice.issued", "credit_note.issued"], False)
    assert client.delete(f"/api/v1/webhooks/{made['id']}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{made['id']}").status_code == 404


def test_deliveries_are_listed_filtered_and_replayed(client: TestClient, session: Session) -> None:
    made = add(client, events=["license_change.failed", "invoice.issued"])
    emit(session, type="license_change.failed", subject_id="change-1", data={"id": "change-1"}, occurred_at=NOW)
    emit(session, type="invoice.issued", subject_id="invoice-1", data={"number": "INV-1"}, occurred_at=NOW)
    fan_out(session, now=NOW)
    every = client.get("/api/v1/webhook-deliveries").json()["items"]
    assert sorted(d["event"] for d in every) == ["invoice.issued", "license_change.failed"]
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in every)
    [failed] = client.get("/api/v1/webhook-deliveries", params={"subject_id": "change-1"}).json()["items"]
    assert failed["event"] == "license_change.failed"
    assert (
        len(client.get(f"/api/v1/webhooks/{made['id']}/deliveries", params={"event": "invoice.issued"}).json()["items"])
        == 1
    )
    replayed = client.post(f"/api/v1/webhook-deliveries/{failed['id']}/replay")
    assert replayed.status_code == 200
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 0)
    client.patch(f"/api/v1/webhooks/{made['id']}", json={"active": False})
    refused = client.post(f"/api/v1/webhook-deliveries/{failed['id']}/replay")
    assert (refused.status_code, refused.json()["code"]) == (409, "webhook_endpoint_inactive")
    outbox = client.get("/api/v1/events", params={"type": "invoice.issued"}).json()["items"]
    assert [(e["subject_id"], e["data"]) for e in outbox] == [("invoice-1", {"number": "INV-1"})]
    assert client.get("/api/v1/webhooks/event-types").json()["margin.leak_found"]


def test_the_audit_log_refuses_bad_filters(client: TestClient) -> None:
    assert client.get("/api/v1/audit-log", params={"from": "2026-12-01T00:00:00"}).status_code == 422
    assert client.get("/api/v1/audit-log", params={"request_id": "nope"}).status_code == 422
    backwards = client.get("/api/v1/audit-log", params={"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_range")
    assert client.get("/api/v1/audit", params={"target_id": "x"}).json() == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/audit-log").status_code == 200
    assert TestClient(client.app).get("/api/v1/audit-log").status_code == 401
