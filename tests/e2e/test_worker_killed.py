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
CARTS = "POST /v1/customers/{id}/carts"
CHECKOUTS = "POST /v1/customers/{id}/carts/{id}/checkout"
LATENCY_MS = 500
"""Each Partner Center call takes this long: the drain takes seconds."""
CHECKOUT_MS = 5000
"""The purchase's checkout takes this long: the kill lands while its answer is on its way, however long a loaded
machine keeps the test from sending it (with LATENCY_MS alone it had half a second)."""
ROUNDS = 4
"""Quantity changes per location subscription."""


def test_a_worker_killed_mid_drain_leaves_the_rest_to_the_next_one_and_buys_nothing_twice(stack: Stack) -> None:
    api, sim = stack.api, stack.sim
    stack.workers[0].stop()  # the stack's worker, stopped with SIGTERM, so that the changes queue up
    bought = {s["id"] for s in sim_subscriptions(sim)}
    orders_before = {o["id"] for o in sim.ok("GET", "/_sim/state")["orders"]}

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
    sim.ok("POST", "/_sim/faults", json={"latency_ms": LATENCY_MS, "route_latency_ms": {CHECKOUTS: CHECKOUT_MS}})

    doomed = stack.start_worker(SEATFLOW_WORKER_LEASE_SECONDS="2")
    wait_until(
        lambda: sim_requests(sim)[CHECKOUTS] > 0,
        timeout=60,
        what="the worker has checked the purchase's cart out at Partner Center",
        logs=stack.logs,
        every=0.02,  # the kill must land within CHECKOUT_MS, before the checkout's answer is back
    )
    doomed.popen.send_signal(signal.SIGKILL)  # while the checkout's answer is still on its way (CHECKOUT_MS)
    doomed.popen.wait(timeout=10)
    left = len(changes(api, "awaiting_provisioning"))
    assert 0 < left < len(to_send), f"the kill did not land mid-drain: {left} of {len(to_send)} changes left"
    assert subscription(api, new["id"])["external_id"] is None, "the checkout's answer arrived before the kill"
    # The killed worker's checkout goes through at Partner Center once its CHECKOUT_MS are over: the next worker
    # comes after that (its own checkout must find the cart checked out), and its calls all take LATENCY_MS.
    wait_until(
        lambda: any(o["id"] not in orders_before for o in sim.ok("GET", "/_sim/state")["orders"]),
        timeout=60,
        what="the killed worker's checkout went through at Partner Center",
        logs=stack.logs,
    )
    sim.ok("POST", "/_sim/faults", json={"route_latency_ms": {}})

    finisher = stack.start_worker("--drain", "--max-wait", "60")
    assert finisher.popen.wait(timeout=90) == 0, finisher.logs()
    result = json.loads(finisher.stdout.read_text())
    assert result["failed"] == 0, result

    wait_settled(api, timeout=10, logs=stack.logs)
    provisioned = {c["id"] for c in changes(api, "provisioned")}
    assert {c["id"] for c in to_send} <= provisioned, "a queued change was not provisioned"
    state = sim.ok("GET", "/_sim/state")
    external_id = subscription(api, new["id"])["external_id"]
    assert {s["id"] for s in state["subscriptions"]} == bought | {external_id}, "not one new subscription"
    new_orders = [o for o in state["orders"] if o["id"] not in orders_before]
    assert len(new_orders) == 1, f"the purchase was ordered {len(new_orders)} times"
    assert [line["subscriptionId"] for line in new_orders[0]["lineItems"]] == [external_id]
    # The killed worker's checkout went through at Partner Center, its answer never came; the next worker checked
    # the same cart out again (the cart's first result came back), never a new cart.
    requests = sim_requests(sim)
    assert (requests[CARTS], requests[CHECKOUTS]) == (1, 2), requests
    (purchase,) = [c for c in api.ok("GET", f"/api/v1/subscriptions/{new['id']}/changes") if c["kind"] == "create"]
    assert new_orders[0]["id"] in (purchase["message"] or ""), purchase
    held = at_simulator(api, sim, new["id"])
    assert (held["quantity"], held["id"]) == (3, external_id)
    assert sim.ok("GET", f"/v1/customers/{TENANT}/subscriptions/{held['id']}")["quantity"] == 3
    for product in (E3, EMS):
        parent = stack.demo.parent(product)
        expected = len(LOCATIONS) * (5 + 2 * ROUNDS)
        assert quantity(api, parent) == expected
        assert at_simulator(api, sim, parent)["quantity"] == expected
    for product in E5_CHAIN:
        assert at_simulator(api, sim, stack.demo.subscriptions[(HEAD_OFFICE, product)])["quantity"] == 7
    assert_invariants(api, sim)
    stack.traffic.assert_no_server_errors()
