"""Plans and purchasability through the REST API (SPEC §2, §13): products accept and return ``plans``, refuse a
combination they cannot be sold in with a problem, say whether Partner Center can sell them, and the catalog's
check lists what cannot be bought or sold."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import create_account, create_product, get_json, problem
from tests.api.subscription_helpers import freeze_clock, load_demo, post_json

E3_PLANS = [
    {"term": "P1Y", "billing_plan": "monthly", "list_price": "36.00", "cost_price": "28.80"},
    {"term": "P1Y", "billing_plan": "annual", "list_price": "34.29", "cost_price": "27.43"},  # 36.00 / 1.05 = 34.286
    {"term": "P1M", "billing_plan": "monthly", "list_price": "41.15", "cost_price": "32.92"},  # 34.29 x 1.20 = 41.148
]
NCE_SKU = "CFQ7TTC0LFLX:0001"


@pytest.fixture
def account(client: TestClient) -> dict[str, Any]:
    return create_account(client)


@pytest.fixture
def e3(client: TestClient, account: dict[str, Any]) -> dict[str, Any]:
    return create_product(
        client, account, name="Microsoft 365 E3", provisioning_id="SPE_E3", offer_id=NCE_SKU, plans=E3_PLANS
    )


def test_a_product_created_with_plans_shows_them_shortest_term_first(client: TestClient, e3: dict[str, Any]) -> None:
    assert e3["plans"] == [E3_PLANS[2], E3_PLANS[0], E3_PLANS[1]]
    assert (e3["term"], e3["billing_frequency"]) == ("P1Y", "monthly")  # the first listed is the default
    assert (e3["list_price"], e3["cost_price"]) == ("36.00", "28.80")  # the default plan's
    assert (e3["purchasable"], e3["purchasable_reason"]) == (True, None)
    assert get_json(client, f"/api/v1/products/{e3['id']}") == e3


def test_a_product_created_without_plans_is_sold_in_its_term_and_billing(
    client: TestClient, account: dict[str, Any]
) -> None:
    created = create_product(
        client, account, name="Copilot", offer_id="CFQ7TTC0MM8R:0002", term="P1Y", list_price="30.00"
    )

    assert created["plans"] == [{"term": "P1Y", "billing_plan": "monthly", "list_price": "30.00", "cost_price": None}]


def test_patch_replaces_the_plans(client: TestClient, e3: dict[str, Any]) -> None:
    response = client.patch(
        f"/api/v1/products/{e3['id']}",
        json={
            "plans": [
                {"term": "P1Y", "billing_plan": "annual", "list_price": "34.00"},
                {"term": "P3Y", "billing_plan": "triennial", "list_price": "33.00"},
            ]
        },
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    assert [(p["term"], p["billing_plan"], p["list_price"]) for p in patched["plans"]] == [
        ("P1Y", "annual", "34.00"),
        ("P3Y", "triennial", "33.00"),
    ]
    # P1Y monthly, the default, is gone: the first listed that a billing frequency can name takes its place.
    assert (patched["term"], patched["billing_frequency"], patched["list_price"]) == ("P1Y", "annual", "34.00")


@pytest.mark.parametrize(
    ("plans", "status", "code", "detail"),
    [
        ([{"term": "P1Y", "billing_plan": "quarterly"}], 422, "term_not_offered", "P1Y quarterly"),
        ([{"term": "P1M", "billing_plan": "triennial"}], 422, "term_not_offered", "a P1M term is billed monthly"),
        (
            [{"term": "P1M", "billing_plan": "monthly"}, {"term": "P1M", "billing_plan": "monthly"}],
            422,
            "duplicate_plan",
            "P1M monthly is listed twice",
        ),
        ([], 422, "validation_failed", "plans"),
        ([{"term": "P2Y", "billing_plan": "monthly"}], 422, "validation_failed", "term"),
        ([{"term": "P1Y", "billing_plan": "annual", "list_price": "-1"}], 422, "validation_failed", "list_price"),
        ([{"term": "P1Y", "billing_plan": "annual", "price": "1"}], 422, "validation_failed", "price"),
        ("P1Y monthly", 422, "validation_failed", "plans"),
    ],
)
def test_a_product_cannot_be_sold_in_a_combination_its_kind_is_not(
    client: TestClient, account: dict[str, Any], plans: Any, status: int, code: str, detail: str
) -> None:
    response = client.post(
        "/api/v1/products",
        json={"provider_account_id": account["id"], "kind": "license", "name": "E3", "plans": plans},
    )

    body = problem(response, status, code)
    assert detail in body["detail"]
    assert client.get("/api/v1/products").json()["items"] == []


def test_a_default_not_among_the_plans_is_refused(client: TestClient, e3: dict[str, Any]) -> None:
    response = client.patch(f"/api/v1/products/{e3['id']}", json={"term": "P3Y"})

    body = problem(response, 422, "term_not_offered")
    assert "its plans are P1M monthly, P1Y monthly, P1Y annual" in body["detail"]
    assert get_json(client, f"/api/v1/products/{e3['id']}") == e3  # nothing changed


def test_a_price_beside_the_plans_that_is_not_the_default_plans_is_refused(
    client: TestClient, account: dict[str, Any]
) -> None:
    response = client.post(
        "/api/v1/products",
        json={
            "provider_account_id": account["id"],
            "kind": "license",
            "name": "E3",
            "list_price": "35.00",
            "plans": E3_PLANS,
        },
    )

    body = problem(response, 422, "validation_failed")
    assert "list_price is the default plan's (P1Y monthly: 36.00), not 35.00" in body["detail"]


def test_a_legacy_offer_at_partner_center_says_it_is_not_purchasable_and_the_check_lists_it(
    client: TestClient, account: dict[str, Any]
) -> None:
    legacy = create_product(client, account, name="Archiving", offer_id="2828BE95-46BA-4F91-B2FD-0BEF192ECF60")

    assert legacy["purchasable"] is False
    assert "legacy offer" in legacy["purchasable_reason"]
    check = client.get("/api/v1/catalog/check")
    assert check.status_code == 200, check.text
    assert check.json() == [
        {
            "code": "product_not_purchasable",
            "detail": f"Archiving ({legacy['product_code']}): {legacy['purchasable_reason']}",
            "product_id": legacy["id"],
            "product_code": legacy["product_code"],
        }
    ]

    fixed = client.patch(f"/api/v1/products/{legacy['id']}", json={"offer_id": "CFQ7TTC0LH3K:0001"})
    assert fixed.json()["purchasable"] is True
    assert client.get("/api/v1/catalog/check").json() == []


class TestSubscriptions:
    @pytest.fixture
    def contract(self, client: TestClient) -> dict[str, Any]:
        today = freeze_clock(client)  # noon on FACTORY_TODAY, whatever the real date
        customer = post_json(client, "/api/v1/customers", {"name": "Contoso", "tenant_id": "contoso-tenant"})
        return post_json(
            client,
            "/api/v1/contracts",
            {"customer_id": customer["id"], "name": "Contoso", "start_date": today.isoformat()},
        )

    def test_a_subscription_is_priced_from_the_plan_it_is_bought_in(
        self, client: TestClient, contract: dict[str, Any]
    ) -> None:
        demo = load_demo(client)

        annual = post_json(
            client,
            "/api/v1/subscriptions",
            {
                "contract_id": contract["id"],
                "product_id": demo.products["SPE_E3"],
                "quantity": 10,
                "term": "P1Y",
                "billing_plan": "annual",
            },
        )

        assert (annual["term"], annual["billing_plan"], annual["unit_price"]) == ("P1Y", "annual", "34.29")
        # 36.00 / 1.05 = 34.286: the demo E3's P1Y annual plan, not its default P1Y monthly 36.00

    def test_a_product_not_purchasable_at_partner_center_cannot_be_bought_there(
        self, client: TestClient, contract: dict[str, Any], account: dict[str, Any]
    ) -> None:
        legacy = create_product(client, account, name="Archiving", offer_id="2828be95-46ba-4f91-b2fd-0bef192ecf60")

        response = client.post(
            "/api/v1/subscriptions",
            json={"contract_id": contract["id"], "product_id": legacy["id"], "quantity": 5},
        )

        body = problem(response, 409, "product_not_purchasable")
        assert "Set the offer ID to the new-commerce productId:skuId" in body["detail"]
        assert client.get("/api/v1/subscriptions").json()["items"] == []
