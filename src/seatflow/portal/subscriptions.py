"""The contracts a contact sees, each contract's subscriptions, and a subscription's own page (SPEC §10): quantity,
unit price, term, billing plan and monthly cost, the changes and their provisioning, and every change that failed at
the provider with a plain reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from seatflow.catalog.models import Product
from seatflow.customers.models import CustomerAccount
from seatflow.ids import parse_id
from seatflow.portal import scope
from seatflow.portal.costs import Cost
from seatflow.portal.web import PREFIX, Portal, PortalDep, now_of, render
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.batches import refundable_quantities
from seatflow.subscriptions.models import (
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
)
from seatflow.subscriptions.rules import quantity_limits

router = APIRouter(prefix=PREFIX, include_in_schema=False)

HISTORY = 10
"""Changes shown on a subscription's page, newest first."""
FAILED_SHOWN = 5
"""Failed changes shown per subscription (the oldest first: the first one holds up the others)."""


@dataclass(frozen=True)
class Row:
    """A subscription as the portal shows it."""

    subscription: Subscription
    product: Product
    depth: int
    latest: LicenseChange | None
    scheduled: list[ScheduledChange]
    failed: list[LicenseChange]
    """Its changes that failed at the provider and were not sent again."""
    editable: bool

    @property
    def cost(self) -> Cost:
        s = self.subscription
        return Cost(s.quantity, s.unit_price, s.currency, s.billing_plan)

    @property
    def renewal(self) -> date:
        """The day the next term starts (what "at renewal" means)."""
        return self.subscription.term_end + timedelta(days=1)

    @property
    def limits(self) -> tuple[int, int]:
        return quantity_limits(minimum=self.product.min_quantity, maximum=self.product.max_quantity)

    @property
    def awaiting(self) -> bool:
        return self.latest is not None and self.latest.provisioning_status is ProvisioningStatus.AWAITING


def _tree(subscriptions: Sequence[Subscription]) -> Iterator[tuple[Subscription, int]]:
    """Subscriptions with their add-ons under them (depth for indenting)."""
    ids = {s.id for s in subscriptions}
    children: dict[uuid.UUID | None, list[Subscription]] = {}
    for s in subscriptions:
        parent = s.parent_subscription_id if s.parent_subscription_id in ids else None
        children.setdefault(parent, []).append(s)

    def walk(parent: uuid.UUID | None, depth: int) -> Iterator[tuple[Subscription, int]]:
        for s in children.get(parent, []):
            yield s, depth
            yield from walk(s.id, depth + 1)

    return walk(None, 0)


def _failed_changes(portal: Portal, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[LicenseChange]]:
    """Every subscription's failed changes, in one query."""
    found: dict[uuid.UUID, list[LicenseChange]] = {}
    if not ids:
        return found
    rows = portal.db.scalars(
        select(LicenseChange)
        .where(LicenseChange.subscription_id.in_(ids), LicenseChange.provisioning_status == ProvisioningStatus.FAILED)
        .order_by(LicenseChange.created_at, LicenseChange.id)
    )
    for change in rows:
        found.setdefault(change.subscription_id, []).append(change)
    return found


def _latest_change(portal: Portal, subscription_id: uuid.UUID) -> LicenseChange | None:
    return portal.db.execute(
        select(LicenseChange)
        .where(LicenseChange.subscription_id == subscription_id)
        .order_by(LicenseChange.created_at.desc(), LicenseChange.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def rows_of(portal: Portal, subscriptions: Sequence[Subscription], *, tree: bool = True) -> list[Row]:
    pairs = list(_tree(subscriptions)) if tree else [(s, 0) for s in subscriptions]
    ids = [s.id for s, _ in pairs]
    products = {
        p.id: p for p in portal.db.scalars(select(Product).where(Product.id.in_({s.product_id for s, _ in pairs})))
    }
    failed = _failed_changes(portal, ids)
    rows = []
    for subscription, depth in pairs:
        scheduled = [
            s
            for s in subscriptions_repository.scheduled_of(portal.db, subscription.id)
            if s.status is ScheduledStatus.SCHEDULED
        ]
        rows.append(
            Row(
                subscription=subscription,
                product=products[subscription.product_id],
                depth=depth,
                latest=_latest_change(portal, subscription.id),
                scheduled=scheduled,
                failed=failed.get(subscription.id, [])[:FAILED_SHOWN],
                editable=portal.viewer.changes_quantities and subscription.allow_end_user_modification,
            )
        )
    return rows


def contract_page(
    request: Request, portal: Portal, contract_id: uuid.UUID | None, status: int = 200, **extra: Any
) -> Response:
    contract = scope.require_contract(portal.db, portal.viewer, contract_id)
    rows = rows_of(portal, scope.subscriptions_of(portal.db, contract))
    return render(
        request,
        "contract.html",
        status,
        portal=portal,
        contract=contract,
        account=portal.db.get(CustomerAccount, contract.customer_id),
        rows=rows,
        awaiting=any(r.awaiting for r in rows),
        **extra,
    )


def subscription_page(
    request: Request, portal: Portal, subscription: Subscription, status: int = 200, **extra: Any
) -> Response:
    contract = scope.require_contract(portal.db, portal.viewer, subscription.contract_id)
    [row] = rows_of(portal, [subscription], tree=False)
    history = portal.db.scalars(
        select(LicenseChange)
        .where(LicenseChange.subscription_id == subscription.id)
        .order_by(LicenseChange.created_at.desc(), LicenseChange.id.desc())
        .limit(HISTORY)
    ).all()
    today = now_of(request).date()
    removable = refundable_quantities(portal.db, [subscription], on=today)[subscription.id]
    return render(
        request,
        "subscription.html",
        status,
        portal=portal,
        contract=contract,
        account=portal.db.get(CustomerAccount, contract.customer_id),
        row=row,
        history=history,
        removable=removable,
        awaiting=row.awaiting,
        **extra,
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, portal: PortalDep) -> Response:
    contracts = scope.visible_contracts(portal.db, portal.viewer)
    return render(request, "home.html", portal=portal, contracts=contracts)


@router.get("/contracts/{contract_id}", response_class=HTMLResponse)
def contract(contract_id: str, request: Request, portal: PortalDep) -> Response:
    return contract_page(request, portal, parse_id(contract_id))


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def subscription(subscription_id: str, request: Request, portal: PortalDep) -> Response:
    found = scope.require_subscription(portal.db, portal.viewer, parse_id(subscription_id))
    return subscription_page(request, portal, found)
