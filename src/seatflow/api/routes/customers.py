"""Customers, contacts and billing contracts (SPEC §3, §4, §13)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seatflow.api.routes.catalog import Limit, filter_id
from seatflow.contracts import service as contract_service
from seatflow.contracts.schemas import ContractCreate, ContractRead, ContractUpdate, SetupProblem
from seatflow.customers import service as customer_service
from seatflow.customers.schemas import (
    ContactCreate,
    ContactRead,
    ContactUpdate,
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
)
from seatflow.schemas import Page
from seatflow.subscriptions.linking import setup_check
from seatflow.web.deps import NowDep, SessionDep, SettingsDep, TodayDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.post("/customers", response_model=CustomerRead, status_code=201, tags=["customers"])
def create_customer(body: CustomerCreate, session: SessionDep, settings: SettingsDep) -> CustomerRead:
    customer = customer_service.create_customer(session, data=body, default_currency=settings.default_currency)
    return CustomerRead.from_model(customer)


@router.get("/customers", response_model=Page[CustomerRead], tags=["customers"])
def list_customers(
    session: SessionDep,
    parent_customer_id: str | None = None,
    tenant_id: str | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[CustomerRead]:
    rows, next_cursor = customer_service.list_customers(
        session,
        parent_customer_id=filter_id("parent_customer_id", parent_customer_id),
        tenant_id=tenant_id,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[CustomerRead.from_model(c) for c in rows], next_cursor=next_cursor)


@router.get("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def get_customer(customer_id: str, session: SessionDep) -> CustomerRead:
    return CustomerRead.from_model(customer_service.require_customer(session, customer_id))


@router.patch("/customers/{customer_id}", response_model=CustomerRead, tags=["customers"])
def update_customer(customer_id: str, body: CustomerUpdate, session: SessionDep) -> CustomerRead:
    customer = customer_service.require_customer(session, customer_id)
    return CustomerRead.from_model(customer_service.update_customer(session, customer=customer, data=body))


@router.post("/customers/{customer_id}/contacts", response_model=ContactRead, status_code=201, tags=["customers"])
def invite_contact(
    customer_id: str, body: ContactCreate, session: SessionDep, settings: SettingsDep, now: NowDep
) -> ContactRead:
    """The answer includes the invitation link, once: it is not stored."""
    customer = customer_service.require_customer(session, customer_id)
    contact, link = customer_service.invite_contact(
        session, customer=customer, data=body, now=now, base_url=settings.public_base_url
    )
    return ContactRead.from_model(contact, invitation_link=link)


@router.get("/customers/{customer_id}/contacts", response_model=Page[ContactRead], tags=["customers"])
def list_contacts(customer_id: str, session: SessionDep) -> Page[ContactRead]:
    customer = customer_service.require_customer(session, customer_id)
    return Page(items=[ContactRead.from_model(c) for c in customer_service.list_contacts(session, customer)])


@router.patch("/customers/{customer_id}/contacts/{contact_id}", response_model=ContactRead, tags=["customers"])
def update_contact(customer_id: str, contact_id: str, body: ContactUpdate, session: SessionDep) -> ContactRead:
    customer = customer_service.require_customer(session, customer_id)
    contact = customer_service.require_contact(session, customer, contact_id)
    return ContactRead.from_model(customer_service.update_contact(session, contact=contact, data=body))


@router.post("/contracts", response_model=ContractRead, status_code=201, tags=["contracts"])
def create_contract(body: ContractCreate, session: SessionDep) -> ContractRead:
    return contract_service.contract_read(session, contract_service.create_contract(session, data=body))


@router.get("/contracts", response_model=Page[ContractRead], tags=["contracts"])
def list_contracts(
    session: SessionDep,
    customer_id: str | None = None,
    parent_contract_id: str | None = None,
    billable: Annotated[bool | None, Query()] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[ContractRead]:
    rows, next_cursor = contract_service.list_contracts(
        session,
        customer_id=filter_id("customer_id", customer_id),
        parent_contract_id=filter_id("parent_contract_id", parent_contract_id),
        billable=billable,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=contract_service.contract_reads(session, rows), next_cursor=next_cursor)


@router.get("/contracts/{contract_id}", response_model=ContractRead, tags=["contracts"])
def get_contract(contract_id: str, session: SessionDep) -> ContractRead:
    return contract_service.contract_read(session, contract_service.require_contract(session, contract_id))


@router.patch("/contracts/{contract_id}", response_model=ContractRead, tags=["contracts"])
def update_contract(
    contract_id: str, body: ContractUpdate, session: SessionDep, today: TodayDep, now: NowDep
) -> ContractRead:
    """A new ``billing_frequency``, ``billing_policy`` or ``proration_unit`` applies from ``schedule_effective``
    (default today; while nothing is billed, the start or bill_from), which must be a cycle boundary after every
    period billed: otherwise 422 ``billing_schedule_change_mid_cycle``, with ``next_boundary``. ``bill_from`` only
    before the first invoice (422 ``bill_from_after_billing``), at a cycle start (422 ``bill_from_mid_cycle``)."""
    contract = contract_service.require_contract(session, contract_id, for_update=True)
    updated = contract_service.update_contract(session, contract=contract, data=body, today=today, now=now)
    return contract_service.contract_read(session, updated)


@router.get("/contracts/{contract_id}/setup-check", response_model=list[SetupProblem], tags=["contracts"])
def check_contract_setup(contract_id: str, session: SessionDep) -> list[SetupProblem]:
    """The linked-subscription problems of SPEC §5 around this contract; empty when the setup is sound."""
    return setup_check(session, contract_service.require_contract(session, contract_id))
