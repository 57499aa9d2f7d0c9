"""The Partner Center client's headers, tokens and error classification (research §1.2, §2, §8)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs

import httpx
import pytest

from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.client import PartnerCenterClient, PartnerCenterError
from seatflow.simulator import SimulatorServer
from tests.simulator.helpers import BUSINESS_PREMIUM, CUSTOMER, line

TOKEN_URL = "https://login.example.test/tenant/oauth2/v2.0/token"


def client_for(handler: httpx.MockTransport, **settings: object) -> PartnerCenterClient:
    parsed = PartnerCenterSettings.model_validate({"base_url": "https://pc.example.test", **settings})
    return PartnerCenterClient(parsed, http=httpx.Client(transport=handler))


def test_client_credentials_fetch_a_token_once_and_send_it_with_fresh_correlation_ids() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"})
        return httpx.Response(200, json={"totalCount": 0, "items": [], "attributes": {"objectType": "Collection"}})

    client = client_for(
        httpx.MockTransport(handle),
        auth="client_credentials",
        token_url=TOKEN_URL,
        client_id="app",
        client_secret="secret",
        scope="https://api.partnercenter.example/.default",
    )
    client.list_subscriptions("tenant-1")
    client.list_subscriptions("tenant-1")

    token_calls = [r for r in seen if str(r.url) == TOKEN_URL]
    assert len(token_calls) == 1, "the token is cached"
    form = parse_qs(token_calls[0].content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["app"]
    assert form["client_secret"] == ["secret"]
    api_calls = [r for r in seen if str(r.url) != TOKEN_URL]
    assert [r.headers["Authorization"] for r in api_calls] == ["Bearer tok-1", "Bearer tok-1"]
    assert api_calls[0].url.path == "/v1/customers/tenant-1/subscriptions"
    assert api_calls[0].headers["MS-CorrelationId"] != api_calls[1].headers["MS-CorrelationId"]
    assert client.calls == 2


def test_a_401_renews_the_token_once_and_the_order_keeps_its_request_id() -> None:
    tokens = iter(["old", "new"])
    orders: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            assert parse_qs(request.content.decode())["refresh_token"] == ["rt"]
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3600})
        orders.append(request)
        if request.headers["Authorization"] == "Bearer old":
            return httpx.Response(401, json={"code": "800001", "description": "token expired", "source": "PartnerFD"})
        return httpx.Response(201, json={"id": "order-1", "status": "completed", "lineItems": []})

    client = client_for(
        httpx.MockTransport(handle), auth="refresh_token", token_url=TOKEN_URL, client_id="app", refresh_token="rt"
    )
    order = client.create_order("tenant-1", [{"lineItemNumber": 0, "offerId": "o", "quantity": 1}], request_id="rid-9")

    assert order["id"] == "order-1"
    assert [r.headers["MS-RequestId"] for r in orders] == ["rid-9", "rid-9"]
    assert json.loads(orders[1].content)["lineItems"][0]["offerId"] == "o"


@pytest.mark.parametrize(
    ("status", "body", "headers", "retryable", "text"),
    [
        (
            500,
            {"code": "800003", "description": "Unexpected error"},
            {},
            True,
            "Partner Center 800003: Unexpected error",
        ),
        (429, {"statusCode": 429, "message": "Rate limit is exceeded."}, {"Retry-After": "7"}, True, "throttled"),
        (409, {"code": "800060", "description": "Order in progress"}, {}, True, "800060"),
        (400, {"code": "800029", "description": "not related"}, {}, False, "Partner Center 800029: not related"),
        (404, {"code": "20003", "description": "Subscription not found"}, {}, False, "20003"),
        (403, {}, {}, False, "Partner Center HTTP 403"),
    ],
)
def test_failures_are_classified_as_the_sdk_does(
    status: int, body: dict[str, object], headers: dict[str, str], retryable: bool, text: str
) -> None:
    transport = httpx.MockTransport(lambda _request: httpx.Response(status, json=body, headers=headers))
    with pytest.raises(PartnerCenterError) as failed:
        client_for(transport).get_subscription("tenant-1", "sub-1")
    assert failed.value.retryable is retryable
    assert text in failed.value.message
    if status == 429:
        assert failed.value.retry_after == 7.0


def test_a_dropped_connection_is_a_transient_failure() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with pytest.raises(PartnerCenterError) as failed:
        client_for(httpx.MockTransport(handle)).update_subscription("tenant-1", "sub-1", {"quantity": 3})
    assert failed.value.retryable is True
    assert "No answer from Partner Center for PATCH" in failed.value.message


@pytest.mark.parametrize(
    "suffix",
    ["/..", "?quantity=1", "#addons", "/../../../", "/addons", "%2F..", " /.."],
    ids=["dot-dot", "query", "fragment", "climb", "addons", "pre-quoted", "space"],
)
def test_an_identifier_reaches_the_simulator_as_one_path_segment(simulator: SimulatorServer, suffix: str) -> None:
    client = PartnerCenterClient(PartnerCenterSettings.model_validate({"base_url": simulator.url}))
    try:
        bought = client.create_order(CUSTOMER, [line(BUSINESS_PREMIUM, 3)], request_id=str(uuid.uuid4()))
        real_id = bought["lineItems"][0]["subscriptionId"]
        assert client.get_subscription(CUSTOMER, real_id)["quantity"] == 3
        odd_id = real_id + suffix

        with pytest.raises(PartnerCenterError) as read:
            client.get_subscription(CUSTOMER, odd_id)
        with pytest.raises(PartnerCenterError) as changed:
            client.update_subscription(CUSTOMER, odd_id, {"quantity": 9})
        with pytest.raises(PartnerCenterError) as listed:
            client.list_subscriptions(CUSTOMER + suffix)
    finally:
        client.close()

    for failed in (read, changed):
        assert (failed.value.status, failed.value.provider_code) == (404, "20003")
        assert f"Subscription {odd_id} not found" in failed.value.message
    assert (listed.value.status, listed.value.provider_code) == (404, "1000")
    assert f"Customer {CUSTOMER + suffix} not found" in listed.value.message
    state = httpx.get(f"{simulator.url}/_sim/state").json()
    assert [s["quantity"] for s in state["subscriptions"]] == [3]


@pytest.mark.parametrize("odd_id", ["", ".", ".."])
def test_an_identifier_that_is_no_path_segment_is_refused_before_anything_is_sent(odd_id: str) -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"id": odd_id})

    client = client_for(httpx.MockTransport(handle))

    for call in (
        lambda: client.get_subscription("tenant-1", odd_id),
        lambda: client.update_subscription("tenant-1", odd_id, {"quantity": 2}),
        lambda: client.get_order(odd_id, "order-1"),
    ):
        with pytest.raises(PartnerCenterError) as refused:
            call()
        assert refused.value.retryable is False
        assert "is not an identifier Partner Center can have" in refused.value.message
    assert sent == []


def test_the_price_sheet_goes_to_its_own_host_with_a_token_of_its_own_audience() -> None:
    """developer/get-a-price-sheet.md: api.partner.microsoft.com, App+User; research §1.4: another token audience."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if str(request.url) == TOKEN_URL:
            scope = parse_qs(request.content.decode())["scope"][0]
            return httpx.Response(200, json={"access_token": f"tok-for-{scope}", "expires_in": 3600})
        if request.url.host == "api.partner.example":
            return httpx.Response(200, content=b'"ProductTitle","ProductId"\r\n')
        return httpx.Response(200, json={"totalCount": 0, "items": [], "attributes": {"objectType": "Collection"}})

    client = client_for(
        httpx.MockTransport(handle),
        auth="refresh_token",
        token_url=TOKEN_URL,
        client_id="app",
        refresh_token="rt",
        scope="https://api.partnercenter.example/user_impersonation",
        price_sheet_base_url="https://api.partner.example",
        price_sheet_scope="https://api.partner.example/.default",
    )
    client.list_subscriptions("tenant-1")
    assert client.get_price_sheet("US").startswith(b'"ProductTitle"')
    client.get_price_sheet("US")

    api = [r for r in seen if str(r.url) != TOKEN_URL]
    assert [(r.url.host, r.headers["Authorization"]) for r in api] == [
        ("pc.example.test", "Bearer tok-for-https://api.partnercenter.example/user_impersonation"),
        ("api.partner.example", "Bearer tok-for-https://api.partner.example/.default"),
        ("api.partner.example", "Bearer tok-for-https://api.partner.example/.default"),  # cached per audience
    ]
    assert len([r for r in seen if str(r.url) == TOKEN_URL]) == 2
