"""e. Drift made at the provider behind seatflow's back, found by a reconciliation and adopted onto a location
(README walkthrough, step 6; SPEC §9)."""

from __future__ import annotations

import pytest

from tests.e2e.checks import E3, TENANT, assert_invariants, at_simulator, quantity, wait_settled
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

NEW_YORK = "Pine Cone Vet - New York City"


def _item_of(report: dict[str, object], subscription_id: str) -> list[dict[str, object]]:
    items = report["items"]
    assert isinstance(items, list)
    return [i for i in items if i["subscription_id"] == subscription_id]


def test_a_quantity_changed_at_the_provider_is_reported_and_adopted_onto_a_location(stack: Stack) -> None:
    api, sim = stack.api, stack.sim
    parent, new_york = stack.demo.parent(E3), stack.demo.child(NEW_YORK, E3)
    held = at_simulator(api, sim, parent)
    assert held["quantity"] == 50
    # Someone changes it in Partner Center as new commerce requires: the full resource, with its etag.
    path = f"/v1/customers/{TENANT}/subscriptions/{held['id']}"
    read = sim.get(path)
    assert read.is_success, read.text
    changed = sim.patch(path, json={**read.json(), "quantity": 63}, headers={"If-Match": read.headers["ETag"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["quantity"] == 63

    report = api.ok("POST", "/api/v1/reconciliations", json={"provider_account_id": "Partner Center"})
    (item,) = _item_of(report, parent)
    assert item["classification"] == "changed_at_provider", item
    assert (item["provider_quantity"], item["seatflow_quantity"], item["children_quantity"]) == (63, 50, 50)
    assert "adopt" in str(item["fixes"])
    others = [i for i in report["items"] if i["subscription_id"] != parent]
    assert not others, f"the reconciliation reports more than the drift: {others}"

    adopted = api.ok(
        "POST", "/api/v1/reconciliations/adopt", json={"subscription_id": parent, "child_subscription_id": new_york}
    )
    assert {c["subscription_id"] for c in adopted} == {parent, new_york}
    assert quantity(api, parent) == 63
    assert quantity(api, new_york) == 25 + 13

    wait_settled(api, timeout=30, logs=stack.logs)
    assert at_simulator(api, sim, parent)["quantity"] == 63
    assert_invariants(api, sim)
    again = api.ok("POST", "/api/v1/reconciliations", json={"provider_account_id": "Partner Center"})
    assert again["items"] == [], "parent, children and provider still differ after the adopt"
    stack.traffic.assert_no_server_errors()
