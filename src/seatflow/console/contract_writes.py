"""Creating and editing billing contracts, parent and child (SPEC §4), through the contracts service as
``POST /contracts`` and ``PATCH /contracts/{id}`` do: the parent contract offered is one of the account's or of an
account above it, as the service requires."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.catalog.models import BillingFrequency
from seatflow.console import queries
from seatflow.console.forms import (
    Fields,
    FormDep,
    authorized,
    day,
    done,
    optional_day,
    percent,
    require_operator_page,
    validated,
    whole,
)
from seatflow.console.web import PREFIX, Console, ConsoleDep, FormProblem, error_status, now_of, render
from seatflow.contracts import service as contract_service
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractStatus, ProrationUnit
from seatflow.contracts.schemas import ContractCreate, ContractUpdate
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import ancestors, require_customer
from seatflow.errors import SeatflowError
from seatflow.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)
LABELS = {
    "name": "Name",
    "parent_contract_id": "Parent contract",
    "currency": "Currency",
    "billing_frequency": "Billing frequency",
    "billing_policy": "Billing policy",
    "start_date": "Start date",
    "term_months": "Term in months",
    "proration_unit": "Proration unit",
    "payment_terms_days": "Payment terms in days",
    "tax_rate": "Tax rate",
    "bill_from": "Billed from",
    "status": "Status",
}
SCHEDULE = ("billing_frequency", "billing_policy", "proration_unit")
FLAGS = ("billable", "is_default", "auto_renew", "process_refunds", "consolidate_child_invoices")


def _parents(console: Console, customer: CustomerAccount, contract: BillingContract | None) -> list[BillingContract]:
    """The contracts it may be a child of: the account's own and those of the accounts above it, never itself."""
    owners = [customer.id, *(a.id for a in ancestors(console.db, customer))]
    found: Sequence[BillingContract] = queries.contracts_of(console.db, owners)
    return [c for c in found if contract is None or c.id != contract.id]


def _form(
    request: Request,
    console: Console,
    customer: CustomerAccount,
    contract: BillingContract | None,
    form: dict[str, str],
    status: int = 200,
    error: str | None = None,
) -> Response:
    return render(
        request,
        "contract_form.html",
        status,
        console=console,
        active="customers",
        customer=customer,
        contract=contract,
        form=form,
        parents=_parents(console, customer, contract),
        frequencies=list(BillingFrequency),
        policies=list(BillingPolicy),
        proration_units=list(ProrationUnit),
        statuses=list(ContractStatus),
        error=error,
    )


def _values(contract: BillingContract) -> dict[str, str]:
    values = {
        "name": contract.name,
        "parent_contract_id": str(contract.parent_contract_id or ""),
        "billing_frequency": contract.billing_frequency.value,
        "billing_policy": contract.billing_policy.value,
        "proration_unit": contract.proration_unit.value,
        "term_months": str(contract.term_months),
        "payment_terms_days": str(contract.payment_terms_days),
        "tax_rate": str((contract.tax_rate * 100).normalize()) if contract.tax_rate else "0",
        "status": contract.status.value,
    }
    values.update({flag: "1" if getattr(contract, flag) else "" for flag in FLAGS})
    return values


def _common(fields: Fields) -> dict[str, Any]:
    """What the create and the edit form share, typed as the schemas take it."""
    return {
        "name": fields.text("name"),
        "parent_contract_id": fields.optional("parent_contract_id"),
        "term_months": whole(fields.text("term_months") or "12", label="the term in months", minimum=1, maximum=120),
        "payment_terms_days": whole(
            fields.text("payment_terms_days") or "30", label="the payment terms in days", minimum=0, maximum=365
        ),
        "tax_rate": percent(fields.text("tax_rate"), label="the tax rate"),
        **{flag: fields.checked(flag) for flag in FLAGS},
    }


@router.get("/customers/{customer_id}/contracts/new", response_class=HTMLResponse)
def new_contract(customer_id: str, request: Request, console: ConsoleDep, parent: str = "") -> Response:
    require_operator_page(console)
    customer = require_customer(console.db, customer_id)
    today = now_of(request).date()
    # A child contract (a location's) is billed; a parent contract holds the tenant's licenses and is not (SPEC §4).
    defaults = {
        "parent_contract_id": parent[:100],
        "start_date": today.isoformat(),
        "term_months": "12",
        "payment_terms_days": "30",
        "tax_rate": "0",
        "billable": "1",
        "auto_renew": "1",
    }
    return _form(request, console, customer, None, defaults)


@router.post("/customers/{customer_id}/contracts", response_class=HTMLResponse)
def create_contract(
    customer_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))
    customer = require_customer(console.db, customer_id)
    try:
        data = validated(
            ContractCreate,
            _common(fields)
            | {
                "customer_id": str(customer.id),
                "currency": fields.optional("currency"),
                "billing_frequency": fields.text("billing_frequency") or BillingFrequency.MONTHLY.value,
                "billing_policy": fields.text("billing_policy") or BillingPolicy.ADVANCE.value,
                "proration_unit": fields.text("proration_unit") or ProrationUnit.DAYS.value,
                "start_date": day(fields.text("start_date"), label="the start date"),
                "bill_from": optional_day(fields.text("bill_from"), label="the first day billed"),
            },
            LABELS,
        )
        with console.attempt():
            contract = contract_service.create_contract(console.db, data=data)
    except FormProblem as problem:
        return _form(request, console, customer, None, fields.values(), 422, problem.message)
    except SeatflowError as error:
        return _form(request, console, customer, None, fields.values(), error_status(error), error.message)
    kind = "child contract" if contract.parent_contract_id else "contract"
    return done(
        f"{PREFIX}/customers/{customer.id}#k-{contract.id}",
        request,
        console,
        settings,
        f"Created the {kind} {contract.name}.",
    )


@router.get("/contracts/{contract_id}/edit", response_class=HTMLResponse)
def edit_contract(contract_id: str, request: Request, console: ConsoleDep) -> Response:
    require_operator_page(console)
    contract = contract_service.require_contract(console.db, contract_id)
    return _form(request, console, require_customer(console.db, contract.customer_id), contract, _values(contract))


@router.post("/contracts/{contract_id}/edit", response_class=HTMLResponse)
def update_contract(
    contract_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    """A new billing frequency, policy or proration unit applies from a cycle boundary (the service says which)."""
    fields = authorized(console, Fields(form))
    contract = contract_service.require_contract(console.db, contract_id, for_update=True)
    customer = require_customer(console.db, contract.customer_id)
    try:
        data: dict[str, Any] = _common(fields) | {"status": fields.text("status") or None}
        current = _values(contract)
        changed = {name: value for name in SCHEDULE if (value := fields.text(name)) and value != current[name]}
        if changed:
            data |= changed | {"schedule_effective": optional_day(fields.text("schedule_effective"), label="the day")}
        update = validated(ContractUpdate, data, LABELS)
        with console.attempt():
            now = now_of(request)
            contract_service.update_contract(console.db, contract=contract, data=update, today=now.date(), now=now)
    except FormProblem as problem:
        return _form(request, console, customer, contract, fields.values(), 422, problem.message)
    except SeatflowError as error:
        return _form(request, console, customer, contract, fields.values(), error_status(error), error.message)
    return done(
        f"{PREFIX}/customers/{customer.id}#k-{contract.id}", request, console, settings, f"Saved {contract.name}."
    )
