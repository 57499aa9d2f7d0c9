"""The Pine Cone Vet setup of seed 003, built through the services, and small readers for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog.models import ProviderAccount
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.subscriptions import repository
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeKind, ChangeOrigin, LicenseChange, Subscription
from tests.factories import (
    FACTORY_TODAY,
    OPERATOR,
    DemoCatalog,
    create_contract,
    create_customer,
    create_subscription,
    noon,
)

LOCATIONS = {"Atlanta": (10, 5), "New York City": (25, 10), "Memphis": (15, 5)}
"""Seed 003: each location's Microsoft 365 E3 and EMS quantities."""


@dataclass(frozen=True)
class Location:
    contract: BillingContract
    e3: Subscription
    ems: Subscription


@dataclass(frozen=True)
class PineConeVet:
    catalog: DemoCatalog
    customer: CustomerAccount
    parent_contract: BillingContract
    parent_e3: Subscription
    parent_ems: Subscription
    locations: dict[str, Location]


def pine_cone_vet(
    session: Session,
    catalog: DemoCatalog,
    *,
    start_date: date = FACTORY_TODAY,
    parent_account: ProviderAccount | None = None,
    location_accounts: bool = False,
) -> PineConeVet:
    """A non-billable parent contract with 50 E3 and 20 EMS on Partner Center; three child contracts whose
    subscriptions start on the do-nothing account and are then linked, as the seed's steps say.

    With ``location_accounts`` each location is a customer account of its own under the head office (as the
    portal needs: a location's people see their location only)."""
    customer = create_customer(session, name="Pine Cone Vet", tenant_id="pine-cone-vet-tenant")
    parent_contract = create_contract(
        session, customer=customer, name="Pine Cone Vet - Parent", billable=False, start_date=start_date
    )
    parent_e3, parent_ems = (
        create_subscription(
            session,
            contract=parent_contract,
            product=product,
            quantity=quantity,
            provider_account=parent_account or catalog.partner_center,
            allow_end_user_modification=False,
            start_date=start_date,
        )
        for product, quantity in ((catalog.e3, 50), (catalog.ems, 20))
    )
    locations = {}
    for name, (e3_quantity, ems_quantity) in LOCATIONS.items():
        owner = (
            create_customer(session, name=f"Pine Cone Vet {name}", parent=customer) if location_accounts else customer
        )
        contract = create_contract(
            session, customer=owner, name=f"Pine Cone Vet - {name}", parent=parent_contract, start_date=start_date
        )
        e3 = create_subscription(
            session,
            contract=contract,
            product=catalog.e3,
            quantity=e3_quantity,
            provider_account=catalog.do_nothing,
            start_date=start_date,
        )
        ems = create_subscription(
            session,
            contract=contract,
            product=catalog.ems,
            quantity=ems_quantity,
            provider_account=catalog.do_nothing,
            start_date=start_date,
        )
        link(session, subscription=e3, target=parent_e3, account=catalog.linked)
        link(session, subscription=ems, target=parent_ems, account=catalog.linked)
        locations[name] = Location(contract=contract, e3=e3, ems=ems)
    return PineConeVet(catalog, customer, parent_contract, parent_e3, parent_ems, locations)


def fresh(session: Session, subscription: Subscription) -> Subscription:
    """The subscription as the database has it now."""
    session.flush()
    found = repository.get(session, subscription.id, for_update=False)
    assert found is not None
    session.refresh(found)
    return found


def changes_of(session: Session, subscription: Subscription) -> Sequence[LicenseChange]:
    session.flush()
    return repository.changes_of(session, subscription.id)


def quantity_changes(session: Session, subscription: Subscription) -> list[LicenseChange]:
    return [c for c in changes_of(session, subscription) if c.kind is ChangeKind.QUANTITY]


def linked_child_change_count(session: Session, subscription: Subscription) -> int:
    stmt = select(func.count()).where(
        LicenseChange.subscription_id == subscription.id, LicenseChange.origin == ChangeOrigin.LINKED_CHILD
    )
    return int(session.execute(stmt).scalar_one())


def raise_quantity(session: Session, subscription: Subscription, quantity: int) -> LicenseChange:
    """A quantity change made now (noon of FACTORY_TODAY) by the operator; the change it recorded."""
    change = change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=quantity,
        effective="now",
        today=FACTORY_TODAY,
        now=noon(FACTORY_TODAY),
        actor=OPERATOR,
    )
    assert isinstance(change, LicenseChange)
    return change


def caused_by(session: Session, change: LicenseChange) -> LicenseChange:
    """The change a linked child's change caused on its parent."""
    return session.scalars(select(LicenseChange).where(LicenseChange.caused_by_change_id == change.id)).one()
