"""What the cost import and the cost queries answer (SPEC §13: money as decimal strings, ISO dates)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer

from seatflow.costs.models import CostLine
from seatflow.schemas import IdStr, MoneyOut

Amount = Annotated[Decimal, PlainSerializer(lambda value: format(value.normalize(), "f"), return_type=str)]
"""A quantity or six-decimal price as written, without trailing zeros (``"-9.408"``, ``"25"``)."""


class CostImportResult(BaseModel):
    import_id: IdStr
    provider_account_id: IdStr
    source: str
    name: str
    kind: Literal["billed", "unbilled"]
    invoice_number: str = Field(description="The invoice a billed import is for ('' when unbilled or several).")
    period: date | None = Field(description="An unbilled import's billing period (the first day of its month).")
    currency: str | None
    lines_read: int = 0
    inserted: int = 0
    unchanged: int = Field(0, description="Lines imported before, left as they were: a repeat changes nothing.")
    replaced: int = Field(0, description="Earlier unbilled lines of the period and currency no longer there.")
    superseded: int = Field(0, description="Unbilled lines a billed line of this import (or before it) covers.")
    subtotals: dict[str, MoneyOut] = Field(
        default_factory=dict, description="The lines read, summed per currency (Subtotal, pre-tax)."
    )


class CostFetchResult(BaseModel):
    imports: list[CostImportResult]
    invoices_listed: int = Field(description="The invoices Partner Center listed.")
    invoices_skipped: list[str] = Field(
        default_factory=list, description="Invoices imported before, not read again (name one to read it anyway)."
    )


class CostLineRead(BaseModel):
    id: IdStr
    import_id: IdStr
    invoice_number: str
    billed: bool
    in_force: bool
    billing_period: date
    customer_tenant_id: str
    customer_name: str
    subscription_id: str
    order_id: str
    order_date: date | None
    product_key: str
    product_name: str
    sku_name: str
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    billable_quantity: Amount
    unit_price: Amount
    effective_unit_price: Amount
    subtotal: MoneyOut
    total: MoneyOut
    currency: str
    term_and_billing_cycle: str
    billing_frequency: str
    reference_id: str
    superseded_by_line_id: IdStr | None

    @classmethod
    def from_model(cls, line: CostLine) -> CostLineRead:
        return cls(
            id=str(line.id),
            import_id=str(line.import_id),
            invoice_number=line.invoice_number,
            billed=line.billed,
            in_force=line.superseded_by_import_id is None,
            billing_period=line.billing_period,
            customer_tenant_id=line.customer_tenant_id,
            customer_name=line.customer_name,
            subscription_id=line.subscription_id,
            order_id=line.order_id,
            order_date=line.order_date,
            product_key=line.product_key,
            product_name=line.product_name,
            sku_name=line.sku_name,
            charge_type=line.charge_type,
            charge_start=line.charge_start,
            charge_end=line.charge_end,
            quantity=line.quantity,
            billable_quantity=line.billable_quantity,
            unit_price=line.unit_price,
            effective_unit_price=line.effective_unit_price,
            subtotal=line.subtotal,
            total=line.total,
            currency=line.currency,
            term_and_billing_cycle=line.term_and_billing_cycle,
            billing_frequency=line.billing_frequency,
            reference_id=line.reference_id,
            superseded_by_line_id=str(line.superseded_by_line_id) if line.superseded_by_line_id else None,
        )


class CostFetchRequest(BaseModel):
    provider_account_id: str | None = Field(None, description="The Partner Center account: id or name.")
    invoice: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,40}$", description="Read this invoice only.")
    unbilled: Literal["current", "previous"] | None = Field(None, description="Read this period's unbilled lines only.")
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$", description="Unbilled lines' currency.")
