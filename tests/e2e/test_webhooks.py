"""SPEC §17 through real processes: ``seatflow serve`` and a ``seatflow worker`` on a committed database, the
simulator failing every Partner Center call, and a receiver of the test's own (a stdlib HTTP server on a loopback
port) that verifies each delivery with the Standard Webhooks reference library.

The receiver gets a signed ``license_change.failed``; then, while it answers 503, the next failures are tried, and
once it is back the worker's retries reach it with the same ``webhook-id``s. The API writes are in the audit log,
a replay sends a delivery again, and the operator's address gets its mail (to the log: no SMTP server here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.checks import E3, every
from tests.e2e.conftest import Stack
from tests.e2e.stack import wait_until
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

HEAD_OFFICE, ATLANTA = "Pine Cone Vet - Head office", "Pine Cone Vet - Atlanta"
E5 = "Office 365 E5"
OPS = "ops@reseller.example"
WITHIN_S = 60.0
"""How long the worker has for what it does next (a loaded CI machine is slow)."""
FAILING_WORKER = {
    "SEATFLOW_WORKER_MAX_ATTEMPTS": "2",  # a change fails after two refused calls
    "SEATFLOW_WEBHOOK_BACKOFF_BASE_SECONDS": "0.3",
    "SEATFLOW_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
    "SEATFLOW_WEBHOOK_MAX_ATTEMPTS": "50",
    "SEATFLOW_NOTIFY_EMAIL": OPS,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def deliveries(stack: Stack, subject: str) -> list[dict[str, Any]]:
    return every(
        stack.api, "/api/v1/webhook-deliveries", subject_id=subject, event="license_change.failed", channel="webhook"
    )


def failed_change(stack: Stack, subscription_id: str) -> dict[str, Any]:
    """The subscription's change that failed (waits for the worker to give up on it)."""

    def found() -> list[dict[str, Any]]:
        changes = stack.api.ok("GET", f"/api/v1/subscriptions/{subscription_id}/changes")
        return [c for c in changes if c["provisioning_status"] == "failed"]

    wait_until(lambda: bool(found()), timeout=WITHIN_S, what=f"a change of {subscription_id} failed", logs=stack.logs)
    return found()[-1]


def test_a_receiver_gets_a_signed_failure_and_after_being_down_the_retries(stack: Stack, receiver: Receiver) -> None:
    stack.workers[0].stop()  # a worker whose changes fail fast and whose deliveries retry fast takes over
    worker = stack.start_worker(**FAILING_WORKER)
    endpoint = stack.api.ok("POST", "/api/v1/webhooks", json={"url": receiver.url, "events": ["license_change.failed"]})
    receiver.secret = endpoint["secret"]
    stack.sim.ok("POST", "/_sim/faults", json={"error_rate": 1.0})

    # 1. A change fails at Partner Center: the receiver gets license_change.failed, signed.
    e5 = stack.demo.subscriptions[(HEAD_OFFICE, E5)]
    stack.api.ok("POST", f"/api/v1/subscriptions/{e5}/quantity", json={"quantity": 6})
    change = failed_change(stack, e5)
    wait_until(
        lambda: bool(receiver.received("license_change.failed")),
        timeout=WITHIN_S,
        what="the receiver got license_change.failed",
        logs=stack.logs,
    )
    [first] = receiver.received("license_change.failed")
    assert first.verified
    assert first.answered == 200
    assert first.payload["data"]["id"] == change["id"]
    assert (first.payload["data"]["quantity_before"], first.payload["data"]["quantity_after"]) == (5, 6)
    assert first.payload["data"]["message"] == change["message"]
    # The worker records the outcome after the receiver has answered: wait for the record, not only the arrival.
    wait_until(
        lambda: [d["status"] for d in deliveries(stack, change["id"])] not in ([], ["pending"]),
        timeout=WITHIN_S,
        what="the delivery's outcome was recorded",
        logs=stack.logs,
    )
    [delivered] = deliveries(stack, change["id"])
    assert (delivered["status"], delivered["attempts"], delivered["endpoint_id"]) == ("delivered", 1, endpoint["id"])

    # 2. The receiver is down (503): Atlanta's change and its linked parent's fail, their deliveries are failing...
    receiver.answer = 503
    atlanta = stack.demo.child(ATLANTA, E3)
    stack.api.ok("POST", f"/api/v1/subscriptions/{atlanta}/quantity", json={"quantity": 11})
    child_change = failed_change(stack, atlanta)
    wait_until(
        lambda: any(d["status"] == "failing" for d in deliveries(stack, child_change["id"])),
        timeout=WITHIN_S,
        what="the delivery to the receiver that is down is failing",
        logs=stack.logs,
    )
    refused = [r for r in receiver.received("license_change.failed") if r.answered == 503]
    assert refused, "the receiver was tried while it was down"
    assert all(r.verified for r in refused)

    # ... and once it is back, the worker's retries reach it, with the same webhook-ids.
    receiver.answer = 200
    wait_until(
        lambda: all(d["status"] == "delivered" for d in deliveries(stack, child_change["id"])),
        timeout=WITHIN_S,
        what="the retried delivery was delivered",
        logs=stack.logs,
    )
    [retried] = deliveries(stack, child_change["id"])
    assert retried["attempts"] >= 2

    def accepted() -> set[str]:
        return {r.webhook_id for r in receiver.received("license_change.failed") if r.answered == 200}

    # Every refused delivery, the linked parent's change's too (its retry is due on its own back-off, which may
    # come after the child's), reaches the receiver with the webhook-id it was refused with.
    wait_until(
        lambda: {r.webhook_id for r in refused} <= accepted(),
        timeout=WITHIN_S,
        what="every refused delivery was retried and accepted",
        logs=stack.logs,
    )
    child_ids = {r.payload["data"]["id"] for r in receiver.received("license_change.failed") if r.answered == 200}
    assert child_change["id"] in child_ids

    # A replay sends a delivered event again, with its webhook-id.
    before = len(receiver.received())
    stack.api.ok("POST", f"/api/v1/webhook-deliveries/{delivered['id']}/replay")
    wait_until(lambda: len(receiver.received()) > before, timeout=WITHIN_S, what="the replay arrived", logs=stack.logs)
    assert receiver.received()[-1].webhook_id == first.webhook_id

    # The operator's writes are in the audit log, as the API key's; the worker's are not.
    quantity_rows = every(stack.api, "/api/v1/audit-log", entity_id=e5, action="subscription.quantity_changed")
    assert [(r["actor_kind"], r["origin"], r["before"], r["after"]) for r in quantity_rows] == [
        ("api_key", "api", {"quantity": 5}, {"quantity": 6})
    ]
    failures = every(stack.api, "/api/v1/audit-log", entity_id=change["id"])
    assert [r["action"] for r in failures] == ["license_change.created"], "the worker's outcome is not an action"
    assert every(stack.api, "/api/v1/audit-log", action="webhook_delivery.replayed")

    # The operator's address was told of the failures (by mail; to the worker's log without an SMTP server).
    wait_until(
        lambda: f"to={OPS}" in worker.stderr.read_text() + worker.stdout.read_text(),
        timeout=WITHIN_S,
        what="the failure mail",
        logs=stack.logs,
    )
    stack.sim.ok("POST", "/_sim/faults", json={"error_rate": 0.0})
