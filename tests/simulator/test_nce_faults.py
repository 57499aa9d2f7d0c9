"""Faults on the new-commerce paths (SPEC §10: error rate, 429s, latency, lost responses, slow provisioning on every
``/v1`` path, carts and checkout included) and ``If-Match`` as HTTP clients write it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.simulator.helpers import CUSTOMER, all_subscriptions, fault_of
from tests.simulator.nce import M365_E3, buy, cart_line, change, checkout, create_cart, get_subscription

CARTS = f"/v1/customers/{CUSTOMER}/carts"


def _faults(pc: httpx.Client, **faults: float) -> None:
    response = pc.post("/_sim/faults", json=faults)
    assert response.status_code == 200, response.text


def _carts(pc: httpx.Client) -> list[dict[str, object]]:
    carts: list[dict[str, object]] = pc.get("/_sim/state").json()["carts"]
    return carts


def test_a_throttled_cart_or_checkout_applies_nothing(pc: httpx.Client) -> None:
    line = cart_line(pc, M365_E3, 5)
    _faults(pc, throttle_rate=1, retry_after_s=3)
    throttled = create_cart(pc, line)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert _carts(pc) == []

    _faults(pc, throttle_rate=0)
    cart = create_cart(pc, line).json()
    _faults(pc, throttle_rate=1)
    assert checkout(pc, cart["id"]).status_code == 429
    assert pc.get(f"{CARTS}/{cart['id']}").status_code == 429  # reads are throttled too
    _faults(pc, throttle_rate=0)
    assert all_subscriptions(pc) == []
    assert pc.get(f"{CARTS}/{cart['id']}").json()["status"] == "Active"


def test_a_5xx_on_checkout_buys_nothing_and_the_checkout_can_be_sent_again(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    _faults(pc, error_rate=1)
    failed = checkout(pc, cart["id"], **{"MS-RequestId": "checkout-1"})
    assert failed.status_code in (500, 503)
    assert fault_of(failed)[1] == "800003"
    assert all_subscriptions(pc) == []
    _faults(pc, error_rate=0)
    again = checkout(pc, cart["id"], **{"MS-RequestId": "checkout-1"})  # a 5xx answer is not kept for a replay
    assert again.status_code == 201
    assert len(again.json()["orders"]) == 1
    assert len(all_subscriptions(pc)) == 1


def test_a_lost_cart_answer_is_replayed_for_the_same_request_id(pc: httpx.Client) -> None:
    line = cart_line(pc, M365_E3, 5)
    _faults(pc, lost_response_rate=1)
    with pytest.raises(httpx.TransportError):
        create_cart(pc, line, **{"MS-RequestId": "cart-1"})
    [made] = _carts(pc)
    assert pc.get(f"{CARTS}/{made['id']}").status_code == 200  # reads are never lost
    _faults(pc, lost_response_rate=0)
    replayed = create_cart(pc, line, **{"MS-RequestId": "cart-1"})
    assert (replayed.status_code, replayed.json()["id"]) == (201, made["id"])
    assert len(_carts(pc)) == 1


def test_latency_delays_cart_paths(pc: httpx.Client) -> None:
    cart = create_cart(pc, cart_line(pc, M365_E3, 5)).json()
    _faults(pc, latency_ms=120)
    started = time.perf_counter()
    checked_out = checkout(pc, cart["id"])
    assert time.perf_counter() - started >= 0.12
    assert checked_out.status_code == 201
    stats = pc.get("/_sim/stats").json()["requests"]
    assert stats["POST /v1/customers/{id}/carts/{id}/checkout"] == 1


def test_if_match_may_be_quoted_or_weak(pc: httpx.Client) -> None:
    [e3] = buy(pc, cart_line(pc, M365_E3, 10))
    path = f"/v1/customers/{CUSTOMER}/subscriptions/{e3['id']}"
    etag = e3["attributes"]["etag"]
    quoted = pc.patch(path, json=e3 | {"quantity": 11}, headers={"If-Match": f'"{etag}"'})
    assert quoted.status_code == 200, quoted.text
    stale = pc.patch(path, json=e3 | {"quantity": 12}, headers={"If-Match": f'W/"{etag}"'})
    assert fault_of(stale) == (400, "2055")
    fresh = get_subscription(pc, e3["id"])
    weak = pc.patch(path, json=fresh | {"quantity": 12}, headers={"If-Match": f'W/"{fresh["attributes"]["etag"]}"'})
    assert weak.json()["quantity"] == 12
    assert change(pc, e3["id"], quantity=13).json()["quantity"] == 13
