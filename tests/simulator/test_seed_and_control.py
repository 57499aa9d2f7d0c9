"""The demo seed, seeds with subscriptions, the control paths and the ``seatflow simulator`` command."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from seatflow.cli import app
from seatflow.simulator import SimulatorServer, SimulatorState
from seatflow.simulator.resources import add_months
from seatflow.simulator.state import ControlError, demo_seed
from tests.simulator.helpers import BUSINESS_PREMIUM, CUSTOMER, EXTRA_FILE_STORAGE, M365_E3, buy, patch


def test_the_demo_seed_matches_the_demo_catalog(pc: httpx.Client) -> None:
    catalog = yaml.safe_load(resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_text())
    products = [p for p in catalog["products"] if p["provider_account"] == "Partner Center"]
    offer_of = {p["provisioning_id"]: p["offer_id"] for p in products}
    # The catalog's Partner Center products are new-commerce SKUs, named productId:skuId (SPEC §2).
    offers = {o["id"]: o for o in pc.get("/_sim/offers").json()["items"] if "productId" in o}
    # and Microsoft 365 E5, the SKU of Microsoft's create-a-cart example, which the demo catalog does not sell
    assert set(offers) == {p["offer_id"] for p in products} | {"CFQ7TTC0LFLZ:0002"}
    for product in products:
        offer = offers[product["offer_id"]]
        assert offer["name"] == product["name"]
        assert offer["isAddOn"] == (product["kind"] == "addon")
        assert offer["prerequisiteSkus"] == [offer_of[parent] for parent in product.get("parents", [])]
        # SPEC §18: seatflow refuses what the provider would, so the catalog's limits are the offer's.
        limits = (product.get("min_quantity", 1), product.get("max_quantity"))
        assert limits == (offer["minimumQuantity"], offer["maximumQuantity"]), product["name"]
    assert pc.get(f"/v1/customers/{CUSTOMER}").json()["companyProfile"]["companyName"] == "Pine Cone Vet"


def test_a_seed_can_hold_subscriptions_faults_and_the_clock() -> None:
    seed: dict[str, Any] = demo_seed() | {
        "clock": "2026-01-10T09:00:00Z",
        "subscriptions": [
            {"id": "bp-1", "customerId": CUSTOMER, "offerId": BUSINESS_PREMIUM, "quantity": 20},
            {
                "id": "efs-1",
                "customerId": CUSTOMER,
                "offerId": EXTRA_FILE_STORAGE,
                "quantity": 100,
                "parentSubscriptionId": "bp-1",
            },
        ],
        "faults": {"latency_ms": 1},
    }
    with SimulatorServer(SimulatorState.from_seed(seed)) as server, httpx.Client(base_url=server.url) as pc:
        bp = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/bp-1").json()
        assert bp["creationDate"].startswith("2026-01-10T09:00")
        assert bp["commitmentEndDate"] == "2027-01-09T00:00:00Z"
        assert bp["cancellationAllowedUntilDate"].startswith("2026-01-17T09:00")
        addons = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/bp-1/addons").json()
        assert [s["id"] for s in addons["items"]] == ["efs-1"]
        assert pc.get("/_sim/faults").json()["latency_ms"] == 1


@pytest.mark.parametrize(
    "seed",
    [
        {"offers": [{"name": "no id"}]},
        {"offers": [], "customers": [{"companyProfile": {}}]},
        {"subscriptions": [{"customerId": "x", "offerId": "y", "quantity": 1}]},
        {"clock": "yesterday"},
    ],
)
def test_a_bad_seed_is_refused(seed: dict[str, Any]) -> None:
    with pytest.raises(ControlError):
        SimulatorState.from_seed(seed)


def test_the_clock_keeps_running_from_the_set_moment(pc: httpx.Client) -> None:
    assert pc.post("/_sim/clock", json={"now": "2030-05-01T12:00:00Z"}).json()["now"].startswith("2030-05-01T12:00")
    now = datetime.fromisoformat(pc.get("/_sim/clock").json()["now"])
    assert 0 <= (now - datetime(2030, 5, 1, 12, tzinfo=UTC)).total_seconds() < 5
    assert pc.post("/_sim/clock", json={"now": "soon"}).status_code == 400


def test_state_and_reset(pc: httpx.Client) -> None:
    bought = buy(pc, M365_E3, 3)
    state = pc.get("/_sim/state").json()
    assert set(state) == {"customers", "carts", "orders", "subscriptions"}
    assert [s["id"] for s in state["subscriptions"]] == [bought["id"]]
    assert [o["id"] for o in state["orders"]] == [bought["orderId"]]

    assert pc.post("/_sim/reset").status_code == 200
    assert pc.get("/_sim/state").json() == {"customers": [], "carts": [], "orders": [], "subscriptions": []}
    pc.post("/_sim/reset", json=demo_seed())
    assert pc.get(f"/v1/customers/{CUSTOMER}").status_code == 200
    assert patch(pc, bought["id"], quantity=4).status_code == 404


def test_offers_can_be_posted_as_a_list(pc: httpx.Client) -> None:
    offers = [
        {"id": "lic-a", "name": "A"},
        {"id": "addon-b", "name": "B", "isAddOn": True, "prerequisiteOffers": ["lic-a"]},
    ]
    created = pc.post("/_sim/offers", json=offers).json()
    assert [(o["id"], o["maximumQuantity"]) for o in created] == [("lic-a", 300), ("addon-b", 10_000_000)]
    assert pc.post("/_sim/offers", json={"id": "bad", "minimumQuantity": "one"}).status_code == 400


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 1, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 3, 10, tzinfo=UTC), 12, datetime(2027, 3, 10, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 36, datetime(2029, 11, 30, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 1, datetime(2027, 1, 15, tzinfo=UTC)),
    ],
)
def test_terms_add_calendar_months(start: datetime, months: int, end: datetime) -> None:
    assert add_months(start, months) == end


def test_the_simulator_command_has_help() -> None:
    result = CliRunner().invoke(app, ["simulator", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output
    assert "--state" in result.output
    assert "Partner Center simulator" in result.output


def test_a_seed_naming_a_route_that_does_not_exist_makes_no_server() -> None:
    """As on /_sim/faults: a ``route_latency_ms`` of a route the simulator does not have is a typo that would slow
    nothing (the command's refusal of such a seed file is in tests/cli/test_cli.py)."""
    seed = {**demo_seed(), "faults": {"route_latency_ms": {"GET /v1/customers/{id}/subscription": 300}}}
    with pytest.raises(ControlError, match=re.escape("unknown routes: GET /v1/customers/{id}/subscription (")):
        SimulatorServer(SimulatorState.from_seed(seed))
    good = {**seed, "faults": {"route_latency_ms": {"GET /v1/customers/{id}/subscriptions": 300}}}
    server = SimulatorServer(SimulatorState.from_seed(good)).start()
    try:
        faults = httpx.get(f"{server.url}/_sim/faults").json()
        assert faults["route_latency_ms"] == {"GET /v1/customers/{id}/subscriptions": 300}
    finally:
        server.stop()
