"""The worker against the simulator as Microsoft documents new commerce (SPEC §7, issue 12): purchases through carts
and an idempotent checkout, changes as full-resource PATCHes with an etag, 202s polled, don't-renew as
``autoRenewEnabled: false`` and an expiry, changes at renewal as ``scheduledNextTermInstructions``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.contracts.models import BillingContract
from seatflow.provisioning.worker import Worker
from seatflow.simulator import SimulatorServer
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.errors import CancellationWindowClosed
from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.schemas import SubscriptionUpdate
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
from tests.provisioning.conftest import ManualClock

PROVISIONED = ProvisioningStatus.PROVISIONED
PATCH = "PATCH /v1/customers/{id}/subscriptions/{id}"
CARTS = "POST /v1/customers/{id}/carts"
CHECKOUT = "POST /v1/customers/{id}/carts/{id}/checkout"
ORDERS = "POST /v1/customers/{id}/orders"


@pytest.fixture
def catalog(session: Session, simulator: SimulatorServer) -> DemoCatalog:
    catalog = load_demo_catalog(session)
    catalog.partner_center.settings = {"base_url": simulator.url, "timeout_seconds": 5}
    session.flush()
    return catalog


def sim(simulator: SimulatorServer, path: str) -> Any:
    return httpx.get(f"{simulator.url}{path}", timeout=5).json()


def sim_subscription(simulator: SimulatorServer, external_id: str | None) -> dict[str, Any]:
    assert external_id, "the subscription has no Partner Center id"
    [found] = [s for s in sim(simulator, "/_sim/state")["subscriptions"] if s["id"] == external_id]
    return dict(found)


def requests(simulator: SimulatorServer) -> dict[str, int]:
    return dict(sim(simulator, "/_sim/stats")["requests"])


def faults(simulator: SimulatorServer, **values: float) -> None:
    httpx.post(f"{simulator.url}/_sim/faults", json=values, timeout=5).raise_for_status()


def move_simulator(simulator: SimulatorServer, moment: datetime) -> None:
    httpx.post(f"{simulator.url}/_sim/clock", json={"now": moment.isoformat()}, timeout=5).raise_for_status()


def fresh(session: Session, subscription: Subscription) -> Subscription:
    session.expire_all()
    return session.get_one(Subscription, subscription.id)


def changes_of(session: Session, subscription: Subscription) -> list[LicenseChange]:
    session.expire_all()
    stmt = select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)
    return list(session.scalars(stmt.order_by(LicenseChange.created_at)))


def bought(session: Session, catalog: DemoCatalog, quantity: int = 10) -> Subscription:
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    return create_subscription(session, contract=contract, product=catalog.business_premium, quantity=quantity)


def commitment_end(resource: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(resource["commitmentEndDate"]).replace("Z", "+00:00"))


def test_the_e5_voice_chain_is_bought_through_carts_each_addon_its_own_line_without_a_parent_id(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    e5 = create_subscription(session, contract=contract, product=catalog.e5, quantity=10)
    phone = create_subscription(session, contract=contract, product=catalog.phone_system, quantity=10, parent=e5)
    calling = create_subscription(session, contract=contract, product=catalog.calling_plan, quantity=10, parent=phone)

    make_worker().drain(max_wait_seconds=30)

    for subscription in (e5, phone, calling):
        here = fresh(session, subscription)
        there = sim_subscription(simulator, here.external_id)
        product_id, sku_id, availability_id = there["offerId"].split(":")
        offer_id = {e5.id: catalog.e5, phone.id: catalog.phone_system, calling.id: catalog.calling_plan}[here.id]
        assert f"{product_id}:{sku_id}" == offer_id.offer_id
        assert availability_id, "bought as productId:skuId:availabilityId"
        assert there["quantity"] == 10
        assert there["termDuration"] == here.term.value
        assert there["billingCycle"].lower() == here.billing_plan.value
        assert "parentSubscriptionId" not in there or there["parentSubscriptionId"] in (None, "")
        assert all(c.provisioning_status is PROVISIONED for c in changes_of(session, subscription))
    counts = requests(simulator)
    assert counts.get(CARTS) == 3, "one cart per subscription, an add-on a line of its own"
    assert counts.get(CHECKOUT) == 3
    assert counts.get(ORDERS, 0) == 0, "nothing bought through the legacy orders path"


def test_with_three_answers_in_ten_lost_every_subscription_is_bought_exactly_once(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    subscriptions = [
        create_subscription(session, contract=contract, product=catalog.business_premium, quantity=n)
        for n in range(1, 13)
    ]
    faults(simulator, lost_response_rate=0.3, seed=12)

    make_worker(max_attempts=30).drain(max_wait_seconds=120)

    faults(simulator, lost_response_rate=0.0)
    at_simulator = [s for s in sim(simulator, "/_sim/state")["subscriptions"] if s["status"] != "deleted"]
    assert len(at_simulator) == 12, "twelve subscriptions bought, none twice"
    ours = {fresh(session, s).external_id: fresh(session, s).quantity for s in subscriptions}
    assert ours == {s["id"]: s["quantity"] for s in at_simulator}
    assert requests(simulator)[CHECKOUT] >= 12, "some checkouts' answers were lost and sent again"
    for subscription in subscriptions:
        [create] = changes_of(session, subscription)
        assert create.provisioning_status is PROVISIONED
        assert create.provider_cart_id, "the cart id was stored before the checkout"


def test_a_subscription_set_not_to_renew_expires_at_its_term_end_there_and_here_and_no_cancel_is_sent(
    session: Session,
    catalog: DemoCatalog,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    subscription = bought(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id

    lifecycle.update_subscription(
        session,
        subscription=fresh(session, subscription),
        data=SubscriptionUpdate(auto_renew=False),
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.commit()
    worker.drain(max_wait_seconds=30)
    there = sim_subscription(simulator, external_id)
    assert there["autoRenewEnabled"] is False
    assert changes_of(session, subscription)[-1].kind is ChangeKind.AUTO_RENEW
    assert changes_of(session, subscription)[-1].provisioning_status is PROVISIONED

    # Past the term's end at Partner Center, and in seatflow.
    move_simulator(simulator, commitment_end(there) + timedelta(days=1, hours=1))
    assert sim_subscription(simulator, external_id)["status"] == "expired"
    term_end = fresh(session, subscription).term_end
    run_renewals(session, today=term_end + timedelta(days=1), now=noon(term_end + timedelta(days=1)))
    session.commit()
    clock.move_to(noon(term_end + timedelta(days=1)))  # the worker's day: the renewal's
    worker.drain(max_wait_seconds=30)

    ended = fresh(session, subscription)
    assert ended.status is SubscriptionStatus.EXPIRED
    expiry = changes_of(session, subscription)[-1]
    assert (expiry.kind, expiry.quantity_after, expiry.provisioning_status) == (ChangeKind.EXPIRE, 0, PROVISIONED)
    assert sim_subscription(simulator, external_id)["status"] == "expired", "expired, never deleted"
    assert requests(simulator)[PATCH] == 1, "only autoRenewEnabled was ever sent: no cancel"


def test_a_quantity_scheduled_for_the_renewal_is_applied_by_the_simulators_renewal(
    session: Session,
    catalog: DemoCatalog,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    subscription = bought(session, catalog, quantity=10)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id

    change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=7,
        effective="renewal",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.commit()
    worker.drain(max_wait_seconds=30)
    there = sim_subscription(simulator, external_id)
    instructions = there["scheduledNextTermInstructions"]
    assert instructions["quantity"] == 7
    assert f"{instructions['product']['productId']}:{instructions['product']['skuId']}" == (
        catalog.business_premium.offer_id
    )
    assert there["quantity"] == 10, "nothing changes before the renewal"

    move_simulator(simulator, commitment_end(there) + timedelta(days=1, hours=1))
    renewed = sim_subscription(simulator, external_id)
    assert (renewed["quantity"], renewed["status"]) == (7, "active"), "Microsoft's renewal applied it"
    term_end = fresh(session, subscription).term_end
    run_renewals(session, today=term_end + timedelta(days=1), now=noon(term_end + timedelta(days=1)))
    session.commit()
    clock.move_to(noon(term_end + timedelta(days=1)))  # the worker's day: the renewal's
    worker.drain(max_wait_seconds=30)

    assert fresh(session, subscription).quantity == 7
    applied = changes_of(session, subscription)[-1]
    assert (applied.kind, applied.quantity_before, applied.quantity_after) == (ChangeKind.QUANTITY, 10, 7)
    assert applied.provisioning_status is PROVISIONED
    assert applied.message == "Partner Center showed it already."
    assert requests(simulator)[PATCH] == 1, "only the instructions were sent; the renewal did the rest"


def test_a_mid_term_increase_sends_the_renewals_instructions_again(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription = bought(session, catalog, quantity=10)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id
    for quantity, effective in ((8, "renewal"), (15, "now")):
        change_quantity(
            session,
            subscription_id=subscription.id,
            quantity=quantity,
            effective=effective,
            today=FACTORY_TODAY,
            now=noon(FACTORY_TODAY),
            actor=OPERATOR,
        )
        session.commit()
        worker.drain(max_wait_seconds=30)

    there = sim_subscription(simulator, external_id)
    assert there["quantity"] == 15
    assert there["scheduledNextTermInstructions"]["quantity"] == 8


def test_a_cancellation_inside_the_window_reaches_partner_center_and_one_after_it_is_refused_before_sending(
    session: Session,
    catalog: DemoCatalog,
    simulator: SimulatorServer,
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    early = bought(session, catalog)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)

    lifecycle.cancel(
        session,
        subscription=fresh(session, early),
        cascade=False,
        today=FACTORY_TODAY + timedelta(days=6),  # the 7th day of the term: inside the window
        now=noon(FACTORY_TODAY + timedelta(days=6)),
        actor=OPERATOR,
    )
    session.commit()
    clock.move_to(noon(FACTORY_TODAY + timedelta(days=6)))
    worker.drain(max_wait_seconds=30)
    assert sim_subscription(simulator, fresh(session, early).external_id)["status"] == "deleted"

    contract = session.get_one(BillingContract, early.contract_id)
    late = create_subscription(session, contract=contract, product=catalog.business_premium, quantity=3)
    worker.drain(max_wait_seconds=30)
    before = changes_of(session, late)
    with pytest.raises(CancellationWindowClosed) as refused:
        lifecycle.cancel(
            session,
            subscription=fresh(session, late),
            cascade=False,
            today=FACTORY_TODAY + timedelta(days=7),  # the 8th day: past the window
            now=noon(FACTORY_TODAY + timedelta(days=7)),
            actor=OPERATOR,
        )
    assert refused.value.code == "cancellation_window_closed"
    assert "until 2026-12-07" in refused.value.message
    assert "not to renew" in refused.value.message
    assert changes_of(session, late) == before, "nothing recorded, nothing sent"
    assert fresh(session, late).status is SubscriptionStatus.ACTIVE


def test_a_change_answered_202_is_polled_and_never_sent_again(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription = bought(session, catalog, quantity=10)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id
    faults(simulator, accepted_rate=1.0, provisioning_delay_s=0.5)
    change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=12,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.commit()

    first = worker.run_once()
    assert first.tally.waiting == 1
    [_, pending] = changes_of(session, subscription)
    assert pending.provisioning_status is ProvisioningStatus.AWAITING
    assert pending.provider_operation, "the Location is kept to poll"

    worker.drain(max_wait_seconds=30)
    [_, done] = changes_of(session, subscription)
    assert done.provisioning_status is PROVISIONED
    assert sim_subscription(simulator, external_id)["quantity"] == 12
    assert requests(simulator)[PATCH] == 1, "polled, never re-sent"


def test_a_subscription_bought_not_to_renew_is_turned_off_at_partner_center_right_after_its_purchase(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    contract = create_contract(session, customer=customer)
    subscription = create_subscription(
        session, contract=contract, product=catalog.business_premium, quantity=5, auto_renew=False
    )
    assert [c.kind for c in changes_of(session, subscription)] == [ChangeKind.CREATE, ChangeKind.AUTO_RENEW]

    make_worker().drain(max_wait_seconds=30)

    there = sim_subscription(simulator, fresh(session, subscription).external_id)
    assert there["autoRenewEnabled"] is False, "Microsoft buys with auto-renew on; seatflow turned it off"
    assert all(c.provisioning_status is PROVISIONED for c in changes_of(session, subscription))


def test_turning_auto_renew_off_clears_what_was_scheduled_for_the_renewal_at_partner_center_too(
    session: Session, catalog: DemoCatalog, simulator: SimulatorServer, make_worker: Callable[..., Worker]
) -> None:
    subscription = bought(session, catalog, quantity=10)
    worker = make_worker()
    worker.drain(max_wait_seconds=30)
    change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=12,
        effective="renewal",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.commit()
    worker.drain(max_wait_seconds=30)
    external_id = fresh(session, subscription).external_id
    assert sim_subscription(simulator, external_id)["scheduledNextTermInstructions"]["quantity"] == 12

    lifecycle.update_subscription(
        session,
        subscription=fresh(session, subscription),
        data=SubscriptionUpdate(auto_renew=False),
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    session.commit()
    worker.drain(max_wait_seconds=30)

    there = sim_subscription(simulator, external_id)
    assert there["autoRenewEnabled"] is False
    assert not there.get("scheduledNextTermInstructions")
    assert all(c.provisioning_status is PROVISIONED for c in changes_of(session, subscription))
