"""New subscriptions and bundle orders on a contract (SPEC §2, §4, §15), through ``lifecycle.create_subscription``
and ``lifecycle.order_bundle`` as ``POST /subscriptions`` and ``POST /bundles/{id}/order`` do.

The new-subscription form offers only what the service accepts: an add-on's parent among the subscriptions
``resolve_parent`` allows, a linked child's parent among those ``check_link`` allows, the term and billing plans
the product is sold in, each with the price the price rules would set (``price_at_purchase``) beside its list
price. "Show the price" shows the form again for the quantity, plan, account and start typed, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.bundles import require_bundle
from seatflow.catalog.models import Bundle, BundleItem, Product, ProductKind, ProviderAccount, ProviderKind, Term
from seatflow.catalog.rules import plan_text
from seatflow.console import pickers
from seatflow.console.forms import (
    Fields,
    FormDep,
    authorized,
    done,
    optional_day,
    price,
    require_operator_page,
    validated,
)
from seatflow.console.web import PREFIX, Console, ConsoleDep, FormProblem, error_status, now_of, render
from seatflow.contracts.models import BillingContract
from seatflow.contracts.service import require_contract
from seatflow.errors import SeatflowError
from seatflow.ids import parse_id
from seatflow.money import format_money
from seatflow.pricing.rules import Decision
from seatflow.subscriptions import lifecycle
from seatflow.subscriptions.models import BillingPlan, Subscription
from seatflow.subscriptions.repricing import price_at_purchase
from seatflow.subscriptions.rules import parse_quantity
from seatflow.subscriptions.schemas import BundleOrder, SubscriptionCreate
from seatflow.subscriptions.terms import default_plan, offered, plan_prices
from seatflow.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)
LABELS = {
    "quantity": "Quantity",
    "provider_account_id": "Provider account",
    "parent_subscription_id": "Add-on of",
    "linked_subscription_id": "Linked to",
    "start_date": "Start date",
    "term": "Term and billing plan",
    "billing_plan": "Term and billing plan",
    "unit_price": "Unit price",
}
CHECKBOXES = ("auto_renew", "billable", "allow_end_user_modification")


@dataclass(frozen=True)
class PlanPrice:
    """One term and billing plan of the product: its list and cost price, and what the price rules decide."""

    term: Term
    billing_plan: BillingPlan
    list_price: Decimal | None
    cost_price: Decimal | None
    decision: Decision | None

    @property
    def value(self) -> str:
        return f"{self.term.value}:{self.billing_plan.value}"

    @property
    def text(self) -> str:
        return plan_text(self.term, self.billing_plan)

    @property
    def ruled(self) -> bool:
        return self.decision is not None and self.decision.rule is not None and self.decision.unit_price is not None

    @property
    def price(self) -> Decimal | None:
        """What a subscription bought without a unit price of its own would cost per unit per month."""
        return self.decision.unit_price if self.ruled and self.decision is not None else self.list_price


def _plan(value: str) -> tuple[Term | None, BillingPlan | None]:
    """``P1Y:monthly`` from the plan select; empty is the product's default."""
    if not value:
        return None, None
    term, _, plan = value.partition(":")
    if term not in Term.__members__.values() or plan not in BillingPlan.__members__.values():
        raise FormProblem("Choose a term and billing plan from the list.")
    return Term(term), BillingPlan(plan)


def _product(console: Console, ref: str | None) -> Product | None:
    product_id = parse_id(ref or "")
    return catalog_repository.get_product(console.db, product_id) if product_id else None


def _prices(
    console: Console, product: Product, contract: BillingContract, account: ProviderAccount, quantity: int, on: date
) -> list[PlanPrice]:
    rows = []
    for term, plan in offered(product.kind, product.plans):
        list_price, cost_price = plan_prices(product, term, plan)
        decision = price_at_purchase(
            console.db,
            product=product,
            contract=contract,
            account=account,
            term=term,
            billing_plan=plan,
            quantity=quantity,
            on=on,
        )
        rows.append(PlanPrice(term, plan, list_price, cost_price, decision))
    return rows


def _form(
    request: Request,
    console: Console,
    contract: BillingContract,
    fields: Fields,
    status: int = 200,
    error: str | None = None,
) -> Response:
    """The form: first the product, then everything else for it, with its prices for the quantity and start typed."""
    product = _product(console, fields.optional("product"))
    form = fields.values()
    if not fields.optional("shown"):  # the first time: the defaults, as the API's
        form.update(dict.fromkeys(CHECKBOXES, "1"))
    context: dict[str, Any] = {"product": product, "prices": [], "parents": [], "targets": []}
    if product is not None:
        today = now_of(request).date()
        account = console.db.get(ProviderAccount, parse_id(form.get("account", "")) or product.provider_account_id)
        account = account or product.provider_account
        try:
            quantity = parse_quantity(
                form.get("quantity") or str(product.min_quantity),
                minimum=product.min_quantity,
                maximum=product.max_quantity,
            )
            on = optional_day(form.get("start", ""), label="the start date") or today
        except (SeatflowError, FormProblem):
            quantity, on = product.min_quantity, today
        context.update(
            prices=_prices(console, product, contract, account, quantity, on),
            quantity=quantity,
            on=on,
            parents=pickers.parent_choices(console.db, product=product, contract=contract)
            if product.kind is ProductKind.ADDON
            else [],
            targets=pickers.link_targets(console.db, child=Subscription(product_id=product.id), contract=contract),
            chosen_plan=form.get("plan", "") or ":".join(v.value for v in default_plan(product)),
        )
        form.setdefault("account", str(account.id))
    return render(
        request,
        "subscription_form.html",
        status,
        console=console,
        active="customers",
        contract=contract,
        customer_id=contract.customer_id,
        products=pickers.sellable_products(console.db),
        accounts=pickers.accounts_of_kind(console.db, *ProviderKind),
        form=form,
        error=error,
        format_money=format_money,
        **context,
    )


@router.get("/contracts/{contract_id}/subscriptions/new", response_class=HTMLResponse)
def new_subscription(contract_id: str, request: Request, console: ConsoleDep) -> Response:
    require_operator_page(console)
    contract = require_contract(console.db, contract_id)
    return _form(request, console, contract, Fields(request.query_params))


def _create_data(fields: Fields, contract: BillingContract, product: Product) -> SubscriptionCreate:
    term, billing_plan = _plan(fields.text("plan"))
    account = fields.optional("account")
    data: dict[str, Any] = {
        "contract_id": str(contract.id),
        "product_id": str(product.id),
        "quantity": parse_quantity(fields.text("quantity"), minimum=product.min_quantity, maximum=product.max_quantity),
        "provider_account_id": account,
        "parent_subscription_id": fields.optional("parent"),
        "linked_subscription_id": fields.optional("linked"),
        "start_date": optional_day(fields.text("start"), label="the start date"),
        "term": term,
        "billing_plan": billing_plan,
        "unit_price": price(fields.text("unit_price"), label="the unit price"),
        **{name: fields.checked(name) for name in CHECKBOXES},
    }
    return validated(SubscriptionCreate, data, LABELS)  # type: ignore[no-any-return]


@router.post("/contracts/{contract_id}/subscriptions", response_class=HTMLResponse)
def create_subscription(
    contract_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))
    contract = require_contract(console.db, contract_id)
    if fields.text("step") == "price":  # "Show the price": the form again, for what was typed; nothing is written
        return _form(request, console, contract, fields)
    try:
        product = _product(console, fields.optional("product"))
        if product is None:
            raise FormProblem("Choose a product.")
        data = _create_data(fields, contract, product)
        with console.attempt():
            now = now_of(request)
            subscription, _ = lifecycle.create_subscription(
                console.db, data=data, today=now.date(), now=now, actor=console.actor
            )
    except FormProblem as problem:
        return _form(request, console, contract, fields, 422, problem.message)
    except SeatflowError as error:
        return _form(request, console, contract, fields, error_status(error), error.message)
    monthly = format_money(subscription.unit_price * subscription.quantity)
    notice = (
        f"Created {product.name} on {contract.name}: {subscription.quantity} x {format_money(subscription.unit_price)}"
        f" = {monthly} {subscription.currency} a month, {plan_text(subscription.term, subscription.billing_plan)}."
    )
    return done(f"{PREFIX}/subscriptions/{subscription.id}", request, console, settings, notice)


# --- bundles ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    item: BundleItem
    depth: int
    parent_name: str | None


def _items(bundle: Bundle) -> list[ItemRow]:
    """The bundle's items, each under the item it hangs under (the real parent subscription it will get)."""
    by_position = {item.position: item for item in bundle.items}

    def depth(item: BundleItem) -> int:
        steps, current = 0, item
        while current.parent_position is not None and current.parent_position in by_position and steps < 20:
            current, steps = by_position[current.parent_position], steps + 1
        return steps

    rows = []
    for item in bundle.items:
        parent = by_position.get(item.parent_position) if item.parent_position is not None else None
        rows.append(ItemRow(item, depth(item), parent.product.name if parent else None))
    return rows


def _bundle_form(
    request: Request,
    console: Console,
    contract: BillingContract,
    fields: Fields,
    status: int = 200,
    error: str | None = None,
) -> Response:
    bundles = pickers.sellable_bundles(console.db)
    chosen_id = parse_id(fields.text("bundle"))
    chosen = next((b for b in bundles if b.id == chosen_id), bundles[0] if len(bundles) == 1 else None)
    return render(
        request,
        "bundle_form.html",
        status,
        console=console,
        active="customers",
        contract=contract,
        bundles=bundles,
        bundle=chosen,
        items=_items(chosen) if chosen else [],
        accounts=pickers.accounts_of_kind(console.db, *ProviderKind),
        form=fields.values() | ({"bundle": str(chosen.id)} if chosen else {}),
        error=error,
    )


@router.get("/contracts/{contract_id}/bundles/new", response_class=HTMLResponse)
def new_bundle_order(contract_id: str, request: Request, console: ConsoleDep) -> Response:
    require_operator_page(console)
    contract = require_contract(console.db, contract_id)
    return _bundle_form(request, console, contract, Fields(request.query_params))


@router.post("/contracts/{contract_id}/bundles", response_class=HTMLResponse)
def order_bundle(
    contract_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    """One real subscription per item, each add-on under the real subscription of its parent item."""
    fields = authorized(console, Fields(form))
    contract = require_contract(console.db, contract_id)
    try:
        if not fields.optional("bundle"):
            raise FormProblem("Choose a bundle.")
        data = validated(
            BundleOrder,
            {
                "contract_id": str(contract.id),
                "quantity": parse_quantity(fields.text("quantity")),
                "provider_account_id": fields.optional("account"),
                "start_date": optional_day(fields.text("start"), label="the start date"),
            },
            LABELS,
        )
        with console.attempt():
            bundle = require_bundle(console.db, fields.text("bundle").strip())
            now = now_of(request)
            created = lifecycle.order_bundle(
                console.db, bundle=bundle, data=data, today=now.date(), now=now, actor=console.actor
            )
    except FormProblem as problem:
        return _bundle_form(request, console, contract, fields, 422, problem.message)
    except SeatflowError as error:
        return _bundle_form(request, console, contract, fields, error_status(error), error.message)
    names = {item.product_id: item.product.name for item in bundle.items}
    what = ", ".join(f"{names[s.product_id]} {s.quantity}" for s in created)
    notice = f"Ordered {bundle.name} on {contract.name}: {len(created)} subscriptions ({what})."
    return done(f"{PREFIX}/customers/{contract.customer_id}#k-{contract.id}", request, console, settings, notice)
