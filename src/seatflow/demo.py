"""The demo's data (SPEC §12): the demo catalog, Pine Cone Vet (seed 003) and the E5 voice chain (seed 000),
an operator for the console and portal users for the head office and New York. Loaded through the services,
as an operator would enter it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.auth.models import OperatorRole
from seatflow.auth.operators import create_operator
from seatflow.auth.service import create_api_key
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.models import Product, ProviderAccount
from seatflow.contracts.schemas import ContractCreate
from seatflow.contracts.service import create_contract
from seatflow.customers.logins import accept_invitation
from seatflow.customers.models import ContactRole, CustomerAccount
from seatflow.customers.schemas import ContactCreate, CustomerCreate
from seatflow.customers.service import create_customer, invite_contact
from seatflow.subscriptions.lifecycle import create_subscription
from seatflow.subscriptions.linking import link
from seatflow.subscriptions.models import ChangeOrigin, Subscription
from seatflow.subscriptions.schemas import Actor, SubscriptionCreate

TENANT = "pine-cone-vet-tenant"
LOCATIONS = {"Atlanta": (10, 5), "New York City": (25, 10), "Memphis": (15, 5)}
"""Seed 003: each location's Microsoft 365 E3 and EMS quantities (the parent holds 50 and 20)."""
OPERATOR_LOGIN = ("admin@reseller.example", "demo operator pass")
HEAD_OFFICE_LOGIN = ("admin@pinecone.example", "demo head office pass")
NEW_YORK_LOGIN = ("newyork@pinecone.example", "demo new york pass")
FINANCE_LOGIN = ("finance@pinecone.example", "demo finance pass")


@dataclass(frozen=True)
class DemoLoad:
    api_key: str
    catalog_created: int
    loaded: bool
    """False when the database held the demo already (nothing was added)."""


def load(session: Session, *, today: date, now: datetime, simulator_url: str, currency: str) -> DemoLoad:
    content = resources.files("seatflow.catalog").joinpath("demo_catalog.yaml").read_bytes()
    result = import_catalog(session, content=content, fmt=ImportFormat.DOCUMENT, default_currency=currency)
    pc = _account(session, "Partner Center")
    pc.settings = {**pc.settings, "base_url": simulator_url}
    _, key = create_api_key(session, name=f"demo {now:%Y-%m-%d %H:%M:%S}")
    if session.execute(select(CustomerAccount).where(CustomerAccount.tenant_id == TENANT)).first():
        return DemoLoad(key, result.created, loaded=False)
    _pine_cone_vet(session, today=today, now=now, currency=currency)
    create_operator(
        session, email=OPERATOR_LOGIN[0], name="Reseller Admin", role=OperatorRole.ADMIN, password=OPERATOR_LOGIN[1]
    )
    return DemoLoad(key, result.created, loaded=True)


def _account(session: Session, name: str) -> ProviderAccount:
    account = session.execute(select(ProviderAccount).where(ProviderAccount.name == name)).scalar_one()
    return account


def _product(session: Session, provisioning_id: str) -> Product:
    return session.execute(select(Product).where(Product.provisioning_id == provisioning_id)).scalar_one()


def _pine_cone_vet(session: Session, *, today: date, now: datetime, currency: str) -> None:
    actor = Actor(ChangeOrigin.OPERATOR, "demo")
    pc, do_nothing, linked = (_account(session, n) for n in ("Partner Center", "Do nothing", "Linked subscriptions"))
    e3, ems = _product(session, "SPE_E3"), _product(session, "EMS")
    head = create_customer(
        session,
        data=CustomerCreate.model_validate(
            {
                "name": "Pine Cone Vet",
                "tenant_id": TENANT,
                "billing_address": {"line1": "100 Pine Street", "city": "Atlanta", "region": "GA", "country": "US"},
            }
        ),
        default_currency=currency,
    )

    def contract(owner: CustomerAccount, name: str, *, parent: str | None = None, billable: bool = True) -> str:
        data = ContractCreate(
            customer_id=str(owner.id), name=name, parent_contract_id=parent, billable=billable, start_date=today
        )
        return str(create_contract(session, data=data).id)

    def subscribe(
        contract_id: str, product: Product, quantity: int, account: ProviderAccount, **extra: object
    ) -> Subscription:
        data = SubscriptionCreate.model_validate(
            {
                "contract_id": contract_id,
                "product_id": str(product.id),
                "quantity": quantity,
                "provider_account_id": str(account.id),
                "start_date": today,
                **extra,
            }
        )
        subscription, _ = create_subscription(session, data=data, today=today, now=now, actor=actor)
        return subscription

    parent_contract = contract(head, "Pine Cone Vet - Parent", billable=False)
    parent_e3 = subscribe(parent_contract, e3, 50, pc, allow_end_user_modification=False)
    parent_ems = subscribe(parent_contract, ems, 20, pc, allow_end_user_modification=False)
    new_york = None
    for name, (e3_quantity, ems_quantity) in LOCATIONS.items():
        location = create_customer(
            session,
            data=CustomerCreate.model_validate({"name": f"Pine Cone Vet {name}", "parent_customer_id": str(head.id)}),
            default_currency=currency,
        )
        if name == "New York City":
            new_york = location
        location_contract = contract(location, f"Pine Cone Vet - {name}", parent=parent_contract)
        for product, quantity, parent in ((e3, e3_quantity, parent_e3), (ems, ems_quantity, parent_ems)):
            child = subscribe(location_contract, product, quantity, do_nothing)
            link(session, subscription=child, target=parent, account=linked)
    # The E5 voice chain (seed 000), bought by the head office: add-ons of add-ons.
    office = contract(head, "Pine Cone Vet - Head office")
    e5 = subscribe(office, _product(session, "ENTERPRISEPREMIUM"), 5, pc)
    subscribe(office, _product(session, "MCOMEETADV"), 5, pc, parent_subscription_id=str(e5.id))
    phone = subscribe(office, _product(session, "MCOEV"), 5, pc, parent_subscription_id=str(e5.id))
    subscribe(office, _product(session, "MCOPSTN1"), 5, pc, parent_subscription_id=str(phone.id))
    assert new_york is not None  # noqa: S101 - LOCATIONS names it
    for account, (email, password), name, roles in (
        (head, HEAD_OFFICE_LOGIN, "Harriet Office", [ContactRole.ADMINISTRATOR, ContactRole.ACCESS_CHILD_ACCOUNTS]),
        (head, FINANCE_LOGIN, "Fiona Nance", [ContactRole.FINANCE_MANAGER, ContactRole.ACCESS_CHILD_ACCOUNTS]),
        (new_york, NEW_YORK_LOGIN, "Nate York", [ContactRole.SUBSCRIPTION_MANAGER]),
    ):
        _, invitation = invite_contact(
            session,
            customer=account,
            data=ContactCreate(email=email, name=name, roles=roles),
            now=now,
            base_url="http://demo",
        )
        accept_invitation(session, token=invitation.rsplit("/", 1)[1], password=password, now=now)
