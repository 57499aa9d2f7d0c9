"""Typed factories: each flushes and returns what it made, through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog import service
from seatflow.catalog.bundles import create_bundle as _create_bundle
from seatflow.catalog.document import import_document
from seatflow.catalog.models import Bundle, Product, ProductKind, ProviderAccount, ProviderKind
from seatflow.catalog.providers import create_provider_account as _create_account
from seatflow.catalog.schemas import BundleCreate, BundleItemIn, ProductCreate, ProviderAccountCreate
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import ContractCreate
from seatflow.contracts.service import create_contract as _create_contract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.schemas import CustomerCreate
from seatflow.customers.service import create_customer as _create_customer
from seatflow.subscriptions.lifecycle import create_subscription as _create_subscription
from seatflow.subscriptions.models import ChangeOrigin, Subscription
from seatflow.subscriptions.schemas import Actor, SubscriptionCreate

_seq = itertools.count(1)


def create_provider_account(
    session: Session,
    *,
    name: str | None = None,
    kind: ProviderKind = ProviderKind.PARTNER_CENTER,
    settings: dict[str, Any] | None = None,
) -> ProviderAccount:
    if settings is None:
        settings = {"base_url": "http://127.0.0.1:8100"} if kind is ProviderKind.PARTNER_CENTER else {}
    data = ProviderAccountCreate(name=name or f"Account {next(_seq)}", kind=kind, settings=settings)
    return _create_account(session, data=data)


def create_product(
    session: Session,
    *,
    account: ProviderAccount,
    kind: ProductKind = ProductKind.LICENSE,
    name: str | None = None,
    provisioning_id: str | None = None,
    offer_id: str | None = None,
    parents: list[Product] | None = None,
    list_price: Decimal | str | None = "10.00",
    **fields: Any,
) -> Product:
    n = next(_seq)
    if offer_id is None and account.kind is ProviderKind.PARTNER_CENTER:
        offer_id = f"CFQ7TTC0{n:04d}:0001"  # a new-commerce productId:skuId: all Partner Center sells (SPEC §2)
    data = ProductCreate(
        provider_account_id=str(account.id),
        kind=kind,
        name=name or f"Product {n}",
        provisioning_id=provisioning_id or f"SKU_{n}",
        offer_id=offer_id,
        list_price=Decimal(list_price) if list_price is not None else None,
        parent_product_ids=[str(p.id) for p in parents or []],
        **fields,
    )
    return service.create_product(session, data=data, default_currency="USD")


def create_bundle(session: Session, *, name: str | None = None, items: list[tuple[Product, int | None]]) -> Bundle:
    """``items``: (product, index of the item it hangs under or None), in order."""
    data = BundleCreate(
        name=name or f"Bundle {next(_seq)}",
        items=[BundleItemIn(product_id=str(p.id), parent_item=parent) for p, parent in items],
    )
    return _create_bundle(session, data=data)


# --- customers, contracts, subscriptions (SPEC §3-§5) ---------------------------------------------------

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "src" / "seatflow" / "catalog" / "demo_catalog.yaml"
FACTORY_TODAY = date(2026, 12, 1)
"""The business day factories act on unless told otherwise."""
OPERATOR = Actor(ChangeOrigin.OPERATOR, "operator@reseller.example")


def noon(day: date) -> datetime:
    """A ``now`` on ``day`` (UTC), for services that take both ``today`` and ``now``."""
    return datetime.combine(day, time(12), tzinfo=UTC)


@dataclass(frozen=True)
class DemoCatalog:
    """The demo catalog's provider accounts, products and bundle, as loaded into the test's database."""

    partner_center: ProviderAccount
    manual: ProviderAccount
    do_nothing: ProviderAccount
    linked: ProviderAccount
    business_premium: Product
    e5: Product
    audio_conferencing: Product
    phone_system: Product
    calling_plan: Product
    e3: Product
    ems: Product
    e5_voice: Bundle


def load_demo_catalog(session: Session) -> DemoCatalog:
    import_document(session, text=DEMO_CATALOG.read_text(), default_currency="USD")
    session.flush()

    def account(name: str) -> ProviderAccount:
        found = catalog_repository.provider_account_by_name(session, name)
        assert found is not None, name
        return found

    partner_center = account("Partner Center")

    def product(provisioning_id: str) -> Product:
        found = catalog_repository.product_by_provisioning_id(session, partner_center.id, provisioning_id)
        assert found is not None, provisioning_id
        return found

    bundle = catalog_repository.bundle_by_name(session, "E5 Voice")
    assert bundle is not None
    return DemoCatalog(
        partner_center=partner_center,
        manual=account("Manual"),
        do_nothing=account("Do nothing"),
        linked=account("Linked subscriptions"),
        business_premium=product("O365_BUSINESS_PREMIUM"),
        e5=product("ENTERPRISEPREMIUM"),
        audio_conferencing=product("MCOMEETADV"),
        phone_system=product("MCOEV"),
        calling_plan=product("MCOPSTN1"),
        e3=product("SPE_E3"),
        ems=product("EMS"),
        e5_voice=bundle,
    )


def create_customer(
    session: Session,
    *,
    name: str | None = None,
    tenant_id: str | None = None,
    parent: CustomerAccount | None = None,
    currency: str | None = None,
) -> CustomerAccount:
    data = CustomerCreate(
        name=name or f"Customer {next(_seq)}",
        tenant_id=tenant_id,
        parent_customer_id=str(parent.id) if parent else None,
        currency=currency,
    )
    return _create_customer(session, data=data, default_currency="USD")


def create_contract(
    session: Session,
    *,
    customer: CustomerAccount,
    name: str | None = None,
    parent: BillingContract | None = None,
    billable: bool = True,
    start_date: date = FACTORY_TODAY,
    **fields: Any,
) -> BillingContract:
    data = ContractCreate(
        customer_id=str(customer.id),
        name=name or f"Contract {next(_seq)}",
        parent_contract_id=str(parent.id) if parent else None,
        billable=billable,
        start_date=start_date,
        **fields,
    )
    return _create_contract(session, data=data)


def create_subscription(
    session: Session,
    *,
    contract: BillingContract,
    product: Product,
    quantity: int = 1,
    provider_account: ProviderAccount | None = None,
    parent: Subscription | None = None,
    linked_to: Subscription | None = None,
    start_date: date | None = None,
    today: date | None = None,
    actor: Actor = OPERATOR,
    **fields: Any,
) -> Subscription:
    """Through ``create_subscription``: ``today`` defaults to the start date (an active subscription), or
    FACTORY_TODAY; ``linked_to`` needs ``provider_account`` of kind linked and pushes the quantity up."""
    day = today or start_date or FACTORY_TODAY
    data = SubscriptionCreate(
        contract_id=str(contract.id),
        product_id=str(product.id),
        quantity=quantity,
        provider_account_id=str(provider_account.id) if provider_account else None,
        parent_subscription_id=str(parent.id) if parent else None,
        linked_subscription_id=str(linked_to.id) if linked_to else None,
        start_date=start_date or day,
        **fields,
    )
    subscription, _ = _create_subscription(session, data=data, today=day, now=noon(day), actor=actor)
    return subscription
