"""A month of margin through real processes (SPEC §15, §16; issue 14 "must show"): five customers buy Microsoft 365
E3 through Partner Center (the simulator), priced by a price rule over Microsoft's price sheet read from Partner
Center, billed by seatflow; Microsoft's invoice for December is closed and its line items fetched; the margin
report gives each customer's margin to the cent and finds the four leaks planted:

- Birch Dental's seats are raised from 20 to 25 in Partner Center by hand: 25 bought, 20 billed;
- Cedar Vet's price is overridden below Microsoft's cost;
- Dogwood Pharmacy's subscription is not billable: bought, never billed;
- two EMS seats are bought for Elm Physio in Partner Center by hand: seatflow never heard of them.

Microsoft's cost (the simulator's offers, its price sheet): E3 one-year term billed monthly 28.80 a seat a month
(ERP 36.00), EMS E3 8.48. The rule: markup 20 %, so E3 sells at 28.80 x 1.20 = 34.56 (under the ERP).
Everything is bought on 2026-12-01, the first day of a December charge at both ends.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.e2e.checks import E3, every, wait_settled
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DECEMBER = {"from": "2026-12-01", "to": "2026-12-31"}
CUSTOMERS = (  # name, seats in seatflow, billable
    ("Alder Clinic", 10, True),
    ("Birch Dental", 20, True),
    ("Cedar Vet", 10, True),
    ("Dogwood Pharmacy", 5, False),
    ("Elm Physio", 3, True),
)


def _product_id(stack: Stack, name: str) -> str:
    found = [p["id"] for p in every(stack.api, "/api/v1/products") if p["name"] == name]
    assert len(found) == 1, found
    return str(found[0])


def _buy(stack: Stack, e3: str) -> dict[str, dict[str, Any]]:
    api = stack.api
    made = stack.sim.post("/_sim/customers/bulk", json={"count": len(CUSTOMERS), "prefix": "margin"})
    assert made.status_code == 201, made.text
    bought = {}
    for n, (name, seats, billable) in enumerate(CUSTOMERS, 1):
        customer = api.ok("POST", "/api/v1/customers", json={"name": name, "tenant_id": f"margin-{n:06d}"})
        contract = api.ok(
            "POST",
            "/api/v1/contracts",
            json={"customer_id": customer["id"], "name": f"{name} main", "start_date": "2026-12-01"},
        )
        bought[name] = api.ok(
            "POST",
            "/api/v1/subscriptions",
            json={"contract_id": contract["id"], "product_id": e3, "quantity": seats, "billable": billable},
        )
        bought[name]["tenant"] = f"margin-{n:06d}"
    return bought


def test_a_month_priced_by_rules_billed_and_checked_against_microsofts_invoice(stack: Stack) -> None:
    api, sim = stack.api, stack.sim
    fetched = api.ok("POST", "/api/v1/price-sheets/fetch", json={"provider_account_id": "Partner Center"})
    assert fetched["inserted"] > 0
    api.ok("POST", "/api/v1/price-rules", json={"kind": "markup", "percent": "20"})
    e3 = _product_id(stack, E3)
    bought = _buy(stack, e3)
    assert {name: s["unit_price"] for name, s in bought.items()} == {name: "34.56" for name, *_ in CUSTOMERS}
    assert {s["cost_price"] for s in bought.values()} == {"28.80"}  # the sheet's P1Y monthly UnitPrice

    cedar = bought["Cedar Vet"]["id"]
    override = api.post(
        f"/api/v1/subscriptions/{cedar}/price-override",
        json={
            "unit_price": "20.00",
            "reason": "Won from a competitor at their price",
            "price_effective_date": "2026-12-01",
        },
    )
    assert override.status_code == 422  # below cost, not allowed
    assert override.json()["code"] == "price_below_cost"
    api.ok(
        "POST",
        f"/api/v1/subscriptions/{cedar}/price-override",
        json={
            "unit_price": "20.00",
            "reason": "Won from a competitor at their price",
            "price_effective_date": "2026-12-01",
            "allow_below_cost": True,
        },
    )
    wait_settled(api, timeout=60, logs=stack.logs)  # the worker bought them all through carts
    for name in bought:
        bought[name] = {
            **api.ok("GET", f"/api/v1/subscriptions/{bought[name]['id']}"),
            "tenant": bought[name]["tenant"],
        }
        assert bought[name]["external_id"], name

    # In Partner Center, by hand: Birch Dental's seats go from 20 to 25 (the full resource, with its etag) ...
    birch = bought["Birch Dental"]
    path = f"/v1/customers/{birch['tenant']}/subscriptions/{birch['external_id']}"
    read = sim.get(path)
    raised = sim.patch(path, json={**read.json(), "quantity": 25}, headers={"If-Match": read.headers["ETag"]})
    assert raised.status_code == 200, raised.text
    # ... and two EMS E3 seats are bought for Elm Physio outside seatflow.
    planted = sim.post(
        "/_sim/charges",
        json={
            "customerId": bought["Elm Physio"]["tenant"],
            "productId": "CFQ7TTC0LFK5",
            "skuId": "0002",
            "quantity": 2,
        },
    )
    assert planted.status_code == 201, planted.text
    out_of_band = planted.json()["subscriptionId"].lower()

    run = api.post("/api/v1/billing-runs", json={"date": "2026-12-01"})
    assert run.status_code == 201, run.text
    closed = sim.post("/_sim/invoices/close", json={"period": "2026-12"})
    assert closed.status_code == 201, closed.text
    costs = api.ok("POST", "/api/v1/costs/fetch", json={"provider_account_id": "Partner Center"})
    assert costs["imports"], costs

    report = api.ok("GET", "/api/v1/margin", params=DECEMBER)
    rows = {r["name"]: (r["revenue"], r["cost"], r["margin"], r["margin_percent"]) for r in report["rows"]}
    assert {name: rows[name] for name, *_ in CUSTOMERS} == {
        # 10 x 34.56 = 345.60 against 10 x 28.80 = 288.00: 57.60, 57.60 / 345.60 = 16.67 %
        "Alder Clinic": ("345.60", "288.00", "57.60", "16.67"),
        # 20 x 34.56 = 691.20 against 20 x 28.80 = 576.00, then Microsoft's change to 25 on the same day:
        # -576.00 refunded and 25 x 28.80 = 720.00 charged, so 720.00: -28.80, -28.80 / 691.20 = -4.17 %
        "Birch Dental": ("691.20", "720.00", "-28.80", "-4.17"),
        # 10 x 20.00 = 200.00 against 288.00: -88.00, -44.00 %
        "Cedar Vet": ("200.00", "288.00", "-88.00", "-44.00"),
        # not billable: nothing against 5 x 28.80 = 144.00
        "Dogwood Pharmacy": ("0.00", "144.00", "-144.00", None),
        # 3 x 34.56 = 103.68 against 3 x 28.80 = 86.40: 17.28, 16.67 %
        "Elm Physio": ("103.68", "86.40", "17.28", "16.67"),
    }
    assert rows["Not in seatflow"] == ("0.00", "16.96", "-16.96", None)  # 2 x 8.48

    leaks = {
        (leak["kind"], leak["customer_name"] or leak["provider_subscription_id"]): leak for leak in report["leaks"]
    }
    assert set(leaks) == {
        ("fewer_seats_billed", "Birch Dental"),
        ("negative_margin", "Cedar Vet"),
        ("cost_without_revenue", "Dogwood Pharmacy"),
        ("unknown_subscription", "margin 5"),  # the simulator's name for margin-000005
    }, report["leaks"]
    short = leaks[("fewer_seats_billed", "Birch Dental")]
    assert (short["seats_paid"], short["seats_billed"], short["amount"]) == (25, 20, "172.80")  # 5 x 34.56
    assert sorted((c["charge_type"], c["quantity"]) for c in short["cost_lines"]) == [
        ("addQuantity", 20),  # the refund of the 20
        ("addQuantity", 25),
        ("new", 20),
    ]
    assert [(i["quantity"], i["amount"]) for i in short["invoice_lines"]] == [(20, "691.20")]
    assert leaks[("negative_margin", "Cedar Vet")]["amount"] == "88.00"
    assert leaks[("cost_without_revenue", "Dogwood Pharmacy")]["amount"] == "144.00"
    oob = leaks[("unknown_subscription", "margin 5")]
    assert (oob["provider_subscription_id"], oob["amount"]) == (out_of_band, "16.96")

    # The same report from the command line, as CSV, on the same committed database.
    printed = stack.launcher.run("margin", "--from", "2026-12-01", "--to", "2026-12-31", "--csv", "-")
    table = {r["name"]: (r["revenue"], r["cost"], r["margin"]) for r in csv.DictReader(io.StringIO(printed))}
    assert {name: table[name] for name, *_ in CUSTOMERS} == {name: rows[name][:3] for name, *_ in CUSTOMERS}
    stack.traffic.assert_no_server_errors()
