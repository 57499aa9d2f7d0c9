from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from seatflow.billing.drafts import Draft
from seatflow.billing.models import BillingRun, Invoice, InvoiceLine, InvoiceStatus, LineKind
from seatflow.billing.runs import RunSummary
from seatflow.schemas import DayIn, IdStr, MoneyOut, MultiLine


class BillingRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: DayIn | None = None
    """The run's date; today (the clock's) when absent."""
    dry_run: bool = False


class InvoiceLineRead(BaseModel):
    position: int
    kind: LineKind
    subscription_id: IdStr
    product_id: IdStr
    license_change_id: IdStr | None
    description: str
    period_start: date
    period_end: date
    quantity: int
    unit_price: MoneyOut
    amount: MoneyOut


class InvoiceRead(BaseModel):
    id: IdStr | None
    """None in a dry run's preview."""
    number: str | None
    status: InvoiceStatus
    contract_id: IdStr
    customer_id: IdStr
    billing_run_id: IdStr | None
    bill_to: dict[str, Any]
    period_start: date
    period_end: date
    issue_date: date
    due_date: date
    currency: str
    lines: list[InvoiceLineRead]
    subtotal: MoneyOut
    tax_rate: Decimal
    tax: MoneyOut
    total: MoneyOut
    voided_at: datetime | None = None
    void_reason: str | None = None

    @classmethod
    def from_model(cls, invoice: Invoice, lines: list[InvoiceLine]) -> InvoiceRead:
        return cls(
            id=str(invoice.id),
            number=invoice.number,
            status=invoice.status,
            contract_id=str(invoice.contract_id),
            customer_id=str(invoice.customer_id),
            billing_run_id=str(invoice.billing_run_id),
            bill_to=invoice.bill_to,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            lines=[InvoiceLineRead.model_validate(line, from_attributes=True) for line in lines],
            subtotal=invoice.subtotal,
            tax_rate=invoice.tax_rate,
            tax=invoice.tax,
            total=invoice.total,
            voided_at=invoice.voided_at,
            void_reason=invoice.void_reason,
        )

    @classmethod
    def from_draft(cls, draft: Draft, run_date: date) -> InvoiceRead:
        contract = draft.contract
        return cls(
            id=None,
            number=None,
            status=InvoiceStatus.ISSUED,
            contract_id=str(contract.id),
            customer_id=str(contract.customer_id),
            billing_run_id=None,
            bill_to={},
            period_start=draft.cycle.start,
            period_end=draft.cycle.end,
            issue_date=run_date,
            due_date=run_date + timedelta(days=contract.payment_terms_days),
            currency=contract.currency,
            lines=[
                InvoiceLineRead(
                    position=position,
                    kind=line.kind,
                    subscription_id=str(line.subscription_id),
                    product_id=str(line.product_id),
                    license_change_id=str(line.change_id) if line.change_id else None,
                    description=line.description,
                    period_start=line.period_start,
                    period_end=line.period_end,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                )
                for position, line in enumerate(draft.lines, start=1)
            ],
            subtotal=draft.subtotal,
            tax_rate=contract.tax_rate,
            tax=draft.tax,
            total=draft.total,
        )


class BillingRunRead(BaseModel):
    id: IdStr | None
    """None for a dry run, which writes nothing."""
    date: date
    dry_run: bool
    invoices_created: int
    contracts_considered: int | None = None
    totals: dict[str, dict[str, Any]]
    preview: list[InvoiceRead] | None = Field(default=None, description="A dry run's invoices (the first 200).")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requested_by: str | None = None
    more: bool = Field(
        default=False,
        description="Some contracts had more cycles due than one run bills (36): run again for the same date.",
    )
    contracts_with_more: int = 0

    @classmethod
    def from_summary(cls, summary: RunSummary, run: BillingRun | None) -> BillingRunRead:
        totals = {currency: t.as_json() for currency, t in summary.totals.items()}
        preview = [InvoiceRead.from_draft(d, summary.run_date) for d in summary.preview] if summary.dry_run else None
        return cls(
            id=str(run.id) if run else None,
            date=summary.run_date,
            dry_run=summary.dry_run,
            invoices_created=summary.invoices_created,
            contracts_considered=summary.contracts_considered,
            totals=totals,
            preview=preview,
            started_at=run.started_at if run else None,
            finished_at=run.finished_at if run else None,
            requested_by=run.requested_by if run else None,
            more=summary.more,
            contracts_with_more=summary.contracts_with_more,
        )

    @classmethod
    def from_model(cls, run: BillingRun) -> BillingRunRead:
        return cls(
            id=str(run.id),
            date=run.run_date,
            dry_run=False,
            invoices_created=run.invoices_created,
            totals=run.totals,
            started_at=run.started_at,
            finished_at=run.finished_at,
            requested_by=run.requested_by,
        )


class VoidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000), MultiLine]
