"""Creating and editing customer accounts (with their parent) and their contacts (invite, roles, status), through
the customers service as ``POST /customers``, ``PATCH /customers/{id}`` and ``…/contacts`` do (SPEC §3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.console import queries
from seatflow.console.forms import (
    Fields,
    FormDep,
    authorized,
    done,
    notice_of,
    require_operator_page,
    shown,
    validated,
)
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    FormProblem,
    error_status,
    now_of,
    render,
)
from seatflow.customers import service as customer_service
from seatflow.customers.models import AccountStatus, Contact, ContactRole, ContactStatus, CustomerAccount
from seatflow.customers.schemas import ContactCreate, ContactUpdate, CustomerCreate, CustomerUpdate
from seatflow.errors import SeatflowError
from seatflow.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)
MAX_PARENTS = 1000
ADDRESS = ("line1", "line2", "city", "region", "postal_code", "country")
CUSTOMER_LABELS = {
    "name": "Name",
    "parent_customer_id": "Parent account",
    "tenant_id": "Tenant",
    "currency": "Currency",
    "tax_id": "Tax ID",
    "billing_address.line1": "Address line 1",
    "billing_address.line2": "Address line 2",
    "billing_address.city": "City",
    "billing_address.region": "Region",
    "billing_address.postal_code": "Postal code",
    "billing_address.country": "Country (two letters)",
    "status": "Status",
}
CONTACT_LABELS = {"email": "E-mail address", "name": "Name", "roles": "Roles", "status": "Status"}
ROLE_LABELS = {
    ContactRole.ADMINISTRATOR: "Administrator: everything in the portal for the account, and invite users",
    ContactRole.SUBSCRIPTION_MANAGER: "Subscription manager: subscriptions and quantity changes",
    ContactRole.FINANCE_MANAGER: "Finance manager: subscriptions read-only, and invoices",
    ContactRole.ACCESS_CHILD_ACCOUNTS: "Access child accounts: the same rights on every account below",
}


# --- customers -------------------------------------------------------------------------------------------------


def _parents(console: Console, customer: CustomerAccount | None) -> Sequence[CustomerAccount]:
    """The accounts it may hang under: any but itself and those below it (accounts form a tree)."""
    found = queries.customers(console.db, search=None, limit=MAX_PARENTS)
    if customer is None:
        return found
    below = customer_service.descendant_ids(console.db, customer.id) | {customer.id}
    return [c for c in found if c.id not in below]


def _customer_form(
    request: Request,
    console: Console,
    customer: CustomerAccount | None,
    form: dict[str, str],
    status: int = 200,
    error: str | None = None,
) -> Response:
    return render(
        request,
        "customer_form.html",
        status,
        console=console,
        active="customers",
        customer=customer,
        form=form,
        parents=_parents(console, customer),
        statuses=list(AccountStatus),
        error=error,
    )


def _customer_values(customer: CustomerAccount) -> dict[str, str]:
    values = {
        "name": customer.name,
        "parent_customer_id": str(customer.parent_customer_id or ""),
        "tenant_id": customer.tenant_id or "",
        "currency": customer.currency,
        "tax_id": customer.tax_id or "",
        "status": customer.status.value,
    }
    values.update({key: str(customer.billing_address.get(key, "")) for key in ADDRESS})
    return values


def _customer_data(fields: Fields) -> dict[str, Any]:
    return {
        "name": fields.text("name"),
        "parent_customer_id": fields.optional("parent_customer_id"),
        "tenant_id": fields.optional("tenant_id"),
        "tax_id": fields.optional("tax_id"),
        "billing_address": {key: fields.text(key) for key in ADDRESS},
    }


@router.get("/customers/new", response_class=HTMLResponse)
def new_customer(request: Request, console: ConsoleDep, parent: str = "") -> Response:
    require_operator_page(console)
    return _customer_form(request, console, None, {"parent_customer_id": parent[:100]})


@router.post("/customers", response_class=HTMLResponse)
def create_customer(request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep) -> Response:
    fields = authorized(console, Fields(form))
    try:
        data = validated(
            CustomerCreate, _customer_data(fields) | {"currency": fields.optional("currency")}, CUSTOMER_LABELS
        )
        with console.attempt():
            customer = customer_service.create_customer(
                console.db, data=data, default_currency=settings.default_currency
            )
    except FormProblem as problem:
        return _customer_form(request, console, None, fields.values(), 422, problem.message)
    except SeatflowError as error:
        return _customer_form(request, console, None, fields.values(), error_status(error), error.message)
    return done(
        f"{PREFIX}/customers/{customer.id}",
        request,
        console,
        settings,
        f"Created the customer account {customer.name}.",
    )


@router.get("/customers/{customer_id}/edit", response_class=HTMLResponse)
def edit_customer(customer_id: str, request: Request, console: ConsoleDep) -> Response:
    require_operator_page(console)
    customer = customer_service.require_customer(console.db, customer_id)
    return _customer_form(request, console, customer, _customer_values(customer))


@router.post("/customers/{customer_id}/edit", response_class=HTMLResponse)
def update_customer(
    customer_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))
    customer = customer_service.require_customer(console.db, customer_id)
    try:
        status = fields.text("status")
        data = validated(CustomerUpdate, _customer_data(fields) | {"status": status or None}, CUSTOMER_LABELS)
        with console.attempt():
            customer_service.update_customer(console.db, customer=customer, data=data)
    except FormProblem as problem:
        return _customer_form(request, console, customer, fields.values(), 422, problem.message)
    except SeatflowError as error:
        return _customer_form(request, console, customer, fields.values(), error_status(error), error.message)
    return done(f"{PREFIX}/customers/{customer.id}", request, console, settings, f"Saved {customer.name}.")


# --- contacts --------------------------------------------------------------------------------------------------


def _contacts_page(
    request: Request,
    console: Console,
    customer: CustomerAccount,
    status: int = 200,
    form: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    contacts = customer_service.list_contacts(console.db, customer)
    page = render(
        request,
        "contacts.html",
        status,
        console=console,
        active="customers",
        customer=customer,
        contacts=contacts,
        roles=ROLE_LABELS,
        statuses=list(ContactStatus),
        form=form or {},
        notice=extra.pop("notice", None) or notice_of(request, console),
        **extra,
    )
    return shown(page, request)


@router.get("/customers/{customer_id}/contacts", response_class=HTMLResponse)
def contacts_page(customer_id: str, request: Request, console: ConsoleDep) -> Response:
    return _contacts_page(request, console, customer_service.require_customer(console.db, customer_id))


@router.post("/customers/{customer_id}/contacts", response_class=HTMLResponse)
def invite_contact(
    customer_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    """The invitation link is shown on this answer only (it is not stored), as the API answers it once."""
    fields = authorized(console, Fields(form))
    customer = customer_service.require_customer(console.db, customer_id)
    try:
        data = validated(
            ContactCreate,
            {"email": fields.text("email"), "name": fields.text("name"), "roles": fields.all("roles")},
            CONTACT_LABELS,
        )
        with console.attempt():
            contact, link = customer_service.invite_contact(
                console.db, customer=customer, data=data, now=now_of(request), base_url=settings.public_base_url
            )
    except FormProblem as problem:
        return _contacts_page(request, console, customer, 422, fields.values(), error=problem.message)
    except SeatflowError as error:
        return _contacts_page(request, console, customer, error_status(error), fields.values(), error=error.message)
    return _contacts_page(request, console, customer, invited=contact, link=link)


@router.post("/customers/{customer_id}/contacts/{contact_id}", response_class=HTMLResponse)
def update_contact(
    customer_id: str, contact_id: str, request: Request, console: ConsoleDep, form: FormDep, settings: SettingsDep
) -> Response:
    fields = authorized(console, Fields(form))
    customer = customer_service.require_customer(console.db, customer_id)
    contact: Contact = customer_service.require_contact(console.db, customer, contact_id)
    try:
        data = validated(
            ContactUpdate,
            {"roles": fields.all("roles"), "status": fields.optional("status")},
            CONTACT_LABELS,
        )
        with console.attempt():
            customer_service.update_contact(console.db, contact=contact, data=data)
    except FormProblem as problem:
        return _contacts_page(request, console, customer, 422, error=problem.message, error_for=contact.id)
    except SeatflowError as error:
        return _contacts_page(
            request, console, customer, error_status(error), error=error.message, error_for=contact.id
        )
    return done(
        f"{PREFIX}/customers/{customer.id}/contacts", request, console, settings, f"Saved {contact.name}'s access."
    )
