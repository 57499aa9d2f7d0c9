"""The price rules over the API (SPEC §13, §15): add, list, retire, quote, override, renewal notices, bad input."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import problem
from tests.api.subscription_helpers import freeze_clock
from tests.factories import DemoCatalog
from tests.pricing.helpers import december_list

CSV = {"content-type": "text/csv"}


def post(client: TestClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    return found


def shop(client: TestClient) -> tuple[str, str]:
    customer = post(client, "/api/v1/customers", {"name": "Acme"})
    contract = post(
        client,
        "/api/v1/contracts",
        {"customer_id": customer["id"], "name": "Acme main", "start_date": "2026-12-01"},
    )
    return customer["id"], contract["id"]


def test_rules_price_a_purchase_and_an_override_needs_a_reason(client: TestClient, catalog: DemoCatalog) -> None:
    freeze_clock(client)  # 2026-12-01: the December list is in force
    assert client.post("/api/v1/price-sheets/import", content=december_list(), headers=CSV).status_code == 200
    customer_id, contract_id = shop(client)
    everything = post(client, "/api/v1/price-rules", {"kind": "markup", "percent": "20"})
    assert (everything["scope"], everything["percent"]) == ("everything", "20")
    mine = post(
        client,
        "/api/v1/price-rules",
        {"kind": "erp_discount", "percent": "10", "customer_id": customer_id, "product_id": str(catalog.e3.id)},
    )
    assert mine["scope"] == "customer_product"

    quote = client.get(
        "/api/v1/price-rules/quote/purchase",
        params={"product_id": str(catalog.e3.id), "contract_id": contract_id, "quantity": 10},
    ).json()
    assert (quote["unit_price"], quote["cost"], quote["erp"]) == ("42.525", "37.80", "47.25")  # 47.25 x 0.90
    assert quote["rule"]["id"] == mine["id"]

    bought = post(
        client, "/api/v1/subscriptions", {"contract_id": contract_id, "product_id": str(catalog.e3.id), "quantity": 10}
    )
    assert (bought["unit_price"], bought["cost_price"], bought["price_rule_id"]) == ("42.525", "37.80", mine["id"])

    listed = client.get("/api/v1/price-rules").json()["items"]
    assert [r["id"] for r in listed] == [mine["id"], everything["id"]]  # the most specific first

    no_reason = client.post(f"/api/v1/subscriptions/{bought['id']}/price-override", json={"unit_price": "40.00"})
    problem(no_reason, 422, "validation_failed")
    below = client.post(
        f"/api/v1/subscriptions/{bought['id']}/price-override",
        json={"unit_price": "30.00", "reason": "Loss leader"},
    )
    assert "37.80" in problem(below, 422, "price_below_cost")["detail"]
    override = post(
        client,
        f"/api/v1/subscriptions/{bought['id']}/price-override",
        {
            "unit_price": "30.00",
            "reason": "Loss leader",
            "allow_below_cost": True,
            "price_effective_date": "2026-12-01",
        },
        status=200,
    )
    assert (override["price_before"], override["unit_price"], override["effective_date"]) == (
        "42.525",
        "30.00",
        "2026-12-01",
    )
    assert client.get(f"/api/v1/subscriptions/{bought['id']}").json()["unit_price"] == "30.00"

    retired = post(client, f"/api/v1/price-rules/{mine['id']}/retire", {}, status=200)
    assert retired["retired_at"] is not None
    assert [r["id"] for r in client.get("/api/v1/price-rules").json()["items"]] == [
        override["rule"]["id"],
        everything["id"],
    ]


def test_bad_rules_are_422_or_409_and_change_nothing(client: TestClient, catalog: DemoCatalog) -> None:
    cases = [
        ({"kind": "fixed", "fixed_price": "10"}, 422, "price_rule_invalid"),  # no currency
        ({"kind": "markup"}, 422, "price_rule_invalid"),  # no percent
        ({"kind": "markup", "percent": "-5"}, 422, "validation_failed"),
        ({"kind": "erp_discount", "percent": "150"}, 422, "price_rule_invalid"),
        ({"kind": "bonus", "percent": "5"}, 422, "validation_failed"),
        ({"kind": "markup", "percent": "5", "product_id": "nope"}, 404, "not_found"),
    ]
    for body, status, code in cases:
        problem(client.post("/api/v1/price-rules", json=body), status, code)
    assert client.get("/api/v1/price-rules").json()["items"] == []
    post(client, "/api/v1/price-rules", {"kind": "markup", "percent": "5"})
    problem(client.post("/api/v1/price-rules", json={"kind": "markup", "percent": "6"}), 409, "price_rule_exists")
    problem(client.get("/api/v1/renewal-price-notices", params={"days": 0}), 422, "validation_failed")
    assert client.get("/api/v1/renewal-price-notices", params={"days": 30}).json()["items"] == []
