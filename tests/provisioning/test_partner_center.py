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
from seatflow.contracts.models import BillingContract
from seatflow.events.models import OutboxEvent
from seatflow.provisioning import queue
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import LicenseChange, ProvisioningStatus, Subscription
from seatflow.subscriptions.schemas import LicenseChangeRead
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
    assert result.provider_calls == 2, "one GET for the resource and its etag, one PATCH with the absolute quantity"


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
    # New-commerce add-ons are their own lines: Partner Center checks the prerequisite SKU on the tenant (400041)
    # and keeps no parent; seatflow keeps the relation and bought each add-on after its parent.
    assert all(not at_sim[i].get("parentSubscriptionId") for i in ids.values())
    bought = [
        ":".join(order["lineItems"][0]["offerId"].lower().split(":")[:2]) for order in sim_state(simulator)["orders"]
    ]
    order_of = {offer: position for position, offer in enumerate(bought)}
    assert (
        order_of[catalog.e5.offer_id.lower()]
        < order_of[catalog.phone_system.offer_id.lower()]
        < order_of[catalog.calling_plan.offer_id.lower()]
    )
    assert order_of[catalog.e5.offer_id.lower()] < order_of[catalog.audio_conferencing.offer_id.lower()]


def test_an_addon_whose_parent_does_not_qualify_fails_at_once_and_requeue_provisions_it_after_the_fix(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    storage = require_product(session, "SHAREPOINTSTORAGE")
    product_id, sku_id = storage.offer_id.split(":")

    def offer(prerequisite: str) -> None:
        body = {
            "productId": product_id,
            "skuId": sku_id,
            "name": storage.name,
            "isAddOn": True,
            "prerequisiteSkus": [prerequisite],
            "minimumQuantity": 1,
            "maximumQuantity": 1000000,
        }
        httpx.post(f"{simulator.url}/_sim/offers", json=body).raise_for_status()

    offer(catalog.e5.offer_id)  # a prerequisite the tenant does not hold: Partner Center refuses with 400041
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
    assert "400041" in (failed.message or "")

    offer(catalog.business_premium.offer_id)
    queue.requeue(session, change_id=create.id, actor=OPERATOR, now=noon(FACTORY_TODAY))
    session.commit()
    worker.drain(max_wait_seconds=30)

    assert statuses(session, create) == [PROVISIONED]
    at_sim = sim_subscription(simulator, fresh(session, extra).external_id)
    assert not at_sim.get("parentSubscriptionId"), "an NCE add-on has no parent at Partner Center"
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
    assert len(state["subscriptions"]) == 50, "a subscription was bought twice"
    assert {fresh(session, p).external_id for p in parents} == {s["id"] for s in state["subscriptions"]}
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


def test_a_lost_answer_to_a_checkout_never_buys_twice(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription, create = _one_business_premium(session, catalog)
    worker = make_worker()
    worker.run_once()  # nothing lost yet: the availability is read, the cart made, stored, checked out
    session.expire_all()
    assert session.get_one(LicenseChange, create.id).provisioning_status is PROVISIONED
    bought_first = sim_state(simulator)["subscriptions"]
    assert len(bought_first) == 1

    # Another subscription, and every answer lost from the checkout on.
    contract = session.get_one(BillingContract, subscription.contract_id)
    other = create_subscription(session, contract=contract, product=catalog.business_premium, quantity=4)
    (other_create,) = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == other.id)).all()
    _faults(simulator, lost_response_rate=1.0)
    worker.run_once()
    session.expire_all()
    pending = session.get_one(LicenseChange, other_create.id)
    assert pending.provisioning_status is ProvisioningStatus.AWAITING
    _faults(simulator, lost_response_rate=0.0)
    worker.drain(max_wait_seconds=30)

    session.expire_all()
    done = session.get_one(LicenseChange, other_create.id)
    assert done.provisioning_status is PROVISIONED
    assert done.provider_cart_id, "the cart id was stored before its checkout"
    bought = [s for s in sim_state(simulator)["subscriptions"] if s["id"] != bought_first[0]["id"]]
    assert [(s["id"], s["quantity"]) for s in bought] == [(fresh(session, other).external_id, 4)], "bought once"
    assert fresh(session, subscription).external_id == bought_first[0]["id"]


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
    assert requests["POST /v1/customers/{id}/carts/{id}/checkout"] == 1
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


def test_a_batch_settled_together_announces_each_change_as_it_now_reads_parents_then_their_children(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    """The worker writes a batch's outcomes together (``queue.record_done_many``, without the ORM): each event
    must carry the change as ``GET /api/v1/license-changes`` shows it, one job's change before its child's."""
    vet = pine_cone_vet(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    settled = []
    for location, product, quantity in (("New York City", "e3", 31), ("Memphis", "ems", 12)):
        child = raise_quantity(session, getattr(vet.locations[location], product), quantity)
        settled += [caused_by(session, child), child]
    session.commit()
    assert worker.drain(max_wait_seconds=30).tally.provisioned == 2

    session.expire_all()
    written = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.type == "license_change.provisioned")
        .where(OutboxEvent.subject_id.in_([str(c.id) for c in settled]))
        .order_by(OutboxEvent.id)
    ).all()
    by_subject = {event.subject_id: event for event in written}
    assert len(written) == len(by_subject) == 4
    for change in settled:
        now = LicenseChangeRead.from_model(session.get_one(LicenseChange, change.id)).model_dump(mode="json")
        assert by_subject[str(change.id)].data == now
        assert now["provisioning_status"] == "provisioned"
    parent_first = [str(c.id) for c in settled]
    order = [event.subject_id for event in written]
    for parent_id, child_id in zip(parent_first[::2], parent_first[1::2], strict=True):
        assert order.index(parent_id) < order.index(child_id), "a job's change is announced before its child's"
