"""Reconciliation (SPEC §9): read the provider's subscriptions of every mapped tenant and compare the
provider's quantity, seatflow's parent quantity and the sum of its linked children.

Classifications:
- ``changed_at_provider``: the provider's quantity differs and seatflow has nothing in flight for it (someone
  changed it in Partner Center, or on the parent directly);
- ``provisioning_pending``: it differs, and seatflow has changes awaiting (or failed) that explain it;
- ``children_differ``: provider and parent agree, but the linked children add up to something else;
- ``unknown_to_seatflow``: a subscription at the provider that no seatflow subscription maps to;
- ``missing_at_provider``: a live seatflow subscription whose provider subscription is gone (or never came);
- ``unmapped_tenant``: a customer at the provider that no seatflow customer account is mapped to.

Matching (SPEC §9): a provider subscription is seatflow's when its id is a seatflow subscription's external ID
(whatever either status); otherwise, when it is the only one left of its product on the tenant and seatflow has
exactly one live subscription of that product left over too, they are paired by product: ``productId:skuId`` of an
NCE ``offerId`` (the availability in it changes over time) against the product's offer ID, a legacy GUID offer ID
whole. Partner Center's ``expired``, ``disabled`` and ``deleted`` are ended: one that seatflow has ended too is no
difference, one that seatflow still has live is.

Fixes: adopt the provider's quantity (the difference assigned to a chosen linked child, recorded with origin
``provider_sync``; for a pair found by product also its provider id), push seatflow's quantity to the provider (a
change the worker sends), import an unknown subscription onto a chosen contract (a new-commerce add-on under the
seatflow parent the operator picks: Partner Center names none).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product, ProductKind, ProductParent, ProviderAccount, ProviderKind, Term
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.contracts.models import BillingContract
from seatflow.contracts.service import require_contract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import tenant_of
from seatflow.errors import Conflict, InvalidState, NotFound, ValidationFailed
from seatflow.ids import parse_id
from seatflow.partner_center.client import PartnerCenterClient
from seatflow.partner_center.purchases import CatalogItemId
from seatflow.partner_center.subscriptions import ENDED_STATUSES as PROVIDER_ENDED
from seatflow.subscriptions import repository
from seatflow.subscriptions.addons import resolve_parent, tenant_for_contract
from seatflow.subscriptions.changes import lock, record_change
from seatflow.subscriptions.models import (
    ENDED_STATUSES,
    BillingPlan,
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.rules import term_for
from seatflow.subscriptions.schemas import Actor
from seatflow.subscriptions.terms import default_plan

PROVIDER_SYNC = "provider sync"


class Classification(enum.StrEnum):
    CHANGED_AT_PROVIDER = "changed_at_provider"
    PROVISIONING_PENDING = "provisioning_pending"
    CHILDREN_DIFFER = "children_differ"
    UNKNOWN_TO_SEATFLOW = "unknown_to_seatflow"
    MISSING_AT_PROVIDER = "missing_at_provider"
    UNMAPPED_TENANT = "unmapped_tenant"


FIXES: dict[Classification, tuple[str, ...]] = {
    Classification.CHANGED_AT_PROVIDER: ("adopt", "push"),
    Classification.PROVISIONING_PENDING: (),
    Classification.CHILDREN_DIFFER: ("adopt",),
    Classification.UNKNOWN_TO_SEATFLOW: ("import",),
    Classification.MISSING_AT_PROVIDER: ("push",),
    Classification.UNMAPPED_TENANT: (),
}


class NotReconcilable(InvalidState):
    code = "not_reconcilable"


class MatchedBy(enum.StrEnum):
    EXTERNAL_ID = "external_id"
    PRODUCT = "product"


PROVIDER_EXPIRY_DELAY = timedelta(days=1)
"""Partner Center processes an expiry after the term's last day and "may take up to 24 hours"
(developer/create-scheduled-changes.md): until then an expiry seatflow already recorded is still on its way."""


@dataclass(frozen=True)
class Item:
    classification: Classification
    detail: str
    customer_id: uuid.UUID | None = None
    tenant_id: str | None = None
    subscription_id: uuid.UUID | None = None
    external_id: str | None = None
    offer_id: str | None = None
    product_name: str | None = None
    provider_quantity: int | None = None
    seatflow_quantity: int | None = None
    children_quantity: int | None = None
    provider_status: str | None = None
    """Partner Center's status of the subscription (``active``, ``suspended``, ``expired``, ``disabled``, …)."""
    matched_by: MatchedBy | None = None
    """How the provider's subscription was found to be seatflow's; ``product`` means adopting also records its id."""
    product_id: uuid.UUID | None = None
    """seatflow's product of the subscription (for an unknown one: of its offer, when the catalog has it)."""
    needs_parent: bool = False
    """An add-on Partner Center names no parent for (new commerce): its import needs the seatflow parent."""
    only_fixes: tuple[str, ...] | None = None
    """Fewer fixes than the classification offers, when the others cannot work for this item."""

    @property
    def fixes(self) -> tuple[str, ...]:
        return FIXES[self.classification] if self.only_fixes is None else self.only_fixes


@dataclass
class Report:
    provider_account_id: uuid.UUID
    checked_at: datetime
    tenants: int = 0
    provider_subscriptions: int = 0
    provider_customers: int = 0
    """Every customer at the provider, read page by page."""
    items: list[Item] = field(default_factory=list)


def client_for(account: ProviderAccount) -> PartnerCenterClient:
    if account.kind is not ProviderKind.PARTNER_CENTER:
        raise NotReconcilable(f"{account.name} is a {account.kind.value} account: only Partner Center is read.")
    return PartnerCenterClient(PartnerCenterSettings.model_validate(account.settings))


def offer_key(offer_id: str | None) -> str | None:
    """What names a product in an offer ID, compared case-insensitively: ``productId:skuId`` of a new-commerce
    catalog item ID, with or without its availability (which changes over time); a legacy offer ID whole."""
    value = (offer_id or "").strip()
    if not value:
        return None
    item = CatalogItemId.parse(value)
    return f"{item.product_id}:{item.sku_id}".lower() if item else value.lower()


def product_for_offer(session: Session, account_id: uuid.UUID, offer_id: str) -> Product | None:
    """The product of ``account_id`` a provider ``offerId`` is for: the same offer ID, else the same
    ``productId:skuId`` (seatflow keeps ``productId:skuId`` for a new-commerce product)."""
    exact = catalog_repository.product_by_offer(session, account_id, offer_id)
    if exact is not None:
        return exact
    return _products_by_key(session, account_id).get(offer_key(offer_id) or "")


def _products_by_key(session: Session, account_id: uuid.UUID) -> dict[str, Product]:
    stmt = (
        select(Product)
        .where(Product.provider_account_id == account_id, Product.offer_id.is_not(None))
        .options(selectinload(Product.parents))
        .order_by(Product.product_code)
    )
    found: dict[str, Product] = {}
    for product in session.execute(stmt).scalars():
        key = offer_key(product.offer_id)
        if key:
            found.setdefault(key, product)
    return found


def _ended_at_provider(provider_subscription: dict[str, Any]) -> bool:
    return _status_of(provider_subscription) in PROVIDER_ENDED


def _status_of(provider_subscription: dict[str, Any]) -> str:
    return str(provider_subscription.get("status") or "active").lower()


def _tenant_of_customer(at_provider: dict[str, Any]) -> str:
    """A provider customer's tenant; seatflow stores tenant ids lower-case, the provider may spell a GUID in
    capitals."""
    profile = at_provider.get("companyProfile")
    profile_tenant = profile.get("tenantId") if isinstance(profile, dict) else None
    return str(at_provider.get("id") or profile_tenant or "").strip().lower()


def _mapped_tenants(session: Session) -> dict[str, CustomerAccount]:
    """Every customer with a tenant id (the provider's customer id), with subscriptions on this account or
    none yet: the tenant is seatflow's either way."""
    rows = session.execute(select(CustomerAccount).where(CustomerAccount.tenant_id.is_not(None))).scalars()
    return {row.tenant_id: row for row in rows if row.tenant_id}


def _children_sums(session: Session, parent_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    stmt = (
        select(Subscription.linked_subscription_id, func.sum(Subscription.quantity))
        .where(Subscription.linked_subscription_id.in_(parent_ids), Subscription.status.in_(repository.NOT_CANCELLED))
        .group_by(Subscription.linked_subscription_id)
    )
    return {parent: int(total) for parent, total in session.execute(stmt) if parent is not None}


def _in_flight(session: Session, subscription_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    stmt = select(LicenseChange.subscription_id).where(
        LicenseChange.subscription_id.in_(subscription_ids),
        LicenseChange.provisioning_status.in_((ProvisioningStatus.AWAITING, ProvisioningStatus.FAILED)),
    )
    return set(session.execute(stmt).scalars())


def reconcile(session: Session, *, account: ProviderAccount, client: PartnerCenterClient, now: datetime) -> Report:
    report = Report(account.id, now)
    tenants = _mapped_tenants(session)
    provider_customers = client.list_customers()  # every page (continuation tokens)
    report.provider_customers = len(provider_customers)
    known_at_provider: set[str] = set()
    for at_provider in provider_customers:
        tenant = _tenant_of_customer(at_provider)
        if not tenant:
            continue
        known_at_provider.add(tenant)
        if tenant not in tenants:
            profile = at_provider.get("companyProfile")
            name = (profile.get("companyName") if isinstance(profile, dict) else None) or tenant
            report.items.append(
                Item(
                    Classification.UNMAPPED_TENANT,
                    f"{name} ({tenant}) is a customer at the provider, mapped to no seatflow account.",
                    tenant_id=tenant,
                )
            )
    products = _products_by_key(session, account.id)
    for tenant, customer in sorted(tenants.items()):
        ours = _ours(session, account, customer)
        if tenant not in known_at_provider:
            if any(s.status in repository.NOT_CANCELLED for s in ours):
                report.items.append(
                    Item(
                        Classification.MISSING_AT_PROVIDER,
                        f"The tenant {tenant} of {customer.name} is not a customer at the provider.",
                        customer_id=customer.id,
                        tenant_id=tenant,
                    )
                )
            continue
        report.tenants += 1
        theirs = client.list_subscriptions(tenant)
        report.provider_subscriptions += sum(1 for s in theirs if not _ended_at_provider(s))
        report.items.extend(_Comparison(session, customer, tenant, ours, products, now).items(theirs))
    return report


def _accounts_on_tenant(session: Session, customer: CustomerAccount) -> set[uuid.UUID]:
    """The customer and its descendants that provision on its tenant: locations without a tenant of their own
    (a descendant with its own tenant is reconciled under that tenant, with its own descendants)."""
    found = {customer.id}
    frontier = {customer.id}
    while frontier:
        stmt = select(CustomerAccount.id, CustomerAccount.tenant_id)
        rows = session.execute(stmt.where(CustomerAccount.parent_customer_id.in_(frontier))).all()
        frontier = {account_id for account_id, tenant in rows if tenant is None and account_id not in found}
        found |= frontier
    return found


def _ours(session: Session, account: ProviderAccount, customer: CustomerAccount) -> list[Subscription]:
    """The subscriptions on this provider account of the customer and of its descendants that share its tenant:
    the live ones, and the ended ones that have a provider id (what the provider may still show)."""
    stmt = (
        select(Subscription)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .where(
            BillingContract.customer_id.in_(_accounts_on_tenant(session, customer)),
            Subscription.provider_account_id == account.id,
            or_(Subscription.status.in_(repository.NOT_CANCELLED), Subscription.external_id.is_not(None)),
        )
        .order_by(Subscription.id)
    )
    return list(session.execute(stmt).scalars())


def possible_parents(session: Session, product: Product, customer: CustomerAccount) -> list[Subscription]:
    """The live subscriptions on ``customer``'s tenant that an add-on of ``product`` may hang under (the
    subscriptions of its possible parent products), for the operator to choose from."""
    parent_products = list(
        session.execute(select(ProductParent.parent_product_id).where(ProductParent.product_id == product.id)).scalars()
    )
    if not parent_products:
        return []
    stmt = (
        select(Subscription)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .where(
            BillingContract.customer_id.in_(_accounts_on_tenant(session, customer)),
            Subscription.product_id.in_(parent_products),
            Subscription.status.in_(repository.LIVE),
        )
        .order_by(Subscription.id)
    )
    return list(session.execute(stmt).scalars())


class _Comparison:
    """One tenant: the provider's subscriptions against seatflow's, matched by external ID, then by product."""

    def __init__(
        self,
        session: Session,
        customer: CustomerAccount,
        tenant: str,
        ours: list[Subscription],
        products: dict[str, Product],
        now: datetime,
    ) -> None:
        self.customer, self.tenant, self.ours, self.catalog, self.now = customer, tenant, ours, products, now
        ids = [s.id for s in ours]
        self.children = _children_sums(session, ids)
        self.in_flight = _in_flight(session, ids)
        wanted = {s.product_id for s in ours}
        self.products = {p.id: p for p in session.execute(select(Product).where(Product.id.in_(wanted))).scalars()}

    def _key(self, subscription: Subscription) -> str | None:
        product = self.products.get(subscription.product_id)
        return offer_key(product.offer_id) if product else None

    def items(self, theirs: list[dict[str, Any]]) -> list[Item]:
        by_external = {s.external_id: s for s in self.ours if s.external_id}
        pairs: list[tuple[dict[str, Any], Subscription, MatchedBy]] = []
        left: list[dict[str, Any]] = []
        for provider_sub in theirs:
            found = by_external.get(str(provider_sub.get("id")))
            if found is not None:
                pairs.append((provider_sub, found, MatchedBy.EXTERNAL_ID))
            elif not _ended_at_provider(provider_sub):
                left.append(provider_sub)  # an ended one seatflow never knew is no difference
        matched = {s.id for _, s, _ in pairs}
        ours_left: dict[str, list[Subscription]] = {}
        for subscription in self.ours:
            key = self._key(subscription)
            if subscription.id not in matched and subscription.status in repository.NOT_CANCELLED and key:
                ours_left.setdefault(key, []).append(subscription)
        theirs_left: dict[str, list[dict[str, Any]]] = {}
        for provider_sub in left:
            theirs_left.setdefault(offer_key(provider_sub.get("offerId")) or "", []).append(provider_sub)
        unknown: list[dict[str, Any]] = []
        for key, group in theirs_left.items():
            candidates = ours_left.get(key, [])
            if key and len(group) == 1 and len(candidates) == 1:  # one on each side: the same subscription
                pairs.append((group[0], candidates[0], MatchedBy.PRODUCT))
                matched.add(candidates[0].id)
            else:
                unknown.extend(group)
        items = [item for pair in pairs if (item := self._pair(*pair)) is not None]
        unknown_ids = {id(provider_sub) for provider_sub in unknown}
        items.extend(self._unknown(provider_sub) for provider_sub in theirs if id(provider_sub) in unknown_ids)
        items.extend(self._missing(s) for s in self.ours if s.id not in matched and self._missing_counts(s))
        return items

    def _missing_counts(self, subscription: Subscription) -> bool:
        if subscription.status not in repository.NOT_CANCELLED:
            return False
        # Without a provider id and with its order in flight, it has not been placed or completed yet.
        return bool(subscription.external_id) or subscription.id not in self.in_flight

    def _pair(self, provider_sub: dict[str, Any], subscription: Subscription, matched_by: MatchedBy) -> Item | None:
        external_id = str(provider_sub.get("id"))
        quantity = int(provider_sub.get("quantity") or 0)
        status = _status_of(provider_sub)
        product = self.products.get(subscription.product_id)
        live_here = subscription.status in repository.NOT_CANCELLED
        child_sum = self.children.get(subscription.id)
        base: dict[str, Any] = {
            "customer_id": self.customer.id,
            "tenant_id": self.tenant,
            "subscription_id": subscription.id,
            "external_id": external_id,
            "offer_id": product.offer_id if product else None,
            "product_name": product.name if product else None,
            "provider_quantity": quantity,
            "seatflow_quantity": subscription.quantity if live_here else 0,
            "children_quantity": child_sum,
            "provider_status": status,
            "matched_by": matched_by,
            "product_id": subscription.product_id,
        }
        pending = subscription.id in self.in_flight
        if status in PROVIDER_ENDED:
            if not live_here:
                return None  # ended on both sides
            ours = f"seatflow still has {subscription.quantity} {subscription.status.value}"
            return Item(
                Classification.MISSING_AT_PROVIDER,
                f"Partner Center shows it deleted (cancelled there), while {ours}: cancel it in seatflow too."
                if status == "deleted"
                else f"Partner Center shows it {status} (its term ended without a renewal), while {ours}: it can no "
                "longer be changed there.",
                only_fixes=(),
                **base,
            )
        if not live_here:
            ended = subscription.status.value
            if pending:
                return Item(
                    Classification.PROVISIONING_PENDING,
                    f"seatflow {ended} it; the change is still on its way to Partner Center, which has {quantity} "
                    f"{status}.",
                    **base,
                )
            expired_at = subscription.expired_at
            recent = expired_at is not None and self.now - expired_at <= PROVIDER_EXPIRY_DELAY
            if subscription.status is SubscriptionStatus.EXPIRED and recent:
                return Item(
                    Classification.PROVISIONING_PENDING,
                    f"seatflow let it expire at the end of its term; Partner Center takes up to 24 hours to expire "
                    f"it and still has {quantity} {status}.",
                    **base,
                )
            return Item(
                Classification.CHANGED_AT_PROVIDER,
                f"Partner Center has {quantity} {status}, while seatflow shows it {ended}: Microsoft bills it and "
                "seatflow does not.",
                only_fixes=(),
                **base,
            )
        their_key, our_key = offer_key(provider_sub.get("offerId")), self._key(subscription)
        if matched_by is MatchedBy.PRODUCT:
            recorded = (
                f"seatflow records {subscription.external_id}" if subscription.external_id else "seatflow has no id"
            )
            found = (
                f"Partner Center's {provider_sub.get('offerName') or provider_sub.get('offerId')} {external_id} "
                f"({quantity}) matches this subscription by product ({their_key}); {recorded} for it."
            )
            if pending:
                return Item(
                    Classification.PROVISIONING_PENDING,
                    f"{found} Its changes are still being provisioned.",
                    **base,
                )
            return Item(
                Classification.CHANGED_AT_PROVIDER,
                f"{found} seatflow has {subscription.quantity}: adopting takes the provider's id and quantity.",
                only_fixes=("adopt",),
                **base,
            )
        if their_key and our_key and their_key != our_key:
            offered = provider_sub.get("offerName") or provider_sub.get("offerId")
            return Item(
                Classification.PROVISIONING_PENDING if pending else Classification.CHANGED_AT_PROVIDER,
                f"Partner Center has it as {offered} ({provider_sub.get('offerId')}), seatflow as "
                f"{product.name if product else 'another product'} ({product.offer_id if product else '?'})"
                + (": changes are still being provisioned." if pending else "."),
                only_fixes=None if pending else (),
                **base,
            )
        if quantity != subscription.quantity:
            if pending:
                return Item(
                    Classification.PROVISIONING_PENDING,
                    f"The provider has {quantity}, seatflow {subscription.quantity}: changes are still being "
                    "provisioned.",
                    **base,
                )
            return Item(
                Classification.CHANGED_AT_PROVIDER,
                f"The provider has {quantity}, seatflow {subscription.quantity}, with nothing in flight: it "
                "was changed at the provider.",
                **base,
            )
        if child_sum is not None and child_sum != subscription.quantity:
            return Item(
                Classification.CHILDREN_DIFFER,
                f"The provider and the parent have {quantity}; its linked children add up to {child_sum}.",
                **base,
            )
        return None

    def _unknown(self, provider_sub: dict[str, Any]) -> Item:
        quantity = int(provider_sub.get("quantity") or 0)
        offer = provider_sub.get("offerId")
        product = self.catalog.get(offer_key(offer) or "")
        name = provider_sub.get("offerName") or offer
        detail = f"{name} ({quantity}) at the provider is mapped to no seatflow subscription."
        needs_parent = bool(
            product is not None and product.kind is ProductKind.ADDON and not provider_sub.get("parentSubscriptionId")
        )
        if product is None:
            detail += " Its offer is in no product of seatflow's catalog: add the product before importing it."
        elif needs_parent:
            detail += (
                " It is an add-on, and Partner Center names no parent for a new-commerce add-on: choose its "
                "seatflow parent when you import it."
            )
        return Item(
            Classification.UNKNOWN_TO_SEATFLOW,
            detail,
            customer_id=self.customer.id,
            tenant_id=self.tenant,
            external_id=str(provider_sub.get("id")),
            offer_id=offer,
            product_name=product.name if product else provider_sub.get("offerName"),
            provider_quantity=quantity,
            provider_status=_status_of(provider_sub),
            product_id=product.id if product else None,
            needs_parent=needs_parent,
        )

    def _missing(self, subscription: Subscription) -> Item:
        product = self.products.get(subscription.product_id)
        return Item(
            Classification.MISSING_AT_PROVIDER,
            f"seatflow has {subscription.quantity} of {product.name if product else 'a product'}; the provider "
            + ("holds no such subscription." if subscription.external_id else "never got its order."),
            customer_id=self.customer.id,
            tenant_id=self.tenant,
            subscription_id=subscription.id,
            external_id=subscription.external_id,
            offer_id=product.offer_id if product else None,
            product_name=product.name if product else None,
            seatflow_quantity=subscription.quantity,
            children_quantity=self.children.get(subscription.id),
            product_id=subscription.product_id,
        )


# --- fixes -----------------------------------------------------------------------------------------------


def _sync_actor(actor: Actor) -> Actor:
    return Actor(ChangeOrigin.PROVIDER_SYNC, f"{actor.name} ({PROVIDER_SYNC})")


def adopt(
    session: Session,
    *,
    subscription_id: uuid.UUID,
    provider_quantity: int,
    child_id: uuid.UUID | None,
    actor: Actor,
    today: date,
    now: datetime,
    external_id: str | None = None,
) -> list[LicenseChange]:
    """Take the provider's quantity as true: the parent gets it, and the chosen linked child takes whatever
    makes the children add up to it, so parent = sum of children = provider. Both changes are recorded with
    origin ``provider_sync`` and are provisioned already (the provider holds them). ``external_id`` (a provider
    subscription paired with this one by product, see ``adopt_source``) becomes its provider id."""
    parent = lock(session, subscription_id)
    if provider_quantity < 0:
        raise ValidationFailed("A provider quantity is never negative.", code="invalid_quantity")
    remapped = bool(external_id) and external_id != parent.external_id
    if remapped:
        _check_unmapped(session, str(external_id))
        parent.external_id = external_id
    children = repository.linked_children(session, parent.id)
    changes: list[LicenseChange] = []
    sync = _sync_actor(actor)
    if children:
        if child_id is None:
            raise ValidationFailed(
                "This subscription has linked children: choose the child that takes the difference.",
                code="child_required",
                linked_children=[str(c.id) for c in children],
            )
        child = next((c for c in children if c.id == child_id), None)
        if child is None:
            raise ValidationFailed("That subscription is not a live linked child of this one.", code="invalid_child")
        child = lock(session, child.id)
        difference = provider_quantity - sum(c.quantity for c in children)
        if child.quantity + difference < 1:
            raise Conflict(
                f"{child.quantity} {difference:+d} leaves the child below 1: choose another child, or cancel it.",
                code="child_quantity_too_low",
            )
        if difference:
            before, child.quantity = child.quantity, child.quantity + difference
            changes.append(
                record_change(
                    session,
                    subscription=child,
                    kind=ChangeKind.QUANTITY,
                    quantity_before=before,
                    quantity_after=child.quantity,
                    effective_date=today,
                    actor=sync,
                    now=now,
                    reason=f"Adopted the provider's quantity {provider_quantity} of the parent.",
                    provisioning_status=ProvisioningStatus.PROVISIONED,
                )
            )
    if parent.quantity != provider_quantity:
        before, parent.quantity = parent.quantity, provider_quantity
        changes.append(
            record_change(
                session,
                subscription=parent,
                kind=ChangeKind.QUANTITY,
                quantity_before=before,
                quantity_after=provider_quantity,
                effective_date=today,
                actor=sync,
                now=now,
                reason="Adopted the provider's quantity.",
                caused_by=changes[0] if changes else None,
                provisioning_status=ProvisioningStatus.PROVISIONED,
            )
        )
    for change in changes:
        change.provisioned_at = now
    if not changes and not remapped:
        raise Conflict("seatflow already holds the provider's quantity; there is nothing to adopt.", code="no_change")
    session.flush()
    return changes


def _check_unmapped(session: Session, external_id: str) -> None:
    if session.execute(select(Subscription.id).where(Subscription.external_id == external_id)).first():
        raise Conflict(f"The provider subscription {external_id} is mapped already.", code="already_mapped")


@dataclass(frozen=True)
class AdoptSource:
    """The provider subscription an adopt reads its quantity from, known before the provider is called."""

    tenant: str
    external_id: str
    product_key: str | None
    remap: bool
    """True when it is not the subscription's provider id yet (a pair found by product)."""

    @property
    def new_external_id(self) -> str | None:
        return self.external_id if self.remap else None


def adopt_source(session: Session, subscription: Subscription, external_id: str | None = None) -> AdoptSource:
    """Read before the provider is called: the tenant, and which provider subscription to read (the one
    ``external_id`` names, for a pair the report found by product, else the subscription's own)."""
    external_id = (external_id or "").strip() or None
    chosen = external_id or subscription.external_id
    if not chosen:
        raise NotReconcilable(
            "The subscription has no provider subscription to read: name the provider's one (external_id)."
        )
    remap = chosen != subscription.external_id
    if remap:
        _check_unmapped(session, chosen)
    product = session.get(Product, subscription.product_id)
    return AdoptSource(
        tenant=tenant_of_subscription(session, subscription),
        external_id=chosen,
        product_key=offer_key(product.offer_id) if product else None,
        remap=remap,
    )


def read_adopt_quantity(client: PartnerCenterClient, source: AdoptSource) -> int:
    """The provider's quantity now (a fix never trusts a report that may be stale). An ended subscription has
    none to adopt; one read by another id must be of the same product (``productId:skuId``)."""
    found = client.get_subscription(source.tenant, source.external_id)
    status = _status_of(found)
    if status in PROVIDER_ENDED:
        raise NotReconcilable(
            f"Partner Center shows {source.external_id} {status}: it is no longer in use, so there is no quantity "
            "to adopt.",
            code="provider_subscription_ended",
        )
    if source.remap and offer_key(found.get("offerId")) != source.product_key:
        raise Conflict(
            f"The provider subscription {source.external_id} is {found.get('offerName') or found.get('offerId')} "
            f"({found.get('offerId')}), not the product of this subscription.",
            code="product_mismatch",
        )
    return int(found.get("quantity") or 0)


def push(session: Session, *, subscription_id: uuid.UUID, actor: Actor, today: date, now: datetime) -> LicenseChange:
    """Send seatflow's quantity to the provider again: a change the worker carries out (the quantity it
    records does not move, so billing is unaffected)."""
    subscription = lock(session, subscription_id)
    if subscription.status not in repository.NOT_CANCELLED:
        raise NotReconcilable("A cancelled subscription is not pushed.")
    account = session.get(ProviderAccount, subscription.provider_account_id)
    if account is None or account.kind is not ProviderKind.PARTNER_CENTER:
        raise NotReconcilable("Only a Partner Center subscription can be pushed to the provider.")
    kind = ChangeKind.QUANTITY if subscription.external_id else ChangeKind.CREATE
    change = record_change(
        session,
        subscription=subscription,
        kind=kind,
        quantity_before=subscription.quantity if subscription.external_id else 0,
        quantity_after=subscription.quantity,
        effective_date=today,
        actor=actor,
        now=now,
        reason="Push seatflow's quantity to the provider (reconciliation).",
    )
    if kind is ChangeKind.CREATE:
        # It was never bought (or is gone at the provider): order it again; the old create stays in the log.
        subscription.external_id = None
    session.flush()
    return change


def import_subscription(
    session: Session,
    *,
    account: ProviderAccount,
    provider_subscription: dict[str, Any],
    contract_ref: str,
    actor: Actor,
    today: date,
    now: datetime,
    unit_price: Any = None,
    parent_ref: str | None = None,
    tenant_id: str | None = None,
) -> Subscription:
    """A subscription found only at the provider becomes a seatflow subscription on ``contract_ref``, with the
    product of its offer (matched by ``productId:skuId``), its quantity and its provider id; its create change is
    provisioned already.

    An add-on goes under a parent checked as any add-on's (same tenant, a possible parent product, a live chain
    up to a license): the one Partner Center names (``parentSubscriptionId``, legacy offers), else, as a
    new-commerce add-on has none there, the seatflow subscription the operator chose (``parent_ref``).
    ``tenant_id`` is the tenant it was read from: the contract must provision on it."""
    status = _status_of(provider_subscription)
    external_id = str(provider_subscription["id"])
    if status in PROVIDER_ENDED:
        raise NotReconcilable(
            f"Partner Center shows {external_id} {status}: an ended subscription is not imported.",
            code="provider_subscription_ended",
        )
    offer_id = str(provider_subscription.get("offerId") or "")
    product = product_for_offer(session, account.id, offer_id)
    if product is None:
        raise NotFound(f"No product of {account.name} has the offer {offer_id!r}: add it to the catalog first.")
    _check_unmapped(session, external_id)
    contract = require_contract(session, contract_ref)
    if tenant_id is not None and tenant_for_contract(session, contract) != tenant_id.strip().lower():
        raise ValidationFailed(
            f"The contract {contract.name} provisions on another tenant than {tenant_id}: choose a contract of the "
            "customer the subscription belongs to.",
            code="tenant_mismatch",
        )
    parent = _import_parent(session, product, contract, provider_subscription, parent_ref)
    quantity = int(provider_subscription.get("quantity") or 0)
    if quantity < 1:
        raise ValidationFailed("The provider subscription has no seats.", code="invalid_quantity")
    start = _day(provider_subscription.get("effectiveStartDate")) or today
    term, billing_plan = _provider_plan(product, provider_subscription)
    term_start, term_end = term_for(start, term.months)
    price = unit_price if unit_price is not None else product.list_price
    if price is None:
        raise ValidationFailed(f"{product.name} has no list price: give a unit_price.", code="price_required")
    subscription = Subscription(
        contract_id=contract.id,
        product_id=product.id,
        provider_account_id=account.id,
        quantity=quantity,
        status=SubscriptionStatus.SUSPENDED if status == "suspended" else SubscriptionStatus.ACTIVE,
        start_date=start,
        term_start=term_start,
        term_end=_day(provider_subscription.get("commitmentEndDate")) or term_end,
        term=term,
        billing_plan=billing_plan,
        auto_renew=bool(provider_subscription.get("autoRenewEnabled", True)),
        currency=contract.currency,
        unit_price=price,
        cost_price=product.cost_price,
        billable=contract.billable,
        allow_end_user_modification=False,
        reduction_behavior=product.reduction_behavior,
        reduction_window_days=product.reduction_window_days,
        external_id=external_id,
        parent_subscription_id=parent.id if parent else None,
    )
    session.add(subscription)
    session.flush()
    change = record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.CREATE,
        quantity_before=0,
        quantity_after=quantity,
        effective_date=start,
        actor=_sync_actor(actor),
        now=now,
        reason=f"Imported from the provider ({external_id}).",
        provisioning_status=ProvisioningStatus.PROVISIONED,
    )
    change.provisioned_at = now
    return subscription


def _import_parent(
    session: Session,
    product: Product,
    contract: BillingContract,
    provider_subscription: dict[str, Any],
    parent_ref: str | None,
) -> Subscription | None:
    parent_ref = (parent_ref or "").strip() or None
    parent_external = provider_subscription.get("parentSubscriptionId")
    if parent_external:  # a legacy add-on: Partner Center names its parent
        named = session.execute(
            select(Subscription).where(Subscription.external_id == str(parent_external))
        ).scalar_one_or_none()
        if named is None:
            raise Conflict(
                "Its parent subscription is not in seatflow: import the parent first.", code="parent_unknown"
            )
        if parent_ref and parse_id(parent_ref) != named.id:
            raise Conflict(
                f"Partner Center names its parent ({parent_external}), which is seatflow's {named.id}, not the "
                "subscription chosen.",
                code="parent_mismatch",
            )
        if product.kind is not ProductKind.ADDON:
            return named
        parent_ref = str(named.id)
    elif product.kind is ProductKind.ADDON and parent_ref is None:
        head = session.execute(
            select(CustomerAccount).where(CustomerAccount.tenant_id == tenant_for_contract(session, contract))
        ).scalar_one_or_none() or session.get(CustomerAccount, contract.customer_id)
        candidates = possible_parents(session, product, head) if head else []
        names = ", ".join(p.name for p in product.parents) or "its parent product"
        raise ValidationFailed(
            f"{product.name} is an add-on, and Partner Center names no parent for a new-commerce add-on: choose "
            f"the seatflow subscription it goes under (parent_subscription_id), a {names} subscription on the "
            "same tenant.",
            code="parent_required",
            possible_parents=[str(c.id) for c in candidates],
        )
    return resolve_parent(session, product=product, parent_ref=parent_ref, contract=contract)


def _provider_plan(product: Product, provider_subscription: dict[str, Any]) -> tuple[Term, BillingPlan]:
    """The term and billing plan Partner Center says the subscription has, else the product's default."""
    default_term, default_plan_ = default_plan(product)
    try:
        term = Term(str(provider_subscription.get("termDuration") or default_term.value).upper())
        plan = BillingPlan(str(provider_subscription.get("billingCycle") or default_plan_.value).lower())
    except ValueError:
        return default_term, default_plan_
    return term, plan


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError:
        return None


# --- the change-log check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogMismatch:
    subscription_id: uuid.UUID
    quantity: int
    change_log_quantity: int


def change_log_check(session: Session) -> list[LogMismatch]:
    """Subscriptions whose quantity differs from what their change log adds up to (SPEC §9)."""
    delta = func.coalesce(func.sum(LicenseChange.quantity_after - LicenseChange.quantity_before), 0)
    logged = (
        select(LicenseChange.subscription_id, delta.label("logged"))
        .where(LicenseChange.kind.in_((ChangeKind.CREATE, ChangeKind.QUANTITY, ChangeKind.CANCEL, ChangeKind.EXPIRE)))
        .group_by(LicenseChange.subscription_id)
        .subquery()
    )
    stmt = select(Subscription.id, Subscription.quantity, Subscription.status, logged.c.logged).join(
        logged, logged.c.subscription_id == Subscription.id, isouter=True
    )
    found = []
    for subscription_id, quantity, status, total in session.execute(stmt):
        expected = 0 if status in ENDED_STATUSES else quantity
        if int(total or 0) != expected:
            found.append(LogMismatch(subscription_id, expected, int(total or 0)))
    return found


def tenant_of_subscription(session: Session, subscription: Subscription) -> str:
    contract = session.get(BillingContract, subscription.contract_id)
    customer = session.get(CustomerAccount, contract.customer_id) if contract else None
    tenant = tenant_of(session, customer) if customer else None
    if tenant is None:
        raise NotReconcilable("The subscription's customer is mapped to no tenant.")
    return tenant


def provider_subscription(client: PartnerCenterClient, tenant: str, external_id: str) -> dict[str, Any]:
    return client.get_subscription(tenant, external_id)
