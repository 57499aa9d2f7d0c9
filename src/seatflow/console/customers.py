"""Customers (the account tree, searchable, with a CSV), a customer's contract tree with each linked parent's
quantity beside its children's sum, and the routes of the console's write forms for customers, contacts,
contracts and subscriptions (their own modules), mounted here ahead of the pages whose paths they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog.models import Product, ProviderAccount
from seatflow.console import (
    contract_writes,
    customer_writes,
    listing,
    queries,
    subscription_actions,
    subscription_lists,
    subscription_view,
    subscription_writes,
)
from seatflow.console.forms import notice_of, shown
from seatflow.console.trees import Drift, Node, flatten, forest
from seatflow.console.web import PREFIX, ConsoleDep, plain, render
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import SetupProblem
from seatflow.customers.models import AccountStatus, CustomerAccount
from seatflow.customers.service import ancestors, descendant_ids, list_contacts, require_customer
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.linking import setup_check
from seatflow.subscriptions.models import LicenseChange, Subscription

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# The forms' fixed paths (/customers/new) before the pages' parametrised ones (/customers/{id}).
for _module in (
    customer_writes,
    contract_writes,
    subscription_writes,
    subscription_actions,
    subscription_lists,
    subscription_view,
):
    router.include_router(_module.router)
MAX_ACCOUNTS = 1000


def _status(value: str) -> AccountStatus | None:
    return AccountStatus(value) if value in AccountStatus.__members__.values() else None


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, console: ConsoleDep, q: str = "", status: str = "") -> Response:
    search = plain(q).strip()[:200]
    chosen = _status(status)
    found = listing.customers(console.db, search=search or None, status=chosen, limit=MAX_ACCOUNTS + 1)
    truncated = len(found) > MAX_ACCOUNTS
    found = found[:MAX_ACCOUNTS]
    # A search shows its matches flat; the whole list shows the tree (organisations above their locations).
    filtered = bool(search or chosen)
    tree = [Node(c) for c in found] if filtered else forest(found, lambda c: c.id, lambda c: c.parent_customer_id)
    page = render(
        request,
        "customers.html",
        console=console,
        active="customers",
        tree=tree,
        q=search,
        chosen_status=chosen.value if chosen else "",
        statuses=[s.value for s in AccountStatus],
        filtered=filtered,
        truncated=truncated,
        limit=MAX_ACCOUNTS,
        notice=notice_of(request, console),
    )
    return shown(page, request)


@router.get("/customers.csv")
def customers_csv(console: ConsoleDep, q: str = "", status: str = "") -> Response:
    """Every account of the filters, as the list finds them."""
    search = plain(q).strip()[:200]
    found = listing.customers(console.db, search=search or None, status=_status(status), limit=listing.CSV_MAX_ROWS)
    return listing.csv_response("customers.csv", listing.CUSTOMER_HEADER, listing.customer_rows(console.db, found))


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
        has_children = any(v.contract.parent_contract_id == view.contract.id for v in views.values())
        if has_children or any(row.children for row in view.rows):
            view.problems = setup_check(console.db, view.contract)
        parent_id = view.contract.parent_contract_id
        if parent_id is not None and parent_id not in views:
            view.outside_parent = console.db.get(BillingContract, parent_id)
    tree = forest(list(views.values()), lambda v: v.contract.id, lambda v: v.contract.parent_contract_id)
    page = render(
        request,
        "customer.html",
        console=console,
        active="customers",
        customer=customer,
        ancestors=list(reversed(ancestors(console.db, customer))),
        child_accounts=sorted((a for a in accounts.values() if a.parent_customer_id == customer.id), key=_by_name),
        contacts=len(list_contacts(console.db, customer)),
        tree=tree,
        notice=notice_of(request, console),
    )
    return shown(page, request)


def _by_name(account: CustomerAccount) -> str:
    return account.name
