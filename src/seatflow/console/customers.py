"""Customers (the account tree), a customer's contract tree with each linked parent's quantity beside its
children's sum, and a subscription with its change timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product, ProviderAccount
from seatflow.console import queries
from seatflow.console.trees import Drift, Node, flatten, forest
from seatflow.console.web import PREFIX, ConsoleDep, not_found, now_of, plain, render, require_id
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import SetupProblem
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import ancestors, descendant_ids, require_customer
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.batches import refundable_quantities
from seatflow.subscriptions.linking import setup_check
from seatflow.subscriptions.models import LicenseChange, Subscription, SubscriptionStatus

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_ACCOUNTS = 1000


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, console: ConsoleDep, q: str = "") -> Response:
    search = plain(q).strip()[:200]
    found = queries.customers(console.db, search=search or None, limit=MAX_ACCOUNTS + 1)
    truncated = len(found) > MAX_ACCOUNTS
    found = found[:MAX_ACCOUNTS]
    # A search shows its matches flat; the whole list shows the tree (organisations above their locations).
    tree = [Node(c) for c in found] if search else forest(found, lambda c: c.id, lambda c: c.parent_customer_id)
    return render(
        request,
        "customers.html",
        console=console,
        active="customers",
        tree=tree,
        q=search,
        truncated=truncated,
        limit=MAX_ACCOUNTS,
    )


@dataclass(frozen=True)
class SubscriptionRow:
    subscription: Subscription
    product: Product
    account: ProviderAccount
    depth: int
    latest: LicenseChange | None
    children: list[Subscription]
    """Its live linked children (it is a linked parent when there are any)."""

    @property
    def drift(self) -> Drift | None:
        if not self.children:
            return None
        return Drift(self.subscription.quantity, sum(c.quantity for c in self.children))


@dataclass
class ContractView:
    contract: BillingContract
    customer: CustomerAccount
    rows: list[SubscriptionRow] = field(default_factory=list)
    problems: list[SetupProblem] = field(default_factory=list)
    outside_parent: BillingContract | None = None
    """Its parent contract, when that belongs to an account above this one (shown as a link)."""


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(customer_id: str, request: Request, console: ConsoleDep) -> Response:
    customer = require_customer(console.db, customer_id)
    below = descendant_ids(console.db, customer.id)
    accounts = {a.id: a for a in queries.customers_by_id(console.db, {customer.id} | below)}
    contracts = queries.contracts_of(console.db, list(accounts))
    subscriptions = subscriptions_repository.on_contracts(console.db, [c.id for c in contracts])
    products = queries.products_by_id(console.db, {s.product_id for s in subscriptions})
    provider_accounts = queries.accounts_by_id(console.db)
    children = queries.linked_children_by_parent(console.db, [s.id for s in subscriptions])
    views = {c.id: ContractView(c, accounts[c.customer_id]) for c in contracts}
    for view in views.values():
        mine = [s for s in subscriptions if s.contract_id == view.contract.id]
        addons = forest(mine, lambda s: s.id, lambda s: s.parent_subscription_id)
        for subscription, depth in flatten(addons):
            view.rows.append(
                SubscriptionRow(
                    subscription=subscription,
                    product=products[subscription.product_id],
                    account=provider_accounts[subscription.provider_account_id],
                    depth=depth,
                    latest=queries.latest_change(console.db, subscription.id),
                    children=children.get(subscription.id, []),
                )
            )
        if any(row.children for row in view.rows):
            view.problems = setup_check(console.db, view.contract)
        parent_id = view.contract.parent_contract_id
        if parent_id is not None and parent_id not in views:
            view.outside_parent = console.db.get(BillingContract, parent_id)
    tree = forest(list(views.values()), lambda v: v.contract.id, lambda v: v.contract.parent_contract_id)
    return render(
        request,
        "customer.html",
        console=console,
        active="customers",
        customer=customer,
        ancestors=list(reversed(ancestors(console.db, customer))),
        child_accounts=sorted((a for a in accounts.values() if a.parent_customer_id == customer.id), key=_by_name),
        tree=tree,
    )


def _by_name(account: CustomerAccount) -> str:
    return account.name


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def subscription_page(subscription_id: str, request: Request, console: ConsoleDep) -> Response:
    found = subscriptions_repository.get(console.db, require_id(subscription_id, "subscription"))
    if found is None:
        raise not_found("subscription")
    subscription = found
    db = console.db
    addons = subscriptions_repository.addons_of(db, subscription.id, list(SubscriptionStatus))
    linked_children = list(subscriptions_repository.linked_children(db, subscription.id))
    changes = subscriptions_repository.changes_of(db, subscription.id)
    causes = queries.changes_by_id(db, {c.caused_by_change_id for c in changes if c.caused_by_change_id})
    caused = queries.changes_caused_by(db, [c.id for c in changes])
    related = {subscription.id, *(a.id for a in addons), *(c.id for c in linked_children)}
    related |= {i for i in (subscription.parent_subscription_id, subscription.linked_subscription_id) if i}
    related |= {c.subscription_id for c in causes.values()}
    related |= {c.subscription_id for effects in caused.values() for c in effects}
    names = queries.around(db, related)
    drift = Drift(subscription.quantity, sum(c.quantity for c in linked_children)) if linked_children else None
    return render(
        request,
        "subscription.html",
        console=console,
        active="customers",
        s=subscription,
        here=names[subscription.id],
        names=names,
        addons=addons,
        linked_children=linked_children,
        drift=drift,
        scheduled=subscriptions_repository.scheduled_of(db, subscription.id),
        refundable=refundable_quantities(db, [subscription], on=now_of(request).date())[subscription.id],
        changes=changes,
        causes=causes,
        caused=caused,
        bundle_name=_bundle_name(console, subscription.bundle_id),
    )


def _bundle_name(console: ConsoleDep, bundle_id: uuid.UUID | None) -> str | None:
    bundle = catalog_repository.get_bundle(console.db, bundle_id) if bundle_id else None
    return bundle.name if bundle else None
