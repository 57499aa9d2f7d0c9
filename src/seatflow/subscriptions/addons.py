"""The add-on rule (SPEC §2, §3, §4): a real, live parent of a possible-parent product on the same tenant,
whose own chain of parents reaches a license. Bundles are never parents."""

from __future__ import annotations

from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Bundle, Product, ProductKind
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import tenant_of
from seatflow.ids import parse_id
from seatflow.subscriptions import repository
from seatflow.subscriptions.errors import (
    AddonParentInvalid,
    AddonParentIsBundle,
    AddonParentMissing,
    SubscriptionNotFound,
)
from seatflow.subscriptions.models import Subscription


def _names(products: list[Product]) -> str:
    names = [p.name for p in products]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def subscription_tenant(session: Session, subscription: Subscription) -> str:
    """The tenant a subscription provisions on; an unmapped account stands for itself."""
    contract = session.get(BillingContract, subscription.contract_id)
    assert contract is not None  # noqa: S101 - a foreign key guarantees it
    return tenant_for_contract(session, contract)


def tenant_for_contract(session: Session, contract: BillingContract) -> str:
    customer = session.get(CustomerAccount, contract.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key guarantees it
    return tenant_of(session, customer) or f"customer:{customer.id}"


def resolve_parent(
    session: Session, *, product: Product, parent_ref: str | None, contract: BillingContract
) -> Subscription | None:
    """The parent subscription an add-on of ``product`` on ``contract`` will hang under, checked."""
    if product.kind is not ProductKind.ADDON:
        if parent_ref:
            raise AddonParentInvalid(
                f"{product.name} is a {product.kind.value}: only add-ons have a parent subscription."
            )
        return None
    possible = list(product.parents)
    if not parent_ref:
        raise AddonParentMissing(
            f"{product.name} is an add-on: it needs a {_names(possible)} subscription as its parent.",
            missing=[str(p.id) for p in possible],
        )
    parent_id = parse_id(parent_ref)
    parent = repository.get(session, parent_id) if parent_id else None
    if parent is None:
        if parent_id is not None and session.get(Bundle, parent_id) is not None:
            raise AddonParentIsBundle(
                f"{parent_ref} is a bundle, only a virtual parent: hang {product.name} under the real "
                f"{_names(possible)} subscription."
            )
        raise SubscriptionNotFound(f"No parent subscription {parent_ref!r}.")
    parent_product = catalog_repository.get_product(session, parent.product_id)
    assert parent_product is not None  # noqa: S101 - a foreign key guarantees it
    if parent_product.id not in {p.id for p in possible}:
        raise AddonParentInvalid(
            f"{product.name} cannot hang under {parent_product.name}: its possible parents are {_names(possible)}."
        )
    if subscription_tenant(session, parent) != tenant_for_contract(session, contract):
        raise AddonParentInvalid(
            f"The {parent_product.name} subscription is on another tenant: "
            "an add-on's parent must be on the same tenant."
        )
    check_chain(session, parent, parent_product)
    return parent


def check_chain(session: Session, subscription: Subscription, product: Product) -> None:
    """Every subscription from ``subscription`` up is live, and the top one is a license."""
    current, current_product = subscription, product
    while True:
        if current.status not in repository.LIVE:
            raise AddonParentMissing(
                f"The {current_product.name} subscription is {current.status.value}: an add-on needs an active "
                f"{current_product.name} above it.",
                missing=[str(current_product.id)],
            )
        if current.parent_subscription_id is None:
            if current_product.kind is ProductKind.ADDON:
                raise AddonParentMissing(
                    f"{current_product.name} has no parent subscription: the chain must reach a license "
                    f"({_names(list(current_product.parents))}).",
                    missing=[str(p.id) for p in current_product.parents],
                )
            return
        parent = repository.get(session, current.parent_subscription_id)
        assert parent is not None  # noqa: S101 - a foreign key guarantees it
        parent_product = catalog_repository.get_product(session, parent.product_id)
        assert parent_product is not None  # noqa: S101
        current, current_product = parent, parent_product
