"""Bad requests to the customer, contract and subscription endpoints: each is a 4xx problem with a stable
code, and writes nothing (SPEC §13: 4xx for every bad request, never 500). Every call in this file is also
checked to answer below 500."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.db.base import Base
from tests.api.helpers import problem
from tests.api.subscription_helpers import (
    Demo,
    create_contract,
    create_customer,
    create_subscription,
    load_demo,
    post_json,
)

UNKNOWN = "01a20000-0000-7000-8000-000000000000"
"""A well-formed id that names nothing."""


@dataclass
class World:
    demo: Demo
    customer: dict[str, Any]
    parent_contract: dict[str, Any]
    child_contract: dict[str, Any]
    other_contract: dict[str, Any]
    """A contract of the same customer that is not a child of the parent contract."""
    e3: dict[str, Any]
    """Microsoft 365 E3 x10 on the parent contract."""
    ems: dict[str, Any]
    """EMS x10 on the parent contract."""
    child_e3: dict[str, Any]
    """Microsoft 365 E3 x4 on the child contract, on the do-nothing provider, not linked yet."""
    premium: dict[str, Any]
    """Office 365 Business Premium x10 on the other contract (the product allows at most 300)."""


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.status_code}"


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The operator's client; any answer of 500 or more fails the test, whatever the test asserts."""
    client.event_hooks["response"].append(_no_server_error)
    return client


@pytest.fixture
def world(api: TestClient) -> World:
    demo = load_demo(api)
    customer = create_customer(api, "Woodgrove Pharmacy", tenant_id="woodgrove.onmicrosoft.com")
    parent_contract = create_contract(api, customer, "Woodgrove - Parent", billable=False)
    child_contract = create_contract(api, customer, "Woodgrove - Seattle", parent_contract_id=parent_contract["id"])
    other_contract = create_contract(api, customer, "Woodgrove - Services")
    e3 = create_subscription(api, parent_contract, demo.products["SPE_E3"], 10, allow_end_user_modification=False)
    ems = create_subscription(api, parent_contract, demo.products["EMS"], 10, allow_end_user_modification=False)
    child_e3 = create_subscription(
        api, child_contract, demo.products["SPE_E3"], 4, provider_account_id=demo.accounts["Do nothing"]
    )
    premium = create_subscription(api, other_contract, demo.products["O365_BUSINESS_PREMIUM"], 10)
    return World(demo, customer, parent_contract, child_contract, other_contract, e3, ems, child_e3, premium)


@pytest.fixture
def state(session: Session) -> Callable[[], dict[str, list[str]]]:
    """Every row of every table, as the API's transaction sees it: a refused request leaves all of them."""

    def rows() -> dict[str, list[str]]:
        connection = session.connection()
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }

    return rows


class Refuse(Protocol):
    def __call__(
        self, method: str, path: str, status: int, code: str, *, json: Any = None, content: bytes | None = None
    ) -> dict[str, Any]: ...


@pytest.fixture
def refused(api: TestClient, state: Callable[[], dict[str, list[str]]]) -> Refuse:
    """Send a request; assert the problem it answers, and that nothing was written."""

    def send(
        method: str, path: str, status: int, code: str, *, json: Any = None, content: bytes | None = None
    ) -> dict[str, Any]:
        before = state()
        if content is not None:
            response = api.request(method, path, content=content, headers={"content-type": "application/json"})
        else:
            response = api.request(method, path, json=json)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        body = problem(response, status, code)
        assert state() == before, f"{method} {path} wrote something"
        return body

    return send


def subscription_body(world: World, **fields: Any) -> dict[str, Any]:
    return {
        "contract_id": world.parent_contract["id"],
        "product_id": world.demo.products["SPE_E3"],
        "quantity": 1,
    } | fields


# --- unknown ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [UNKNOWN, "not-an-id", "P-99999"])
def test_creating_on_an_unknown_contract_is_not_found(api: TestClient, world: World, refused: Refuse, ref: str) -> None:
    body = refused("POST", "/api/v1/subscriptions", 404, "not_found", json=subscription_body(world, contract_id=ref))
    assert ref in body["detail"]


@pytest.mark.parametrize("ref", [UNKNOWN, "not-an-id", "P-99999"])
def test_creating_an_unknown_product_is_not_found(api: TestClient, world: World, refused: Refuse, ref: str) -> None:
    refused("POST", "/api/v1/subscriptions", 404, "not_found", json=subscription_body(world, product_id=ref))


@pytest.mark.parametrize("field", ["provider_account_id", "parent_subscription_id", "linked_subscription_id"])
def test_creating_with_an_unknown_reference_is_not_found(
    api: TestClient, world: World, refused: Refuse, field: str
) -> None:
    fields: dict[str, Any] = {field: UNKNOWN}
    if field == "parent_subscription_id":
        fields["product_id"] = world.demo.products["MCOEV"]
    if field == "linked_subscription_id":
        fields |= {
            "contract_id": world.child_contract["id"],
            "provider_account_id": world.demo.accounts["Linked subscriptions"],
        }
    refused("POST", "/api/v1/subscriptions", 404, "not_found", json=subscription_body(world, **fields))


ON_ONE_RESOURCE = [
    ("GET", "/api/v1/subscriptions/{}", None),
    ("PATCH", "/api/v1/subscriptions/{}", {"billable": False}),
    ("POST", "/api/v1/subscriptions/{}/quantity", {"quantity": 5}),
    ("POST", "/api/v1/subscriptions/{}/suspend", {}),
    ("POST", "/api/v1/subscriptions/{}/reactivate", {}),
    ("POST", "/api/v1/subscriptions/{}/cancel", {"cascade": True}),
    ("POST", "/api/v1/subscriptions/{}/unlink", {}),
    ("GET", "/api/v1/subscriptions/{}/changes", None),
    ("GET", "/api/v1/subscriptions/{}/scheduled-changes", None),
    ("POST", "/api/v1/scheduled-changes/{}/cancel", {}),
    ("GET", "/api/v1/license-changes/{}", None),
    ("GET", "/api/v1/contracts/{}", None),
    ("PATCH", "/api/v1/contracts/{}", {"name": "Renamed"}),
    ("GET", "/api/v1/contracts/{}/setup-check", None),
    ("GET", "/api/v1/customers/{}", None),
    ("PATCH", "/api/v1/customers/{}", {"name": "Renamed"}),
    ("GET", "/api/v1/customers/{}/contacts", None),
    ("POST", "/api/v1/customers/{}/contacts", {"email": "a@example.com", "name": "A", "roles": ["administrator"]}),
    ("PATCH", "/api/v1/customers/{}/contacts/" + UNKNOWN, {"name": "A"}),
]


@pytest.mark.parametrize("ref", [UNKNOWN, "not-an-id"])
def test_an_unknown_resource_is_not_found(api: TestClient, world: World, refused: Refuse, ref: str) -> None:
    for method, path, payload in ON_ONE_RESOURCE:
        refused(method, path.format(ref), 404, "not_found", json=payload)


def test_linking_to_unknown_things_is_not_found(api: TestClient, world: World, refused: Refuse) -> None:
    path = f"/api/v1/subscriptions/{world.child_e3['id']}/link"
    linked = world.demo.accounts["Linked subscriptions"]
    refused("POST", path, 404, "not_found", json={"linked_subscription_id": UNKNOWN, "provider_account_id": linked})
    refused(
        "POST",
        path,
        404,
        "not_found",
        json={"linked_subscription_id": world.e3["id"], "provider_account_id": UNKNOWN},
    )
    refused(
        "POST",
        f"/api/v1/subscriptions/{UNKNOWN}/link",
        404,
        "not_found",
        json={"linked_subscription_id": world.e3["id"], "provider_account_id": linked},
    )


def test_ordering_an_unknown_bundle_is_not_found(api: TestClient, world: World, refused: Refuse) -> None:
    payload = {"contract_id": world.parent_contract["id"], "quantity": 1}
    refused("POST", f"/api/v1/bundles/{UNKNOWN}/order", 404, "not_found", json=payload)
    refused("POST", "/api/v1/bundles/not-an-id/order", 404, "not_found", json=payload)


def test_contracts_and_customers_referring_to_unknown_ones_are_not_found(
    api: TestClient, world: World, refused: Refuse
) -> None:
    start = world.parent_contract["start_date"]
    refused(
        "POST", "/api/v1/contracts", 404, "not_found", json={"customer_id": UNKNOWN, "name": "X", "start_date": start}
    )
    refused(
        "POST",
        "/api/v1/contracts",
        404,
        "not_found",
        json={"customer_id": world.customer["id"], "name": "X", "start_date": start, "parent_contract_id": UNKNOWN},
    )
    refused(
        "PATCH",
        f"/api/v1/contracts/{world.child_contract['id']}",
        404,
        "not_found",
        json={"parent_contract_id": UNKNOWN},
    )
    refused("POST", "/api/v1/customers", 404, "not_found", json={"name": "X", "parent_customer_id": UNKNOWN})
    refused(
        "PATCH",
        f"/api/v1/customers/{world.customer['id']}",
        404,
        "not_found",
        json={"parent_customer_id": UNKNOWN},
    )


# --- quantities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [0, -1, -100])
def test_creating_with_a_quantity_below_one_is_refused(
    api: TestClient, world: World, refused: Refuse, quantity: int
) -> None:
    body = refused(
        "POST", "/api/v1/subscriptions", 422, "validation_failed", json=subscription_body(world, quantity=quantity)
    )
    assert "quantity" in body["detail"]


@pytest.mark.parametrize(("quantity", "code"), [(0, "quantity_out_of_range"), (-1, "validation_failed")])
def test_changing_to_a_quantity_below_one_is_refused(
    api: TestClient, world: World, refused: Refuse, quantity: int, code: str
) -> None:
    body = refused(
        "POST", f"/api/v1/subscriptions/{world.premium['id']}/quantity", 422, code, json={"quantity": quantity}
    )
    assert "quantity" in body["detail"].lower()


def test_a_quantity_above_the_products_maximum_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    premium = world.demo.products["O365_BUSINESS_PREMIUM"]
    body = refused(
        "POST",
        "/api/v1/subscriptions",
        422,
        "quantity_out_of_range",
        json=subscription_body(world, contract_id=world.other_contract["id"], product_id=premium, quantity=301),
    )
    assert "300" in body["detail"]
    body = refused(
        "POST",
        f"/api/v1/subscriptions/{world.premium['id']}/quantity",
        422,
        "quantity_out_of_range",
        json={"quantity": 301},
    )
    assert "300" in body["detail"]
    # The maximum itself is fine.
    post_json(api, f"/api/v1/subscriptions/{world.premium['id']}/quantity", {"quantity": 300}, status=200)


@pytest.mark.parametrize("quantity", [1.5, "ten", None, 10**12, [3]])
def test_a_quantity_that_is_not_a_count_is_refused(
    api: TestClient, world: World, refused: Refuse, quantity: Any
) -> None:
    refused("POST", "/api/v1/subscriptions", 422, "validation_failed", json=subscription_body(world, quantity=quantity))
    refused(
        "POST",
        f"/api/v1/subscriptions/{world.premium['id']}/quantity",
        422,
        "validation_failed",
        json={"quantity": quantity},
    )


@pytest.mark.parametrize(
    ("effective", "code"),
    [("tomorrow", "validation_failed"), ("2026-02-30", "validation_failed"), ("2001-01-01", "effective_date_past")],
)
def test_an_effective_date_that_is_not_a_coming_day_is_refused(
    api: TestClient, world: World, refused: Refuse, effective: str, code: str
) -> None:
    path = f"/api/v1/subscriptions/{world.premium['id']}/quantity"
    refused("POST", path, 422, code, json={"quantity": 12, "effective": effective})


def test_the_same_quantity_again_is_not_a_change(api: TestClient, world: World, refused: Refuse) -> None:
    refused("POST", f"/api/v1/subscriptions/{world.premium['id']}/quantity", 422, "no_change", json={"quantity": 10})


def test_a_cancelled_subscription_keeps_its_quantity(api: TestClient, world: World, refused: Refuse) -> None:
    post_json(api, f"/api/v1/subscriptions/{world.premium['id']}/cancel", {}, status=200)
    path = f"/api/v1/subscriptions/{world.premium['id']}"
    refused("POST", f"{path}/quantity", 409, "subscription_not_live", json={"quantity": 12})
    refused("POST", f"{path}/cancel", 409, "subscription_not_live", json={})
    refused("POST", f"{path}/suspend", 409, "subscription_not_live", json={})


def test_a_quantity_is_not_patched(api: TestClient, world: World, refused: Refuse) -> None:
    refused("PATCH", f"/api/v1/subscriptions/{world.premium['id']}", 422, "validation_failed", json={"quantity": 20})


# --- links ---------------------------------------------------------------------------------------------


def link_body(world: World, target: dict[str, Any]) -> dict[str, Any]:
    return {"linked_subscription_id": target["id"], "provider_account_id": world.demo.accounts["Linked subscriptions"]}


def test_linking_different_products_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    body = refused(
        "POST",
        f"/api/v1/subscriptions/{world.child_e3['id']}/link",
        422,
        "invalid_link",
        json=link_body(world, world.ems),
    )
    assert "same product" in body["detail"]


def test_linking_across_unrelated_contracts_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    stray = create_subscription(
        api,
        world.other_contract,
        world.demo.products["SPE_E3"],
        2,
        provider_account_id=world.demo.accounts["Do nothing"],
    )
    body = refused(
        "POST", f"/api/v1/subscriptions/{stray['id']}/link", 422, "invalid_link", json=link_body(world, world.e3)
    )
    assert "parent contract" in body["detail"]
    # Nor to a subscription of the same contract, nor to itself.
    sibling = create_subscription(
        api,
        world.child_contract,
        world.demo.products["SPE_E3"],
        2,
        provider_account_id=world.demo.accounts["Do nothing"],
    )
    path = f"/api/v1/subscriptions/{world.child_e3['id']}/link"
    refused("POST", path, 422, "invalid_link", json=link_body(world, sibling))
    refused("POST", path, 422, "invalid_link", json=link_body(world, world.child_e3))
    # Created already linked, across unrelated contracts.
    refused(
        "POST",
        "/api/v1/subscriptions",
        422,
        "invalid_link",
        json=subscription_body(
            world,
            contract_id=world.other_contract["id"],
            provider_account_id=world.demo.accounts["Linked subscriptions"],
            linked_subscription_id=world.e3["id"],
        ),
    )


def test_linking_needs_a_linked_provider_account(api: TestClient, world: World, refused: Refuse) -> None:
    body = {"linked_subscription_id": world.e3["id"], "provider_account_id": world.demo.accounts["Do nothing"]}
    refused("POST", f"/api/v1/subscriptions/{world.child_e3['id']}/link", 422, "invalid_link", json=body)
    # A linked account without a subscription to link to.
    refused(
        "POST",
        "/api/v1/subscriptions",
        422,
        "invalid_link",
        json=subscription_body(
            world,
            contract_id=world.child_contract["id"],
            provider_account_id=world.demo.accounts["Linked subscriptions"],
        ),
    )
    # Unlinking what is not linked.
    refused("POST", f"/api/v1/subscriptions/{world.child_e3['id']}/unlink", 422, "invalid_link", json={})


def test_links_are_one_level_only(api: TestClient, world: World, refused: Refuse) -> None:
    post_json(api, f"/api/v1/subscriptions/{world.child_e3['id']}/link", link_body(world, world.e3), status=200)
    grandchild_contract = create_contract(
        api, world.customer, "Woodgrove - Seattle, floor 2", parent_contract_id=world.child_contract["id"]
    )
    grandchild = create_subscription(
        api,
        grandchild_contract,
        world.demo.products["SPE_E3"],
        1,
        provider_account_id=world.demo.accounts["Do nothing"],
    )
    body = refused(
        "POST",
        f"/api/v1/subscriptions/{grandchild['id']}/link",
        422,
        "invalid_link",
        json=link_body(world, world.child_e3),
    )
    assert "one level" in body["detail"]


def test_a_linked_provider_is_not_set_by_patch(api: TestClient, world: World, refused: Refuse) -> None:
    refused(
        "PATCH",
        f"/api/v1/subscriptions/{world.child_e3['id']}",
        422,
        "invalid_link",
        json={"provider_account_id": world.demo.accounts["Linked subscriptions"]},
    )


# --- contract and customer trees -----------------------------------------------------------------------


def test_contract_cycles_are_refused(api: TestClient, world: World, refused: Refuse) -> None:
    grandchild = create_contract(
        api, world.customer, "Woodgrove - Seattle, floor 2", parent_contract_id=world.child_contract["id"]
    )
    for contract, new_parent in (
        (world.child_contract, world.child_contract),
        (world.parent_contract, world.parent_contract),
        (world.parent_contract, world.child_contract),
        (world.parent_contract, grandchild),
        (world.child_contract, grandchild),
    ):
        refused(
            "PATCH",
            f"/api/v1/contracts/{contract['id']}",
            409,
            "contract_cycle",
            json={"parent_contract_id": new_parent["id"]},
        )


def test_a_parent_contract_of_an_unrelated_customer_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    stranger = create_customer(api, "Litware Inc.", tenant_id="litware.onmicrosoft.com")
    strangers_contract = create_contract(api, stranger, "Litware")
    body = refused(
        "POST",
        "/api/v1/contracts",
        422,
        "contract_parent_invalid",
        json={
            "customer_id": world.customer["id"],
            "name": "Woodgrove - Tacoma",
            "start_date": world.parent_contract["start_date"],
            "parent_contract_id": strangers_contract["id"],
        },
    )
    assert "Litware" in body["detail"]
    refused(
        "PATCH",
        f"/api/v1/contracts/{world.other_contract['id']}",
        422,
        "contract_parent_invalid",
        json={"parent_contract_id": strangers_contract["id"]},
    )
    # A location's contract may hang under its parent account's contract, not the other way round.
    location = create_customer(api, "Woodgrove - Tacoma", parent_customer_id=world.customer["id"])
    location_contract = create_contract(api, location, "Tacoma", parent_contract_id=world.parent_contract["id"])
    assert location_contract["parent_contract_id"] == world.parent_contract["id"]
    refused(
        "PATCH",
        f"/api/v1/contracts/{world.other_contract['id']}",
        422,
        "contract_parent_invalid",
        json={"parent_contract_id": location_contract["id"]},
    )


def test_a_duplicate_tenant_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    body = refused(
        "POST",
        "/api/v1/customers",
        409,
        "duplicate_tenant",
        json={"name": "Woodgrove again", "tenant_id": world.customer["tenant_id"]},
    )
    assert body["existing_customer_id"] == world.customer["id"]
    other = create_customer(api, "Litware Inc.", tenant_id="litware.onmicrosoft.com")
    refused(
        "PATCH",
        f"/api/v1/customers/{other['id']}",
        409,
        "duplicate_tenant",
        json={"tenant_id": world.customer["tenant_id"]},
    )


def test_customer_cycles_are_refused(api: TestClient, world: World, refused: Refuse) -> None:
    location = create_customer(api, "Woodgrove - Tacoma", parent_customer_id=world.customer["id"])
    path = f"/api/v1/customers/{world.customer['id']}"
    refused("PATCH", path, 409, "customer_cycle", json={"parent_customer_id": location["id"]})
    refused("PATCH", path, 409, "customer_cycle", json={"parent_customer_id": world.customer["id"]})


# --- malformed requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b'{"quantity": 3', b"not json", b"", b"[]", b"null", b'"quantity"', b"{\xff}"])
def test_malformed_json_is_refused(api: TestClient, world: World, refused: Refuse, content: bytes) -> None:
    sub = world.premium["id"]
    for method, path in (
        ("POST", "/api/v1/subscriptions"),
        ("PATCH", f"/api/v1/subscriptions/{sub}"),
        ("POST", f"/api/v1/subscriptions/{sub}/quantity"),
        ("POST", f"/api/v1/subscriptions/{sub}/cancel"),
        ("POST", f"/api/v1/subscriptions/{sub}/link"),
        ("POST", "/api/v1/customers"),
        ("PATCH", f"/api/v1/customers/{world.customer['id']}"),
        ("POST", f"/api/v1/customers/{world.customer['id']}/contacts"),
        ("POST", "/api/v1/contracts"),
        ("PATCH", f"/api/v1/contracts/{world.other_contract['id']}"),
        ("POST", "/api/v1/renewals"),
    ):
        refused(method, path, 422, "validation_failed", content=content)


@pytest.mark.parametrize(
    "fields",
    [
        {"surprise": True},
        {"start_date": "2026-02-30"},
        {"unit_price": "-1.00"},
        {"unit_price": "abc"},
        {"reduction_behavior": "sometimes"},
        {"reduction_window_days": 0},
        {"billable": "maybe"},
        {"contract_id": None},
    ],
)
def test_invalid_subscription_fields_are_refused(
    api: TestClient, world: World, refused: Refuse, fields: dict[str, Any]
) -> None:
    refused("POST", "/api/v1/subscriptions", 422, "validation_failed", json=subscription_body(world, **fields))


def test_a_date_at_the_end_of_the_calendar_is_refused(api: TestClient, world: World, refused: Refuse) -> None:
    """A term or a renewal computed from 9999-12-31 is no date: the request is refused, not a crash."""
    last = "9999-12-31"
    bundle = world.demo.bundles["E5 Voice"]
    contract_id = world.parent_contract["id"]
    for path, payload, field in (
        ("/api/v1/subscriptions", subscription_body(world, start_date=last), "start_date"),
        (
            f"/api/v1/bundles/{bundle}/order",
            {"contract_id": contract_id, "quantity": 1, "start_date": last},
            "start_date",
        ),
        ("/api/v1/contracts", {"customer_id": world.customer["id"], "name": "Far", "start_date": last}, "start_date"),
        (f"/api/v1/subscriptions/{world.premium['id']}/quantity", {"quantity": 12, "effective": last}, "effective"),
        ("/api/v1/renewals", {"date": last}, "date"),
    ):
        body = refused("POST", path, 422, "validation_failed", json=payload)
        assert field in body["detail"], (path, body["detail"])


@pytest.mark.parametrize(
    "fields",
    [
        {"tax_rate": "1.5"},
        {"tax_rate": "abc"},
        {"billing_policy": "whenever"},
        {"term_months": 0},
        {"currency": "dollars"},
        {"start_date": None},
        {"name": "   "},
    ],
)
def test_invalid_contract_fields_are_refused(
    api: TestClient, world: World, refused: Refuse, fields: dict[str, Any]
) -> None:
    payload = {"customer_id": world.customer["id"], "name": "Woodgrove - Tacoma", "start_date": "2026-01-01"} | fields
    refused("POST", "/api/v1/contracts", 422, "validation_failed", json=payload)


@pytest.mark.parametrize(
    "fields",
    [{"name": ""}, {"tenant_id": "has spaces"}, {"tenant_id": "x" * 101}, {"currency": "US"}, {"name": "x" * 301}],
)
def test_invalid_customer_fields_are_refused(
    api: TestClient, world: World, refused: Refuse, fields: dict[str, Any]
) -> None:
    refused("POST", "/api/v1/customers", 422, "validation_failed", json={"name": "Litware"} | fields)


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v1/subscriptions", {"contract_id": "nope"}, "validation_failed"),
        ("/api/v1/subscriptions", {"status": "sleeping"}, "validation_failed"),
        ("/api/v1/subscriptions", {"cursor": "!!!"}, "invalid_cursor"),
        ("/api/v1/subscriptions", {"limit": 0}, "validation_failed"),
        ("/api/v1/license-changes", {"provisioning_status": "done"}, "validation_failed"),
        ("/api/v1/license-changes", {"caused_by_change_id": "nope"}, "validation_failed"),
        ("/api/v1/contracts", {"customer_id": "nope"}, "validation_failed"),
        ("/api/v1/customers", {"parent_customer_id": "nope"}, "validation_failed"),
    ],
)
def test_invalid_list_filters_are_refused(
    api: TestClient, world: World, refused: Refuse, path: str, params: dict[str, Any], code: str
) -> None:
    problem(api.get(path, params=params), 422, code)
