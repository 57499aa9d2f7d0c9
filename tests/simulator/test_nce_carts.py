"""Carts and their idempotent checkout (developer/create-a-cart.md, checkout-a-cart.md, update-a-cart.md,
cart-resources.md, create-a-cart-with-add-ons.md; new-commerce-add-ons.md for 400041)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.simulator.helpers import CUSTOMER, all_subscriptions, fault_of, move_clock
from tests.simulator.nce import (
    AUDIO_CONFERENCING,
    CALLING_PLAN,
    EMS_E3,
    M365_E3,
    M365_E3_ITEM,
    M365_E5_ITEM,
    OFFICE_E5,
    PHONE_SYSTEM,
    assert_documented_shape,
    cart_line,
    catalog_item,
    checkout,
    create_cart,
    documented,
    get_subscription,
    set_clock,
)

CARTS = f"/v1/customers/{CUSTOMER}/carts"


def test_microsofts_nce_cart_request_creates_a_cart(pc: httpx.Client) -> None:
    """The page's NCE request as it is (PascalCase, "Monthly"), with the attestation its request table requires."""
    now = set_clock(pc)
    body = documented("create-cart-nce-request.json") | {"PartnerOnRecordAttestationAccepted": True}
    assert body["LineItems"][0]["CatalogItemId"] == M365_E5_ITEM
    created = pc.post(CARTS, json=body)
    assert created.status_code == 201, created.text
    cart = created.json()
    assert_documented_shape(cart, "create-cart-nce-response.json")
    assert cart["status"] == "Active"
    assert datetime.fromisoformat(cart["creationTimestamp"]) - now < timedelta(seconds=5)
    expires = datetime.fromisoformat(cart["expirationTimestamp"])
    assert expires - datetime.fromisoformat(cart["creationTimestamp"]) == timedelta(days=7)
    [line] = cart["lineItems"]
    assert (line["id"], line["catalogItemId"], line["quantity"]) == (0, M365_E5_ITEM, 1)
    assert (line["billingCycle"], line["termDuration"], line["currencyCode"]) == ("monthly", "P1M", "USD")
    assert "error" not in line
    assert line["pricing"] == {  # the demo seed's Microsoft 365 E5: 45.60 a month, one seat
        "listPrice": 45.6,
        "discountedPrice": 45.6,
        "proratedPrice": 45.6,
        "price": 45.6,
        "extendedPrice": 45.6,
    }
    assert cart["links"]["self"]["uri"] == f"/customers/{CUSTOMER}/carts/{cart['id']}"
    assert pc.get(f"{CARTS}/{cart['id']}").json() == cart


def test_microsofts_cart_request_sample_with_attestation_and_a_coterm_date(pc: httpx.Client) -> None:
    """create-a-cart.md's "Request sample" (participants, a customTermEndDate), on the demo's SKUs: the co-termed
    line ends with the tenant's monthly E3 bought the month before."""
    set_clock(pc, "2022-01-20T10:00:00Z")
    [e3] = _buy(pc, cart_line(pc, M365_E3, 5, term="P1M"))
    assert e3["commitmentEndDate"] == "2022-02-19T00:00:00Z"
    body = documented("create-cart-request.json")
    body["lineItems"][0]["catalogItemId"] = catalog_item(pc, EMS_E3)
    body["lineItems"][1]["catalogItemId"] = catalog_item(pc, OFFICE_E5)
    created = pc.post(CARTS, json=body)
    assert created.status_code == 201, created.text
    cart = created.json()
    assert_documented_shape(cart, "create-cart-response.json")
    assert [line.get("error") for line in cart["lineItems"]] == [None, None]
    assert cart["lineItems"][0]["customTermEndDate"] == "2022-02-19T00:00:00Z"
    assert cart["lineItems"][1]["participants"] == body["lineItems"][1]["participants"]

    result = checkout(pc, cart["id"]).json()
    assert result["orderErrors"] == []
    ems = get_subscription(pc, result["orders"][0]["lineItems"][0]["subscriptionId"])
    assert ems["commitmentEndDate"] == e3["commitmentEndDate"]


def test_a_cart_needs_the_attestation_and_well_formed_lines(pc: httpx.Client) -> None:
    line = cart_line(pc, M365_E3, 5)
    assert fault_of(pc.post(CARTS, json={"lineItems": [line]})) == (400, "900206")
    assert fault_of(pc.post(CARTS, json={"PartnerOnRecordAttestationAccepted": False, "lineItems": [line]})) == (
        400,
        "900206",
    )
    for bad in (
        [],
        [line | {"quantity": 0}],
        [line | {"catalogItemId": None}],
        [{"catalogItemId": line["catalogItemId"]}],
    ):
        response = pc.post(CARTS, json={"PartnerOnRecordAttestationAccepted": True, "lineItems": bad})
        assert fault_of(response) == (400, "800002"), bad
    assert fault_of(create_cart(pc, line, customer="nobody")) == (404, "1000")
    assert fault_of(pc.get(f"{CARTS}/no-such-cart")) == (404, "800008")
    assert all_subscriptions(pc) == []


def test_checkout_buys_one_order_per_line_in_the_documented_shape(pc: httpx.Client) -> None:
    set_clock(pc)
    cart = create_cart(pc, cart_line(pc, M365_E3, 50), cart_line(pc, EMS_E3, 20, billing="annual")).json()
    checked_out = checkout(pc, cart["id"])
    assert checked_out.status_code == 201
    result = checked_out.json()
    assert_documented_shape(result, "checkout-cart-result.json", ignore=("$.orders[0].lineItems[0].partnerIdOnRecord",))
    assert_documented_shape(result["orders"][0], "checkout-cart-nce-order.json")
    assert result["orderErrors"] == []
    assert [order["billingCycle"] for order in result["orders"]] == ["monthly", "annual"]
    [e3_line], [ems_line] = (order["lineItems"] for order in result["orders"])
    assert (e3_line["offerId"], e3_line["quantity"], e3_line["termDuration"]) == (M365_E3_ITEM, 50, "P1Y")
    assert e3_line["pricing"]["extendedPrice"] == 17280.0  # 28.80 x 50 seats x 12 months
    assert (
        e3_line["links"]["availability"]["uri"]
        == "/products/CFQ7TTC0LFLX/skus/0001/availabilities/CFQ7TTC0LB30?country=US"
    )
    e3 = get_subscription(pc, e3_line["subscriptionId"])
    assert (e3["offerId"], e3["quantity"], e3["status"], e3["orderId"]) == (
        M365_E3_ITEM,
        50,
        "active",
        result["orders"][0]["id"],
    )
    assert get_subscription(pc, ems_line["subscriptionId"])["billingCycle"] == "annual"
    assert pc.get(f"{CARTS}/{cart['id']}").json()["status"] == "Ordered"


def test_checking_out_again_answers_the_first_result_and_buys_nothing(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    first = checkout(pc, cart["id"]).json()
    again = checkout(pc, cart["id"])
    assert again.status_code == 201
    assert again.json() == first
    assert len(all_subscriptions(pc)) == 1


def test_after_a_lost_checkout_answer_the_retry_reads_the_purchase(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    pc.post("/_sim/faults", json={"lost_response_rate": 1})
    with pytest.raises(httpx.TransportError):
        checkout(pc, cart["id"])
    [bought] = all_subscriptions(pc)
    pc.post("/_sim/faults", json={"lost_response_rate": 0})
    retried = checkout(pc, cart["id"])  # a new MS-RequestId: the cart itself answers
    assert retried.status_code == 201
    assert retried.json()["orders"][0]["lineItems"][0]["subscriptionId"] == bought["id"]
    assert len(all_subscriptions(pc)) == 1


def test_an_add_on_needs_its_prerequisite_on_the_tenant(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, AUDIO_CONFERENCING, 10)).json()
    error = {"errorCode": 400041, "errorDescription": "The addon is not purchasable without a compatible base product"}
    assert cart["lineItems"][0]["error"] == error
    result = checkout(pc, cart["id"]).json()
    assert result["orders"] == []
    assert result["orderErrors"] == [
        {
            "orderGroupId": cart["lineItems"][0]["orderGroup"],
            "code": 400041,
            "description": "The addon is not purchasable without a compatible base product",
        }
    ]
    assert all_subscriptions(pc) == []


def test_a_base_and_its_add_ons_in_one_cart_are_bought_in_order(pc: httpx.Client) -> None:
    """create-a-cart-with-add-ons.md buys a base and its add-on in one cart; the E5 voice chain goes three deep."""
    request = documented("create-cart-addons-nce-request.json")
    base, addon = request["LineItems"]
    lines = [
        base | {"CatalogItemId": catalog_item(pc, OFFICE_E5), "TermDuration": "P1Y"},
        addon | {"Id": 1, "CatalogItemId": catalog_item(pc, PHONE_SYSTEM)},
        addon | {"Id": 2, "CatalogItemId": catalog_item(pc, CALLING_PLAN)},
    ]
    created = pc.post(CARTS, json={"PartnerOnRecordAttestationAccepted": True, "LineItems": lines})
    cart = created.json()
    assert_documented_shape(cart, "create-cart-addons-nce-response.json", ignore=("$.lineItems[0].promotionId",))
    assert [line.get("error") for line in cart["lineItems"]] == [None, None, None]
    assert len({line["orderGroup"] for line in cart["lineItems"]}) == 3
    result = checkout(pc, cart["id"]).json()
    assert result["orderErrors"] == []
    offers = [order["lineItems"][0]["offerId"].rsplit(":", 1)[0] for order in result["orders"]]
    assert offers == [OFFICE_E5, PHONE_SYSTEM, CALLING_PLAN]
    assert {s["offerName"] for s in all_subscriptions(pc)} == {
        "Office 365 E5",
        "Microsoft Teams Phone Standard (Phone System)",
        "Microsoft Teams Domestic Calling Plan",
    }


def test_a_refused_line_fails_only_its_own_order_group(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 301), cart_line(pc, EMS_E3, 20)).json()
    assert cart["lineItems"][0]["error"]["errorCode"] == 900275
    assert "error" not in cart["lineItems"][1]
    result = checkout(pc, cart["id"]).json()
    assert [order["lineItems"][0]["offerId"] for order in result["orders"]] == [catalog_item(pc, EMS_E3)]
    [error] = result["orderErrors"]
    assert (error["orderGroupId"], error["code"]) == ("0", 900275)
    assert (
        error["description"]
        == "The requested quantity for line item 0 is not within the allowed quantity for this offer."
    )
    assert pc.get(f"{CARTS}/{cart['id']}").json()["status"] == "Active"


def test_checking_out_again_retries_only_the_refused_lines(pc: httpx.Client) -> None:
    """checkout-a-cart.md: "In a scenario where an order fails due to error, the call can be made again"."""
    cart = create_cart(pc, cart_line(pc, EMS_E3, 5), cart_line(pc, AUDIO_CONFERENCING, 10)).json()
    first = checkout(pc, cart["id"]).json()
    assert [e["code"] for e in first["orderErrors"]] == [400041]
    _buy(pc, cart_line(pc, OFFICE_E5, 10))  # the prerequisite arrives on the tenant
    second = checkout(pc, cart["id"]).json()
    assert second["orderErrors"] == []
    assert second["orders"][0]["id"] == first["orders"][0]["id"]
    assert len(second["orders"]) == 2
    assert len(all_subscriptions(pc)) == 3
    assert pc.get(f"{CARTS}/{cart['id']}").json()["status"] == "Ordered"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"termDuration": "P3Y"}, 800121),
        ({"termDuration": "P1M", "billingCycle": "annual"}, 900269),
        ({"catalogItemId": "CFQ7TTC0LFLX:0001:CFQ7TTC0OLD0"}, 400019),
        ({"catalogItemId": "CFQ7TTC0NONE:0001:CFQ7TTC0NONE"}, 10001),
        ({"customTermEndDate": "2026-03-17T00:00:00Z"}, 900242),
    ],
)
def test_lines_the_catalog_refuses(pc: httpx.Client, change: dict[str, Any], code: int) -> None:
    set_clock(pc)
    cart = create_cart(pc, cart_line(pc, M365_E3, 5) | change).json()
    assert cart["lineItems"][0]["error"]["errorCode"] == code
    assert [e["code"] for e in checkout(pc, cart["id"]).json()["orderErrors"]] == [code]


def test_a_cart_is_updated_with_put_until_it_is_ordered(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    cart["lineItems"][0]["quantity"] = 7
    updated = pc.put(f"{CARTS}/{cart['id']}", json=cart)
    assert updated.status_code == 201, updated.text
    assert updated.json()["lineItems"][0]["quantity"] == 7
    checkout(pc, cart["id"])
    assert all_subscriptions(pc)[0]["quantity"] == 7
    assert fault_of(pc.put(f"{CARTS}/{cart['id']}", json=cart)) == (400, "800065")


def test_a_cart_expires_seven_days_after_its_creation(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    move_clock(pc, days=7, minutes=1)
    assert fault_of(checkout(pc, cart["id"])) == (404, "800008")
    assert all_subscriptions(pc) == []


def test_an_order_provisions_asynchronously_with_a_delay(pc: httpx.Client) -> None:
    pc.post("/_sim/faults", json={"provisioning_delay_s": 0.3})
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    [order] = checkout(pc, cart["id"]).json()["orders"]
    assert order["status"] == "pending"
    assert "subscriptionId" not in order["lineItems"][0]  # checkout-a-cart.md: only once provisioned
    [pending] = all_subscriptions(pc)
    assert pending["status"] == "pending"
    time.sleep(0.4)
    [order] = checkout(pc, cart["id"]).json()["orders"]
    assert (order["status"], order["lineItems"][0]["subscriptionId"]) == ("completed", pending["id"])
    assert get_subscription(pc, pending["id"])["status"] == "active"


def test_custom_term_end_dates_list_month_ends_and_the_tenants_end_dates(pc: httpx.Client) -> None:
    set_clock(pc, "2023-07-03T10:00:00Z")
    [e3] = _buy(pc, cart_line(pc, M365_E3, 5, term="P1M"))
    listed = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/customTermEndDates", params={"term_duration": "P1M"})
    assert listed.status_code == 200
    body = listed.json()
    assert_documented_shape(body, "custom-term-end-dates.json")
    assert body["items"] == [
        {"allowedCustomTermEndDateType": "calendarMonthAligned", "allowedCustomTermEndDate": "2023-07-31T00:00:00"},
        {
            "allowedCustomTermEndDateType": "subscriptionAligned",
            "cotermSubscriptionIds": [e3["id"]],
            "allowedCustomTermEndDate": "2023-08-02T00:00:00",
        },
    ]


def _buy(pc: httpx.Client, *lines: dict[str, Any]) -> list[dict[str, Any]]:
    cart = create_cart(pc, *lines).json()
    result = checkout(pc, cart["id"]).json()
    assert result["orderErrors"] == [], result
    return [get_subscription(pc, o["lineItems"][0]["subscriptionId"]) for o in result["orders"]]


def test_a_quantity_below_the_skus_minimum_is_900275_too(pc: httpx.Client) -> None:
    """error-codes.md 900275: "The requested quantity for line item {0} is not within the allowed quantity for this
    offer", for either limit (a quantity above the maximum: test_a_refused_line_fails_only_its_own_order_group)."""
    offer = {"productId": "CFQ7TTC0MIN5", "skuId": "0001", "name": "Five seats at least", "minimumQuantity": 5}
    assert pc.post("/_sim/offers", json=offer).status_code == 201
    line = cart_line(pc, "CFQ7TTC0MIN5:0001", 4)
    cart = create_cart(pc, line, line | {"quantity": 5}).json()
    assert cart["lineItems"][0]["error"] == {
        "errorCode": 900275,
        "errorDescription": "The requested quantity for line item 0 is not within the allowed quantity for this offer.",
    }
    assert "error" not in cart["lineItems"][1]
    result = checkout(pc, cart["id"]).json()
    assert [(e["orderGroupId"], e["code"]) for e in result["orderErrors"]] == [("0", 900275)]
    assert [s["quantity"] for s in all_subscriptions(pc)] == [5]


def test_the_state_shows_carts_orders_and_subscriptions_in_their_api_shapes(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    result = checkout(pc, cart["id"]).json()
    state = pc.get("/_sim/state").json()
    assert state["carts"] == [pc.get(f"{CARTS}/{cart['id']}").json()]
    assert state["orders"] == result["orders"]
    [subscription] = state["subscriptions"]
    assert subscription == get_subscription(pc, subscription["id"])
    for name in (
        "id",
        "offerId",
        "quantity",
        "status",
        "termDuration",
        "billingCycle",
        "autoRenewEnabled",
        "commitmentEndDate",
        "cancellationAllowedUntilDate",
        "refundableQuantity",
        "scheduledNextTermInstructions",
    ):
        assert name in subscription, name
    assert subscription["attributes"]["etag"]
    assert state["customers"] == [pc.get(f"/v1/customers/{CUSTOMER}").json()]


def test_an_expired_cart_still_answers_what_it_bought(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, EMS_E3, 5), cart_line(pc, AUDIO_CONFERENCING, 10)).json()
    first = checkout(pc, cart["id"]).json()
    assert ([e["code"] for e in first["orderErrors"]], len(first["orders"])) == ([400041], 1)
    move_clock(pc, days=8)
    again = checkout(pc, cart["id"])
    assert again.status_code == 201
    assert again.json() == first  # the refused line is not tried again once the cart has expired
    assert len(all_subscriptions(pc)) == 1
