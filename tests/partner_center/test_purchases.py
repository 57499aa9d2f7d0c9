"""Buying as Microsoft documents new commerce: availability at purchase time, a cart, an idempotent checkout read
per line (SPEC §7 "buy")."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from seatflow.partner_center.client import PartnerCenterError
from seatflow.partner_center.errors import AvailabilityNotFound, CartAlreadySubmitted
from seatflow.partner_center.purchases import CartLineItem, CatalogItemId, read_cart
from tests.partner_center.helpers import Script, answer, assert_partner_center_headers, body_of, documented

TENANT = "f81d98dd-c2f4-499e-a194-5619e260344e"
CART_ID = "3e22b548-647d-4223-9675-1fcb6cb57665"
ADDON_TENANT = "3a15e1df-b095-41d4-9029-27a5974c2458"
ADDON_CART_ID = "ea37ea81-efaf-4113-9785-e1c266aea2ed"

LINES = [
    CartLineItem(
        id=0,
        catalog_item_id="CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P",
        quantity=1,
        term_duration="P1M",
        billing_cycle="monthly",
        custom_term_end_date=datetime(2022, 2, 19, tzinfo=UTC),
    ),
    CartLineItem(
        id=1, catalog_item_id="CFQ7TTC0LFLS:0002:CFQ7TTC0KDLJ", quantity=2, term_duration="P1Y", billing_cycle="monthly"
    ),
]


def test_the_availability_offering_the_term_and_billing_cycle_gives_the_catalog_item() -> None:
    script = Script(answer("client_availabilities_nce"))

    availability = script.client().find_availability("CFQ7TTC0LH18", "0001", "US", "P1Y", "monthly")

    assert availability.catalog_item_id == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert CatalogItemId.parse(availability.catalog_item_id) == CatalogItemId("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971")
    (request,) = script.requests
    assert (request.method, request.url.path) == ("GET", "/v1/products/CFQ7TTC0LH18/skus/0001/availabilities")
    assert dict(request.url.params) == {"country": "US"}
    assert_partner_center_headers(request)


def test_the_account_country_is_used_when_none_is_given() -> None:
    script = Script(answer("client_availabilities_nce"))

    script.client(country="DE").find_availability("CFQ7TTC0LH18", "0001", None, "P1M", "Monthly")

    assert dict(script.requests[0].url.params) == {"country": "DE"}


def test_a_term_the_sku_is_not_sold_in_is_refused_with_what_is_offered() -> None:
    script = Script(answer("client_availabilities_nce"))

    with pytest.raises(AvailabilityNotFound) as missing:
        script.client().find_availability("CFQ7TTC0LH18", "0001", "US", "P3Y", "triennial")

    assert missing.value.retryable is False
    assert "CFQ7TTC0LH18:0001 has no purchasable availability in US for P3Y billed triennial" in missing.value.message
    assert "P1M monthly, P1Y annual, P1Y monthly" in missing.value.message


def test_an_availability_that_is_not_purchasable_is_not_bought() -> None:
    collection = documented("client_availabilities_nce")
    collection["items"][0]["isPurchasable"] = False
    script = Script(answer("client_availabilities_nce", body=collection))

    with pytest.raises(AvailabilityNotFound):
        script.client().find_availability("CFQ7TTC0LH18", "0001", "US", "P1Y", "monthly")


def test_a_cart_is_created_with_the_documented_lines_and_the_attestation() -> None:
    script = Script(answer("client_cart_created"))

    cart = script.client().create_cart(TENANT, LINES, request_id="4fa6dad6-a89f-4875-8247-8294a10ae1cf")

    (request,) = script.requests
    assert (request.method, request.url.path) == ("POST", f"/v1/customers/{TENANT}/carts")
    assert request.headers["MS-RequestId"] == "4fa6dad6-a89f-4875-8247-8294a10ae1cf"
    assert body_of(request) == {
        "PartnerOnRecordAttestationAccepted": True,
        "lineItems": [
            {
                "id": 0,
                "catalogItemId": "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P",
                "quantity": 1,
                "termDuration": "P1M",
                "billingCycle": "monthly",
                "customTermEndDate": "2022-02-19T00:00:00Z",
            },
            {
                "id": 1,
                "catalogItemId": "CFQ7TTC0LFLS:0002:CFQ7TTC0KDLJ",
                "quantity": 2,
                "termDuration": "P1Y",
                "billingCycle": "monthly",
            },
        ],
    }
    assert cart.id == CART_ID
    assert cart.status == "Active"
    assert cart.expires_at == datetime(2021, 8, 25, 17, 30, 11, 240641, tzinfo=UTC)
    assert [(line.id, line.catalog_item_id, line.quantity, line.order_group) for line in cart.lines] == [
        (0, "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P", 1, "0"),
        (1, "CFQ7TTC0LFLS:0002:CFQ7TTC0KDLJ", 2, "0"),
    ]


def test_a_cart_without_lines_or_with_repeated_line_ids_is_not_sent() -> None:
    script = Script()
    client = script.client()

    for lines in ([], [LINES[0], LINES[0]]):
        with pytest.raises(PartnerCenterError) as refused:
            client.create_cart(TENANT, lines)
        assert refused.value.retryable is False
    assert script.requests == []


def test_checkout_gives_each_cart_line_its_subscription() -> None:
    script = Script(answer("client_cart_created"), answer("client_checkout_result"))
    client = script.client()
    cart = client.create_cart(TENANT, LINES)

    result = client.checkout_cart(TENANT, cart.id, cart=cart)

    checkout = script.requests[1]
    assert (checkout.method, checkout.url.path) == ("POST", f"/v1/customers/{TENANT}/carts/{CART_ID}/checkout")
    assert checkout.content == b"", "checkout has no body"
    assert_partner_center_headers(checkout)
    assert result.failed == {}
    assert result.order_errors == ()
    first, second = result.order_line_for(0), result.order_line_for(1)
    assert first is not None
    assert second is not None
    assert (first.order_id, first.subscription_id) == ("f76c6b7f449d", "ebc0beef-7ffb-4044-c074-16f324432139")
    assert (second.order_id, second.subscription_id) == ("f76c6b7f449d", "261bac40-7d88-4327-dfa3-dacd09222d62")
    assert second.links["availability"] == "/products/CFQ7TTC0LFLS/skus/0002/availabilities/CFQ7TTC0KDLJ?country=US"
    assert result.orders[0].status == "pending"


def test_an_order_error_fails_only_the_lines_of_its_order_group() -> None:
    script = Script(answer("client_checkout_order_error"))
    cart = read_cart(documented("client_cart_base_and_addon"))

    result = script.client().checkout_cart(ADDON_TENANT, ADDON_CART_ID, cart=cart)

    base, addon = cart.lines
    failure = result.failure_for(addon.id)
    assert failure is not None
    assert (failure.line_id, failure.catalog_item_id, failure.code) == (1, "CFQ7TTC0HDJX:0001:CFQ7TTC0K806", "900275")
    assert failure.message == (
        "Partner Center 900275: The requested quantity for line item 1 is not within the allowed quantity "
        "for this offer."
    )
    assert result.failure_for(base.id) is None
    placed = result.order_line_for(base.id)
    assert placed is not None
    assert placed.subscription_id == "0c353b8e-da9d-4007-d0d4-bca8bd5b5ce1"
    assert result.order_line_for(addon.id) is None


def test_without_the_cart_at_hand_checkout_reads_it_to_place_the_errors() -> None:
    script = Script(answer("client_checkout_order_error"), answer("client_cart_base_and_addon"))

    result = script.client().checkout_cart(ADDON_TENANT, ADDON_CART_ID)

    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", f"/v1/customers/{ADDON_TENANT}/carts/{ADDON_CART_ID}/checkout"),
        ("GET", f"/v1/customers/{ADDON_TENANT}/carts/{ADDON_CART_ID}"),
    ]
    assert set(result.failed) == {1}
    assert set(result.placed) == {0}


def test_a_line_refused_when_the_cart_was_made_fails_with_its_own_error() -> None:
    cart_body = documented("client_cart_base_and_addon")
    cart_body["lineItems"][1]["error"] = {
        "errorCode": "400041",
        "errorDescription": "The addon is not purchasable without a compatible base product",
    }
    cart = read_cart(cart_body)
    checkout = documented("client_checkout_order_error")
    del checkout["orderErrors"]
    script = Script(answer("client_checkout_order_error", body=checkout))

    result = script.client().checkout_cart(ADDON_TENANT, ADDON_CART_ID, cart=cart)

    failure = result.failure_for(1)
    assert failure is not None
    assert failure.code == "400041"
    assert result.order_line_for(0) is not None


def test_after_a_lost_answer_the_same_cart_is_checked_out_again_and_gives_the_first_result() -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("the answer was lost", request=request)

    script = Script(answer("client_cart_created"), lost, answer("client_checkout_result"))
    client = script.client()
    cart = client.create_cart(TENANT, LINES)

    with pytest.raises(PartnerCenterError) as lost_answer:
        client.checkout_cart(TENANT, cart.id, cart=cart)
    assert lost_answer.value.retryable is True
    assert len(script.requests) == 2, "the client does not re-send a checkout by itself"

    result = client.checkout_cart(TENANT, cart.id, cart=cart)

    checkouts = [r for r in script.requests if r.url.path.endswith("/checkout")]
    assert [r.url.path for r in checkouts] == [f"/v1/customers/{TENANT}/carts/{CART_ID}/checkout"] * 2
    assert [r for r in script.requests if r.url.path.endswith("/carts")] == [script.requests[0]], "one cart only"
    assert result.order_line_for(1) is not None


def test_a_cart_already_submitted_is_its_own_permanent_error() -> None:
    script = Script(answer("client_cart_already_submitted"))

    with pytest.raises(CartAlreadySubmitted) as submitted:
        script.client().checkout_cart(
            ADDON_TENANT, ADDON_CART_ID, cart=read_cart(documented("client_cart_base_and_addon"))
        )

    assert submitted.value.retryable is False
    assert submitted.value.provider_code == "800065"
    assert "already submitted cart" in submitted.value.message


def test_a_cart_being_processed_elsewhere_is_transient() -> None:
    busy = httpx.Response(409, json={"code": "800064", "description": "Cart is being processed by another request"})
    script = Script(busy)

    with pytest.raises(PartnerCenterError) as failed:
        script.client().checkout_cart(
            ADDON_TENANT, ADDON_CART_ID, cart=read_cart(documented("client_cart_base_and_addon"))
        )

    assert failed.value.retryable is True


def test_a_naive_co_term_date_is_refused_rather_than_guessed() -> None:
    line = CartLineItem(0, "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P", 1, "P1M", "monthly", datetime(2022, 2, 19))  # noqa: DTZ001

    with pytest.raises(ValueError, match="no time zone"):
        line.to_json()


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("CFQ7TTC0LH18:0001:CFQ7TTC0K971", CatalogItemId("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971")),
        ("CFQ7TTC0LH18:0001", CatalogItemId("CFQ7TTC0LH18", "0001")),
        ("2828BE95-46BA-4F91-B2FD-0BEF192ECF60", None),
        ("CFQ7TTC0LH18::CFQ7TTC0K971", None),
        ("a:b:c:d", None),
    ],
)
def test_catalog_item_ids(value: str, parsed: CatalogItemId | None) -> None:
    assert CatalogItemId.parse(value) == parsed
    if parsed is not None:
        assert str(parsed) == value
