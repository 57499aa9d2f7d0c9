"""What the console's forms offer to choose from, and only what the services would accept: an add-on's possible
parent subscriptions (``addons.resolve_parent``), a child's link targets (``linking.check_link``), the sellable
products and bundles. Each candidate is put to the service's own check, so the picker never offers a parent or a
link the service would refuse, and never keeps a rule of its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.bundles import bundle_sellable
from seatflow.catalog.models import Bundle, Product, ProviderAccount, ProviderKind
from seatflow.catalog.rules import is_sellable
from seatflow.console import queries
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import ancestors, descendant_ids, require_customer
from seatflow.errors import SeatflowError
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.addons import resolve_parent
from seatflow.subscriptions.linking import check_link
from seatflow.subscriptions.models import Subscription

MAX_CANDIDATES = 500


@dataclass(frozen=True)
class Choice:
    """A subscription offered in a select, with the words that tell it apart."""

    subscription: Subscription
    label: str


def sellable_products(session: Session) -> list[Product]:
    return [p for p in catalog_repository.all_products(session) if is_sellable(p.status, p.kind, len(p.parents))]


def sellable_bundles(session: Session) -> list[Bundle]:
    return [b for b in catalog_repository.all_bundles(session) if bundle_sellable(b)]


def accounts_of_kind(session: Session, *kinds: ProviderKind) -> list[ProviderAccount]:
    return [a for a in catalog_repository.all_provider_accounts(session) if a.kind in kinds]


def _tenant_contract_ids(session: Session, customer: CustomerAccount) -> list[uuid.UUID]:
    """The contracts of every account that can share the customer's tenant: its whole account tree (a tenant is
    mapped to one account and inherited by the accounts below it)."""
    chain = ancestors(session, customer)
    root = chain[-1] if chain else customer
    accounts = {root.id} | descendant_ids(session, root.id)
    return [c.id for c in queries.contracts_of(session, accounts)]


def _labels(session: Session, subscriptions: Sequence[Subscription]) -> list[Choice]:
    names = queries.around(session, [s.id for s in subscriptions])
    return [
        Choice(s, f"{names[s.id].product.name}: {s.quantity} on {names[s.id].contract.name}")
        for s in sorted(subscriptions, key=lambda s: (names[s.id].contract.name, names[s.id].product.name, s.id))
    ]


def parent_choices(session: Session, *, product: Product, contract: BillingContract) -> list[Choice]:
    """The live subscriptions an add-on of ``product`` on ``contract`` may hang under: of one of its possible
    parent products, on the same tenant, with a live chain up to a license (``resolve_parent`` says yes)."""
    possible = {p.id for p in product.parents}
    if not possible:
        return []
    customer = require_customer(session, contract.customer_id)
    candidates = [
        s
        for s in subscriptions_repository.on_contracts(session, _tenant_contract_ids(session, customer))
        if s.product_id in possible and s.status in subscriptions_repository.LIVE
    ][:MAX_CANDIDATES]
    valid = []
    for candidate in candidates:
        try:
            resolve_parent(session, product=product, parent_ref=str(candidate.id), contract=contract)
        except SeatflowError:
            continue
        valid.append(candidate)
    return _labels(session, valid)


def link_targets(session: Session, *, child: Subscription, contract: BillingContract) -> list[Choice]:
    """The subscriptions ``child`` (saved, or about to be created on ``contract``) may be linked to: the same
    product's on the parent contract, one level only (``check_link`` says yes)."""
    if contract.parent_contract_id is None:
        return []
    valid = []
    for candidate in subscriptions_repository.on_contracts(session, [contract.parent_contract_id]):
        if candidate.product_id != child.product_id:
            continue
        try:
            check_link(session, child=child, child_contract=contract, target=candidate)
        except SeatflowError:
            continue
        valid.append(candidate)
    return _labels(session, valid)
