"""The console's lists with their search and filters (customer, status, date, number), a page at a time, and the
same rows for their CSV exports (every cell through ``csv_safe.safe_row``, SPEC §18). Read only."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.responses import Response
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.catalog.models import Product, ProviderAccount
from seatflow.contracts.models import BillingContract
from seatflow.csv_safe import safe_row
from seatflow.customers.models import AccountStatus, CustomerAccount
from seatflow.money import format_money
from seatflow.subscriptions.models import Subscription, SubscriptionStatus

CSV_CHUNK = 1000
CSV_MAX_ROWS = 200_000
"""An export stops there (and says so in its last row): a list that long belongs to the API."""


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for count, row in enumerate(rows):
        if count == CSV_MAX_ROWS:
            writer.writerow(safe_row([f"Only the first {CSV_MAX_ROWS} rows are exported: narrow the filters."]))
            break
        writer.writerow(safe_row(row))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- customers -------------------------------------------------------------------------------------------------


def customers(
    session: Session, *, search: str | None, status: AccountStatus | None, limit: int
) -> Sequence[CustomerAccount]:
    """By name, then id; ``search`` in the name or the tenant."""
    stmt = select(CustomerAccount).order_by(CustomerAccount.name, CustomerAccount.id).limit(limit)
    if search:
        stmt = stmt.where(
            or_(
                _contains(CustomerAccount.name, search),
                _contains(func.coalesce(CustomerAccount.tenant_id, ""), search),
            )
        )
    if status is not None:
        stmt = stmt.where(CustomerAccount.status == status)
    return session.execute(stmt).scalars().all()


CUSTOMER_HEADER = ("id", "name", "parent", "tenant_id", "currency", "tax_id", "status", "created_at")


def customer_rows(session: Session, found: Sequence[CustomerAccount]) -> Iterator[list[object]]:
    names = {c.id: c.name for c in found}
    missing = {c.parent_customer_id for c in found if c.parent_customer_id and c.parent_customer_id not in names}
    if missing:
        names |= dict(
            session.execute(select(CustomerAccount.id, CustomerAccount.name).where(CustomerAccount.id.in_(missing)))
            .tuples()
            .all()
        )
    for c in found:
        parent = names.get(c.parent_customer_id, "") if c.parent_customer_id else ""
        created = c.created_at.isoformat()
        yield [c.id, c.name, parent, c.tenant_id or "", c.currency, c.tax_id or "", c.status.value, created]


# --- subscriptions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionFilters:
    search: str = ""
    """In the customer's, the contract's or the product's name."""
    status: SubscriptionStatus | None = None
    customer: uuid.UUID | None = None
    contract: uuid.UUID | None = None
    started_from: date | None = None
    started_to: date | None = None


@dataclass(frozen=True)
class SubscriptionRow:
    subscription: Subscription
    product: Product
    account: ProviderAccount
    contract: BillingContract
    customer: CustomerAccount


def _subscriptions_query(
    filters: SubscriptionFilters,
) -> Select[Subscription, Product, ProviderAccount, BillingContract, CustomerAccount]:
    stmt = (
        select(Subscription, Product, ProviderAccount, BillingContract, CustomerAccount)
        .join(Product, Product.id == Subscription.product_id)
        .join(ProviderAccount, ProviderAccount.id == Subscription.provider_account_id)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
    )
    if filters.search:
        stmt = stmt.where(
            or_(
                _contains(CustomerAccount.name, filters.search),
                _contains(BillingContract.name, filters.search),
                _contains(Product.name, filters.search),
            )
        )
    if filters.status is not None:
        stmt = stmt.where(Subscription.status == filters.status)
    if filters.customer is not None:
        stmt = stmt.where(BillingContract.customer_id == filters.customer)
    if filters.contract is not None:
        stmt = stmt.where(Subscription.contract_id == filters.contract)
    if filters.started_from is not None:
        stmt = stmt.where(Subscription.start_date >= filters.started_from)
    if filters.started_to is not None:
        stmt = stmt.where(Subscription.start_date <= filters.started_to)
    return stmt


def subscriptions(
    session: Session, filters: SubscriptionFilters, *, before: uuid.UUID | None, limit: int
) -> tuple[list[SubscriptionRow], uuid.UUID | None]:
    """The newest first (ids are time-ordered), a page at a time; the id to continue before, or None at the end."""
    stmt = _subscriptions_query(filters)
    if before is not None:
        stmt = stmt.where(Subscription.id < before)
    found = session.execute(stmt.order_by(Subscription.id.desc()).limit(limit + 1))
    rows = [
        SubscriptionRow(s, product, account, contract, customer) for s, product, account, contract, customer in found
    ]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].subscription.id
    return rows, None


def all_subscriptions(session: Session, filters: SubscriptionFilters) -> Iterator[SubscriptionRow]:
    before: uuid.UUID | None = None
    while True:
        rows, before = subscriptions(session, filters, before=before, limit=CSV_CHUNK)
        yield from rows
        if before is None:
            return


SUBSCRIPTION_HEADER = (
    "id", "customer", "contract", "product", "product_code", "quantity", "status", "provider_account", "start_date",
    "term", "billing_plan", "term_end", "auto_renew", "currency", "unit_price", "monthly_amount", "external_id",
)  # fmt: skip


def subscription_row(row: SubscriptionRow) -> list[object]:
    s = row.subscription
    return [
        s.id, row.customer.name, row.contract.name, row.product.name, row.product.product_code, s.quantity,
        s.status.value, row.account.name, s.start_date, s.term.value, s.billing_plan.value, s.term_end,
        "yes" if s.auto_renew else "no", s.currency, format_money(s.unit_price),
        format_money(s.unit_price * s.quantity), s.external_id or "",
    ]  # fmt: skip


# --- invoices and credit notes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFilters:
    kind: DocumentKind = DocumentKind.INVOICE
    number: str = ""
    customer: str = ""
    """In the customer's name (as billed)."""
    status: InvoiceStatus | None = None
    contract: uuid.UUID | None = None
    issued_from: date | None = None
    issued_to: date | None = None


def _invoices_query(filters: InvoiceFilters) -> Select[Invoice]:
    """As they are sent: a consolidated document, not its sections; a contract finds the consolidated documents
    holding a section of it too."""
    stmt = select(Invoice).where(Invoice.consolidated_invoice_id.is_(None), Invoice.kind == filters.kind)
    if filters.number:
        stmt = stmt.where(_contains(Invoice.number, filters.number))
    if filters.customer:
        named = select(CustomerAccount.id).where(_contains(CustomerAccount.name, filters.customer))
        stmt = stmt.where(Invoice.customer_id.in_(named))
    if filters.status is not None:
        stmt = stmt.where(Invoice.status == filters.status)
    if filters.contract is not None:
        section = aliased(Invoice)
        holding = select(section.consolidated_invoice_id).where(
            section.contract_id == filters.contract, section.consolidated_invoice_id.is_not(None)
        )
        stmt = stmt.where(or_(Invoice.contract_id == filters.contract, Invoice.id.in_(holding)))
    if filters.issued_from is not None:
        stmt = stmt.where(Invoice.issue_date >= filters.issued_from)
    if filters.issued_to is not None:
        stmt = stmt.where(Invoice.issue_date <= filters.issued_to)
    return stmt


def invoices(
    session: Session, filters: InvoiceFilters, *, before: uuid.UUID | None, limit: int
) -> tuple[Sequence[Invoice], uuid.UUID | None]:
    """The latest first (ids are time-ordered), a page at a time; the id to continue before."""
    stmt = _invoices_query(filters)
    if before is not None:
        stmt = stmt.where(Invoice.id < before)
    rows = session.execute(stmt.order_by(Invoice.id.desc()).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


def all_invoices(session: Session, filters: InvoiceFilters) -> Iterator[Invoice]:
    before: uuid.UUID | None = None
    while True:
        rows, before = invoices(session, filters, before=before, limit=CSV_CHUNK)
        yield from rows
        if before is None:
            return


INVOICE_HEADER = (
    "number", "kind", "status", "customer", "contract", "period_start", "period_end", "issue_date", "due_date",
    "currency", "subtotal", "tax", "total", "void_reason",
)  # fmt: skip


def invoice_row(invoice: Invoice) -> list[object]:
    return [
        invoice.number, invoice.kind.value, invoice.status.value, invoice.bill_to.get("name", ""),
        invoice.bill_to.get("contract", ""), invoice.period_start, invoice.period_end, invoice.issue_date,
        invoice.due_date, invoice.currency, format_money(invoice.subtotal), format_money(invoice.tax),
        format_money(invoice.total), invoice.void_reason or "",
    ]  # fmt: skip


# --- billing runs ----------------------------------------------------------------------------------------------


def runs(session: Session, *, run_from: date | None, run_to: date | None, limit: int) -> Sequence[BillingRun]:
    stmt = select(BillingRun)
    if run_from is not None:
        stmt = stmt.where(BillingRun.run_date >= run_from)
    if run_to is not None:
        stmt = stmt.where(BillingRun.run_date <= run_to)
    stmt = stmt.order_by(BillingRun.started_at.desc(), BillingRun.id.desc()).limit(limit)
    return session.execute(stmt).scalars().all()


RUN_HEADER = ("run_date", "started_at", "requested_by", "invoices_created", "credit_notes_created", "currency", "total")


def run_rows(found: Sequence[BillingRun]) -> Iterator[list[object]]:
    """One row per run and currency (a run without invoices: one row, no currency)."""
    for run in found:
        base: list[object] = [run.run_date, run.started_at.isoformat(), run.requested_by, run.invoices_created,
                              run.credit_notes_created]  # fmt: skip
        if not run.totals:
            yield [*base, "", ""]
        for currency, totals in sorted(run.totals.items()):
            yield [*base, currency, totals.get("total", "") if isinstance(totals, dict) else ""]
