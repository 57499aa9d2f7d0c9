"""Fault injection, asynchronous provisioning and MS-RequestId replays (SPEC §10; research §1.2, §8.3, §8.5)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from seatflow.simulator import SimulatorServer
from tests.simulator.helpers import CUSTOMER, M365_E3, all_subscriptions, buy, fault_of, line, order, patch


def set_faults(pc: httpx.Client, **faults: float) -> dict[str, object]:
    response = pc.post("/_sim/faults", json=faults)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_repeated_request_id_replays_the_first_order(pc: httpx.Client) -> None:
    first = order(pc, line(M365_E3, 5), **{"MS-RequestId": "purchase-1"})
    second = order(pc, line(M365_E3, 5), **{"MS-RequestId": "purchase-1"})
    assert second.status_code == first.status_code == 201
    assert second.json() == first.json()
    assert len(all_subscriptions(pc)) == 1
    assert order(pc, line(M365_E3, 5), **{"MS-RequestId": "purchase-2"}).json()["id"] != first.json()["id"]
    assert pc.get("/_sim/stats").json()["replays"] == 1


def test_a_business_error_is_replayed_too(pc: httpx.Client) -> None:
    first = order(pc, line(M365_E3, 999), **{"MS-RequestId": "too-many"})
    pc.post("/_sim/offers", json={"id": M365_E3, "name": "Microsoft 365 E3", "maximumQuantity": 1000})
    again = order(pc, line(M365_E3, 999), **{"MS-RequestId": "too-many"})
    assert fault_of(again) == fault_of(first) == (400, "2002")
    assert all_subscriptions(pc) == []


def test_provisioning_is_asynchronous_with_a_delay(pc: httpx.Client) -> None:
    set_faults(pc, provisioning_delay_s=0.2)
    placed = order(pc, line(M365_E3, 5, friendlyName="E3 HQ")).json()
    assert placed["status"] == "pending"
    assert "subscriptionId" not in placed["lineItems"][0]
    [pending] = pc.get(f"/v1/customers/{CUSTOMER}/subscriptions").json()["items"]
    assert (pending["status"], pending["friendlyName"]) == ("pending", "E3 HQ")
    status = pc.get(f"/v1/customers/{CUSTOMER}/orders/{placed['id']}/provisioningstatus").json()
    assert status["items"][0]["status"] == "prefulfillmentPending"

    time.sleep(0.25)
    completed = pc.get(f"/v1/customers/{CUSTOMER}/orders/{placed['id']}").json()
    assert completed["status"] == "completed"
    assert completed["lineItems"][0]["subscriptionId"] == pending["id"]
    assert completed["lineItems"][0]["links"]["subscription"]["uri"].endswith(pending["id"])
    assert pc.get(f"/v1/customers/{CUSTOMER}/subscriptions/{pending['id']}").json()["status"] == "active"


def test_a_pending_subscription_cannot_be_changed_yet(pc: httpx.Client) -> None:
    set_faults(pc, provisioning_delay_s=5)
    order(pc, line(M365_E3, 5))
    [pending] = all_subscriptions(pc)
    assert fault_of(patch(pc, pending["id"], quantity=6)) == (409, "800060")


def test_throttling_answers_429_with_retry_after(pc: httpx.Client) -> None:
    set_faults(pc, throttle_rate=1, retry_after_s=7)
    response = pc.get(f"/v1/customers/{CUSTOMER}", headers={"MS-RequestId": "r-429"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["MS-RequestId"] == "r-429"
    assert response.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}


def test_errors_answer_5xx_api_faults_and_apply_nothing(pc: httpx.Client) -> None:
    set_faults(pc, error_rate=1)
    response = order(pc, line(M365_E3, 5), **{"MS-RequestId": "r-500"})
    assert response.status_code in (500, 503)
    assert response.json() == {
        "code": "800003",
        "description": "Unexpected error, please try again.",
        "data": [],
        "source": "PartnerFD",
    }
    assert all_subscriptions(pc) == []  # control paths never fail
    set_faults(pc, error_rate=0)
    assert order(pc, line(M365_E3, 5), **{"MS-RequestId": "r-500"}).status_code == 201  # not stored for replay


def test_a_lost_response_is_applied_and_replayed(pc: httpx.Client) -> None:
    set_faults(pc, lost_response_rate=1)
    with pytest.raises(httpx.TransportError):
        order(pc, line(M365_E3, 5), **{"MS-RequestId": "lost-1"})
    [bought] = all_subscriptions(pc)
    assert bought["quantity"] == 5

    assert pc.get(f"/v1/customers/{CUSTOMER}").status_code == 200  # reads are never lost
    set_faults(pc, lost_response_rate=0)
    replayed = order(pc, line(M365_E3, 5), **{"MS-RequestId": "lost-1"})
    assert replayed.status_code == 201
    assert replayed.json()["id"] == bought["orderId"]
    assert len(all_subscriptions(pc)) == 1


def test_latency_delays_the_answer(pc: httpx.Client) -> None:
    set_faults(pc, latency_ms=150)
    started = time.perf_counter()
    pc.get(f"/v1/customers/{CUSTOMER}")
    assert time.perf_counter() - started >= 0.15


def test_a_route_of_its_own_latency_is_delayed_by_that_and_the_others_are_not(pc: httpx.Client) -> None:
    route = "GET /v1/customers/{id}/subscriptions"
    changed = pc.post("/_sim/faults", json={"latency_ms": 0, "route_latency_ms": {route: 300}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["route_latency_ms"] == {route: 300}
    started = time.perf_counter()
    pc.get(f"/v1/customers/{CUSTOMER}/subscriptions")
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    pc.get(f"/v1/customers/{CUSTOMER}")
    assert time.perf_counter() - started < 0.3
    assert pc.post("/_sim/faults", json={"route_latency_ms": {route: -1}}).status_code == 400
    assert pc.post("/_sim/faults", json={"route_latency_ms": [route]}).status_code == 400


def test_a_route_latency_for_a_route_that_does_not_exist_is_refused(pc: httpx.Client) -> None:
    """A typo would otherwise delay nothing, silently: it is a 400 naming the route, and nothing is applied."""
    before = pc.get("/_sim/faults").json()
    typo = "GET /v1/customer/{id}/subscriptions"
    refused = pc.post(
        "/_sim/faults",
        json={"latency_ms": 50, "route_latency_ms": {"GET /v1/customers/{id}/subscriptions": 300, typo: 300}},
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "error": f"route_latency_ms names unknown routes: {typo} (a route is named as /_sim/stats names it: "
        '"GET /v1/customers/{id}/subscriptions")'
    }
    assert pc.get("/_sim/faults").json() == before
    assert pc.post("/_sim/faults", json={"route_latency_ms": {"/v1/customers/{id}": 1}}).status_code == 400

    pc.get(f"/v1/customers/{CUSTOMER}/subscriptions")
    pc.get("/v1/no-such-path")
    counted = pc.get("/_sim/stats").json()["requests"]
    assert "GET (unknown path)" in counted
    every_counted = dict.fromkeys(counted, 0)  # every name /_sim/stats gives a route can be named
    changed = pc.post("/_sim/faults", json={"route_latency_ms": every_counted})
    assert changed.status_code == 200, changed.text
    assert changed.json()["route_latency_ms"] == every_counted


def test_a_seed_makes_the_faults_reproducible(pc: httpx.Client) -> None:
    def statuses() -> list[int]:
        set_faults(pc, error_rate=0.5, seed=42)
        return [pc.get(f"/v1/customers/{CUSTOMER}").status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert {200} < set(first)


def test_fault_settings_are_merged_and_checked(pc: httpx.Client) -> None:
    set_faults(pc, error_rate=0.25)
    merged = set_faults(pc, latency_ms=10)
    assert (merged["error_rate"], merged["latency_ms"], merged["retry_after_s"]) == (0.25, 10, 1)
    assert pc.get("/_sim/faults").json() == merged
    assert pc.post("/_sim/faults", json={"error_rate": 2}).status_code == 400
    assert pc.post("/_sim/faults", json={"explode": 1}).status_code == 400
    assert "error" in pc.post("/_sim/faults", json={"latency_ms": -1}).json()


def test_stats_count_requests_by_route_and_faults(pc: httpx.Client) -> None:
    bought = buy(pc, M365_E3, 5)
    patch(pc, bought["id"], quantity=6)
    set_faults(pc, throttle_rate=1)
    pc.get(f"/v1/customers/{CUSTOMER}")
    stats = pc.get("/_sim/stats").json()
    assert stats["requests"] == {
        "POST /v1/customers/{id}/orders": 1,
        "GET /v1/customers/{id}/subscriptions/{id}": 1,
        "PATCH /v1/customers/{id}/subscriptions/{id}": 1,
        "GET /v1/customers/{id}": 1,
    }
    assert stats["faults"] == {"error": 0, "throttle": 1, "lost": 0}
    assert pc.post("/_sim/stats/reset").json()["requests"] == {}


def test_concurrent_repeats_of_one_request_id_buy_once(pc: httpx.Client, simulator: SimulatorServer) -> None:
    def send(_: int) -> str:
        with httpx.Client(base_url=simulator.url) as client:
            response = order(client, line(M365_E3, 5), **{"MS-RequestId": "same-purchase"})
            order_id: str = response.json()["id"]
            return order_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        order_ids = set(pool.map(send, range(16)))
    assert len(order_ids) == 1
    assert len(all_subscriptions(pc)) == 1
