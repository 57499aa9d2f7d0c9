"""The dashboard and the catalog: products, the possible-parents graph, bundles (read only in the console)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import BundleItem, CatalogStatus, Product, ProductKind
from seatflow.catalog.rules import is_sellable
from seatflow.console import business, margin, queries
from seatflow.console.trees import Node, descendants_graph, forest
from seatflow.console.web import PREFIX, ConsoleDep, now_of, plain, render
from seatflow.ids import parse_id
from seatflow.margin.service import cents
from seatflow.subscriptions import desk
from seatflow.subscriptions.models import ProvisioningStatus

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PRODUCTS_PER_PAGE = 100


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, console: ConsoleDep) -> Response:
    counts = queries.provisioning_counts(console.db)
    today = now_of(request).date()
    runs = queries.recent_runs(console.db, limit=1)
    return render(
        request,
        "dashboard.html",
        console=console,
        active="dashboard",
        awaiting=counts[ProvisioningStatus.AWAITING],
        failed=counts[ProvisioningStatus.FAILED],
        notifications=queries.open_notification_count(console.db),
        last_run=runs[0] if runs else None,
        renewals={days: desk.count_upcoming(console.db, today=today, days=days) for days in desk.WINDOWS},
        money=margin.headline(console.db, today),
        cents=cents,
        business=business.business(console.db, now_of(request)),
        now=now_of(request),
    )


def _kind(value: str) -> ProductKind | None:
    return ProductKind(value) if value in ProductKind.__members__.values() else None


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request, console: ConsoleDep, q: str = "", account: str = "", kind: str = "", after: str = ""
) -> Response:
    accounts = queries.accounts_by_id(console.db)
    account_id = parse_id(account)
    filters = catalog_repository.ProductFilters(
        provider_account_id=account_id if account_id in accounts else None,
        kind=_kind(kind),
        search=plain(q).strip()[:200] or None,
    )
    products, next_cursor = catalog_repository.list_products(
        console.db, filters, cursor=after or None, limit=PRODUCTS_PER_PAGE
    )
    sellable = {p.id: is_sellable(p.status, p.kind, len(p.parents)) for p in products}
    return render(
        request,
        "catalog.html",
        console=console,
        active="catalog",
        accounts=accounts,
        products=products,
        sellable=sellable,
        next_cursor=next_cursor,
        filters={"q": q, "account": account, "kind": kind},
        kinds=[k.value for k in ProductKind],
        graph=_parent_graph(console),
        bundles=[(b, _item_tree(b.items)) for b in catalog_repository.all_bundles(console.db)],
        retired=CatalogStatus.RETIRED,
    )


def _parent_graph(console: ConsoleDep) -> list[Node[Product]]:
    """Every product that is a possible parent or has one, from the top-level licenses down to add-ons of
    add-ons; an add-on with several possible parents shows under each of them."""
    edges = queries.parent_edges(console.db)
    products = queries.products_by_id(console.db, {i for edge in edges for i in edge})
    children: dict[uuid.UUID, list[Product]] = defaultdict(list)
    has_parent: set[uuid.UUID] = set()
    for child, parent in edges:
        children[parent].append(products[child])
        has_parent.add(child)
    for below in children.values():
        below.sort(key=lambda p: (p.name, p.product_code))
    roots = sorted((p for p in products.values() if p.id not in has_parent), key=lambda p: (p.name, p.product_code))
    return descendants_graph(roots, lambda p: children.get(p.id, []), lambda p: p.id)


def _item_tree(items: list[BundleItem]) -> list[Node[BundleItem]]:
    return forest(items, lambda i: i.position, lambda i: i.parent_position)
