"""Billing contracts and their parent/child tree."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seatflow.billing.schedules import ScheduleValues, change_schedule, check_bill_from, earlier_schedules, values_of
from seatflow.contracts.models import BillingContract
from seatflow.contracts.schemas import ContractCreate, ContractRead, ContractUpdate
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import ancestors, require_customer
from seatflow.errors import Conflict, NotFound, ValidationFailed
from seatflow.ids import parse_id
from seatflow.pagination import page


class ContractNotFound(NotFound):
    code = "not_found"


class ContractCycle(Conflict):
    code = "contract_cycle"


class ContractParentInvalid(ValidationFailed):
    code = "contract_parent_invalid"


def require_contract(
    session: Session, ref: str | uuid.UUID, *, for_update: bool = False, what: str = "contract"
) -> BillingContract:
    contract_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    contract = None
    if contract_id is not None:
        stmt = select(BillingContract).where(BillingContract.id == contract_id)
        contract = session.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    if contract is None:
        raise ContractNotFound(f"No {what} {str(ref)!r}.")
    return contract


def _check_parent(
    session: Session, contract_customer: CustomerAccount, parent: BillingContract, contract_id: uuid.UUID | None
) -> None:
    allowed = {contract_customer.id} | {a.id for a in ancestors(session, contract_customer)}
    if parent.customer_id not in allowed:
        raise ContractParentInvalid(
            f"The parent contract {parent.name!r} belongs to another customer: a parent contract belongs to "
            "the same customer account or one of its ancestors."
        )
    current: BillingContract | None = parent
    while current is not None:
        if contract_id is not None and current.id == contract_id:
            raise ContractCycle(f"Making {parent.name!r} the parent would put the contract above itself.")
        current = session.get(BillingContract, current.parent_contract_id) if current.parent_contract_id else None


def _make_default(session: Session, contract: BillingContract) -> None:
    """One default contract per customer account: marking one unmarks the others."""
    session.execute(
        update(BillingContract)
        .where(BillingContract.customer_id == contract.customer_id, BillingContract.id != contract.id)
        .values(is_default=False)
    )


def create_contract(session: Session, *, data: ContractCreate) -> BillingContract:
    customer = require_customer(session, data.customer_id)
    parent = (
        require_contract(session, data.parent_contract_id, what="parent contract") if data.parent_contract_id else None
    )
    if parent is not None:
        _check_parent(session, customer, parent, None)
    contract = BillingContract(
        **data.model_dump(exclude={"customer_id", "parent_contract_id", "currency", "bill_from"}),
        customer_id=customer.id,
        parent_contract_id=parent.id if parent else None,
        currency=data.currency or customer.currency,
    )
    check_bill_from(session, contract, data.bill_from)
    contract.bill_from = data.bill_from if data.bill_from != data.start_date else None
    session.add(contract)
    session.flush()
    if contract.is_default:
        _make_default(session, contract)
    return contract


SCHEDULE_FIELDS = {"billing_frequency", "billing_policy", "proration_unit"}


def update_contract(
    session: Session,
    *,
    contract: BillingContract,
    data: ContractUpdate,
    today: date | None = None,
    now: datetime | None = None,
) -> BillingContract:
    """Apply ``data``. The billing frequency, policy and proration unit change at a cycle boundary only
    (``data.schedule_effective``; ``billing.schedules.change_schedule``); ``bill_from`` only before billing."""
    now = now or datetime.now(UTC)
    sent = data.model_fields_set
    if data.schedule_effective is not None and not sent & SCHEDULE_FIELDS:
        raise ValidationFailed(
            "schedule_effective says when a new billing_frequency, billing_policy or proration_unit applies: "
            "send it with one of them.",
            code="validation_failed",
        )
    if sent & SCHEDULE_FIELDS:
        current = values_of(contract)
        wanted = ScheduleValues(
            data.billing_frequency or current.billing_frequency,
            data.billing_policy or current.billing_policy,
            data.proration_unit or current.proration_unit,
        )
        change_schedule(
            session,
            contract=contract,
            values=wanted,
            effective=data.schedule_effective,
            today=today or now.date(),
            now=now,
        )
    if data.bill_from is not None:
        check_bill_from(session, contract, data.bill_from)
        contract.bill_from = data.bill_from if data.bill_from != contract.start_date else None
    sent = sent - SCHEDULE_FIELDS - {"schedule_effective", "bill_from"}
    if "parent_contract_id" in sent:
        if data.parent_contract_id is None:
            contract.parent_contract_id = None
        else:
            parent = require_contract(session, data.parent_contract_id, what="parent contract")
            _check_parent(session, require_customer(session, contract.customer_id), parent, contract.id)
            contract.parent_contract_id = parent.id
    for name in sent - {"parent_contract_id"}:
        value = getattr(data, name)
        if value is not None:
            setattr(contract, name, value)
    session.flush()
    if data.is_default:
        _make_default(session, contract)
    return contract


def contract_reads(session: Session, contracts: Sequence[BillingContract]) -> list[ContractRead]:
    """The contracts as the API shows them, with their earlier schedules."""
    earlier = earlier_schedules(session, [c.id for c in contracts if c.schedule_from is not None])
    return [ContractRead.from_model(c, earlier.get(c.id, ())) for c in contracts]


def contract_read(session: Session, contract: BillingContract) -> ContractRead:
    (read,) = contract_reads(session, [contract])
    return read


def child_contracts(session: Session, contract_id: uuid.UUID) -> Sequence[BillingContract]:
    stmt = select(BillingContract).where(BillingContract.parent_contract_id == contract_id).order_by(BillingContract.id)
    return session.execute(stmt).scalars().all()


def list_contracts(
    session: Session,
    *,
    customer_id: uuid.UUID | None = None,
    parent_contract_id: uuid.UUID | None = None,
    billable: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[BillingContract], str | None]:
    stmt = select(BillingContract)
    if customer_id is not None:
        stmt = stmt.where(BillingContract.customer_id == customer_id)
    if parent_contract_id is not None:
        stmt = stmt.where(BillingContract.parent_contract_id == parent_contract_id)
    if billable is not None:
        stmt = stmt.where(BillingContract.billable == billable)
    return page(session, stmt, BillingContract.id, cursor=cursor, limit=limit)
