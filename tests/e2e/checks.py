"""What the end-to-end scenarios read and assert, over HTTP only: the demo's tree as the API shows it, the
simulator's state, and the invariants every scenario ends on (SPEC §5, §7)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.e2e.stack import Client, wait_until

PARENT_CONTRACT = "Pine Cone Vet - Parent"
LOCATIONS = ("Pine Cone Vet - Atlanta", "Pine Cone Vet - New York City", "Pine Cone Vet - Memphis")
E3, EMS = "Microsoft 365 E3", "Enterprise Mobility + Security E3"
TENANT = "pine-cone-vet-tenant"


def every(api: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list (500 a page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = api.ok("GET", path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError(f"{path} pages without end")


@dataclass(frozen=True)
class Demo:
    """The demo's ids, as an integration would look them up."""

    partner_center: str
    products: dict[str, str]
    """name -> id"""
    contracts: dict[str, str]
    """name -> id"""
    subscriptions: dict[tuple[str, str], str]
    """(contract name, product name) -> id"""

    @classmethod
    def read(cls, api: Client) -> Demo:
        accounts = {a["name"]: a["id"] for a in every(api, "/api/v1/provider-accounts")}
        products = {p["name"]: p["id"] for p in every(api, "/api/v1/products")}
        contracts = {c["name"]: c["id"] for c in every(api, "/api/v1/contracts")}
        contract_names = {v: k for k, v in contracts.items()}
        product_names = {v: k for k, v in products.items()}
        subscriptions = {
            (contract_names[s["contract_id"]], product_names[s["product_id"]]): s["id"]
            for s in every(api, "/api/v1/subscriptions")
        }
        return cls(accounts["Partner Center"], products, contracts, subscriptions)

    def parent(self, product: str) -> str:
        return self.subscriptions[(PARENT_CONTRACT, product)]

    def child(self, location: str, product: str) -> str:
        return self.subscriptions[(location, product)]

    def children(self, product: str) -> list[str]:
        return [self.child(location, product) for location in LOCATIONS]


def subscription(api: Client, subscription_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.ok("GET", f"/api/v1/subscriptions/{subscription_id}")
    return found


def quantity(api: Client, subscription_id: str) -> int:
    return int(subscription(api, subscription_id)["quantity"])


def changes(api: Client, status: str) -> list[dict[str, Any]]:
    return every(api, "/api/v1/license-changes", provisioning_status=status)


def wait_settled(api: Client, *, timeout: float, logs: Any = str) -> None:
    """Until no change awaits provisioning; then none may have failed."""
    wait_until(
        lambda: (
            not api.ok("GET", "/api/v1/license-changes", params={"provisioning_status": "awaiting_provisioning"})[
                "items"
            ]
        ),
        timeout=timeout,
        what="every license change provisioned",
        logs=logs,
    )
    failed = changes(api, "failed")
    assert not failed, "changes failed: " + "; ".join(f"{c['kind']} {c['message']}" for c in failed)


def sim_subscriptions(sim: Client) -> list[dict[str, Any]]:
    state: dict[str, Any] = sim.ok("GET", "/_sim/state")
    subscriptions: list[dict[str, Any]] = state["subscriptions"]
    return subscriptions


def at_simulator(api: Client, sim: Client, subscription_id: str) -> dict[str, Any]:
    """The one Partner Center subscription bought for seatflow's ``subscription_id``: the one its external id
    names."""
    external_id = subscription(api, subscription_id)["external_id"]
    assert external_id, f"{subscription_id} has no Partner Center subscription id"
    found = [s for s in sim_subscriptions(sim) if s["id"] == external_id]
    assert len(found) == 1, f"{len(found)} subscriptions at the simulator for {subscription_id} ({external_id})"
    return found[0]


def sim_requests(sim: Client) -> Counter[str]:
    return Counter(sim.ok("GET", "/_sim/stats")["requests"])


def assert_invariants(api: Client, sim: Client) -> None:
    """Once settled: every linked parent holds its children's sum; the simulator holds exactly one subscription
    for each of seatflow's Partner Center subscriptions (nothing bought twice, nothing extra), with seatflow's
    id and quantity."""
    ours = every(api, "/api/v1/subscriptions")
    by_id = {s["id"]: s for s in ours}
    sums: Counter[str] = Counter()
    for s in ours:
        if s["linked_subscription_id"]:
            sums[s["linked_subscription_id"]] += s["quantity"]
    assert sums, "no linked subscriptions at all"
    for parent, children_sum in sums.items():
        assert by_id[parent]["quantity"] == children_sum, f"parent {parent} != its children's sum {children_sum}"

    accounts = {a["name"]: a["id"] for a in every(api, "/api/v1/provider-accounts")}
    at_pc = {s["id"]: s for s in ours if s["provider_account_id"] == accounts["Partner Center"]}
    listed = sim_subscriptions(sim)
    held = {s["id"]: s for s in listed}
    assert len(held) == len(listed), "the simulator lists a subscription twice"
    external_ids = Counter(s["external_id"] for s in at_pc.values())
    assert None not in external_ids, f"Partner Center subscriptions of seatflow without an external id: {external_ids}"
    twice = {e: n for e, n in external_ids.items() if n > 1}
    assert not twice, f"seatflow subscriptions sharing one Partner Center subscription: {twice}"
    assert set(external_ids) == set(held), (
        "not one subscription at the simulator per Partner Center subscription of seatflow: "
        f"only seatflow's {set(external_ids) - set(held)}, only the simulator's {set(held) - set(external_ids)}"
    )
    for mine in at_pc.values():
        s = held[mine["external_id"]]
        assert s["quantity"] == mine["quantity"], (
            f"{mine['id']}: seatflow {mine['quantity']}, simulator {s['quantity']}"
        )
