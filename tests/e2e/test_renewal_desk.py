"""The renewal desk through real processes (SPEC §7, §10): ``seatflow serve --workers 2``, ``seatflow worker`` and
the simulator on a committed database with the demo loaded (every subscription bought on 2026-12-01 for a year).
The listing comes over HTTP; "don't renew" and a change at renewal are sent to Partner Center by the worker
process (``autoRenewEnabled: false``, ``scheduledNextTermInstructions``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.checks import at_simulator, wait_settled
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

HEAD_OFFICE = "Pine Cone Vet - Head office"
E5, CALLING = "Office 365 E5", "Microsoft Teams Domestic Calling Plan"


def upcoming(stack: Stack, days: int) -> list[dict[str, Any]]:
    page = stack.api.ok("GET", "/api/v1/renewals/upcoming", params={"days": days, "limit": 500})
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


def test_the_desk_lists_the_renewals_and_dont_renew_and_a_change_reach_partner_center(stack: Stack) -> None:
    assert upcoming(stack, 30) == []  # every term runs to 2027-11-30
    year = upcoming(stack, 366)
    assert len(year) == len(stack.demo.subscriptions)
    assert {r["renewal_date"] for r in year} == {"2027-12-01"}
    e5_id, calling_id = stack.demo.subscriptions[(HEAD_OFFICE, E5)], stack.demo.subscriptions[(HEAD_OFFICE, CALLING)]
    [e5] = [r for r in year if r["subscription_id"] == e5_id]
    assert (e5["quantity"], e5["unit_price"], e5["monthly_amount"]) == (5, "38.00", "190.00")  # 5 x 38.00

    # Don't renew the Domestic Calling Plan: the worker tells Partner Center before the term ends.
    response = stack.api.patch(f"/api/v1/subscriptions/{calling_id}", json={"auto_renew": False})
    assert response.status_code == 200, response.text
    # And the E5 renews with 8 seats: sent ahead as the next term's instructions.
    changed = stack.api.ok("POST", f"/api/v1/subscriptions/{e5_id}/renewal", json={"quantity": 8})
    assert changed["monthly_amount_after"] == "304.00"  # 8 x 38.00
    wait_settled(stack.api, timeout=60, logs=stack.logs)

    assert at_simulator(stack.api, stack.sim, calling_id)["autoRenewEnabled"] is False
    instructions = at_simulator(stack.api, stack.sim, e5_id)["scheduledNextTermInstructions"]
    assert instructions["quantity"] == 8
    assert at_simulator(stack.api, stack.sim, e5_id)["quantity"] == 5  # this term is untouched

    rows = {r["subscription_id"]: r for r in upcoming(stack, 366)}
    calling = rows[calling_id]
    assert (calling["auto_renew"], calling["expires_on"], calling["monthly_amount_after"]) == (
        False,
        "2027-12-01",
        "0.00",
    )
    assert rows[e5_id]["changes"] == [{"what": "quantity", "before": "5", "after": "8"}]
    stack.traffic.assert_no_server_errors()
