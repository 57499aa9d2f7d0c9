"""The new-commerce catalog on Partner Center's paths: products, SKUs, availabilities
(developer/get-a-list-of-products.md, get-a-list-of-skus-for-a-product.md, get-a-list-of-availabilities-for-a-sku.md),
and NCE offers defined through ``POST /_sim/offers`` (SPEC §10)."""

from __future__ import annotations

from importlib import resources

import httpx
import yaml

from tests.simulator.helpers import CUSTOMER, fault_of
from tests.simulator.nce import (
    CALLING_PLAN,
    M365_E3,
    M365_E3_ITEM,
    OFFICE_E5,
    PHONE_SYSTEM,
    assert_documented_shape,
    cart_line,
    catalog_item,
    create_cart,
)

US = {"country": "US"}


def test_the_online_services_view_lists_the_nce_products(pc: httpx.Client) -> None:
    listed = pc.get("/v1/products", params={"country": "US", "targetView": "OnlineServices"})
    assert listed.status_code == 200
    body = listed.json()
    assert_documented_shape(body, "products-nce.json")
    by_id = {product["id"]: product for product in body["items"]}
    assert body["totalCount"] == len(body["items"]) == 11  # the demo catalog's ten, and Microsoft 365 E5
    assert by_id["CFQ7TTC0LFLX"]["title"] == "Microsoft 365 E3"
    assert by_id["CFQ7TTC0LFLX"]["productType"] == {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"}
    assert by_id["CFQ7TTC0LFLX"]["links"]["skus"]["uri"] == "/products/CFQ7TTC0LFLX/skus?country=US"

    azure = pc.get("/v1/products", params={"country": "US", "targetView": "MicrosoftAzure"}).json()
    assert azure["items"] == []
    assert fault_of(pc.get("/v1/products", params={"targetView": "OnlineServices"})) == (400, "800002")
    assert fault_of(pc.get("/v1/products", params=US)) == (400, "800002")


def test_a_product_and_its_skus(pc: httpx.Client) -> None:
    product = pc.get("/v1/products/CFQ7TTC0LFLX", params=US)
    assert product.status_code == 200
    assert product.json()["links"]["self"]["uri"] == "/products/CFQ7TTC0LFLX?country=US"

    skus = pc.get("/v1/products/CFQ7TTC0LFLX/skus", params=US).json()
    assert_documented_shape(skus, "skus-nce.json")
    [sku] = skus["items"]
    assert (sku["id"], sku["productId"], sku["title"]) == ("0001", "CFQ7TTC0LFLX", "Microsoft 365 E3")
    assert (sku["minimumQuantity"], sku["maximumQuantity"]) == (1, 300)
    assert sku["supportedBillingCycles"] == ["annual", "monthly"]
    assert sku["dynamicAttributes"]["isAddon"] is False
    assert pc.get("/v1/products/CFQ7TTC0LFLX/skus/0001", params=US).json() == sku

    assert fault_of(pc.get("/v1/products/NOPE", params=US)) == (404, "400013")
    assert fault_of(pc.get("/v1/products/NOPE/skus", params=US)) == (404, "400013")
    assert fault_of(pc.get("/v1/products/CFQ7TTC0LFLX/skus/0009", params=US)) == (404, "400018")


def test_an_add_on_sku_names_its_prerequisite_skus(pc: httpx.Client) -> None:
    product_id, sku_id = CALLING_PLAN.split(":")
    sku = pc.get(f"/v1/products/{product_id}/skus/{sku_id}", params=US).json()
    assert sku["dynamicAttributes"]["isAddon"] is True
    assert sku["dynamicAttributes"]["prerequisiteSkus"] == [PHONE_SYSTEM]
    assert sku["maximumQuantity"] == 10_000_000


def test_an_availability_carries_the_catalog_item_and_its_terms(pc: httpx.Client) -> None:
    listed = pc.get("/v1/products/CFQ7TTC0LFLX/skus/0001/availabilities", params=US)
    assert listed.status_code == 200
    [availability] = listed.json()["items"]
    assert_documented_shape(availability, "availability-nce.json")
    assert availability["catalogItemId"] == M365_E3_ITEM
    assert availability["catalogItemId"] == ":".join(
        (availability["productId"], availability["skuId"], availability["id"])
    )
    terms = [(term["duration"], term["billingCycle"]) for term in availability["terms"]]
    assert terms == [("P1Y", "Monthly"), ("P1Y", "Annual"), ("P1M", "Monthly")]
    assert availability["renewalInstructions"][0]["renewalOptions"] == [{"renewToId": M365_E3, "isAutoRenewable": True}]

    by_id = pc.get(f"/v1/products/CFQ7TTC0LFLX/skus/0001/availabilities/{availability['id']}", params=US)
    assert by_id.json() == availability
    assert fault_of(pc.get("/v1/products/CFQ7TTC0LFLX/skus/0001/availabilities/OLD1", params=US)) == (404, "400019")
    for_customer = pc.get(f"/v1/customers/{CUSTOMER}/products/CFQ7TTC0LFLX/skus/0001/availabilities", params=US)
    assert for_customer.json()["items"] == [availability]
    assert fault_of(pc.get("/v1/customers/nobody/products/CFQ7TTC0LFLX/skus/0001/availabilities", params=US)) == (
        404,
        "1000",
    )


def test_an_nce_offer_posted_to_the_control_path_is_sold_in_the_default_terms(pc: httpx.Client) -> None:
    offer = {
        "productId": "CFQ7TTC0ZZZZ",
        "skuId": "0001",
        "name": "Contoso Add-on",
        "isAddOn": True,
        "prerequisiteSkus": [OFFICE_E5],
        "maximumQuantity": 50,
        "unitPrice": "2.40",
        "erpPrice": "3.00",
        "currency": "USD",
    }
    created = pc.post("/_sim/offers", json=offer)
    assert created.status_code == 201, created.text
    assert created.json()["terms"] == [
        {"termDuration": "P1Y", "billingCycle": "monthly"},
        {"termDuration": "P1M", "billingCycle": "monthly"},
    ]
    item = created.json()["catalogItemId"]
    assert item.startswith("CFQ7TTC0ZZZZ:0001:")
    [availability] = pc.get("/v1/products/CFQ7TTC0ZZZZ/skus/0001/availabilities", params=US).json()["items"]
    assert availability["catalogItemId"] == item
    assert [(t["duration"], t["billingCycle"]) for t in availability["terms"]] == [
        ("P1Y", "Monthly"),
        ("P1M", "Monthly"),
    ]
    sku = pc.get("/v1/products/CFQ7TTC0ZZZZ/skus/0001", params=US).json()
    assert (sku["maximumQuantity"], sku["dynamicAttributes"]["prerequisiteSkus"]) == (50, [OFFICE_E5])
    assert item in {o.get("catalogItemId") for o in pc.get("/_sim/offers").json()["items"]}


def test_bad_nce_offers_are_refused(pc: httpx.Client) -> None:
    base = {"productId": "CFQ7TTC0ZZZZ", "skuId": "0001", "name": "X"}
    for bad in (
        {"productId": "CFQ7TTC0ZZZZ"},
        base | {"prerequisiteSkus": ["CFQ7TTC0LF8S"]},
        base | {"terms": [{"termDuration": "P1M", "billingCycle": "annual"}]},
        base | {"terms": [{"termDuration": "P2Y", "billingCycle": "monthly"}]},
        base | {"unitPrice": "cheap"},
        base | {"minimumQuantity": 5, "maximumQuantity": 2},
    ):
        response = pc.post("/_sim/offers", json=bad)
        assert response.status_code == 400, bad
        assert "error" in response.json()


def test_a_new_availability_makes_the_old_catalog_item_stale(pc: httpx.Client) -> None:
    old = catalog_item(pc, M365_E3)
    offer = next(o for o in pc.get("/_sim/offers").json()["items"] if o.get("productId") == "CFQ7TTC0LFLX")
    pc.post("/_sim/offers", json=offer | {"availabilityId": "CFQ7TTC0NEW1"})
    assert catalog_item(pc, M365_E3) == "CFQ7TTC0LFLX:0001:CFQ7TTC0NEW1"
    stale = create_cart(pc, cart_line(pc, M365_E3, 5) | {"catalogItemId": old}).json()
    assert stale["lineItems"][0]["error"]["errorCode"] == 400019


def test_the_demo_seed_sells_the_demo_catalog_in_new_commerce(pc: httpx.Client) -> None:
    """Every Partner Center product of the demo catalog has an NCE SKU of the same name, limits and add-on graph."""
    catalog = yaml.safe_load(resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_text())
    products = [p for p in catalog["products"] if p["provider_account"] == "Partner Center"]
    skus = {o["name"]: o for o in pc.get("/_sim/offers").json()["items"] if "productId" in o}
    # Microsoft 365 E5 is the seed's only SKU the demo catalog does not sell (Microsoft's create-a-cart example).
    assert set(skus) == {p["name"] for p in products} | {"Microsoft 365 E5"}
    name_of = {p["provisioning_id"]: p["name"] for p in products}
    for product in products:
        sku = skus[product["name"]]
        assert sku["isAddOn"] == (product["kind"] == "addon")
        assert sku["prerequisiteSkus"] == [skus[name_of[parent]]["id"] for parent in product.get("parents", [])]
        assert (sku["minimumQuantity"], sku["maximumQuantity"]) == (product["min_quantity"], product["max_quantity"])
        assert sku["id"] == product["offer_id"]  # the catalog names the SKU as productId:skuId
        # It is sold in the catalog's combinations; its prices are the default one's (the term, billed monthly).
        plans = {(plan["term"], plan["billing_plan"]): plan for plan in product["plans"]}
        assert {(term["termDuration"], term["billingCycle"]) for term in sku["terms"]} == set(plans)
        default = plans[(product.get("term", "P1M"), "monthly")]
        assert (sku["unitPrice"], sku["erpPrice"]) == (default["cost_price"], default["list_price"])
