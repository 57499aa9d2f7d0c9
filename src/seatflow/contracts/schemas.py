from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from seatflow.catalog.models import BillingFrequency
from seatflow.catalog.schemas import Currency, Name
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractStatus, ProrationUnit
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
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, contract: BillingContract) -> ContractRead:
        data = {name: getattr(contract, name) for name in cls.model_fields if name != "tax_rate"}
        return cls(**data, tax_rate=str(contract.tax_rate.normalize()) if contract.tax_rate else "0")


class SetupProblem(BaseModel):
    code: str
    detail: str
    subscription_id: IdStr | None = None
