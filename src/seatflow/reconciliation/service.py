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

Fixes: adopt the provider's quantity (the difference assigned to a chosen linked child, recorded with origin
``provider_sync``), push seatflow's quantity to the provider (a change the worker sends), import an unknown
subscription onto a chosen contract.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product, ProviderAccount, ProviderKind, Term
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.contracts.models import BillingContract
from seatflow.contracts.service import require_contract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import descendant_ids, tenant_of
from seatflow.errors import Conflict, InvalidState, NotFound, ValidationFailed
from seatflow.partner_center.client import PartnerCenterClient
from seatflow.subscriptions import repository
from seatflow.subscriptions.changes import lock, record_change
from seatflow.subscriptions.models import (
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

    @property
    def fixes(self) -> tuple[str, ...]:
        return FIXES[self.classification]


@dataclass
class Report:
    provider_account_id: uuid.UUID
    checked_at: datetime
    tenants: int = 0
    provider_subscriptions: int = 0
    items: list[Item] = field(default_factory=list)


def client_for(account: ProviderAccount) -> PartnerCenterClient:
    if account.kind is not ProviderKind.PARTNER_CENTER:
        raise NotReconcilable(f"{account.name} is a {account.kind.value} account: only Partner Center is read.")
    return PartnerCenterClient(PartnerCenterSettings.model_validate(account.settings))


def _mapped_tenants(session: Session, account: ProviderAccount) -> dict[str, CustomerAccount]:
    """Every customer with a tenant id (the provider's customer id) that has subscriptions on this account,
    or none yet: the tenant is seatflow's either way."""
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
    tenants = _mapped_tenants(session, account)
    provider_customers = client.list_customers()
    for at_provider in provider_customers:
        # seatflow stores tenant ids lower-case; the provider may spell a GUID in capitals.
        tenant = str(at_provider.get("id") or at_provider.get("companyProfile", {}).get("tenantId") or "").lower()
        if tenant and tenant not in tenants:
            name = at_provider.get("companyProfile", {}).get("companyName") or tenant
            report.items.append(
                Item(
                    Classification.UNMAPPED_TENANT,
                    f"{name} ({tenant}) is a customer at the provider, mapped to no seatflow account.",
                    tenant_id=tenant,
                )
            )
    known_at_provider = {str(c.get("id")).lower() for c in provider_customers}
    for tenant, customer in sorted(tenants.items()):
        ours = _ours(session, account, customer)
        if tenant not in known_at_provider:
            if ours:
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
        theirs = [s for s in client.list_subscriptions(tenant) if s.get("status") not in ("deleted", "expired")]
        report.provider_subscriptions += len(theirs)
        report.items.extend(_compare(session, account, customer, tenant, ours, theirs))
    return report


def _ours(session: Session, account: ProviderAccount, customer: CustomerAccount) -> list[Subscription]:
    """The live subscriptions on this provider account of the customer and of its descendants that share its
    tenant (locations without a tenant of their own provision through the head office's)."""
    ids = {customer.id} | descendant_ids(session, customer.id)
    stmt = (
        select(Subscription)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .where(
            BillingContract.customer_id.in_(ids),
            Subscription.provider_account_id == account.id,
            Subscription.status.in_(repository.NOT_CANCELLED),
        )
        .order_by(Subscription.id)
    )
    return list(session.execute(stmt).scalars())


def _compare(
    session: Session,
    account: ProviderAccount,
    customer: CustomerAccount,
    tenant: str,
    ours: list[Subscription],
    theirs: list[dict[str, Any]],
) -> list[Item]:
    items: list[Item] = []
    by_external = {s.external_id: s for s in ours if s.external_id}
    children = _children_sums(session, [s.id for s in ours])
    in_flight = _in_flight(session, [s.id for s in ours])
    products = {
        p.id: p for p in session.execute(select(Product).where(Product.id.in_({s.product_id for s in ours}))).scalars()
    }
    seen: set[str] = set()
    for provider_sub in theirs:
        external_id = str(provider_sub.get("id"))
        quantity = int(provider_sub.get("quantity") or 0)
        subscription = by_external.get(external_id)
        if subscription is None:
            items.append(
                Item(
                    Classification.UNKNOWN_TO_SEATFLOW,
                    f"{provider_sub.get('offerName') or provider_sub.get('offerId')} ({quantity}) at the provider "
                    "is mapped to no seatflow subscription.",
                    customer_id=customer.id,
                    tenant_id=tenant,
                    external_id=external_id,
                    offer_id=provider_sub.get("offerId"),
                    product_name=provider_sub.get("offerName"),
                    provider_quantity=quantity,
                )
            )
            continue
        seen.add(external_id)
        product = products.get(subscription.product_id)
        child_sum = children.get(subscription.id)
        base: dict[str, Any] = {
            "customer_id": customer.id,
            "tenant_id": tenant,
            "subscription_id": subscription.id,
            "external_id": external_id,
            "offer_id": product.offer_id if product else None,
            "product_name": product.name if product else None,
            "provider_quantity": quantity,
            "seatflow_quantity": subscription.quantity,
            "children_quantity": child_sum,
        }
        if quantity != subscription.quantity:
            if subscription.id in in_flight:
                items.append(
                    Item(
                        Classification.PROVISIONING_PENDING,
                        f"The provider has {quantity}, seatflow {subscription.quantity}: changes are still being "
                        "provisioned.",
                        **base,
                    )
                )
            else:
                items.append(
                    Item(
                        Classification.CHANGED_AT_PROVIDER,
                        f"The provider has {quantity}, seatflow {subscription.quantity}, with nothing in flight: it "
                        "was changed at the provider.",
                        **base,
                    )
                )
        elif child_sum is not None and child_sum != subscription.quantity:
            items.append(
                Item(
                    Classification.CHILDREN_DIFFER,
                    f"The provider and the parent have {quantity}; its linked children add up to {child_sum}.",
                    **base,
                )
            )
    for subscription in ours:
        if subscription.external_id and subscription.external_id in seen:
            continue
        if subscription.id in in_flight and not subscription.external_id:
            continue  # its order has not been placed or completed yet: nothing to compare
        product = products.get(subscription.product_id)
        items.append(
            Item(
                Classification.MISSING_AT_PROVIDER,
                f"seatflow has {subscription.quantity} of {product.name if product else 'a product'}; the provider "
                + ("holds no such subscription." if subscription.external_id else "never got its order."),
                customer_id=customer.id,
                tenant_id=tenant,
                subscription_id=subscription.id,
                external_id=subscription.external_id,
                offer_id=product.offer_id if product else None,
                product_name=product.name if product else None,
                seatflow_quantity=subscription.quantity,
                children_quantity=children.get(subscription.id),
            )
        )
    return items


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
) -> list[LicenseChange]:
    """Take the provider's quantity as true: the parent gets it, and the chosen linked child takes whatever
    makes the children add up to it, so parent = sum of children = provider. Both changes are recorded with
    origin ``provider_sync`` and are provisioned already (the provider holds them)."""
    parent = lock(session, subscription_id)
    if provider_quantity < 0:
        raise ValidationFailed("A provider quantity is never negative.", code="invalid_quantity")
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
    if not changes:
        raise Conflict("seatflow already holds the provider's quantity; there is nothing to adopt.", code="no_change")
    session.flush()
    return changes


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
) -> Subscription:
    """A subscription found only at the provider becomes a seatflow subscription on ``contract_ref``, with the
    product of its offer, its quantity and its provider id; its create change is provisioned already."""
    offer_id = str(provider_subscription.get("offerId") or "")
    product = catalog_repository.product_by_offer(session, account.id, offer_id)
    if product is None:
        raise NotFound(f"No product of {account.name} has the offer {offer_id!r}: add it to the catalog first.")
    external_id = str(provider_subscription["id"])
    if session.execute(select(Subscription.id).where(Subscription.external_id == external_id)).first():
        raise Conflict(f"The provider subscription {external_id} is mapped already.", code="already_mapped")
    contract = require_contract(session, contract_ref)
    parent = None
    parent_external = provider_subscription.get("parentSubscriptionId")
    if parent_external:
        parent = session.execute(
            select(Subscription).where(Subscription.external_id == parent_external)
        ).scalar_one_or_none()
        if parent is None:
            raise Conflict(
                "Its parent subscription is not in seatflow: import the parent first.", code="parent_unknown"
            )
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
        status=SubscriptionStatus.ACTIVE,
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
        .where(LicenseChange.kind.in_((ChangeKind.CREATE, ChangeKind.QUANTITY, ChangeKind.CANCEL)))
        .group_by(LicenseChange.subscription_id)
        .subquery()
    )
    stmt = select(Subscription.id, Subscription.quantity, Subscription.status, logged.c.logged).join(
        logged, logged.c.subscription_id == Subscription.id, isouter=True
    )
    found = []
    for subscription_id, quantity, status, total in session.execute(stmt):
        expected = 0 if status is SubscriptionStatus.CANCELLED else quantity
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


def provider_quantity(session: Session, client: PartnerCenterClient, subscription: Subscription) -> int:
    """The quantity the provider holds now (read again: a fix never trusts a report that may be stale)."""
    if not subscription.external_id:
        raise NotReconcilable("The subscription has no provider subscription to read.")
    return provider_quantity_of(client, tenant_of_subscription(session, subscription), subscription)


def provider_quantity_of(client: PartnerCenterClient, tenant: str, subscription: Subscription) -> int:
    """As ``provider_quantity``, with the tenant already read, so the caller can end its transaction first."""
    if not subscription.external_id:
        raise NotReconcilable("The subscription has no provider subscription to read.")
    found = client.get_subscription(tenant, subscription.external_id)
    return int(found.get("quantity") or 0)


def provider_subscription(client: PartnerCenterClient, tenant: str, external_id: str) -> dict[str, Any]:
    return client.get_subscription(tenant, external_id)
