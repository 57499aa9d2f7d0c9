"""Listing customers follows Microsoft's seek paging to the last page, and stops on a loop (SPEC §7 "read")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from seatflow.partner_center.client import PartnerCenterError
from tests.partner_center.helpers import Script, assert_partner_center_headers, documented


def customer_page(first: int, count: int, token: str | None) -> httpx.Response:
    """A page of the documented collection, holding customers ``first`` … ``first + count - 1``."""
    page = documented("client_customers_page")
    template = page["items"][0]
    page["items"] = [{**template, "id": f"customer-{n:05d}"} for n in range(first, first + count)]
    page["totalCount"] = count
    if token is not None:
        page["continuationToken"] = token
    return httpx.Response(200, json=page)


def test_every_page_is_read_so_twelve_hundred_customers_are_all_seen() -> None:
    script = Script(
        customer_page(0, 500, "token-after-500"),
        customer_page(500, 500, "token-after-1000"),
        customer_page(1000, 200, None),
    )

    customers = script.client().list_customers()

    assert [c["id"] for c in customers] == [f"customer-{n:05d}" for n in range(1200)]
    first, second, third = script.requests
    assert (first.method, first.url.path, dict(first.url.params)) == ("GET", "/v1/customers", {"size": "500"})
    assert "MS-ContinuationToken" not in first.headers
    for request, token in ((second, "token-after-500"), (third, "token-after-1000")):
        assert (request.url.path, dict(request.url.params)) == ("/v1/customers", {"seekOperation": "Next"})
        assert request.headers["MS-ContinuationToken"] == token
    for request in script.requests:
        assert_partner_center_headers(request)
    assert len({r.headers["MS-CorrelationId"] for r in script.requests}) == 3, "a new correlation id per call"


def test_the_token_may_come_as_the_next_link_header() -> None:
    """Partner Center's collections also name the next page as a link carrying the MS-ContinuationToken header."""
    first = documented("client_customers_page")
    first["links"]["next"] = {
        "uri": "/customers?seekOperation=Next",
        "method": "GET",
        "headers": [{"key": "MS-ContinuationToken", "value": "AQAAAA=="}],
    }
    script = Script(httpx.Response(200, json=first), customer_page(2, 1, None))

    customers = script.client().list_customers()

    assert len(customers) == 3
    assert script.requests[1].headers["MS-ContinuationToken"] == "AQAAAA=="


def test_a_single_page_without_a_token_is_the_whole_list() -> None:
    script = Script(httpx.Response(200, json=documented("client_customers_page")))

    customers = script.client().list_customers()

    assert [c["id"] for c in customers] == [
        "b44bb1fb-c595-45b0-9e09-d657365580bf",
        "45c44870-ef77-4fdd-b6fe-3dacb075cff2",
    ]
    assert len(script.requests) == 1


def test_a_page_loop_is_a_clear_permanent_error_not_an_endless_read() -> None:
    script = Script(
        customer_page(0, 500, "token-A"), customer_page(500, 500, "token-B"), customer_page(0, 500, "token-A")
    )

    with pytest.raises(PartnerCenterError) as looped:
        script.client().list_customers()

    assert looped.value.retryable is False
    assert "paging loop" in looped.value.message
    assert "page 3 of the customer list" in looped.value.message
    assert "customer list is incomplete" in looped.value.message
    assert len(script.requests) == 3


def test_the_number_of_pages_is_bounded() -> None:
    pages: list[Any] = [customer_page(n * 10, 10, f"token-{n}") for n in range(4)]
    script = Script(*pages)

    with pytest.raises(PartnerCenterError) as endless:
        script.client().list_customers(max_pages=3)

    assert endless.value.retryable is False
    assert "past 3 pages" in endless.value.message
    assert len(script.requests) == 3


def test_a_failed_page_is_classified_like_any_call() -> None:
    script = Script(
        customer_page(0, 500, "token-A"),
        httpx.Response(503, json={"code": "800003", "description": "Unexpected error", "source": "PartnerFD"}),
    )

    with pytest.raises(PartnerCenterError) as failed:
        script.client().list_customers()

    assert failed.value.retryable is True
    assert failed.value.status == 503
