"""The order path (``POST /v1/customers/{id}/orders``) now that Microsoft sells licenses through new commerce:
developer/create-an-order.md buys a catalog item (``productId:skuId:availabilityId``) with the attestation and an
order-level billing cycle; a legacy offer that is no longer sold (``isAvailableForPurchase`` false,
developer/offer-resources.md) is refused with 2091 (developer/error-codes.md) on the order path and with 500600
(``LegacyOfferNotEligibleForPurchase``) in a cart."""

from __future__ import annotations

from typing import Any

import httpx

from tests.simulator.helpers import CUSTOMER, all_subscriptions, fault_of
from tests.simulator.nce import (
    CALLING_PLAN,
    EMS_E3,
    M365_E3,
    OFFICE_E5,
    PHONE_SYSTEM,
    assert_documented_shape,
    catalog_item,
    checkout,
    create_cart,
    documented,
    get_subscription,
    set_clock,
)

ORDERS = f"/v1/customers/{CUSTOMER}/orders"
RETIRED = {"id": "0c0a33cd-retired-legacy-offer", "name": "Retired legacy E3", "isAvailableForPurchase": False}


def _order(pc: httpx.Client, *lines: dict[str, Any], attested: bool = True, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"lineItems": [{"lineItemNumber": n, **line} for n, line in enumerate(lines)], **extra}
    if attested:
        body["PartnerOnRecordAttestationAccepted"] = True
    return pc.post(ORDERS, json=body)


def test_microsofts_order_request_buys_a_new_commerce_catalog_item(pc: httpx.Client) -> None:
    """create-an-order.md's attestation example as it is (no termDuration), on the demo's E3."""
    set_clock(pc)
    body = documented("create-order-nce-request.json")
    body["lineItems"][0]["offerId"] = catalog_item(pc, M365_E3)
    created = pc.post(ORDERS, json=body)
    assert created.status_code == 201, created.text
    placed = created.json()
    assert_documented_shape(
        placed,
        "create-order-nce-response.json",
        ignore=("$.lineItems[0].partnerIdOnRecord", "$.lineItems[0].additionalPartnerIdsOnRecord"),
    )
    [line] = placed["lineItems"]
    assert (line["offerId"], line["quantity"], line["termDuration"]) == (catalog_item(pc, M365_E3), 1, "P1Y")
    assert placed["billingCycle"] == "monthly"
    subscription = get_subscription(pc, line["subscriptionId"])
    assert subscription["productType"]["id"] == "OnlineServicesNCE"
    assert (subscription["offerId"], subscription["termDuration"], subscription["billingCycle"]) == (
        catalog_item(pc, M365_E3),
        "P1Y",
        "monthly",
    )
    assert subscription["orderId"] == placed["id"]
    assert subscription["refundableQuantity"]["totalQuantity"] == 1


def test_a_catalog_item_needs_the_attestation(pc: httpx.Client) -> None:
    refused = _order(pc, {"offerId": catalog_item(pc, M365_E3), "quantity": 5}, attested=False)
    assert fault_of(refused) == (400, "900203")
    assert catalog_item(pc, M365_E3) in refused.json()["description"]
    assert all_subscriptions(pc) == []


def test_an_order_of_catalog_items_is_all_or_nothing_under_the_carts_rules(pc: httpx.Client) -> None:
    e3 = {"offerId": catalog_item(pc, M365_E3), "quantity": 5, "termDuration": "P1Y"}
    phone = {"offerId": catalog_item(pc, PHONE_SYSTEM), "quantity": 5, "termDuration": "P1Y"}
    assert fault_of(_order(pc, e3, phone)) == (400, "400041")  # the Phone System add-on needs E5 on the tenant
    too_many = e3 | {"quantity": 301}
    assert fault_of(_order(pc, too_many)) == (400, "900275")
    assert fault_of(_order(pc, e3 | {"offerId": "CFQ7TTC0LFLX:0001:CFQ7TTC0OLD0"})) == (404, "400019")
    assert fault_of(_order(pc, e3 | {"termDuration": "P3Y"})) == (400, "800121")
    assert fault_of(_order(pc, e3, billingCycle="triennial")) == (400, "900269")
    assert all_subscriptions(pc) == []

    e5 = {"offerId": catalog_item(pc, OFFICE_E5), "quantity": 5, "termDuration": "P1Y"}
    calling = {"offerId": catalog_item(pc, CALLING_PLAN), "quantity": 5, "termDuration": "P1Y"}
    placed = _order(pc, e5, phone, calling)  # an add-on after its prerequisite in the same order is purchasable
    assert placed.status_code == 201, placed.text
    assert [line["lineItemNumber"] for line in placed.json()["lineItems"]] == [0, 1, 2]
    assert {s["offerName"] for s in all_subscriptions(pc)} == {
        "Office 365 E5",
        "Microsoft Teams Phone Standard (Phone System)",
        "Microsoft Teams Domestic Calling Plan",
    }


def test_an_annual_order_buys_annual_billing(pc: httpx.Client) -> None:
    placed = _order(pc, {"offerId": catalog_item(pc, EMS_E3), "quantity": 3}, billingCycle="annual").json()
    subscription = get_subscription(pc, placed["lineItems"][0]["subscriptionId"])
    assert (subscription["termDuration"], subscription["billingCycle"]) == ("P1Y", "annual")


def test_a_legacy_offer_no_longer_sold_is_refused_on_the_order_path(pc: httpx.Client) -> None:
    posted = pc.post("/_sim/offers", json=RETIRED)
    assert posted.status_code == 201, posted.text
    assert posted.json()["isAvailableForPurchase"] is False
    assert fault_of(_order(pc, {"offerId": RETIRED["id"], "quantity": 5}, attested=False)) == (403, "2091")
    assert pc.post("/_sim/offers", json=RETIRED | {"isAvailableForPurchase": "no"}).status_code == 400

    still_sold = RETIRED | {"id": "public-sector-legacy-offer", "isAvailableForPurchase": True}
    pc.post("/_sim/offers", json=still_sold)
    bought = _order(pc, {"offerId": still_sold["id"], "quantity": 5}, attested=False)
    assert bought.status_code == 201, bought.text
    legacy = get_subscription(pc, bought.json()["lineItems"][0]["subscriptionId"])
    assert (legacy["offerId"], "productType" in legacy) == (still_sold["id"], False)


def test_a_legacy_offer_in_a_cart_is_500600(pc: httpx.Client) -> None:
    pc.post("/_sim/offers", json=RETIRED)
    line = {"catalogItemId": RETIRED["id"], "quantity": 5, "termDuration": "P1Y", "billingCycle": "monthly"}
    cart = create_cart(pc, line).json()
    assert cart["lineItems"][0]["error"] == {
        "errorCode": 500600,
        "errorDescription": "The legacy offer is no longer eligible for purchase.",
    }
    assert [e["code"] for e in checkout(pc, cart["id"]).json()["orderErrors"]] == [500600]
    assert all_subscriptions(pc) == []
