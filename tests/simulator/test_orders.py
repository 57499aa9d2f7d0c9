"""Orders: one subscription per line, add-ons on their parents, and the checks that refuse an order whole
(research §5.1, §8.2)."""

from __future__ import annotations

import httpx

from tests.simulator.helpers import (
    BUSINESS_PREMIUM,
    CALLING_PLAN,
    CUSTOMER,
    EXTRA_FILE_STORAGE,
    M365_E3,
    OFFICE_E5,
    PHONE_SYSTEM,
    all_subscriptions,
    buy,
    fault_of,
    line,
    order,
    patch,
)


def test_a_license_then_an_add_on_on_it(pc: httpx.Client) -> None:
    response = order(pc, line(BUSINESS_PREMIUM, 10, friendlyName="Pine Cone Vet BP"))
    assert response.status_code == 201
    placed = response.json()
    assert placed["status"] == "completed"
    assert placed["attributes"]["objectType"] == "Order"
    assert (
        placed["links"]["provisioningStatus"]["uri"]
        == f"/customers/{CUSTOMER}/orders/{placed['id']}/provisioningstatus"
    )
    [item] = placed["lineItems"]
    assert item["friendlyName"] == "Pine Cone Vet BP"
    assert item["transactionType"] == "new"
    parent_id = item["subscriptionId"]

    addon_order = order(pc, line(EXTRA_FILE_STORAGE, 50, parentSubscriptionId=parent_id)).json()
    addon_id = addon_order["lineItems"][0]["subscriptionId"]
    assert addon_order["lineItems"][0]["parentSubscriptionId"] == parent_id

    addon = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{addon_id}").json()
    assert addon["parentSubscriptionId"] == parent_id
    assert addon["links"]["parentSubscription"]["uri"].endswith(parent_id)
    assert addon["status"] == "active"
    assert addon["offerName"] == "Office 365 Extra File Storage"
    assert addon["orderId"] == addon_order["id"]
    addons = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{parent_id}/addons").json()
    assert [s["id"] for s in addons["items"]] == [addon_id]


def test_the_subscription_carries_the_term_and_the_refundable_purchase(pc: httpx.Client) -> None:
    bought = buy(pc, M365_E3, 50, termDuration="P1M")
    assert bought["quantity"] == 50
    assert bought["unitType"] == "Licenses"
    assert bought["billingType"] == "license"
    assert bought["termDuration"] == "P1M"
    assert bought["refundableQuantity"]["totalQuantity"] == 50
    assert bought["refundableQuantity"]["details"][0]["quantity"] == 50
    assert bought["attributes"]["objectType"] == "Subscription"
    assert bought["commitmentEndDate"] > bought["effectiveStartDate"]


def test_lines_are_read_case_insensitively_and_each_becomes_a_subscription(pc: httpx.Client) -> None:
    body = {
        "LineItems": [
            {"LineItemNumber": 1, "OfferId": OFFICE_E5.upper(), "Quantity": 3},
            {"LineItemNumber": 0, "OfferId": M365_E3, "Quantity": 2, "FriendlyName": "E3"},
        ]
    }
    placed = pc.post(f"/v1/customers/{CUSTOMER}/orders", json=body).json()
    assert [item["lineItemNumber"] for item in placed["lineItems"]] == [0, 1]
    by_order = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions", params={"order_id": placed["id"]}).json()
    assert by_order["totalCount"] == 2
    assert {(s["offerId"], s["friendlyName"]) for s in by_order["items"]} == {
        (M365_E3, "E3"),
        (OFFICE_E5, "Office 365 E5"),
    }


def test_an_add_on_of_an_add_on(pc: httpx.Client) -> None:
    e5 = buy(pc, OFFICE_E5, 5)
    phone = buy(pc, PHONE_SYSTEM, 5, parentSubscriptionId=e5["id"])
    calling = buy(pc, CALLING_PLAN, 5, parentSubscriptionId=phone["id"])
    assert calling["parentSubscriptionId"] == phone["id"]


def test_800029_when_the_parent_offer_is_not_a_prerequisite_until_the_offer_allows_it(pc: httpx.Client) -> None:
    e3 = buy(pc, M365_E3, 10)
    storage = line(EXTRA_FILE_STORAGE, 20, parentSubscriptionId=e3["id"])

    refused = order(pc, storage)
    assert fault_of(refused) == (400, "800029")
    assert "not related to the specified parent subscription" in refused.json()["description"]
    assert EXTRA_FILE_STORAGE in refused.json()["description"]
    assert e3["id"] in refused.json()["description"]

    offer = {
        "id": EXTRA_FILE_STORAGE,
        "name": "Office 365 Extra File Storage",
        "isAddOn": True,
        "prerequisiteOffers": [BUSINESS_PREMIUM, M365_E3],
        "minimumQuantity": 1,
        "maximumQuantity": 1000000,
    }
    assert pc.post("/_sim/offers", json=offer).status_code in (200, 201)
    assert order(pc, storage).status_code == 201


def test_800029_for_add_ons_without_a_valid_parent_and_licenses_with_one(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 1)
    assert fault_of(order(pc, line(EXTRA_FILE_STORAGE, 1))) == (400, "800029")
    assert fault_of(order(pc, line(EXTRA_FILE_STORAGE, 1, parentSubscriptionId="no-such-sub"))) == (400, "800029")
    assert fault_of(order(pc, line(M365_E3, 1, parentSubscriptionId=bp["id"]))) == (400, "800029")


def test_a_parent_of_another_customer_does_not_count(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 1)
    pc.post("/v1/customers", json={"companyProfile": {"tenantId": "other", "companyName": "Other"}})
    refused = order(pc, line(EXTRA_FILE_STORAGE, 1, parentSubscriptionId=bp["id"]), customer="other")
    assert fault_of(refused) == (400, "800029")


def test_27009_when_the_parent_is_not_active(pc: httpx.Client) -> None:
    bp = buy(pc, BUSINESS_PREMIUM, 5)
    assert patch(pc, bp["id"], status="suspended").status_code == 200
    refused = order(pc, line(EXTRA_FILE_STORAGE, 1, parentSubscriptionId=bp["id"]))
    assert fault_of(refused) == (409, "27009")


def test_2002_quantity_outside_the_offer_limits(pc: httpx.Client) -> None:
    assert fault_of(order(pc, line(BUSINESS_PREMIUM, 301))) == (400, "2002")
    assert order(pc, line(BUSINESS_PREMIUM, 300)).status_code == 201


def test_800071_line_numbers_must_run_from_zero(pc: httpx.Client) -> None:
    assert fault_of(order(pc, line(M365_E3, 1, number=1))) == (400, "800071")
    assert fault_of(order(pc, line(M365_E3, 1), line(OFFICE_E5, 1))) == (400, "800071")  # two line 0s


def test_800004_unknown_offer(pc: httpx.Client) -> None:
    assert fault_of(order(pc, line("no-such-offer", 1))) == (400, "800004")


def test_800002_no_lines_or_a_bad_quantity(pc: httpx.Client) -> None:
    assert fault_of(pc.post(f"/v1/customers/{CUSTOMER}/orders", json={"lineItems": []})) == (400, "800002")
    assert fault_of(order(pc, line(M365_E3, 0))) == (400, "800002")
    assert fault_of(order(pc, {"lineItemNumber": 0, "offerId": M365_E3, "quantity": 1.5})) == (400, "800002")


def test_an_order_is_all_or_nothing(pc: httpx.Client) -> None:
    refused = order(pc, line(M365_E3, 5), line(BUSINESS_PREMIUM, 999, number=1))
    assert fault_of(refused) == (400, "2002")
    assert all_subscriptions(pc) == []
    assert pc.get(f"/v1/customers/{CUSTOMER}/orders").json()["totalCount"] == 0


def test_orders_are_listed_fetched_and_report_provisioning(pc: httpx.Client) -> None:
    placed = order(pc, line(M365_E3, 4)).json()
    assert pc.get(f"/v1/customers/{CUSTOMER}/orders").json()["items"][0]["id"] == placed["id"]
    assert pc.get(f"/v1/customers/{CUSTOMER}/orders/{placed['id']}").json() == placed
    status = pc.get(f"/v1/customers/{CUSTOMER}/orders/{placed['id']}/provisioningstatus").json()
    [item] = status["items"]
    assert item["status"] == "fulfilled"
    assert item["quantityProvisioningInformation"] == [{"quantity": 4, "status": "fulfilled"}]
    assert fault_of(pc.get(f"/v1/customers/{CUSTOMER}/orders/nope")) == (404, "20000")
    assert fault_of(pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/nope")) == (404, "20003")
