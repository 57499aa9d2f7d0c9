"""Add-on trees through the services (SPEC §2, §3, §4): the chain of parents, bundles, cascades."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.bundles import create_bundle
from seatflow.catalog.schemas import BundleCreate, BundleItemIn
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.errors import (
    AddonParentInvalid,
    AddonParentIsBundle,
    AddonParentMissing,
    HasActiveAddons,
    SubscriptionNotLive,
)
from seatflow.subscriptions.models import ChangeKind, ChangeOrigin, LicenseChange, Subscription, SubscriptionStatus
from seatflow.subscriptions.schemas import BundleOrder, SubscriptionCreate
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
from tests.subscriptions.helpers import changes_of, fresh

TODAY = FACTORY_TODAY
PHONE_SYSTEM = "Microsoft Teams Phone Standard (Phone System)"


@pytest.fixture
def catalog(session: Session) -> DemoCatalog:
    return load_demo_catalog(session)


@pytest.fixture
def contract(session: Session) -> BillingContract:
    customer = create_customer(session, name="Contoso", tenant_id="contoso-tenant")
    return create_contract(session, customer=customer, name="Contoso - Main")


@pytest.fixture
def e5(session: Session, catalog: DemoCatalog, contract: BillingContract) -> Subscription:
    return create_subscription(session, contract=contract, product=catalog.e5, quantity=20)


@pytest.fixture
def phone(session: Session, catalog: DemoCatalog, contract: BillingContract, e5: Subscription) -> Subscription:
    return create_subscription(session, contract=contract, product=catalog.phone_system, quantity=20, parent=e5)


@pytest.fixture
def calling(session: Session, catalog: DemoCatalog, contract: BillingContract, phone: Subscription) -> Subscription:
    return create_subscription(session, contract=contract, product=catalog.calling_plan, quantity=15, parent=phone)


def order(session: Session, contract: BillingContract, catalog: DemoCatalog, *, parent_ref: str | None) -> None:
    """A Domestic Calling Plan order with the given parent reference."""
    lifecycle.create_subscription(
        session,
        data=SubscriptionCreate(
            contract_id=str(contract.id),
            product_id=str(catalog.calling_plan.id),
            quantity=5,
            parent_subscription_id=parent_ref,
        ),
        today=TODAY,
        now=noon(TODAY),
        actor=OPERATOR,
    )


class TestAddonChain:
    def test_calling_plan_on_phone_system_on_e5_is_accepted(
        self,
        session: Session,
        e5: Subscription,
        phone: Subscription,
        calling: Subscription,
    ) -> None:
        calling = fresh(session, calling)
        assert calling.status is SubscriptionStatus.ACTIVE
        assert calling.parent_subscription_id == phone.id
        assert fresh(session, phone).parent_subscription_id == e5.id
        [create] = changes_of(session, calling)
        assert (create.kind, create.quantity_before, create.quantity_after) == (ChangeKind.CREATE, 0, 15)

    def test_calling_plan_without_a_parent_names_phone_system(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        with pytest.raises(AddonParentMissing) as raised:
            order(session, contract, catalog, parent_ref=None)
        assert PHONE_SYSTEM in raised.value.message
        assert raised.value.extra["missing"] == [str(catalog.phone_system.id)]

    def test_calling_plan_directly_under_e5_names_the_possible_parent(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract, e5: Subscription
    ) -> None:
        with pytest.raises(AddonParentInvalid) as raised:
            order(session, contract, catalog, parent_ref=str(e5.id))
        assert PHONE_SYSTEM in raised.value.message
        assert "Office 365 E5" in raised.value.message

    def test_a_bundle_is_never_a_parent(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        with pytest.raises(AddonParentIsBundle) as raised:
            order(session, contract, catalog, parent_ref=str(catalog.e5_voice.id))
        assert PHONE_SYSTEM in raised.value.message

    def test_a_parent_on_another_tenant_is_refused(
        self, session: Session, catalog: DemoCatalog, e5: Subscription
    ) -> None:
        other = create_customer(session, name="Fabrikam", tenant_id="fabrikam-tenant")
        other_contract = create_contract(session, customer=other, name="Fabrikam - Main")
        with pytest.raises(AddonParentInvalid) as raised:
            create_subscription(session, contract=other_contract, product=catalog.phone_system, quantity=5, parent=e5)
        assert "another tenant" in raised.value.message
        assert "Office 365 E5" in raised.value.message

    def test_a_parent_of_an_unmapped_customer_is_another_tenant_too(
        self, session: Session, catalog: DemoCatalog
    ) -> None:
        first = create_contract(session, customer=create_customer(session, name="No tenant 1"))
        second = create_contract(session, customer=create_customer(session, name="No tenant 2"))
        e5 = create_subscription(session, contract=first, product=catalog.e5, quantity=3)
        with pytest.raises(AddonParentInvalid):
            create_subscription(session, contract=second, product=catalog.phone_system, quantity=3, parent=e5)

    def test_a_location_account_shares_its_organizations_tenant(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract, e5: Subscription
    ) -> None:
        organization = session.get(CustomerAccount, contract.customer_id)
        assert organization is not None
        location = create_customer(session, name="Contoso - Denver", parent=organization)
        location_contract = create_contract(session, customer=location)
        phone = create_subscription(
            session, contract=location_contract, product=catalog.phone_system, quantity=2, parent=e5
        )
        assert fresh(session, phone).parent_subscription_id == e5.id

    @pytest.mark.parametrize("status", ["cancelled", "suspended"])
    def test_a_parent_that_is_not_live_is_refused_by_name(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract, e5: Subscription, status: str
    ) -> None:
        act = lifecycle.cancel if status == "cancelled" else lifecycle.suspend
        act(session, subscription=e5, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)
        with pytest.raises(AddonParentMissing) as raised:
            create_subscription(session, contract=contract, product=catalog.phone_system, quantity=2, parent=e5)
        assert f"The Office 365 E5 subscription is {status}" in raised.value.message


class TestCascade:
    @pytest.mark.parametrize(
        ("act", "kind", "status"),
        [
            (lifecycle.suspend, ChangeKind.SUSPEND, SubscriptionStatus.SUSPENDED),
            (lifecycle.cancel, ChangeKind.CANCEL, SubscriptionStatus.CANCELLED),
        ],
    )
    def test_active_addons_block_it_unless_cascading(
        self,
        session: Session,
        e5: Subscription,
        phone: Subscription,
        calling: Subscription,
        act: Callable[..., list[LicenseChange]],
        kind: ChangeKind,
        status: SubscriptionStatus,
    ) -> None:
        with pytest.raises(HasActiveAddons) as raised:
            act(session, subscription=e5, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)
        assert PHONE_SYSTEM in raised.value.message
        assert raised.value.extra["addon_ids"] == [str(phone.id)]
        for subscription in (e5, phone, calling):
            assert fresh(session, subscription).status is SubscriptionStatus.ACTIVE
            assert len(changes_of(session, subscription)) == 1

        changes = act(session, subscription=e5, cascade=True, today=TODAY, now=noon(TODAY), actor=OPERATOR)

        # Add-ons first, deepest first: the provider never sees a parent go before its add-ons.
        assert [c.subscription_id for c in changes] == [calling.id, phone.id, e5.id]
        for subscription, quantity in ((calling, 15), (phone, 20), (e5, 20)):
            assert fresh(session, subscription).status is status
            last = changes_of(session, subscription)[-1]
            assert last.kind is kind
            assert last.origin is ChangeOrigin.OPERATOR
            assert last.quantity_before == quantity
            assert last.quantity_after == (0 if kind is ChangeKind.CANCEL else quantity)
            assert len(changes_of(session, subscription)) == 2

    def test_a_suspended_addon_still_blocks_cancelling_its_parent(
        self, session: Session, e5: Subscription, phone: Subscription
    ) -> None:
        lifecycle.suspend(session, subscription=phone, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)
        with pytest.raises(HasActiveAddons):
            lifecycle.cancel(session, subscription=e5, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)

    def test_an_addon_cannot_be_reactivated_under_a_suspended_parent(
        self, session: Session, e5: Subscription, phone: Subscription
    ) -> None:
        lifecycle.suspend(session, subscription=e5, cascade=True, today=TODAY, now=noon(TODAY), actor=OPERATOR)
        with pytest.raises(AddonParentMissing) as raised:
            lifecycle.reactivate(
                session, subscription=fresh(session, phone), today=TODAY, now=noon(TODAY), actor=OPERATOR
            )
        assert "Office 365 E5" in raised.value.message
        lifecycle.reactivate(session, subscription=fresh(session, e5), today=TODAY, now=noon(TODAY), actor=OPERATOR)
        lifecycle.reactivate(session, subscription=fresh(session, phone), today=TODAY, now=noon(TODAY), actor=OPERATOR)
        assert fresh(session, phone).status is SubscriptionStatus.ACTIVE

    def test_a_cancelled_subscription_cannot_be_cancelled_again(self, session: Session, e5: Subscription) -> None:
        lifecycle.cancel(session, subscription=e5, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)
        with pytest.raises(SubscriptionNotLive):
            lifecycle.cancel(session, subscription=e5, cascade=False, today=TODAY, now=noon(TODAY), actor=OPERATOR)


class TestOrderBundle:
    def test_e5_voice_creates_four_real_subscriptions_under_the_real_parents(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        bundle = catalog.e5_voice
        created = lifecycle.order_bundle(
            session,
            bundle=bundle,
            data=BundleOrder(contract_id=str(contract.id), quantity=10),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        e5, audio, phone, calling = (fresh(session, s) for s in created)
        assert [s.product_id for s in (e5, audio, phone, calling)] == [
            catalog.e5.id,
            catalog.audio_conferencing.id,
            catalog.phone_system.id,
            catalog.calling_plan.id,
        ]
        assert e5.parent_subscription_id is None
        assert audio.parent_subscription_id == e5.id
        assert phone.parent_subscription_id == e5.id
        assert calling.parent_subscription_id == phone.id
        for subscription in (e5, audio, phone, calling):
            assert subscription.quantity == 10
            assert subscription.bundle_id == bundle.id
            assert subscription.contract_id == contract.id
            assert subscription.status is SubscriptionStatus.ACTIVE
            [create] = changes_of(session, subscription)
            assert create.kind is ChangeKind.CREATE
            assert create.quantity_after == 10

    def test_quantities_are_multiplied_and_item_prices_used(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        bundle = create_bundle(
            session,
            data=BundleCreate(
                name="E5 Voice for teams",
                items=[
                    BundleItemIn(product_id=str(catalog.e5.id)),
                    BundleItemIn(product_id=str(catalog.phone_system.id), parent_item=0, quantity_multiplier=2),
                    BundleItemIn(
                        product_id=str(catalog.calling_plan.id),
                        parent_item=1,
                        quantity_multiplier=3,
                        unit_price="9.00",
                    ),
                ],
            ),
        )
        bundle = catalog_repository.get_bundle(session, bundle.id)
        assert bundle is not None
        e5, phone, calling = lifecycle.order_bundle(
            session,
            bundle=bundle,
            data=BundleOrder(contract_id=str(contract.id), quantity=4),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        assert (e5.quantity, phone.quantity, calling.quantity) == (4, 8, 12)
        assert phone.parent_subscription_id == e5.id
        assert calling.parent_subscription_id == phone.id
        assert e5.unit_price == Decimal("38.00")  # the product's list price
        assert calling.unit_price == Decimal("9.00")  # the bundle's price for the item

    def test_a_future_start_orders_pending_subscriptions(
        self, session: Session, catalog: DemoCatalog, contract: BillingContract
    ) -> None:
        created = lifecycle.order_bundle(
            session,
            bundle=catalog.e5_voice,
            data=BundleOrder(contract_id=str(contract.id), quantity=2, start_date=date(2027, 1, 1)),
            today=TODAY,
            now=noon(TODAY),
            actor=OPERATOR,
        )
        assert {s.status for s in created} == {SubscriptionStatus.PENDING}
        assert {s.start_date for s in created} == {date(2027, 1, 1)}
