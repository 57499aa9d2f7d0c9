"""A subscription's page: its fields, linked children and add-ons, scheduled changes and change timeline, and for
operators the forms that act on it (``subscription_actions``), each offered only where the subscription's state
allows it, with the linked setup check of its contract (SPEC §5) beside the link and unlink forms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product, ProviderKind
from seatflow.catalog.rules import is_sellable
from seatflow.console import pickers, queries
from seatflow.console.forms import notice_of, shown
from seatflow.console.trees import Drift
from seatflow.console.web import PREFIX, Console, ConsoleDep, not_found, now_of, render, require_id
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import SetupProblem
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.batches import refundable_quantities
from seatflow.subscriptions.linking import setup_check
from seatflow.subscriptions.models import ScheduledStatus, Subscription, SubscriptionStatus

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Actions:
    """What an operator may ask of the subscription now (the services still decide)."""

    quantity: bool
    suspend: bool
    reactivate: bool
    cancel: bool
    auto_renew: bool
    live_addons: bool
    linked_parent: bool
    link_targets: list[pickers.Choice]
    unlink: bool
    addon_products: list[Product]


def _actions(console: Console, s: Subscription, contract: BillingContract, linked_children: int) -> Actions:
    db = console.db
    live = s.status in subscriptions_repository.LIVE
    open_ = s.status in subscriptions_repository.NOT_CANCELLED
    linkable = open_ and s.linked_subscription_id is None and not linked_children
    children = catalog_repository.children_of(db, s.product_id) if live else []
    return Actions(
        quantity=live,
        suspend=live,
        reactivate=s.status is SubscriptionStatus.SUSPENDED,
        cancel=open_,
        auto_renew=open_,
        live_addons=bool(subscriptions_repository.addons_of(db, s.id, subscriptions_repository.NOT_CANCELLED)),
        linked_parent=bool(linked_children),
        link_targets=pickers.link_targets(db, child=s, contract=contract) if linkable else [],
        unlink=s.linked_subscription_id is not None,
        addon_products=[p for p in children if is_sellable(p.status, p.kind, 1)],
    )


def _setup_problems(console: Console, s: Subscription, contract: BillingContract, children: int) -> list[SetupProblem]:
    """The contract's linked setup check, where links matter: a linked parent or child, or a child contract."""
    if s.linked_subscription_id is None and not children and contract.parent_contract_id is None:
        return []
    return setup_check(console.db, contract)


def subscription_page(
    request: Request, console: Console, subscription_id: str, status: int = 200, **extra: Any
) -> Response:
    """The page, with ``extra`` for a form shown again (``error``, ``error_for``, ``form``)."""
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
    here = names[subscription.id]
    drift = Drift(subscription.quantity, sum(c.quantity for c in linked_children)) if linked_children else None
    actions = _actions(console, subscription, here.contract, len(linked_children)) if console.operates else None
    if actions is not None:
        names |= queries.around(db, [c.subscription.id for c in actions.link_targets])
    page = render(
        request,
        "subscription.html",
        status,
        console=console,
        active="customers",
        s=subscription,
        here=here,
        names=names,
        addons=addons,
        linked_children=linked_children,
        drift=drift,
        scheduled=subscriptions_repository.scheduled_of(db, subscription.id),
        scheduled_status=ScheduledStatus.SCHEDULED,
        refundable=refundable_quantities(db, [subscription], on=now_of(request).date())[subscription.id],
        changes=changes,
        causes=causes,
        caused=caused,
        bundle_name=_bundle_name(console, subscription.bundle_id),
        actions=actions,
        linked_accounts=pickers.accounts_of_kind(db, ProviderKind.LINKED) if actions else [],
        do_nothing_accounts=pickers.accounts_of_kind(db, ProviderKind.DO_NOTHING) if actions else [],
        problems=_setup_problems(console, subscription, here.contract, len(linked_children)),
        notice=notice_of(request, console),
        form=extra.pop("form", {}),
        **extra,
    )
    return shown(page, request)


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def subscription_get(subscription_id: str, request: Request, console: ConsoleDep) -> Response:
    return subscription_page(request, console, subscription_id)


def _bundle_name(console: Console, bundle_id: uuid.UUID | None) -> str | None:
    bundle = catalog_repository.get_bundle(console.db, bundle_id) if bundle_id else None
    return bundle.name if bundle else None


def url_of(subscription_id: uuid.UUID | str) -> str:
    return f"{PREFIX}/subscriptions/{subscription_id}"
