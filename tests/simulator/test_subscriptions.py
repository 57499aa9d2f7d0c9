"""Subscription PATCH: quantity within the 168-hour refund window, cancellation within 7 days, suspension, add-on
reactivation (research §6.3, §7)."""

from __future__ import annotations

import httpx

from tests.simulator.helpers import (
    BUSINESS_PREMIUM,
    EXTRA_FILE_STORAGE,
    M365_E3,
    buy,
    fault_of,
    move_clock,
    patch,
    subscription,
)


def test_reductions_only_remove_seats_bought_in_the_last_168_hours(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 50)
    reduced = patch(pc, e3["id"], quantity=45)
    assert reduced.status_code == 200
    assert reduced.json()["quantity"] == 45
    assert reduced.json()["refundableQuantity"]["totalQuantity"] == 45

    move_clock(pc, days=8)
    assert subscription(pc, e3["id"])["refundableQuantity"] == {"totalQuantity": 0, "details": []}
    refused = patch(pc, e3["id"], quantity=44)
    assert fault_of(refused) == (400, "800090")
    assert "cannot be decreased" in refused.json()["description"]

    increased = patch(pc, e3["id"], quantity=55)
    assert increased.status_code == 200
    assert increased.json()["refundableQuantity"]["totalQuantity"] == 10
    assert patch(pc, e3["id"], quantity=45).json()["quantity"] == 45  # the ten new seats may go again
    assert fault_of(patch(pc, e3["id"], quantity=44)) == (400, "800090")


def test_a_reduction_uses_up_the_newest_seats_first(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 10)
    move_clock(pc, days=3)
    patch(pc, e3["id"], quantity=15)
    details = patch(pc, e3["id"], quantity=12).json()["refundableQuantity"]["details"]
    assert [d["quantity"] for d in details] == [10, 2]
    move_clock(pc, days=5)  # the purchase's window closed, the addition's is still open
    assert subscription(pc, e3["id"])["refundableQuantity"]["totalQuantity"] == 2
    assert patch(pc, e3["id"], quantity=10).status_code == 200
    assert fault_of(patch(pc, e3["id"], quantity=9)) == (400, "800090")


def test_quantity_stays_within_the_offer_limits(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 5)
    assert fault_of(patch(pc, bp["id"], quantity=301)) == (400, "2002")
    assert fault_of(patch(pc, bp["id"], quantity=0)) == (400, "2002")


def test_the_same_quantity_is_a_no_op_and_a_change_moves_the_etag(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 5)
    same = patch(pc, e3["id"], quantity=5).json()
    assert same["attributes"]["etag"] == e3["attributes"]["etag"]
    renamed = pc.patch(f"/v1/customers/pine-cone-vet-tenant/subscriptions/{e3['id']}", json=e3 | {"friendlyName": "x"})
    assert renamed.json()["friendlyName"] == "x"
    assert renamed.json()["attributes"]["etag"] != e3["attributes"]["etag"]


def test_a_stale_if_match_is_refused(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 5)
    patch(pc, e3["id"], autoRenewEnabled=False)
    stale = pc.patch(
        f"/v1/customers/pine-cone-vet-tenant/subscriptions/{e3['id']}",
        json={"quantity": 6},
        headers={"If-Match": e3["attributes"]["etag"]},
    )
    assert fault_of(stale) == (400, "2055")


def test_cancellation_only_inside_seven_days(pc: httpx.Client) -> None:
    early = buy(pc, M365_E3, 5)
    assert patch(pc, early["id"], status="deleted").json()["status"] == "deleted"
    assert fault_of(patch(pc, early["id"], quantity=6)) == (400, "2011")

    late = buy(pc, M365_E3, 5)
    move_clock(pc, days=8)
    refused = patch(pc, late["id"], status="deleted")
    assert fault_of(refused) == (400, "900117")
    assert refused.json()["description"] == (
        "You have passed your 7-day cancellation window. We are unable to cancel your purchase"
    )


def test_a_suspended_subscription_keeps_its_quantity(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 5)
    assert patch(pc, e3["id"], status="suspended").json()["status"] == "suspended"
    assert fault_of(patch(pc, e3["id"], quantity=6)) == (400, "800091")
    assert patch(pc, e3["id"], status="active").json()["status"] == "active"
    assert patch(pc, e3["id"], quantity=6).json()["quantity"] == 6


def test_an_add_on_is_reactivated_only_under_an_active_parent(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 5)
    storage = buy(pc, EXTRA_FILE_STORAGE, 10, parentSubscriptionId=bp["id"])
    patch(pc, storage["id"], status="suspended")
    patch(pc, bp["id"], status="suspended")
    assert subscription(pc, storage["id"])["status"] == "suspended"  # nothing cascades
    assert fault_of(patch(pc, storage["id"], status="active")) == (409, "27009")
    patch(pc, bp["id"], status="active")
    assert patch(pc, storage["id"], status="active").json()["status"] == "active"


def test_suspending_a_parent_does_not_touch_its_add_ons(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 5)
    storage = buy(pc, EXTRA_FILE_STORAGE, 10, parentSubscriptionId=bp["id"])
    patch(pc, bp["id"], status="suspended")
    assert subscription(pc, storage["id"])["status"] == "active"


def test_bad_patch_values_are_800002(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 5)
    assert fault_of(patch(pc, e3["id"], quantity="7")) == (400, "800002")
    assert fault_of(patch(pc, e3["id"], status="paused")) == (400, "800002")
    assert fault_of(patch(pc, e3["id"], autoRenewEnabled="no")) == (400, "800002")


def test_a_legacy_subscription_renews_or_is_deleted_at_its_terms_end(pc: httpx.Client) -> None:
    """subscription-lifecycle.md, "Legacy": active, suspended, deleted only; still suspended at the term's end, it is
    deleted."""
    pc.post("/_sim/clock", json={"now": "2026-01-10T09:00:00Z"})
    pc.post("/_sim/offers", json={"id": "legacy-license", "name": "Legacy license"})
    renewing, suspended = buy(pc, "legacy-license", 5), buy(pc, "legacy-license", 5)
    assert patch(pc, suspended["id"], status="suspended").status_code == 200
    pc.post("/_sim/clock", json={"now": "2027-01-10T01:00:00Z"})
    renewed = subscription(pc, renewing["id"])
    assert (renewed["status"], renewed["commitmentEndDate"]) == ("active", "2028-01-09T00:00:00Z")
    assert subscription(pc, suspended["id"])["status"] == "deleted"
