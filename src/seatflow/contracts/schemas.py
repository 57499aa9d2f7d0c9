from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from seatflow.catalog.models import BillingFrequency
from seatflow.catalog.schemas import Currency, Name
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractSchedule, ContractStatus, ProrationUnit
from seatflow.schemas import DayIn, IdStr, IntIn, TextIn

TaxRate = Annotated[Decimal, Field(ge=0, le=1, max_digits=8, decimal_places=6)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContractCreate(_Input):
    customer_id: TextIn
    name: Name
    parent_contract_id: TextIn | None = None
    billable: bool = True
    is_default: bool = False
    currency: Currency | None = None
    billing_frequency: BillingFrequency = BillingFrequency.MONTHLY
    billing_policy: BillingPolicy = BillingPolicy.ADVANCE
    start_date: DayIn
    term_months: Annotated[IntIn, Field(ge=1, le=120)] = 12
    auto_renew: bool = True
    proration_unit: ProrationUnit = ProrationUnit.DAYS
    process_refunds: bool = False
    payment_terms_days: Annotated[IntIn, Field(ge=0, le=365)] = 30
    tax_rate: TaxRate = Decimal(0)
    bill_from: DayIn | None = None
    """Nothing is billed before this day, a cycle start (a contract imported with a start in the past)."""
    consolidate_child_invoices: bool = False
    """Its child contracts' charges of a cycle go onto one invoice to this contract's customer, a section per
    child contract (SPEC §8 "Consolidated invoices"); default: one invoice per child contract."""


class ContractUpdate(_Input):
    name: Name | None = None
    parent_contract_id: TextIn | None = None
    billable: bool | None = None
    is_default: bool | None = None
    billing_frequency: BillingFrequency | None = None
    billing_policy: BillingPolicy | None = None
    term_months: Annotated[IntIn, Field(ge=1, le=120)] | None = None
    auto_renew: bool | None = None
    proration_unit: ProrationUnit | None = None
    process_refunds: bool | None = None
    payment_terms_days: Annotated[IntIn, Field(ge=0, le=365)] | None = None
    tax_rate: TaxRate | None = None
    status: ContractStatus | None = None
    consolidate_child_invoices: bool | None = None
    """From the next billing run on: already issued invoices stay as they are."""
    bill_from: DayIn | None = None
    """Only before the contract's first invoice; a cycle start."""
    schedule_effective: DayIn | None = None
    """When a new billing frequency, policy or proration unit applies from: a cycle boundary after every period
    billed (default: today; while nothing is billed, the start or bill_from)."""


class ScheduleRead(BaseModel):
    """An earlier schedule of the contract: how it was billed from ``effective_from`` to ``effective_to``."""

    effective_from: date
    effective_to: date
    billing_frequency: BillingFrequency
    billing_policy: BillingPolicy
    proration_unit: ProrationUnit


class ContractRead(BaseModel):
    id: IdStr
    customer_id: IdStr
    name: str
    parent_contract_id: IdStr | None
    billable: bool
    is_default: bool
    currency: str
    billing_frequency: BillingFrequency
    billing_policy: BillingPolicy
    start_date: date
    term_months: int
    auto_renew: bool
    proration_unit: ProrationUnit
    process_refunds: bool
    payment_terms_days: int
    tax_rate: str
    status: ContractStatus
    bill_from: date | None
    consolidate_child_invoices: bool
    """Its child contracts' charges of a cycle go onto one consolidated invoice to this contract's customer."""
    schedule_from: date
    """The day billing_frequency, billing_policy and proration_unit apply from (the start unless they changed)."""
    earlier_schedules: list[ScheduleRead] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, contract: BillingContract, earlier: Sequence[ContractSchedule] = ()) -> ContractRead:
        special = {"tax_rate", "schedule_from", "earlier_schedules"}
        data = {name: getattr(contract, name) for name in cls.model_fields if name not in special}
        return cls(
            **data,
            tax_rate=str(contract.tax_rate.normalize()) if contract.tax_rate else "0",
            schedule_from=contract.schedule_from or contract.start_date,
            earlier_schedules=[ScheduleRead.model_validate(row, from_attributes=True) for row in earlier],
        )


class SetupProblem(BaseModel):
    code: str
    detail: str
    subscription_id: IdStr | None = None
