"""f. ``seatflow worker`` SIGKILLed while it sends many queued changes, a purchase among them, to a slow Partner
Center; a new worker finishes them: every change provisioned, nothing bought twice, every parent = its children =
the provider (SPEC §7 "a worker killed at any point leaves work another run finishes, without buying twice")."""

from __future__ import annotations

import json
import signal

import pytest

from tests.e2e.checks import (
    E3,
    EMS,
    LOCATIONS,
    TENANT,
    assert_invariants,
    at_simulator,
    changes,
    quantity,
    sim_requests,
    sim_subscriptions,
    subscription,
    wait_settled,
)
from tests.e2e.conftest import Stack
from tests.e2e.stack import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

E5_CHAIN = ("Office 365 E5", "Microsoft 365 Audio Conferencing", "Microsoft Teams Phone Standard (Phone System)")
NEW_PRODUCT = "Office 365 Business Premium"
HEAD_OFFICE = "Pine Cone Vet - Head office"
ORDERS = "POST /v1/customers/{id}/orders"
LATENCY_MS = 500
"""Each Partner Center call takes this long: the drain takes seconds, and an order is in flight for a while."""
ROUNDS = 4
"""Quantity changes per location subscription."""


def test_a_worker_killed_mid_drain_leaves_the_rest_to_the_next_one_and_buys_nothing_twice(stack: Stack) -> None:
    api, sim = stack.api, stack.sim
    stack.workers[0].stop()  # the stack's worker, stopped with SIGTERM, so that the changes queue up
    bought = {s["friendlyName"] for s in sim_subscriptions(sim)}
    orders_before = len(sim.ok("GET", "/_sim/state")["orders"])

    queued = 0
    for round_ in range(1, ROUNDS + 1):
        for location in LOCATIONS:
            for product in (E3, EMS):
                child = stack.demo.child(location, product)
                api.ok("POST", f"/api/v1/subscriptions/{child}/quantity", json={"quantity": 5 + 2 * round_})
                queued += 1
    for product in E5_CHAIN:  # Partner Center subscriptions of their own: three more to send
        e5 = stack.demo.subscriptions[(HEAD_OFFICE, product)]
        api.ok("POST", f"/api/v1/subscriptions/{e5}/quantity", json={"quantity": 7})
    new = api.ok(
        "POST",
        "/api/v1/subscriptions",
        json={
            "contract_id": stack.demo.contracts[HEAD_OFFICE],
            "product_id": stack.demo.products[NEW_PRODUCT],
            "quantity": 3,
            "provider_account_id": stack.demo.partner_center,
        },
    )
    to_send = changes(api, "awaiting_provisioning")
    # Each child's change and the parent's it pushed up, the E5 chain's, and the purchase.
    assert len(to_send) == 2 * queued + len(E5_CHAIN) + 1
    sim.ok("POST", "/_sim/stats/reset")
    sim.ok("POST", "/_sim/faults", json={"latency_ms": LATENCY_MS})

    doomed = stack.start_worker(SEATFLOW_WORKER_LEASE_SECONDS="2")
    wait_until(
        lambda: sim_requests(sim)[ORDERS] > 0,
        timeout=60,
        what="the worker has sent the order to Partner Center",
        logs=stack.logs,
        every=0.02,  # the kill must land within LATENCY_MS, before the order's answer is back
    )
    doomed.popen.send_signal(signal.SIGKILL)  # while the order's answer is still on its way (LATENCY_MS)
    doomed.popen.wait(timeout=10)
    left = len(changes(api, "awaiting_provisioning"))
    assert 0 < left < len(to_send), f"the kill did not land mid-drain: {left} of {len(to_send)} changes left"
    assert subscription(api, new["id"])["external_id"] is None, "the order's answer arrived before the kill"

    finisher = stack.start_worker("--drain", "--max-wait", "60")
    assert finisher.popen.wait(timeout=90) == 0, finisher.logs()
    result = json.loads(finisher.stdout.read_text())
    assert result["failed"] == 0, result

    wait_settled(api, timeout=10, logs=stack.logs)
    provisioned = {c["id"] for c in changes(api, "provisioned")}
    assert {c["id"] for c in to_send} <= provisioned, "a queued change was not provisioned"
    state = sim.ok("GET", "/_sim/state")
    assert {s["friendlyName"] for s in state["subscriptions"]} == bought | {f"seatflow:{new['id']}"}
    assert len(state["orders"]) == orders_before + 1, "the purchase was ordered twice"
    (purchase,) = [c for c in api.ok("GET", f"/api/v1/subscriptions/{new['id']}/changes") if c["kind"] == "create"]
    assert purchase["message"] == "Found at Partner Center after a lost answer.", purchase
    held = at_simulator(sim, new["id"])
    assert (held["quantity"], held["id"]) == (3, subscription(api, new["id"])["external_id"])
    assert sim.ok("GET", f"/v1/customers/{TENANT}/subscriptions/{held['id']}")["quantity"] == 3
    for product in (E3, EMS):
        parent = stack.demo.parent(product)
        expected = len(LOCATIONS) * (5 + 2 * ROUNDS)
        assert quantity(api, parent) == expected
        assert at_simulator(sim, parent)["quantity"] == expected
    for product in E5_CHAIN:
        assert at_simulator(sim, stack.demo.subscriptions[(HEAD_OFFICE, product)])["quantity"] == 7
    assert_invariants(api, sim)
    stack.traffic.assert_no_server_errors()
