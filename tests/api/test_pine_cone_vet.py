"""Seed 003 through the REST API: Pine Cone Vet's parent contract provisions 50 Microsoft 365 E3 and 20 EMS
on Partner Center; Atlanta, New York City and Memphis hold linked child subscriptions that push their
changes up (SPEC §4, §5, §7, §13)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import all_items, get_json, problem
from tests.api.subscription_helpers import (
    Demo,
    changes_of,
    create_contract,
    create_customer,
    create_subscription,
    load_demo,
    post_json,
    quantity_of,
)

LOCATIONS = [("Atlanta, GA", 10, 5), ("New York City, NY", 25, 10), ("Memphis, TN", 15, 5)]


@dataclass
class PineConeVet:
    demo: Demo
    parent_contract: dict[str, Any]
    parent_e3: dict[str, Any]
    parent_ems: dict[str, Any]
    locations: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]
    """Location → (child contract, its E3 subscription, its EMS subscription), as linked."""


@pytest.fixture
def pcv(client: TestClient) -> PineConeVet:
    demo = load_demo(client)
    customer = create_customer(client, "Pine Cone Vet", tenant_id="6f1c2d3e-0000-4000-8000-000000000003")
    parent_contract = create_contract(client, customer, "Pine Cone Vet - Parent", billable=False)
    parent_e3 = create_subscription(
        client, parent_contract, demo.products["SPE_E3"], 50, allow_end_user_modification=False
    )
    parent_ems = create_subscription(
        client, parent_contract, demo.products["EMS"], 20, allow_end_user_modification=False
    )
    assert parent_e3["provider_account_id"] == demo.accounts["Partner Center"]
    assert parent_ems["provider_account_id"] == demo.accounts["Partner Center"]

    locations = {}
    for name, e3_quantity, ems_quantity in LOCATIONS:
        contract = create_contract(
            client, customer, f"Pine Cone Vet - {name}", parent_contract_id=parent_contract["id"]
        )
        linked = []
        for product, quantity, target in (("SPE_E3", e3_quantity, parent_e3), ("EMS", ems_quantity, parent_ems)):
            child = create_subscription(
                client, contract, demo.products[product], quantity, provider_account_id=demo.accounts["Do nothing"]
            )
            body = {
                "linked_subscription_id": target["id"],
                "provider_account_id": demo.accounts["Linked subscriptions"],
            }
            answer = post_json(client, f"/api/v1/subscriptions/{child['id']}/link", body, status=200)
            assert answer["linked_subscription_id"] == target["id"]
            assert answer["provider_account_id"] == demo.accounts["Linked subscriptions"]
            assert answer == get_json(client, f"/api/v1/subscriptions/{child['id']}")
            linked.append(answer)
        locations[name] = (contract, linked[0], linked[1])
    return PineConeVet(demo, parent_contract, parent_e3, parent_ems, locations)


def setup_check(client: TestClient, contract_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/contracts/{contract_id}/setup-check")
    assert response.status_code == 200, response.text
    problems: list[dict[str, Any]] = response.json()
    return problems


def test_linking_pushes_nothing_and_the_setup_is_sound(client: TestClient, pcv: PineConeVet) -> None:
    assert setup_check(client, pcv.parent_contract["id"]) == []
    for contract, _, _ in pcv.locations.values():
        assert setup_check(client, contract["id"]) == []
    # Linking records the link only: the parent keeps its quantities and only its create change.
    assert quantity_of(client, pcv.parent_e3["id"]) == 50
    assert quantity_of(client, pcv.parent_ems["id"]) == 20
    assert [c["kind"] for c in changes_of(client, pcv.parent_e3["id"])] == ["create"]
    children = all_items(client, "/api/v1/subscriptions", linked_subscription_id=pcv.parent_e3["id"])
    assert sorted(c["quantity"] for c in children) == [10, 15, 25]


def test_a_child_increase_pushes_up_to_the_parent(client: TestClient, pcv: PineConeVet) -> None:
    _, new_york_e3, new_york_ems = pcv.locations["New York City, NY"]

    response = client.post(f"/api/v1/subscriptions/{new_york_e3['id']}/quantity", json={"quantity": 35})

    assert response.status_code == 200, response.text
    child_change = response.json()
    assert child_change["subscription_id"] == new_york_e3["id"]
    assert (child_change["quantity_before"], child_change["quantity_after"]) == (25, 35)
    assert child_change["origin"] == "api"
    assert child_change == get_json(client, f"/api/v1/license-changes/{child_change['id']}")
    assert quantity_of(client, new_york_e3["id"]) == 35
    assert quantity_of(client, pcv.parent_e3["id"]) == 60
    # The parent's change names the child's change that caused it.
    caused = all_items(client, "/api/v1/license-changes", caused_by_change_id=child_change["id"])
    assert len(caused) == 1
    parent_change = caused[0]
    assert parent_change["subscription_id"] == pcv.parent_e3["id"]
    assert parent_change["kind"] == "quantity"
    assert parent_change["origin"] == "linked_child"
    assert (parent_change["quantity_before"], parent_change["quantity_after"]) == (50, 60)
    assert changes_of(client, pcv.parent_e3["id"])[-1] == parent_change
    # Neither is provisioned yet: the parent provisions with Partner Center, the child waits for it.
    assert child_change["provisioning_status"] == "awaiting_provisioning"
    assert parent_change["provisioning_status"] == "awaiting_provisioning"
    awaiting = {
        c["id"] for c in all_items(client, "/api/v1/license-changes", provisioning_status="awaiting_provisioning")
    }
    assert {child_change["id"], parent_change["id"]} <= awaiting
    # Only the E3 moved; the setup still adds up.
    assert quantity_of(client, new_york_ems["id"]) == 10
    assert quantity_of(client, pcv.parent_ems["id"]) == 20
    assert setup_check(client, pcv.parent_contract["id"]) == []


def test_a_direct_change_on_the_linked_parent_is_refused(client: TestClient, pcv: PineConeVet) -> None:
    _, new_york_e3, _ = pcv.locations["New York City, NY"]
    post_json(client, f"/api/v1/subscriptions/{new_york_e3['id']}/quantity", {"quantity": 35}, status=200)
    changes_before = changes_of(client, pcv.parent_e3["id"])

    response = client.post(f"/api/v1/subscriptions/{pcv.parent_e3['id']}/quantity", json={"quantity": 70})

    body = problem(response, 409, "linked_parent_locked")
    assert sorted(body["linked_children"]) == sorted(s[1]["id"] for s in pcv.locations.values())
    assert quantity_of(client, pcv.parent_e3["id"]) == 60
    assert changes_of(client, pcv.parent_e3["id"]) == changes_before


def test_force_without_a_reason_is_refused(client: TestClient, pcv: PineConeVet) -> None:
    response = client.post(
        f"/api/v1/subscriptions/{pcv.parent_e3['id']}/quantity", json={"quantity": 55, "force": True}
    )

    problem(response, 422, "reason_required")
    assert quantity_of(client, pcv.parent_e3["id"]) == 50
    assert [c["kind"] for c in changes_of(client, pcv.parent_e3["id"])] == ["create"]


def test_a_forced_change_on_the_parent_records_its_reason(client: TestClient, pcv: PineConeVet) -> None:
    _, new_york_e3, _ = pcv.locations["New York City, NY"]
    post_json(client, f"/api/v1/subscriptions/{new_york_e3['id']}/quantity", {"quantity": 35}, status=200)
    reason = "Partner Center shows 62 after a tenant admin bought two directly; matching it."

    response = client.post(
        f"/api/v1/subscriptions/{pcv.parent_e3['id']}/quantity", json={"quantity": 62, "force": True, "reason": reason}
    )

    assert response.status_code == 200, response.text
    change = response.json()
    assert change["subscription_id"] == pcv.parent_e3["id"]
    assert (change["quantity_before"], change["quantity_after"]) == (60, 62)
    assert change["reason"] == reason
    assert change["origin"] == "api"
    assert changes_of(client, pcv.parent_e3["id"])[-1] == change
    assert quantity_of(client, pcv.parent_e3["id"]) == 62
    # Nothing flows down, and the setup check now reports the difference.
    assert quantity_of(client, new_york_e3["id"]) == 35
    problems = setup_check(client, pcv.parent_contract["id"])
    assert [(p["code"], p["subscription_id"]) for p in problems] == [("children_sum_mismatch", pcv.parent_e3["id"])]
    assert "62" in problems[0]["detail"]
    assert "60" in problems[0]["detail"]


def test_a_child_left_on_partner_center_is_flagged(client: TestClient, pcv: PineConeVet) -> None:
    memphis, _, _ = pcv.locations["Memphis, TN"]
    stray = create_subscription(client, memphis, pcv.demo.products["SPE_E3"], 3)
    assert stray["provider_account_id"] == pcv.demo.accounts["Partner Center"]

    problems = setup_check(client, pcv.parent_contract["id"])

    assert [(p["code"], p["subscription_id"]) for p in problems] == [("child_on_automatic_provider", stray["id"])]
    assert "Partner Center" in problems[0]["detail"]
    # The child contract's own check reports it too; the other locations are still sound.
    assert [(p["code"], p["subscription_id"]) for p in setup_check(client, memphis["id"])] == [
        ("child_on_automatic_provider", stray["id"])
    ]
    atlanta, _, _ = pcv.locations["Atlanta, GA"]
    assert setup_check(client, atlanta["id"]) == []
    # Nothing was pushed to the parent by an unlinked subscription.
    assert quantity_of(client, pcv.parent_e3["id"]) == 50


def test_a_child_created_already_linked_pushes_its_whole_quantity(client: TestClient, pcv: PineConeVet) -> None:
    customer_id = pcv.parent_contract["customer_id"]
    nashville = create_contract(
        client, {"id": customer_id}, "Pine Cone Vet - Nashville, TN", parent_contract_id=pcv.parent_contract["id"]
    )
    child = create_subscription(
        client,
        nashville,
        pcv.demo.products["EMS"],
        4,
        provider_account_id=pcv.demo.accounts["Linked subscriptions"],
        linked_subscription_id=pcv.parent_ems["id"],
    )

    assert child["linked_subscription_id"] == pcv.parent_ems["id"]
    assert quantity_of(client, pcv.parent_ems["id"]) == 24
    create_change = changes_of(client, child["id"])[0]
    assert create_change["kind"] == "create"
    pushed = all_items(client, "/api/v1/license-changes", caused_by_change_id=create_change["id"])
    assert [(c["subscription_id"], c["quantity_before"], c["quantity_after"]) for c in pushed] == [
        (pcv.parent_ems["id"], 20, 24)
    ]
    assert setup_check(client, pcv.parent_contract["id"]) == []


def test_a_cancelled_child_takes_its_quantity_off_the_parent(client: TestClient, pcv: PineConeVet) -> None:
    _, atlanta_e3, _ = pcv.locations["Atlanta, GA"]

    response = client.post(f"/api/v1/subscriptions/{atlanta_e3['id']}/cancel", json={})

    assert response.status_code == 200, response.text
    [cancel] = response.json()
    assert (cancel["kind"], cancel["quantity_before"], cancel["quantity_after"]) == ("cancel", 10, 0)
    assert get_json(client, f"/api/v1/subscriptions/{atlanta_e3['id']}")["status"] == "cancelled"
    assert quantity_of(client, pcv.parent_e3["id"]) == 40
    pushed = all_items(client, "/api/v1/license-changes", caused_by_change_id=cancel["id"])
    assert [(c["quantity_before"], c["quantity_after"], c["origin"]) for c in pushed] == [(50, 40, "linked_child")]
    assert setup_check(client, pcv.parent_contract["id"]) == []
