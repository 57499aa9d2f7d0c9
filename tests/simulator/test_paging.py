"""Paging ``GET /v1/customers`` (developer/get-a-list-of-customers.md; seek-based collections: continuationToken, and
a ``links.next`` with ``seekOperation=Next`` and the ``MS-ContinuationToken`` header) and bulk-made customers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.simulator.helpers import CUSTOMER, fault_of
from tests.simulator.nce import assert_documented_shape


def _follow(pc: httpx.Client, page: dict[str, Any]) -> httpx.Response:
    """Ask for the next page exactly as the page's ``links.next`` says."""
    following = page["links"]["next"]
    headers = {header["key"]: header["value"] for header in following["headers"]}
    return pc.request(following["method"], f"/v1{following['uri']}", headers=headers)


def test_twelve_hundred_customers_come_in_pages_of_five_hundred(pc: httpx.Client) -> None:
    made = pc.post("/_sim/customers/bulk", json={"count": 1200})
    assert made.status_code == 201
    assert made.json() == {"created": 1200, "customers": 1201}

    page = pc.get("/v1/customers", params={"size": 500}).json()
    assert_documented_shape(page, "customers-list.json")
    pages = [page]
    while "next" in page["links"]:
        assert page["continuationToken"] == page["links"]["next"]["headers"][0]["value"]
        assert page["links"]["next"]["uri"] == "/customers?size=500&seekOperation=Next"
        response = _follow(pc, page)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
    assert [p["totalCount"] for p in pages] == [500, 500, 201]
    assert "continuationToken" not in pages[-1]
    ids = [customer["id"] for p in pages for customer in p["items"]]
    assert len(ids) == len(set(ids)) == 1201
    assert ids[0] == CUSTOMER
    assert ids[-1] == "bulk-001200"


def test_a_page_never_holds_more_than_the_configured_maximum(pc: httpx.Client) -> None:
    pc.post("/_sim/customers/bulk", json={"count": 30, "prefix": "oak"})
    pc.post("/_sim/faults", json={"max_page_size": 20})
    first = pc.get("/v1/customers", params={"size": 500}).json()
    assert first["totalCount"] == 20
    second = pc.get(
        "/v1/customers",
        params={"size": 500, "seekOperation": "Next"},
        headers={"MS-ContinuationToken": first["continuationToken"]},
    ).json()
    assert second["totalCount"] == 11
    assert "next" not in second["links"]
    assert pc.get("/v1/customers").json()["totalCount"] == 20  # no size: the maximum


def test_bad_paging_requests_are_800002(pc: httpx.Client) -> None:
    assert fault_of(pc.get("/v1/customers", params={"size": 0})) == (400, "800002")
    assert fault_of(pc.get("/v1/customers", params={"size": "many"})) == (400, "800002")
    assert fault_of(pc.get("/v1/customers", params={"seekOperation": "Next"})) == (400, "800002")
    bad_token = pc.get("/v1/customers", params={"seekOperation": "Next"}, headers={"MS-ContinuationToken": "garbage"})
    assert fault_of(bad_token) == (400, "800002")
    assert fault_of(pc.get("/v1/customers", params={"seekOperation": "Last"})) == (400, "800002")


def test_bulk_customers_are_checked(pc: httpx.Client) -> None:
    for bad in ({"count": 0}, {"count": "ten"}, {"count": 10, "prefix": "a/b"}):
        assert pc.post("/_sim/customers/bulk", json=bad).status_code == 400, bad
    assert pc.post("/_sim/customers/bulk", json={"count": 2}).status_code == 201
    assert pc.post("/_sim/customers/bulk", json={"count": 2}).status_code == 400  # the same ids again
    assert pc.get("/v1/customers/bulk-000002").json()["companyProfile"]["companyName"] == "bulk 2"
