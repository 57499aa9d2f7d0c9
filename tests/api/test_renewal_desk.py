"""The renewal desk through the REST API (SPEC §7, §10, §13): ``GET /renewals/upcoming`` lists what renews in the
next 30/60/90 days with the monthly amount now and after, ``POST /subscriptions/{id}/renewal`` sets what the next
term will be, ``PATCH … auto_renew`` is "don't renew", and the daily run applies it. Today is pinned at 2026-12-01."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import get_json, problem
from tests.api.subscription_helpers import (
    Demo,
    create_contract,
    create_customer,
    create_subscription,
    freeze_clock,
    load_demo,
    post_json,
    snapshot,
)

Json = dict[str, Any]


@pytest.fixture
def today(client: TestClient) -> date:
    return freeze_clock(client)


@pytest.fixture
def demo(client: TestClient) -> Demo:
    return load_demo(client)


@pytest.fixture
def northwind(client: TestClient, today: date) -> Json:
    return create_customer(client, "Northwind Traders", tenant_id="northwind")


@pytest.fixture
def subs(client: TestClient, demo: Demo, northwind: Json) -> dict[str, Json]:
    """E3 renewing on 2027-01-15 (in 45 days), Business Premium on 2026-12-20 (in 19 days), EMS in a year."""
    contract = create_contract(client, northwind, "Northwind", start_date="2025-12-01")
    return {
        "e3": create_subscription(client, contract, demo.products["SPE_E3"], 10, start_date="2026-01-15"),
        "premium": create_subscription(
            client, contract, demo.products["O365_BUSINESS_PREMIUM"], 20, start_date="2025-12-20"
        ),
        "ems": create_subscription(client, contract, demo.products["EMS"], 5, start_date="2026-12-01"),
    }


def upcoming(client: TestClient, **params: Any) -> list[Json]:
    response = client.get("/api/v1/renewals/upcoming", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[Json] = body["items"]
    return items


def renewal(client: TestClient, subscription: Json, status: int = 200, **body: Any) -> Json:
    return post_json(client, f"/api/v1/subscriptions/{subscription['id']}/renewal", body, status)


def test_30_and_60_days_list_what_renews_soonest_first_with_the_monthly_amounts(
    client: TestClient, subs: dict[str, Json]
) -> None:
    [premium] = upcoming(client, days=30)
    assert (premium["product_name"], premium["renewal_date"], premium["term_end"]) == (
        "Office 365 Business Premium",
        "2026-12-20",
        "2026-12-19",
    )
    assert (premium["customer_name"], premium["contract_name"]) == ("Northwind Traders", "Northwind")
    assert (premium["quantity"], premium["term"], premium["billing_plan"]) == (20, "P1Y", "monthly")
    assert premium["unit_price"] == "12.50"
    assert premium["monthly_amount"] == "250.00"  # 20 x 12.50
    assert premium["monthly_amount_after"] == "250.00"  # renews as it is
    assert premium["changes"] == []
    assert premium["next_term"]["term_end"] == "2027-12-19"
    assert (premium["auto_renew"], premium["expires_on"]) == (True, None)

    assert [r["product_name"] for r in upcoming(client, days=60)] == ["Office 365 Business Premium", "Microsoft 365 E3"]
    assert len(upcoming(client, days=90)) == 2  # EMS renews on 2027-12-01


def test_the_customer_filter_and_its_accounts_below(client: TestClient, subs: dict[str, Json], northwind: Json) -> None:
    branch = create_customer(client, "Northwind Branch", parent_customer_id=northwind["id"])
    branch_contract = create_contract(client, branch, "Branch", start_date="2025-12-01")
    demo_e3 = subs["e3"]["product_id"]
    create_subscription(client, branch_contract, demo_e3, 2, start_date="2026-01-02")
    assert [r["customer_name"] for r in upcoming(client, days=60, customer_id=northwind["id"])] == [
        "Northwind Traders",
        "Northwind Traders",
    ]
    both = upcoming(client, days=60, customer_id=northwind["id"], include_descendants="true")
    assert [(r["customer_name"], r["renewal_date"]) for r in both] == [
        ("Northwind Traders", "2026-12-20"),
        ("Northwind Branch", "2027-01-02"),
        ("Northwind Traders", "2027-01-15"),
    ]
    unknown = "018f0000-0000-7000-8000-000000000000"
    problem(client.get("/api/v1/renewals/upcoming", params={"customer_id": unknown}), 404, "not_found")
    problem(client.get("/api/v1/renewals/upcoming", params={"customer_id": "nope"}), 422, "validation_failed")


@pytest.mark.parametrize("days", ["0", "367", "thirty", "-30"])
def test_days_outside_1_to_366_are_a_problem_not_a_list(client: TestClient, today: date, days: str) -> None:
    problem(client.get("/api/v1/renewals/upcoming", params={"days": days}), 422, "validation_failed")


def test_pages_follow_the_renewal_date_and_a_made_up_cursor_is_a_problem(
    client: TestClient, subs: dict[str, Json]
) -> None:
    first = client.get("/api/v1/renewals/upcoming", params={"days": 366, "limit": 2}).json()
    assert [r["renewal_date"] for r in first["items"]] == ["2026-12-20", "2027-01-15"]
    rest = client.get("/api/v1/renewals/upcoming", params={"days": 366, "limit": 2, "cursor": first["next_cursor"]})
    assert [r["renewal_date"] for r in rest.json()["items"]] == ["2027-12-01"]
    assert rest.json()["next_cursor"] is None
    problem(client.get("/api/v1/renewals/upcoming", params={"cursor": "not-ours"}), 422, "invalid_cursor")


def test_another_sku_and_quantity_at_renewal_answer_the_renewal_as_get_shows_it(
    client: TestClient, subs: dict[str, Json], demo: Demo
) -> None:
    e3 = subs["e3"]
    answer = renewal(client, e3, product_id=demo.products["ENTERPRISEPREMIUM"], quantity=12)
    assert answer == get_json(client, f"/api/v1/subscriptions/{e3['id']}/renewal")
    assert (answer["quantity"], answer["product_name"]) == (10, "Microsoft 365 E3")  # this term is untouched
    after = answer["next_term"]
    assert (after["quantity"], after["product_name"], after["term"], after["billing_plan"]) == (
        12,
        "Office 365 E5",
        "P1Y",
        "monthly",
    )
    assert (after["term_start"], after["term_end"]) == ("2027-01-15", "2028-01-14")
    assert after["unit_price"] == "38.00"  # E5's P1Y monthly list price
    assert answer["monthly_amount"] == "360.00"  # 10 x 36.00
    assert answer["monthly_amount_after"] == after["monthly_amount"] == "456.00"  # 12 x 38.00
    assert answer["changes"] == [
        {"what": "quantity", "before": "10", "after": "12"},
        {"what": "product", "before": "Microsoft 365 E3", "after": "Office 365 E5"},
        {"what": "unit price", "before": "36.00", "after": "38.00"},
    ]
    [scheduled_id] = answer["scheduled_change_ids"]
    [scheduled] = get_json_list(client, f"/api/v1/subscriptions/{e3['id']}/scheduled-changes")
    assert (scheduled["id"], scheduled["at_renewal"], scheduled["quantity"]) == (scheduled_id, True, 12)
    assert scheduled["product_id"] == demo.products["ENTERPRISEPREMIUM"]
    # Partner Center is to be told before the term ends: a next_term change awaits the worker.
    kinds = [c["kind"] for c in get_json_list(client, f"/api/v1/subscriptions/{e3['id']}/changes")]
    assert kinds == ["create", "next_term"]

    # The daily run on the renewal day applies it.
    post_json(client, "/api/v1/renewals", {"date": "2027-01-15"}, 200)
    renewed = get_json(client, f"/api/v1/subscriptions/{e3['id']}")
    assert (renewed["product_id"], renewed["quantity"], renewed["unit_price"]) == (
        demo.products["ENTERPRISEPREMIUM"],
        12,
        "38.00",
    )
    assert (renewed["term_start"], renewed["term_end"]) == ("2027-01-15", "2028-01-14")


def get_json_list(client: TestClient, path: str) -> list[Json]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()
    return items


def test_dont_renew_then_renew_again(client: TestClient, subs: dict[str, Json]) -> None:
    premium = subs["premium"]
    renewal(client, premium, quantity=25)
    response = client.patch(f"/api/v1/subscriptions/{premium['id']}", json={"auto_renew": False})
    assert response.status_code == 200, response.text
    [row] = upcoming(client, days=30)
    assert (row["auto_renew"], row["expires_on"], row["next_term"]) == (False, "2026-12-20", None)
    assert row["monthly_amount"] == "250.00"  # 20 x 12.50 until it expires
    assert row["monthly_amount_after"] == "0.00"
    assert row["scheduled_change_ids"] == []  # the change for a renewal that will not come is cancelled
    body = problem(
        client.post(f"/api/v1/subscriptions/{premium['id']}/renewal", json={"quantity": 25}), 422, "not_renewing"
    )
    assert "2026-12-19" in body["detail"]

    client.patch(f"/api/v1/subscriptions/{premium['id']}", json={"auto_renew": True})
    assert renewal(client, premium, quantity=25)["monthly_amount_after"] == "312.50"  # 25 x 12.50


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"quantity": 301}, 422, "quantity_out_of_range"),  # sold up to 300
        ({"quantity": 10}, 422, "no_change"),
        ({}, 422, "no_change"),
        ({"term": "P3Y"}, 422, "term_not_offered"),
        ({"term": "P5Y"}, 422, "validation_failed"),
        ({"quantity": "ten"}, 422, "validation_failed"),
        ({"quantity": 12, "effective": "now"}, 422, "validation_failed"),
        ({"product_id": "no such product"}, 404, "not_found"),
        ({"co_term_subscription_id": "018f0000-0000-7000-8000-000000000000"}, 404, "not_found"),
    ],
)
def test_what_the_next_term_cannot_be_is_a_problem_and_changes_nothing(
    client: TestClient, subs: dict[str, Json], body: Json, status: int, code: str
) -> None:
    before = snapshot(client)
    problem(client.post(f"/api/v1/subscriptions/{subs['e3']['id']}/renewal", json=body), status, code)
    assert snapshot(client) == before
    assert get_json(client, f"/api/v1/subscriptions/{subs['e3']['id']}/renewal")["scheduled_change_ids"] == []


def test_another_kind_of_product_is_refused(client: TestClient, subs: dict[str, Json], demo: Demo) -> None:
    body = problem(
        client.post(
            f"/api/v1/subscriptions/{subs['e3']['id']}/renewal",
            json={"product_id": demo.products["EXCHANGEARCHIVE_ADDON"]},
        ),
        422,
        "product_switch_invalid",
    )
    assert "same kind" in body["detail"]


def test_an_unknown_subscription_is_not_found(client: TestClient, today: date) -> None:
    problem(client.get("/api/v1/subscriptions/nope/renewal"), 404, "not_found")
    problem(client.post("/api/v1/subscriptions/nope/renewal", json={"quantity": 3}), 404, "not_found")


def test_clearing_the_renewal_changes(client: TestClient, subs: dict[str, Json]) -> None:
    e3 = subs["e3"]
    renewal(client, e3, quantity=12)
    renewal(client, e3, billing_plan="annual")
    response = client.delete(f"/api/v1/subscriptions/{e3['id']}/renewal")
    assert response.status_code == 200, response.text
    cleared = response.json()
    assert (cleared["changes"], cleared["scheduled_change_ids"]) == ([], [])
    assert cleared["monthly_amount_after"] == "360.00"  # 10 x 36.00, as it is
    problem(client.delete(f"/api/v1/subscriptions/{e3['id']}/renewal"), 422, "no_change")


def test_the_openapi_document_describes_the_desk_with_its_problems(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    upcoming_get = paths["/api/v1/renewals/upcoming"]["get"]
    assert {p["name"] for p in upcoming_get["parameters"]} >= {"days", "customer_id", "include_descendants"}
    change = paths["/api/v1/subscriptions/{subscription_id}/renewal"]["post"]
    assert "application/problem+json" in change["responses"]["422"]["content"]
    assert "post" in paths["/api/v1/renewals"]  # the daily run is still there
