"""What the margin report answers (SPEC §13: money as decimal strings) and its CSV."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from seatflow.csv_safe import safe_row
from seatflow.margin.service import (
    CostItem,
    GroupBy,
    Leak,
    LeakKind,
    MarginReport,
    MarginRow,
    RevenueItem,
    Totals,
    cents,
)
from seatflow.money import format_money
from seatflow.schemas import IdStr, MoneyOut


class CostLineRead(BaseModel):
    id: IdStr
    invoice_number: str
    provider_subscription_id: str
    sku_name: str
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    subtotal: str
    currency: str

    @classmethod
    def of(cls, item: CostItem) -> CostLineRead:
        return cls(
            id=str(item.id),
            invoice_number=item.invoice_number,
            provider_subscription_id=item.provider_subscription_id,
            sku_name=item.sku_name,
            charge_type=item.charge_type,
            charge_start=item.charge_start,
            charge_end=item.charge_end,
            quantity=item.quantity,
            subtotal=format(item.subtotal.normalize(), "f") if item.subtotal else "0",
            currency=item.currency,
        )


class InvoiceLineRead(BaseModel):
    id: IdStr
    invoice_number: str
    subscription_id: IdStr
    description: str
    period_start: date
    period_end: date
    quantity: int
    amount: MoneyOut
    currency: str

    @classmethod
    def of(cls, item: RevenueItem) -> InvoiceLineRead:
        return cls(
            id=str(item.id),
            invoice_number=item.invoice_number,
            subscription_id=str(item.subscription_id),
            description=item.description,
            period_start=item.period_start,
            period_end=item.period_end,
            quantity=item.quantity,
            amount=item.amount,
            currency=item.currency,
        )


class LeakRead(BaseModel):
    kind: LeakKind
    currency: str
    amount: MoneyOut
    detail: str
    provider_subscription_id: str | None
    subscription_id: IdStr | None
    customer_id: IdStr | None
    customer_name: str
    product_name: str
    day: date | None
    seats_paid: int | None
    seats_billed: int | None
    cost_lines: list[CostLineRead]
    invoice_lines: list[InvoiceLineRead]
    cost_line_count: int
    invoice_line_count: int

    @classmethod
    def of(cls, leak: Leak) -> LeakRead:
        return cls(
            kind=leak.kind,
            currency=leak.currency,
            amount=leak.amount,
            detail=leak.detail,
            provider_subscription_id=leak.provider_subscription_id,
            subscription_id=str(leak.subscription_id) if leak.subscription_id else None,
            customer_id=str(leak.customer_id) if leak.customer_id else None,
            customer_name=leak.customer_name,
            product_name=leak.product_name,
            day=leak.day,
            seats_paid=leak.seats_paid,
            seats_billed=leak.seats_billed,
            cost_lines=[CostLineRead.of(i) for i in leak.cost_lines],
            invoice_lines=[InvoiceLineRead.of(i) for i in leak.invoice_lines],
            cost_line_count=leak.cost_line_count,
            invoice_line_count=leak.invoice_line_count,
        )


class MarginRowRead(BaseModel):
    key: str
    name: str
    month: date
    currency: str
    customer_id: str | None
    customer_name: str | None
    revenue: MoneyOut
    cost: MoneyOut
    margin: MoneyOut
    margin_percent: str | None

    @classmethod
    def of(cls, row: MarginRow) -> MarginRowRead:
        return cls(
            key=row.key,
            name=row.name,
            month=row.month,
            currency=row.currency,
            customer_id=row.customer_id,
            customer_name=row.customer_name,
            revenue=cents(row.revenue),
            cost=cents(row.cost),
            margin=row.margin,
            margin_percent=str(row.margin_percent) if row.margin_percent is not None else None,
        )


class TotalsRead(BaseModel):
    currency: str
    revenue: MoneyOut
    cost: MoneyOut
    margin: MoneyOut
    margin_percent: str | None

    @classmethod
    def of(cls, totals: Totals) -> TotalsRead:
        return cls(
            currency=totals.currency,
            revenue=cents(totals.revenue),
            cost=cents(totals.cost),
            margin=totals.margin,
            margin_percent=str(totals.margin_percent) if totals.margin_percent is not None else None,
        )


class MarginReportRead(BaseModel):
    start: date
    end: date
    group_by: GroupBy
    totals: list[TotalsRead]
    rows: list[MarginRowRead]
    leaks: list[LeakRead]
    cost_lines: int
    invoice_lines: int

    @classmethod
    def of(cls, report: MarginReport) -> MarginReportRead:
        return cls(
            start=report.start,
            end=report.end,
            group_by=report.group_by,
            totals=[TotalsRead.of(t) for t in report.totals],
            rows=[MarginRowRead.of(r) for r in report.rows],
            leaks=[LeakRead.of(leak) for leak in report.leaks],
            cost_lines=report.cost_lines,
            invoice_lines=report.invoice_lines,
        )


CSV_HEADER = ["month", "group", "key", "name", "customer", "currency", "revenue", "cost", "margin", "margin_percent"]


def csv_rows(report: MarginReport) -> list[list[str]]:
    """The rows, then the leaks, as the CSV has them (cells neutralised, SPEC §18)."""
    out = [CSV_HEADER]
    for row in report.rows:
        out.append(
            safe_row(
                [
                    row.month.isoformat()[:7],
                    report.group_by.value,
                    row.key,
                    row.name,
                    row.customer_name or "",
                    row.currency,
                    format_money(cents(row.revenue)) or "0.00",
                    format_money(cents(row.cost)) or "0.00",
                    format_money(row.margin) or "0.00",
                    str(row.margin_percent) if row.margin_percent is not None else "",
                ]
            )
        )
    return out


LEAK_HEADER = ["leak", "customer", "product", "provider_subscription_id", "currency", "amount", "detail"]


def leak_rows(report: MarginReport) -> list[list[str]]:
    out = [LEAK_HEADER]
    for leak in report.leaks:
        out.append(
            safe_row(
                [
                    leak.kind.value,
                    leak.customer_name,
                    leak.product_name,
                    leak.provider_subscription_id or "",
                    leak.currency,
                    format_money(leak.amount) or "0.00",
                    leak.detail,
                ]
            )
        )
    return out
