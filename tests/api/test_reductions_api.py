"""Quantity reductions through the REST API (SPEC §6): allowed in the first days of a term and of each later
addition of seats, refused after with how many can go now and the date the rest will be allowed, schedulable for
the renewal, applied by the renewal run (§7); ``refundable_quantity`` shows what can be reduced today."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seatflow.subscriptions.rules import add_months
from tests.api.helpers import all_items, get_json, problem
from tests.api.subscription_helpers import (
    Demo,
    FrozenClock,
    changes_of,
    create_contract,
    create_customer,
    create_subscription,
    freeze_clock,
    load_demo,
    post_json,
    quantity_of,
    snapshot,
)
from tests.factories import noon

WINDOW = {"reduction_behavior": "allowed_within_window", "reduction_window_days": 7}


@pytest.fixture
def today(client: TestClient) -> date:
    return freeze_clock(client)


@pytest.fixture
def demo(client: TestClient) -> Demo:
    return load_demo(client)


@pytest.fixture
def contract(client: TestClient, today: date) -> dict[str, Any]:
    """Northwind's contract, starting on the pinned today."""
    return create_contract(client, create_customer(client, "Northwind Traders", tenant_id="northwind"), "Northwind")


def on_day(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date, day: int, **fields: Any
) -> dict[str, Any]:
    """A Microsoft 365 E3 subscription of 10 whose term started so that today is its ``day``-th day."""
    start = today - timedelta(days=day - 1)
    rules = fields if "reduction_behavior" in fields else WINDOW | fields
    subscription = create_subscription(
        client, contract, demo.products["SPE_E3"], 10, start_date=start.isoformat(), **rules
    )
    assert (subscription["term_start"], subscription["status"]) == (start.isoformat(), "active")
    assert subscription["term_end"] == (add_months(start, 12) - timedelta(days=1)).isoformat()
    return subscription


def reduce(client: TestClient, subscription: dict[str, Any], quantity: int, **fields: Any) -> Any:
    return client.post(f"/api/v1/subscriptions/{subscription['id']}/quantity", json={"quantity": quantity, **fields})


@pytest.mark.parametrize("day", [1, 3, 7])
def test_a_reduction_inside_the_window_is_accepted(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date, day: int
) -> None:
    subscription = on_day(client, demo, contract, today, day)

    response = reduce(client, subscription, 8)

    assert response.status_code == 200, response.text
    change = response.json()
    assert (change["kind"], change["quantity_before"], change["quantity_after"]) == ("quantity", 10, 8)
    assert change["effective_date"] == today.isoformat()
    assert quantity_of(client, subscription["id"]) == 8
    assert changes_of(client, subscription["id"])[-1] == change


@pytest.mark.parametrize("day", [8, 10, 200])
def test_a_reduction_after_the_window_is_refused_until_the_renewal(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date, day: int
) -> None:
    subscription = on_day(client, demo, contract, today, day)
    renewal = date.fromisoformat(subscription["term_end"]) + timedelta(days=1)
    before = snapshot(client)

    response = reduce(client, subscription, 8)

    body = problem(response, 409, "reduction_outside_window")
    assert body["allowed_from"] == renewal.isoformat()
    assert renewal.isoformat() in body["detail"]
    assert "renewal" in body["detail"]
    assert quantity_of(client, subscription["id"]) == 10
    assert snapshot(client) == before


def test_an_increase_after_the_window_is_accepted(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 10)

    response = reduce(client, subscription, 12)

    assert response.status_code == 200, response.text
    assert quantity_of(client, subscription["id"]) == 12


def test_a_disallowed_reduction_says_when_it_will_be_allowed(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 2, reduction_behavior="disallowed")
    before = snapshot(client)

    body = problem(reduce(client, subscription, 9), 409, "reduction_disallowed")

    renewal = date.fromisoformat(subscription["term_end"]) + timedelta(days=1)
    assert body["allowed_from"] == renewal.isoformat()
    assert snapshot(client) == before


def test_a_reduction_scheduled_for_the_renewal_is_applied_by_the_renewal_run(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 10)
    term_end = date.fromisoformat(subscription["term_end"])
    changes_before = changes_of(client, subscription["id"])

    response = reduce(client, subscription, 8, effective="renewal")

    assert response.status_code == 202, response.text
    scheduled = response.json()
    assert scheduled["subscription_id"] == subscription["id"]
    assert scheduled["quantity"] == 8
    assert scheduled["at_renewal"] is True
    assert scheduled["status"] == "scheduled"
    assert scheduled["applied_change_id"] is None
    listed = get_json_list(client, f"/api/v1/subscriptions/{subscription['id']}/scheduled-changes")
    assert listed == [scheduled]
    # Nothing happens to the quantity before the renewal; Partner Center is only told what its renewal is to do
    # (a next_term change, which keeps the quantity: SPEC §7's scheduledNextTermInstructions).
    assert quantity_of(client, subscription["id"]) == 10
    after = changes_of(client, subscription["id"])
    assert after[: len(changes_before)] == changes_before
    assert [(c["kind"], c["quantity_before"], c["quantity_after"]) for c in after[len(changes_before) :]] == [
        ("next_term", 10, 10)
    ]
    early = post_json(client, "/api/v1/renewals", {"date": term_end.isoformat()}, status=200)
    assert (early["renewed"], early["scheduled_applied"]) == (0, 0)
    assert quantity_of(client, subscription["id"]) == 10

    run = post_json(client, "/api/v1/renewals", {"date": (term_end + timedelta(days=1)).isoformat()}, status=200)

    assert (run["renewed"], run["scheduled_applied"], run["scheduled_failed"]) == (1, 1, 0)
    renewed = get_json(client, f"/api/v1/subscriptions/{subscription['id']}")
    assert renewed["quantity"] == 8
    assert renewed["term_start"] == (term_end + timedelta(days=1)).isoformat()
    changes = changes_of(client, subscription["id"])
    assert changes[: len(changes_before)] == changes_before
    [told, applied] = changes[len(changes_before) :]
    assert told["kind"] == "next_term"
    assert (applied["kind"], applied["quantity_before"], applied["quantity_after"]) == ("quantity", 10, 8)
    assert applied["effective_date"] == (term_end + timedelta(days=1)).isoformat()
    [done] = get_json_list(client, f"/api/v1/subscriptions/{subscription['id']}/scheduled-changes")
    assert (done["status"], done["applied_change_id"]) == ("applied", applied["id"])


def test_a_cancelled_scheduled_change_is_not_applied(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 10)
    scheduled = post_json(
        client, f"/api/v1/subscriptions/{subscription['id']}/quantity", {"quantity": 8, "effective": "renewal"}, 202
    )
    cancelled = post_json(client, f"/api/v1/scheduled-changes/{scheduled['id']}/cancel", {}, status=200)
    assert cancelled["status"] == "cancelled"

    renewal = date.fromisoformat(subscription["term_end"]) + timedelta(days=1)
    run = post_json(client, "/api/v1/renewals", {"date": renewal.isoformat()}, status=200)

    assert (run["renewed"], run["scheduled_applied"]) == (1, 0)
    assert quantity_of(client, subscription["id"]) == 10
    # Partner Center was told of the scheduled change, then told again once it was cancelled (no instructions).
    assert [c["kind"] for c in changes_of(client, subscription["id"])] == ["create", "next_term", "next_term"]


def test_a_linked_child_obeys_its_parents_window_too(client: TestClient, demo: Demo, today: date) -> None:
    customer = create_customer(client, "Pine Cone Vet", tenant_id="pinecone")
    parent_contract = create_contract(client, customer, "Parent", billable=False)
    child_contract = create_contract(client, customer, "Atlanta", parent_contract_id=parent_contract["id"])
    parent = on_day(client, demo, parent_contract, today, 10, allow_end_user_modification=False)
    child = create_subscription(
        client,
        child_contract,
        demo.products["SPE_E3"],
        10,
        provider_account_id=demo.accounts["Do nothing"],
        reduction_behavior="allowed",
    )
    post_json(
        client,
        f"/api/v1/subscriptions/{child['id']}/link",
        {"linked_subscription_id": parent["id"], "provider_account_id": demo.accounts["Linked subscriptions"]},
        status=200,
    )
    before = snapshot(client)

    body = problem(reduce(client, child, 8), 409, "reduction_outside_window")

    parent_renewal = date.fromisoformat(parent["term_end"]) + timedelta(days=1)
    assert body["allowed_from"] == parent_renewal.isoformat()
    assert "parent" in body["detail"]
    assert snapshot(client) == before


def get_json_list(client: TestClient, path: str) -> list[dict[str, Any]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


# --- the rule's shape: a window belongs to allowed_within_window (as on products) ------------------------


def test_a_window_rule_without_days_gets_the_default_window(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    """Exchange Online Archiving allows reductions at any time: asked for a window, it gets 7 days, not 0."""
    premium = create_subscription(client, contract, demo.products["O365_BUSINESS_PREMIUM"], 10)
    start = (today - timedelta(days=2)).isoformat()
    archive = create_subscription(
        client,
        contract,
        demo.products["EXCHANGEARCHIVE_ADDON"],
        10,
        parent_subscription_id=premium["id"],
        start_date=start,
        reduction_behavior="allowed_within_window",
    )

    assert (archive["reduction_behavior"], archive["reduction_window_days"]) == ("allowed_within_window", 7)
    assert reduce(client, archive, 8).status_code == 200
    # Clearing the days of a window rule keeps the default window too.
    response = client.patch(f"/api/v1/subscriptions/{archive['id']}", json={"reduction_window_days": None})
    assert response.status_code == 200, response.text
    assert response.json()["reduction_window_days"] == 7
    assert response.json() == get_json(client, f"/api/v1/subscriptions/{archive['id']}")


def test_leaving_the_window_rule_drops_its_days(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 10)

    response = client.patch(f"/api/v1/subscriptions/{subscription['id']}", json={"reduction_behavior": "allowed"})

    assert response.status_code == 200, response.text
    assert (response.json()["reduction_behavior"], response.json()["reduction_window_days"]) == ("allowed", None)
    assert reduce(client, subscription, 8).status_code == 200
    # A subscription created with another rule does not inherit the product's window either.
    allowed = create_subscription(client, contract, demo.products["SPE_E3"], 3, reduction_behavior="disallowed")
    assert (allowed["reduction_behavior"], allowed["reduction_window_days"]) == ("disallowed", None)


@pytest.mark.parametrize("behavior", ["allowed", "disallowed"])
def test_days_without_a_window_rule_are_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date, behavior: str
) -> None:
    subscription = on_day(client, demo, contract, today, 3)
    before = snapshot(client)

    created = client.post(
        "/api/v1/subscriptions",
        json={
            "contract_id": contract["id"],
            "product_id": demo.products["SPE_E3"],
            "quantity": 1,
            "reduction_behavior": behavior,
            "reduction_window_days": 5,
        },
    )
    patched = client.patch(
        f"/api/v1/subscriptions/{subscription['id']}", json={"reduction_behavior": behavior, "reduction_window_days": 5}
    )

    for response in (created, patched):
        body = problem(response, 422, "invalid_reduction_rule")
        assert "allowed_within_window" in body["detail"]
    assert snapshot(client) == before


# --- the window of each batch of seats (SPEC §6, 2026-12): Partner Center's refundableQuantity -------------


def set_today(client: TestClient, day: date) -> None:
    client.app.state.clock = FrozenClock(noon(day))  # type: ignore[attr-defined]


def test_a_reduction_of_seats_added_three_days_ago_succeeds_mid_term_while_older_seats_are_refused(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 1)  # 10 bought today
    path = f"/api/v1/subscriptions/{subscription['id']}"
    assert get_json(client, path)["refundable_quantity"] == {
        "total": 10,
        "batches": [{"quantity": 10, "allowed_until": (today + timedelta(days=6)).isoformat()}],
    }
    set_today(client, today + timedelta(days=20))
    assert get_json(client, path)["refundable_quantity"] == {"total": 0, "batches": []}
    assert post_json(client, f"{path}/quantity", {"quantity": 15}, status=200)["quantity_after"] == 15
    added_until = (today + timedelta(days=26)).isoformat()
    assert get_json(client, path)["refundable_quantity"] == {
        "total": 5,
        "batches": [{"quantity": 5, "allowed_until": added_until}],
    }

    set_today(client, today + timedelta(days=23))
    reduced = reduce(client, subscription, 10)

    assert reduced.status_code == 200, reduced.text
    assert (reduced.json()["quantity_before"], reduced.json()["quantity_after"]) == (15, 10)
    assert get_json(client, path)["refundable_quantity"] == {"total": 0, "batches": []}
    before = snapshot(client)
    body = problem(reduce(client, subscription, 9), 409, "reduction_outside_window")
    renewal = date.fromisoformat(subscription["term_end"]) + timedelta(days=1)
    assert "0 of its 10 seats can be reduced, not 1" in body["detail"]
    assert f"from the renewal on {renewal}" in body["detail"]
    assert body["allowed_from"] == renewal.isoformat()
    assert body["refundable_quantity"] == {"total": 0, "batches": []}
    assert snapshot(client) == before
    # The older seats can still go at the renewal.
    assert reduce(client, subscription, 9, effective="renewal").status_code == 202


def test_a_refusal_names_the_seats_that_can_go_now_and_until_when(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    subscription = on_day(client, demo, contract, today, 30)
    assert post_json(client, f"/api/v1/subscriptions/{subscription['id']}/quantity", {"quantity": 13}, 200)
    set_today(client, today + timedelta(days=2))

    body = problem(reduce(client, subscription, 8), 409, "reduction_outside_window")

    until = (today + timedelta(days=6)).isoformat()
    assert f"3 of its 13 seats can be reduced (3 added on {today} until {until}), not 5" in body["detail"]
    assert body["refundable_quantity"] == {"total": 3, "batches": [{"quantity": 3, "allowed_until": until}]}
    assert reduce(client, subscription, 10).status_code == 200


def test_the_list_shows_what_each_subscription_can_be_reduced_by(
    client: TestClient, demo: Demo, contract: dict[str, Any], today: date
) -> None:
    window = on_day(client, demo, contract, today, 3)
    closed = on_day(client, demo, contract, today, 30)
    allowed = on_day(client, demo, contract, today, 30, reduction_behavior="allowed")
    disallowed = on_day(client, demo, contract, today, 3, reduction_behavior="disallowed")

    listed = {s["id"]: s["refundable_quantity"] for s in all_items(client, "/api/v1/subscriptions")}

    assert listed[window["id"]] == {
        "total": 10,
        "batches": [{"quantity": 10, "allowed_until": (today + timedelta(days=4)).isoformat()}],
    }
    assert listed[closed["id"]] == {"total": 0, "batches": []}
    assert listed[allowed["id"]] is None  # no rule limits it
    assert listed[disallowed["id"]] == {"total": 0, "batches": []}
    for subscription in (window, closed, allowed, disallowed):
        assert (
            get_json(client, f"/api/v1/subscriptions/{subscription['id']}")["refundable_quantity"]
            == listed[subscription["id"]]
        )
