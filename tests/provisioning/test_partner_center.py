"""End to end against the Partner Center simulator on a loopback port (SPEC §7, §10): the worker, the real
HTTP client, and the simulator's rules."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.catalog.service import require_product
from seatflow.provisioning import queue
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    DemoCatalog,
    create_contract,
    create_customer,
    create_subscription,
    load_demo_catalog,
    noon,
)
from tests.subscriptions.helpers import caused_by, pine_cone_vet, raise_quantity

PROVISIONED, FAILED = ProvisioningStatus.PROVISIONED, ProvisioningStatus.FAILED


@pytest.fixture
def catalog(session: Session, simulator: SimulatorServer) -> DemoCatalog:
    """The demo catalog, its Partner Center account pointed at this test's simulator."""
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    return catalog


def sim_state(simulator: SimulatorServer) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{simulator.url}/_sim/state").json()
    return state


def sim_subscription(simulator: SimulatorServer, external_id: str | None) -> dict[str, Any]:
    assert external_id, "the subscription has no provider id"
    found: list[dict[str, Any]] = [s for s in sim_state(simulator)["subscriptions"] if s["id"] == external_id]
    assert len(found) == 1
    return found[0]


def fresh(session: Session, subscription: Subscription) -> Subscription:
    session.expire_all()
    found = session.get(Subscription, subscription.id)
    assert found is not None
    return found


def statuses(session: Session, *changes: LicenseChange) -> list[ProvisioningStatus]:
    session.expire_all()
    return [session.get_one(LicenseChange, c.id).provisioning_status for c in changes]


def test_new_york_plus_ten_reaches_the_simulator_and_flows_back(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    vet = pine_cone_vet(session, catalog)
    worker = make_worker()
    bought = worker.drain(max_wait_seconds=30)
    parent_e3 = fresh(session, vet.parent_e3)
    assert bought.tally.provisioned == 2
    assert sim_subscription(simulator, parent_e3.external_id)["quantity"] == 50

    child = raise_quantity(session, vet.locations["New York City"].e3, 35)
    parent = caused_by(session, child)
    session.commit()
    result = worker.drain(max_wait_seconds=30)

    assert sim_subscription(simulator, parent_e3.external_id)["quantity"] == 60
    assert statuses(session, parent, child) == [PROVISIONED, PROVISIONED]
    assert result.provider_calls == 1, "one PATCH with the absolute quantity"


def test_the_e5_voice_chain_created_at_once_provisions_in_order_under_the_right_parents(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    httpx.post(
        f"{simulator.url}/v1/customers", json={"companyProfile": {"tenantId": "fabrikam", "companyName": "Fabrikam"}}
    )
    customer = create_customer(session, name="Fabrikam", tenant_id="fabrikam")
    contract = create_contract(session, customer=customer)
    pc = catalog.partner_center
    e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=20, provider_account=pc)
    conferencing = create_subscription(
        session, contract=contract, product=catalog.audio_conferencing, quantity=20, provider_account=pc, parent=e5
    )
    phone = create_subscription(
        session, contract=contract, product=catalog.phone_system, quantity=20, provider_account=pc, parent=e5
    )
    calling = create_subscription(
        session, contract=contract, product=catalog.calling_plan, quantity=20, provider_account=pc, parent=phone
    )

    make_worker().drain(max_wait_seconds=30)

    ids = {
        name: fresh(session, s).external_id
        for name, s in (("e5", e5), ("conferencing", conferencing), ("phone", phone), ("calling", calling))
    }
    at_sim = {s["id"]: s for s in sim_state(simulator)["subscriptions"]}
    assert at_sim[ids["conferencing"]]["parentSubscriptionId"] == ids["e5"]
    assert at_sim[ids["phone"]]["parentSubscriptionId"] == ids["e5"]
    assert at_sim[ids["calling"]]["parentSubscriptionId"] == ids["phone"]
    bought = [order["lineItems"][0]["offerId"].lower() for order in sim_state(simulator)["orders"]]
    order_of = {offer: position for position, offer in enumerate(bought)}
    assert (
        order_of[catalog.e5.offer_id]
        < order_of[catalog.phone_system.offer_id]
        < order_of[catalog.calling_plan.offer_id]
    )
    assert order_of[catalog.e5.offer_id] < order_of[catalog.audio_conferencing.offer_id]


def test_an_addon_whose_parent_does_not_qualify_fails_at_once_and_requeue_provisions_it_after_the_fix(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    storage = require_product(session, "SHAREPOINTSTORAGE")
    httpx.post(
        f"{simulator.url}/_sim/offers",
        json={
            "id": storage.offer_id,
            "name": storage.name,
            "isAddOn": True,
            "prerequisiteOffers": [],
            "minimumQuantity": 1,
            "maximumQuantity": 1000000,
        },
    ).raise_for_status()
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    premium = create_subscription(session, contract=contract, product=catalog.business_premium, quantity=10)
    extra = create_subscription(session, contract=contract, product=storage, quantity=100, parent=premium)
    (create,) = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == extra.id)).all()
    worker = make_worker()

    worker.drain(max_wait_seconds=30)

    session.expire_all()
    failed = session.get_one(LicenseChange, create.id)
    assert failed.provisioning_status is FAILED
    assert failed.attempts == 1, "a permanent error is not retried"
    assert "800029" in (failed.message or "")

    httpx.post(
        f"{simulator.url}/_sim/offers",
        json={
            "id": storage.offer_id,
            "name": storage.name,
            "isAddOn": True,
            "prerequisiteOffers": [catalog.business_premium.offer_id],
            "minimumQuantity": 1,
            "maximumQuantity": 1000000,
        },
    ).raise_for_status()
    queue.requeue(session, change_id=create.id, actor=OPERATOR, now=noon(FACTORY_TODAY))
    session.commit()
    worker.drain(max_wait_seconds=30)

    assert statuses(session, create) == [PROVISIONED]
    at_sim = sim_subscription(simulator, fresh(session, extra).external_id)
    assert at_sim["parentSubscriptionId"] == fresh(session, premium).external_id
    assert at_sim["quantity"] == 100


@pytest.mark.slow
def test_a_flaky_provider_still_gets_every_change_exactly_once(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    """20% 5xx, 10% 429, 10% lost answers; 500 random child changes over 50 parents."""
    rng = random.Random(7)
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    parent_contract = create_contract(session, customer=customer, name="Parent", billable=False)
    locations = [
        create_contract(session, customer=customer, name=f"Location {n}", parent=parent_contract) for n in range(2)
    ]
    parents, children = [], []
    for _ in range(50):
        parent = create_subscription(
            session, contract=parent_contract, product=catalog.e3, quantity=20, provider_account=catalog.partner_center
        )
        parents.append(parent)
        for location in locations:
            child = create_subscription(
                session, contract=location, product=catalog.e3, quantity=10, provider_account=catalog.do_nothing
            )
            link(session, subscription=child, target=parent, account=catalog.linked)
            children.append(child)
    worker = make_worker(max_attempts=30, backoff_max_seconds=2.0)
    httpx.post(
        f"{simulator.url}/_sim/faults",
        json={"error_rate": 0.2, "throttle_rate": 0.1, "lost_response_rate": 0.1, "retry_after_s": 1, "seed": 11},
    ).raise_for_status()
    worker.drain(max_wait_seconds=120)  # the purchases, through the same faults

    quantities = {c.id: c.quantity for c in children}
    made: list[LicenseChange] = []
    while len(made) < 2 * 500:  # 500 child changes, each with the parent change it causes
        child = rng.choice(children)
        target = max(1, quantities[child.id] + rng.choice([-2, -1, 1, 2, 3]))
        if target != quantities[child.id]:
            change = raise_quantity(session, child, target)
            made += [change, caused_by(session, change)]
            quantities[child.id] = target
    session.commit()
    worker.drain(max_wait_seconds=180)

    outcome = Counter(statuses(session, *made))
    assert outcome == Counter({PROVISIONED: len(made)}), f"not everything was provisioned: {outcome}"
    assert Counter(
        statuses(
            session,
            *session.scalars(select(LicenseChange).where(LicenseChange.subscription_id.in_([p.id for p in parents]))),
        )
    ) == Counter({PROVISIONED: 50 + 500})
    state = sim_state(simulator)
    names = Counter(s["friendlyName"] for s in state["subscriptions"])
    assert len(state["subscriptions"]) == 50, "a subscription was bought twice"
    assert set(names.values()) == {1}
    faults = httpx.get(f"{simulator.url}/_sim/stats").json()["faults"]
    assert min(faults["error"], faults["throttle"], faults["lost"]) > 0, f"the faults did not happen: {faults}"
    at_sim = {s["id"]: s["quantity"] for s in state["subscriptions"]}
    for parent in parents:
        parent = fresh(session, parent)
        children_sum = sum(quantities[c.id] for c in children if c.linked_subscription_id == parent.id)
        assert parent.quantity == children_sum
        assert at_sim[parent.external_id or ""] == parent.quantity


def _one_business_premium(
    session: Session, catalog: DemoCatalog, quantity: int = 10
) -> tuple[Subscription, LicenseChange]:
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    subscription = create_subscription(session, contract=contract, product=catalog.business_premium, quantity=quantity)
    (create,) = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)).all()
    return subscription, create


def _faults(simulator: SimulatorServer, **faults: float) -> None:
    httpx.post(f"{simulator.url}/_sim/faults", json=faults).raise_for_status()


def test_a_lost_answer_to_an_order_never_buys_twice(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription, create = _one_business_premium(session, catalog)
    worker = make_worker()
    _faults(simulator, lost_response_rate=1.0)

    worker.run_once()

    session.expire_all()
    pending = session.get_one(LicenseChange, create.id)
    assert pending.provisioning_status is ProvisioningStatus.AWAITING
    assert pending.provider_request_id, "the MS-RequestId is kept for the re-send"
    assert len(sim_state(simulator)["subscriptions"]) == 1, "the simulator applied the order; its answer was lost"

    _faults(simulator, lost_response_rate=0.0)
    worker.drain(max_wait_seconds=30)

    (bought,) = sim_state(simulator)["subscriptions"]
    assert statuses(session, create) == [PROVISIONED]
    assert fresh(session, subscription).external_id == bought["id"]
    orders = httpx.get(f"{simulator.url}/_sim/stats").json()["requests"]
    assert orders.get("POST /v1/customers/{id}/orders") == 1, "found by its friendlyName, not ordered again"


def test_an_order_the_provider_completes_later_is_looked_at_until_it_is_done(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription, create = _one_business_premium(session, catalog)
    _faults(simulator, provisioning_delay_s=0.5)
    worker = make_worker()

    first = worker.run_once()
    assert first.tally.waiting == 1
    assert statuses(session, create) == [ProvisioningStatus.AWAITING]

    worker.drain(max_wait_seconds=30)

    (bought,) = sim_state(simulator)["subscriptions"]
    assert bought["status"] == "active"
    assert statuses(session, create) == [PROVISIONED]
    assert fresh(session, subscription).external_id == bought["id"]
    requests = httpx.get(f"{simulator.url}/_sim/stats").json()["requests"]
    assert requests["POST /v1/customers/{id}/orders"] == 1
    assert requests["GET /v1/customers/{id}/orders/{id}"] >= 1


def test_a_throttled_call_waits_for_retry_after_then_succeeds(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription, create = _one_business_premium(session, catalog)
    _faults(simulator, throttle_rate=1.0, retry_after_s=3)
    worker = make_worker()

    worker.run_once()

    session.expire_all()
    waiting = session.get_one(LicenseChange, create.id)
    assert waiting.provisioning_status is ProvisioningStatus.AWAITING
    assert "throttled" in (waiting.message or "")
    retry_at = session.get_one(Subscription, subscription.id).retry_at
    assert retry_at is not None
    assert (retry_at - waiting.last_attempt_at).total_seconds() >= 3, "Retry-After is honoured"  # type: ignore[operator]

    _faults(simulator, throttle_rate=0.0)
    worker.drain(max_wait_seconds=30)
    assert statuses(session, create) == [PROVISIONED]


def test_transient_errors_give_up_after_the_limit_with_the_providers_message(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    _, create = _one_business_premium(session, catalog)
    _faults(simulator, error_rate=1.0)

    make_worker(max_attempts=3).drain(max_wait_seconds=30)

    session.expire_all()
    failed = session.get_one(LicenseChange, create.id)
    assert failed.provisioning_status is FAILED
    assert failed.attempts == 3
    assert failed.message is not None
    assert failed.message.startswith("Gave up after 3 attempts: Partner Center 800003")


def test_suspend_reactivate_and_cancel_reach_the_provider_and_a_late_cancel_fails_with_its_reason(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription, _ = _one_business_premium(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id
    today, now = FACTORY_TODAY, noon(FACTORY_TODAY)

    lifecycle.suspend(
        session, subscription=fresh(session, subscription), cascade=False, today=today, now=now, actor=OPERATOR
    )
    session.commit()
    worker.drain(max_wait_seconds=30)
    assert sim_subscription(simulator, external_id)["status"] == "suspended"

    lifecycle.reactivate(session, subscription=fresh(session, subscription), today=today, now=now, actor=OPERATOR)
    session.commit()
    worker.drain(max_wait_seconds=30)
    assert sim_subscription(simulator, external_id)["status"] == "active"

    # Eight days on at the provider: its 7-day cancellation window has closed (900117).
    moved = sim_subscription(simulator, external_id)["creationDate"]
    later = datetime.fromisoformat(moved.replace("Z", "+00:00")) + timedelta(days=8)
    httpx.post(f"{simulator.url}/_sim/clock", json={"now": later.isoformat()}).raise_for_status()
    (cancel,) = lifecycle.cancel(
        session, subscription=fresh(session, subscription), cascade=False, today=today, now=now, actor=OPERATOR
    )
    session.commit()
    worker.drain(max_wait_seconds=30)

    session.expire_all()
    refused = session.get_one(LicenseChange, cancel.id)
    assert refused.provisioning_status is FAILED
    assert "900117" in (refused.message or "")
    assert sim_subscription(simulator, external_id)["status"] == "active"
