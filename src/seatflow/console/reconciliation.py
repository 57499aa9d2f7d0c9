"""Reconciliation (SPEC §9): pick a Partner Center account, read the report, apply its fixes (adopt onto a
chosen linked child, push, import onto a chosen contract); and the change-log check."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from seatflow.catalog.models import Product, ProviderAccount, ProviderKind
from seatflow.catalog.providers import require_provider_account
from seatflow.console import queries
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    CsrfField,
    FormProblem,
    clean_text,
    error_status,
    now_of,
    plain,
    redirect,
    render,
)
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import descendant_ids
from seatflow.errors import ProviderError, SeatflowError
from seatflow.ids import parse_id
from seatflow.reconciliation import service
from seatflow.schemas import PriceIn
from seatflow.subscriptions.lifecycle import require_subscription
from seatflow.subscriptions.models import Subscription

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_price = TypeAdapter(PriceIn)


def _page(
    request: Request, console: Console, account_ref: str, *, log_check: bool = False, status: int = 200, **extra: Any
) -> Response:
    account_ref = plain(account_ref).strip()[:300]
    accounts = [a for a in queries.accounts_by_id(console.db).values() if a.kind is ProviderKind.PARTNER_CENTER]
    context: dict[str, Any] = {"accounts": accounts, "account": None, "report": None}
    if account_ref:
        try:
            context.update(_report(console, require_provider_account(console.db, account_ref), request))
        except SeatflowError as error:
            status = status if status != 200 else error_status(error)
            extra.setdefault("error", _message_of(error))
    report = context["report"]
    keys = {str(i.subscription_id or i.external_id or i.tenant_id) for i in report.items} if report else set()
    context["error_in_item"] = extra.get("error_for") in keys
    if log_check:
        mismatches = service.change_log_check(console.db)
        context["mismatches"] = mismatches
        context["mismatch_names"] = queries.around(console.db, {m.subscription_id for m in mismatches})
    return render(request, "reconciliation.html", status, console=console, active="reconciliation", **context, **extra)


def _report(console: Console, account: ProviderAccount, request: Request) -> dict[str, Any]:
    """The report (read from the provider now), with what each item's fix forms offer."""
    client = service.client_for(account)
    try:
        report = service.reconcile(console.db, account=account, client=client, now=now_of(request))
    finally:
        client.close()
    subscription_ids = {i.subscription_id for i in report.items if i.subscription_id}
    children = queries.linked_children_by_parent(console.db, subscription_ids)
    child_ids = {c.id for found in children.values() for c in found}
    contracts: dict[uuid.UUID, list[BillingContract]] = {}
    for customer_id in {i.customer_id for i in report.items if "import" in i.fixes and i.customer_id}:
        contracts[customer_id] = list(
            queries.contracts_of(console.db, {customer_id} | descendant_ids(console.db, customer_id))
        )
    # A new-commerce add-on has no parent at Partner Center: the import form offers its possible seatflow parents.
    parents: dict[str, list[Subscription]] = {}
    for item in report.items:
        customer = console.db.get(CustomerAccount, item.customer_id) if item.customer_id else None
        product = console.db.get(Product, item.product_id) if item.product_id else None
        if item.needs_parent and customer is not None and product is not None:
            parents[str(item.external_id)] = service.possible_parents(console.db, product, customer)
    parent_ids = {s.id for found in parents.values() for s in found}
    customer_ids = {i.customer_id for i in report.items if i.customer_id}
    return {
        "account": account,
        "report": report,
        "names": queries.around(console.db, subscription_ids | child_ids | parent_ids),
        "children": children,
        "contracts": contracts,
        "parents": parents,
        "customers": queries.names_of_customers(console.db, customer_ids),
    }


@router.get("/reconciliation", response_class=HTMLResponse)
def reconciliation_page(request: Request, console: ConsoleDep, account: str = "", log_check: str = "") -> Response:
    return _page(request, console, account, log_check=bool(log_check))


AccountField = Annotated[str, Form(max_length=300)]
IdField = Annotated[str, Form(max_length=100)]


def _done(account: ProviderAccount, fix: str) -> Response:
    return redirect(f"{PREFIX}/reconciliation?{urlencode({'account': str(account.id), 'done': fix})}")


@router.post("/reconciliation/adopt", response_class=HTMLResponse)
def adopt(
    request: Request,
    console: ConsoleDep,
    account: AccountField = "",
    subscription_id: IdField = "",
    child_subscription_id: IdField = "",
    external_id: IdField = "",
    csrf_token: CsrfField = None,
) -> Response:
    """Take the provider's quantity (read again now); the chosen linked child takes the difference. An item
    matched by product sends the provider's ``external_id``, which becomes the subscription's provider id."""
    console.authorize(csrf_token)
    now = now_of(request)
    try:
        subscription = require_subscription(console.db, subscription_id)
        provider = require_provider_account(console.db, str(subscription.provider_account_id))
        child = require_subscription(console.db, child_subscription_id).id if child_subscription_id else None
        external = clean_text(external_id, field="The provider id") if external_id.strip() else None
        source = service.adopt_source(console.db, subscription, external)
        console.db.commit()  # no transaction is held while the provider answers (SPEC §11)
        client = service.client_for(provider)
        try:
            quantity = service.read_adopt_quantity(client, source)
        finally:
            client.close()
        with console.attempt():
            service.adopt(
                console.db,
                subscription_id=subscription.id,
                provider_quantity=quantity,
                child_id=child,
                actor=console.actor,
                today=now.date(),
                now=now,
                external_id=source.new_external_id,
            )
    except FormProblem as problem:
        return _page(request, console, account, status=422, error=problem.message, error_for=subscription_id)
    except SeatflowError as error:
        return _page(
            request, console, account, status=error_status(error), error=_message_of(error), error_for=subscription_id
        )
    return _done(provider, "adopt")


@router.post("/reconciliation/push", response_class=HTMLResponse)
def push(
    request: Request,
    console: ConsoleDep,
    account: AccountField = "",
    subscription_id: IdField = "",
    csrf_token: CsrfField = None,
) -> Response:
    """Send seatflow's quantity to the provider again (the worker carries it out)."""
    console.authorize(csrf_token)
    now = now_of(request)
    try:
        with console.attempt():
            subscription = require_subscription(console.db, subscription_id)
            provider = require_provider_account(console.db, str(subscription.provider_account_id))
            service.push(console.db, subscription_id=subscription.id, actor=console.actor, today=now.date(), now=now)
    except SeatflowError as error:
        return _page(
            request, console, account, status=error_status(error), error=_message_of(error), error_for=subscription_id
        )
    return _done(provider, "push")


@router.post("/reconciliation/import", response_class=HTMLResponse)
def import_subscription(
    request: Request,
    console: ConsoleDep,
    account: AccountField = "",
    tenant_id: IdField = "",
    external_id: IdField = "",
    contract_id: IdField = "",
    unit_price: Annotated[str, Form(max_length=30)] = "",
    parent_subscription_id: IdField = "",
    csrf_token: CsrfField = None,
) -> Response:
    """A subscription found only at the provider becomes a seatflow subscription on the chosen contract (a
    new-commerce add-on under the chosen seatflow parent)."""
    console.authorize(csrf_token)
    now = now_of(request)
    try:
        price = _unit_price(unit_price)
        provider = require_provider_account(console.db, plain(account))
        tenant, external = clean_text(tenant_id, field="The tenant"), clean_text(external_id, field="The id")
        if parse_id(contract_id) is None:
            raise FormProblem("Choose the contract the subscription goes on.")
        if parent_subscription_id.strip() and parse_id(parent_subscription_id) is None:
            raise FormProblem("Choose the subscription the add-on goes under.")
        console.db.commit()  # no transaction is held while the provider answers (SPEC §11)
        client = service.client_for(provider)
        try:
            found = service.provider_subscription(client, tenant, external)
        finally:
            client.close()
        with console.attempt():
            service.import_subscription(
                console.db,
                account=provider,
                provider_subscription=found,
                contract_ref=contract_id,
                actor=console.actor,
                today=now.date(),
                now=now,
                unit_price=price,
                parent_ref=parent_subscription_id.strip() or None,
                tenant_id=tenant,
            )
    except FormProblem as problem:
        return _page(request, console, account, status=422, error=problem.message, error_for=external_id)
    except SeatflowError as error:
        return _page(
            request, console, account, status=error_status(error), error=_message_of(error), error_for=external_id
        )
    return _done(provider, "import")


def _message_of(error: SeatflowError) -> str:
    """What the operator reads: a provider's failure says that nothing changed here and whether to try again."""
    if not isinstance(error, ProviderError):
        return error.message
    answer = error.message.rstrip(".")
    again = " Try again in a moment." if error.retryable else ""
    return f"The request to Partner Center failed and nothing was changed. Its answer: {answer}.{again}"


def _unit_price(value: str) -> Decimal | None:
    if not value.strip():
        return None
    try:
        return _price.validate_python(value.strip())
    except ValidationError as error:
        raise FormProblem("Enter the unit price as a decimal number (e.g. 36.00), or leave it empty.") from error
