"""Renewals and the new-commerce lifecycle on the simulator's clock (create-scheduled-changes.md: renewals run after
the final day of a term; subscription-lifecycle.md: expired, disabled, deleted)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.simulator.helpers import fault_of
from tests.simulator.nce import (
    EMS_E3,
    M365_E3,
    buy,
    cart_line,
    catalog_item,
    change,
    get_subscription,
    set_clock,
)


def _e3(pc: httpx.Client, quantity: int = 10, **extra: Any) -> dict[str, Any]:
    [subscription] = buy(pc, cart_line(pc, M365_E3, quantity, **extra))
    return subscription


def test_an_auto_renewing_subscription_renews_after_its_last_day(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    assert e3["commitmentEndDate"] == "2027-01-09T00:00:00Z"
    set_clock(pc, "2027-01-09T23:00:00Z")  # still the term's last day
    assert get_subscription(pc, e3["id"])["commitmentEndDate"] == "2027-01-09T00:00:00Z"

    set_clock(pc, "2027-01-10T06:00:00Z")
    renewed = get_subscription(pc, e3["id"])
    assert (renewed["status"], renewed["quantity"]) == ("active", 10)
    assert renewed["commitmentEndDate"] == "2028-01-09T00:00:00Z"
    assert renewed["cancellationAllowedUntilDate"] == "2027-01-17T00:00:00Z"
    assert renewed["refundableQuantity"] == {
        "totalQuantity": 10,
        "details": [{"quantity": 10, "allowedUntilDateTime": "2027-01-17T00:00:00Z"}],
    }
    assert renewed["attributes"]["etag"] != e3["attributes"]["etag"]
    assert change(pc, e3["id"], quantity=8).json()["quantity"] == 8  # the new term's seats may be reduced
    assert change(pc, e3["id"], status="deleted").json()["status"] == "deleted"  # and cancelled


def test_a_renewal_applies_and_clears_the_scheduled_changes(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    product_id, sku_id, availability_id = catalog_item(pc, EMS_E3).split(":")
    instructions = {
        "product": {
            "productId": product_id,
            "skuId": sku_id,
            "availabilityId": availability_id,
            "billingCycle": "monthly",
            "termDuration": "P1M",
        },
        "quantity": 25,
    }
    assert change(pc, e3["id"], scheduledNextTermInstructions=instructions).status_code == 200
    set_clock(pc, "2027-01-10T01:00:00Z")
    renewed = get_subscription(pc, e3["id"])
    assert renewed["offerId"] == catalog_item(pc, EMS_E3)
    assert renewed["offerName"] == "Enterprise Mobility + Security E3"
    assert (renewed["quantity"], renewed["termDuration"], renewed["billingCycle"]) == (25, "P1M", "monthly")
    assert renewed["commitmentEndDate"] == "2027-02-09T00:00:00Z"
    assert renewed["scheduledNextTermInstructions"] is None
    assert renewed["links"]["sku"]["uri"] == f"/products/{product_id}/skus/{sku_id}?country=US"


def test_a_monthly_term_renews_every_month_the_clock_passes(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 3, term="P1M")
    assert e3["commitmentEndDate"] == "2026-02-09T00:00:00Z"
    set_clock(pc, "2026-05-01T00:00:00Z")
    renewed = get_subscription(pc, e3["id"])
    assert (renewed["status"], renewed["commitmentEndDate"]) == ("active", "2026-05-09T00:00:00Z")
    assert renewed["cancellationAllowedUntilDate"] == "2026-04-17T00:00:00Z"


def test_without_auto_renew_it_expires_then_is_disabled_then_deleted(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    change(pc, e3["id"], autoRenewEnabled=False)
    set_clock(pc, "2027-01-10T01:00:00Z")
    expired = get_subscription(pc, e3["id"])
    assert (expired["status"], expired["commitmentEndDate"]) == ("expired", "2027-01-09T00:00:00Z")
    assert fault_of(change(pc, e3["id"], quantity=11)) == (400, "900279")
    set_clock(pc, "2027-02-09T01:00:00Z")  # 30 days expired
    assert get_subscription(pc, e3["id"])["status"] == "disabled"
    set_clock(pc, "2027-05-10T01:00:00Z")  # and 90 days disabled
    assert get_subscription(pc, e3["id"])["status"] == "deleted"


def test_a_subscription_still_suspended_at_its_terms_end_is_disabled(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    change(pc, e3["id"], status="suspended")
    set_clock(pc, "2027-01-10T01:00:00Z")
    assert get_subscription(pc, e3["id"])["status"] == "disabled"


def test_a_co_termed_first_term_ends_on_its_custom_date_then_runs_a_full_term(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    ems = _e3(pc, 5, customTermEndDate="2026-06-30T00:00:00Z")
    assert ems["commitmentEndDate"] == "2026-06-30T00:00:00Z"
    set_clock(pc, "2026-07-01T02:00:00Z")
    renewed = get_subscription(pc, ems["id"])
    assert renewed["commitmentEndDate"] == "2027-06-30T00:00:00Z"
    assert datetime.fromisoformat(renewed["cancellationAllowedUntilDate"]) == datetime.fromisoformat(
        "2026-07-01T00:00:00Z"
    ) + timedelta(days=7)


def test_moving_the_clock_backwards_undoes_nothing(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    set_clock(pc, "2027-01-10T01:00:00Z")
    set_clock(pc, "2026-06-01T00:00:00Z")
    assert get_subscription(pc, e3["id"])["commitmentEndDate"] == "2028-01-09T00:00:00Z"


def test_an_expired_subscription_can_no_longer_be_cancelled_or_reactivated(pc: httpx.Client) -> None:
    """subscription-lifecycle.md: an expired subscription "can't be reactivated"; the way not to renew is auto-renew
    off before the term ends, never a cancellation after the window (900117)."""
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    set_clock(pc, "2026-12-01T00:00:00Z")
    assert fault_of(change(pc, e3["id"], status="deleted")) == (400, "900117")
    assert change(pc, e3["id"], autoRenewEnabled=False).json()["autoRenewEnabled"] is False
    set_clock(pc, "2027-01-10T01:00:00Z")
    expired = get_subscription(pc, e3["id"])
    assert (expired["status"], expired["refundableQuantity"]["totalQuantity"]) == ("expired", 0)
    assert fault_of(change(pc, e3["id"], status="deleted")) == (400, "900279")
    assert fault_of(change(pc, e3["id"], autoRenewEnabled=True)) == (400, "900279")
    assert get_subscription(pc, e3["id"])["status"] == "expired"


def test_a_renewal_applies_a_scheduled_billing_plan_and_co_term_date(pc: httpx.Client) -> None:
    set_clock(pc, "2026-01-10T09:00:00Z")
    e3 = _e3(pc, 10)
    product_id, sku_id, availability_id = catalog_item(pc, M365_E3).split(":")
    instructions = {
        "product": {
            "productId": product_id,
            "skuId": sku_id,
            "availabilityId": availability_id,
            "billingCycle": "annual",
            "termDuration": "P1Y",
        },
        "quantity": 12,
        "customTermEndDate": "2027-12-31T00:00:00Z",
    }
    scheduled = change(pc, e3["id"], scheduledNextTermInstructions=instructions)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["scheduledNextTermInstructions"]["customTermEndDate"] == "2027-12-31T00:00:00Z"
    set_clock(pc, "2027-01-10T01:00:00Z")
    renewed = get_subscription(pc, e3["id"])
    assert (renewed["quantity"], renewed["termDuration"], renewed["billingCycle"]) == (12, "P1Y", "annual")
    assert renewed["commitmentEndDate"] == "2027-12-31T00:00:00Z"
    assert renewed["refundableQuantity"]["totalQuantity"] == 12
    set_clock(pc, "2028-01-01T01:00:00Z")  # the co-termed term ends; the next one runs a full year
    assert get_subscription(pc, e3["id"])["commitmentEndDate"] == "2028-12-31T00:00:00Z"
