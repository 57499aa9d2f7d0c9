"""New-commerce subscriptions: Microsoft's fields, PATCH of the full resource with an etag, seat batches with their own
7-day windows, the cancellation window, scheduled changes for the next term and slow (202) changes
(developer/change-the-quantity-of-a-subscription.md, create-scheduled-changes.md, subscription-resources.md)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.simulator.helpers import CUSTOMER, fault_of, move_clock
from tests.simulator.nce import (
    EMS_E3,
    M365_E3,
    M365_E3_ITEM,
    assert_documented_shape,
    buy,
    cart_line,
    catalog_item,
    change,
    documented,
    get_subscription,
    missing_from,
    patch_full,
    set_clock,
)


def _e3(pc: httpx.Client, quantity: int = 10, **extra: Any) -> dict[str, Any]:
    [subscription] = buy(pc, cart_line(pc, M365_E3, quantity, **extra))
    return subscription


def _next_term(
    pc: httpx.Client, sku: str, quantity: int, *, term: str = "P1Y", billing: str = "monthly"
) -> dict[str, Any]:
    product_id, sku_id, availability_id = catalog_item(pc, sku).split(":")
    product = {"productId": product_id, "skuId": sku_id, "availabilityId": availability_id}
    return {"product": product | {"billingCycle": billing, "termDuration": term}, "quantity": quantity}


def test_a_bought_subscription_carries_microsofts_new_commerce_fields(pc: httpx.Client) -> None:
    set_clock(pc)
    read = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{_e3(pc)['id']}")
    subscription = read.json()
    assert_documented_shape(subscription, "subscription-nce-reduce-request.json")
    assert read.headers["ETag"] == subscription["attributes"]["etag"]
    assert subscription["offerId"] == M365_E3_ITEM
    assert subscription["productType"]["id"] == "OnlineServicesNCE"
    assert (subscription["status"], subscription["autoRenewEnabled"]) == ("active", True)
    assert (subscription["termDuration"], subscription["billingCycle"]) == ("P1Y", "monthly")
    assert subscription["scheduledNextTermInstructions"] is None
    created = datetime.fromisoformat(subscription["creationDate"])
    assert subscription["effectiveStartDate"] == "2026-01-10T00:00:00Z"
    assert subscription["commitmentEndDate"] == "2027-01-09T00:00:00Z"
    assert datetime.fromisoformat(subscription["cancellationAllowedUntilDate"]) == created + timedelta(days=7)
    assert subscription["refundableQuantity"] == {
        "totalQuantity": 10,
        "details": [{"quantity": 10, "allowedUntilDateTime": subscription["cancellationAllowedUntilDate"]}],
    }
    assert subscription["links"]["sku"]["uri"] == "/products/CFQ7TTC0LFLX/skus/0001?country=US"
    assert "parentSubscriptionId" not in subscription


def test_a_patch_takes_the_full_resource(pc: httpx.Client) -> None:
    e3 = _e3(pc)
    partial = pc.patch(f"/v1/customers/{CUSTOMER}/subscriptions/{e3['id']}", json={"id": e3["id"], "quantity": 12})
    assert fault_of(partial) == (400, "800002")
    assert "full Subscription resource" in partial.json()["description"]
    assert get_subscription(pc, e3["id"])["quantity"] == 10

    increased = patch_full(pc, e3, quantity=12)
    assert increased.status_code == 200, increased.text
    assert increased.json()["quantity"] == 12
    assert increased.json()["attributes"]["etag"] != e3["attributes"]["etag"]
    assert fault_of(patch_full(pc, e3, quantity=13)) == (400, "2055")  # the etag read before the change is stale
    assert fault_of(change(pc, e3["id"], billingCycle="annual")) == (400, "2054")
    assert fault_of(change(pc, e3["id"], offerId=catalog_item(pc, EMS_E3))) == (400, "800002")
    assert fault_of(change(pc, e3["id"], termDuration="P1M")) == (400, "800002")


def test_each_batch_of_seats_has_its_own_seven_day_window(pc: httpx.Client) -> None:
    set_clock(pc)
    e3 = _e3(pc, 10)
    move_clock(pc, days=3)
    added = change(pc, e3["id"], quantity=15).json()
    windows = [detail["allowedUntilDateTime"] for detail in added["refundableQuantity"]["details"]]
    assert [detail["quantity"] for detail in added["refundableQuantity"]["details"]] == [10, 5]
    assert datetime.fromisoformat(windows[1]) - datetime.fromisoformat(windows[0]) >= timedelta(days=3)

    move_clock(pc, days=5)  # the purchase's window closed, the addition's has two days left
    assert get_subscription(pc, e3["id"])["refundableQuantity"]["totalQuantity"] == 5
    refused = change(pc, e3["id"], quantity=9)
    assert fault_of(refused) == (400, "800090")
    documented_refusal = documented("subscription-nce-reduce-refused.json")
    assert refused.json()["description"] == documented_refusal["description"]
    assert str(documented_refusal["code"]) == refused.json()["code"]
    reduced = change(pc, e3["id"], quantity=10)
    assert reduced.json()["quantity"] == 10
    assert reduced.json()["refundableQuantity"] == {"totalQuantity": 0, "details": []}


def test_quantity_stays_within_the_skus_limits(pc: httpx.Client) -> None:
    e3 = _e3(pc)
    assert fault_of(change(pc, e3["id"], quantity=301)) == (400, "2002")
    assert fault_of(change(pc, e3["id"], quantity=0)) == (400, "2002")


def test_cancellation_only_before_the_cancellation_date(pc: httpx.Client) -> None:
    early = _e3(pc)
    assert change(pc, early["id"], status="deleted").json()["status"] == "deleted"
    assert fault_of(change(pc, early["id"], quantity=11)) == (400, "2011")

    late = _e3(pc)
    move_clock(pc, days=7, minutes=1)
    refused = change(pc, late["id"], status="deleted")
    assert fault_of(refused) == (400, "900117")
    assert get_subscription(pc, late["id"])["status"] == "active"


def test_auto_renew_is_turned_off_and_on(pc: httpx.Client) -> None:
    e3 = _e3(pc)
    off = change(pc, e3["id"], autoRenewEnabled=False)
    assert off.status_code == 200
    assert off.json()["autoRenewEnabled"] is False
    assert change(pc, e3["id"], autoRenewEnabled=True).json()["autoRenewEnabled"] is True


def test_scheduled_changes_are_set_in_the_documented_shape(pc: httpx.Client) -> None:
    e3 = _e3(pc, 10)
    example = documented("subscription-scheduled-changes-request.json")["scheduledNextTermInstructions"]
    instructions = _next_term(pc, EMS_E3, 25, billing="annual")
    instructions["product"]["billingCycle"] = "Annual"  # as the page writes it
    scheduled = change(pc, e3["id"], scheduledNextTermInstructions=instructions)
    assert scheduled.status_code == 200, scheduled.text
    body = scheduled.json()
    gaps = missing_from(body["scheduledNextTermInstructions"], example)
    assert gaps == ["$.product.promotionId", "$.customTermEndDate"]  # neither was sent
    assert body["scheduledNextTermInstructions"]["quantity"] == 25
    assert body["scheduledNextTermInstructions"]["product"]["skuId"] == "0002"
    assert body["quantity"] == 10  # nothing changes before the renewal
    assert get_subscription(pc, e3["id"])["scheduledNextTermInstructions"] == body["scheduledNextTermInstructions"]


def test_a_mid_term_quantity_change_clears_the_scheduled_changes(pc: httpx.Client) -> None:
    e3 = _e3(pc, 10)
    scheduled = change(pc, e3["id"], scheduledNextTermInstructions=_next_term(pc, M365_E3, 20)).json()
    assert scheduled["scheduledNextTermInstructions"]["quantity"] == 20
    increased = patch_full(pc, scheduled, quantity=12)  # the body still carries the instructions it read
    assert increased.json()["quantity"] == 12
    assert increased.json()["scheduledNextTermInstructions"] is None


def test_suspending_clears_the_scheduled_changes_and_keeps_the_seats(pc: httpx.Client) -> None:
    e3 = _e3(pc, 10)
    change(pc, e3["id"], scheduledNextTermInstructions=_next_term(pc, M365_E3, 20))
    suspended = change(pc, e3["id"], status="suspended").json()
    assert (suspended["status"], suspended["scheduledNextTermInstructions"]) == ("suspended", None)
    assert fault_of(change(pc, e3["id"], quantity=12)) == (400, "800091")
    assert change(pc, e3["id"], status="active").json()["status"] == "active"


def test_scheduled_changes_the_catalog_or_the_subscription_refuses(pc: httpx.Client) -> None:
    e3 = _e3(pc, 10)
    next_term = _next_term(pc, M365_E3, 20)
    unknown_sku = next_term | {"product": next_term["product"] | {"skuId": "0099"}}
    stale = next_term | {"product": next_term["product"] | {"availabilityId": "CFQ7TTC0OLD0"}}
    bad_plan = next_term | {"product": next_term["product"] | {"termDuration": "P1M", "billingCycle": "annual"}}
    assert fault_of(change(pc, e3["id"], scheduledNextTermInstructions=unknown_sku)) == (404, "400018")
    assert fault_of(change(pc, e3["id"], scheduledNextTermInstructions=stale)) == (404, "400019")
    assert fault_of(change(pc, e3["id"], scheduledNextTermInstructions=bad_plan)) == (400, "900269")
    assert fault_of(change(pc, e3["id"], scheduledNextTermInstructions=next_term | {"quantity": 500})) == (400, "2002")
    no_renewal = change(pc, e3["id"], autoRenewEnabled=False, scheduledNextTermInstructions=next_term)
    assert fault_of(no_renewal) == (400, "800002")
    assert get_subscription(pc, e3["id"])["scheduledNextTermInstructions"] is None


def test_a_slow_change_answers_202_and_is_applied_later(pc: httpx.Client) -> None:
    e3 = _e3(pc, 10)
    pc.post("/_sim/faults", json={"accepted_rate": 1, "provisioning_delay_s": 0.5})
    accepted = change(pc, e3["id"], quantity=14)
    assert accepted.status_code == 202
    location = accepted.headers["Location"]
    assert location == e3["links"]["self"]["uri"]
    polled = pc.get(f"/v1{location}").json()
    assert polled["quantity"] == 10
    assert fault_of(patch_full(pc, polled, quantity=15)) == (409, "800082")
    deadline = time.monotonic() + 10
    while polled["quantity"] == 10 and time.monotonic() < deadline:
        time.sleep(0.1)
        polled = pc.get(f"/v1{location}").json()
    assert polled["quantity"] == 14
    assert polled["attributes"]["etag"] != e3["attributes"]["etag"]
    assert pc.get("/_sim/stats").json()["accepted"] == 1
