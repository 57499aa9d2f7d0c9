"""Reading the cost lines: the lines in force for a period (what the margin report sums), their totals, a page of
lines for the API and the CLI, and the seatflow subscriptions they are for.

A line belongs to a period by its ``billing_period`` (the calendar month of the charge, ``models.CostLine``): the
lines of ``start``…``end`` are those whose month starts between the first day of ``start``'s month and ``end``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from seatflow.costs.models import CostImport, CostKind, CostLine
from seatflow.pagination import page
from seatflow.subscriptions.models import Subscription


def _in_period(query: Select[Any], start: date | None, end: date | None) -> Select[Any]:
    if start is not None:
        query = query.where(CostLine.billing_period >= start.replace(day=1))
    if end is not None:
        query = query.where(CostLine.billing_period <= end)
    return query


def lines_in_force(
    session: Session,
    *,
    account_id: uuid.UUID,
    start: date,
    end: date,
    customer_tenant_id: str | None = None,
    subscription_id: str | None = None,
) -> list[CostLine]:
    """The account's lines in force of the periods ``start``…``end`` (optionally of one customer tenant or one
    provider subscription id, either spelling), in the order imported. Summing their ``subtotal`` counts every
    charge once."""
    query = _in_period(
        select(CostLine).where(CostLine.provider_account_id == account_id, CostLine.in_force()), start, end
    )
    if customer_tenant_id is not None:
        query = query.where(CostLine.customer_tenant_id == customer_tenant_id.strip().lower())
    if subscription_id is not None:
        query = query.where(CostLine.subscription_id == subscription_id.strip().lower())
    return list(session.scalars(query.order_by(CostLine.id)))


@dataclass(frozen=True)
class CostTotal:
    """The lines in force of one customer tenant, subscription, product and billing period, in one currency."""

    customer_tenant_id: str
    subscription_id: str
    product_key: str
    billing_period: date
    currency: str
    subtotal: Decimal
    total: Decimal
    lines: int


def cost_totals(session: Session, *, account_id: uuid.UUID, start: date, end: date) -> list[CostTotal]:
    """``lines_in_force`` summed per customer, subscription, product, period and currency (one SQL ``GROUP BY``;
    the amounts are integers of 10^-6 underneath, so the sums are exact)."""
    c = CostLine
    keys = (c.customer_tenant_id, c.subscription_id, c.product_key, c.billing_period, c.currency)
    query = (
        select(*keys, func.sum(c.subtotal), func.sum(c.total), func.count())
        .where(c.provider_account_id == account_id, CostLine.in_force())
        .group_by(*keys)
        .order_by(*keys)
    )
    if start is not None:
        query = query.where(c.billing_period >= start.replace(day=1))
    query = query.where(c.billing_period <= end)
    return [
        CostTotal(tenant, subscription, product, period, currency, Decimal(subtotal), Decimal(total), count)
        for tenant, subscription, product, period, currency, subtotal, total, count in session.execute(query)
    ]


@dataclass(frozen=True)
class LineFilters:
    account_id: uuid.UUID | None = None
    customer_tenant_id: str | None = None
    subscription_id: str | None = None
    start: date | None = None
    end: date | None = None
    billed: bool | None = None
    include_superseded: bool = False


def list_lines(
    session: Session, filters: LineFilters, *, cursor: str | None, limit: int
) -> tuple[Sequence[CostLine], str | None]:
    """A page of lines, oldest import first; only lines in force unless ``include_superseded``."""
    query = _in_period(select(CostLine), filters.start, filters.end)
    if filters.account_id is not None:
        query = query.where(CostLine.provider_account_id == filters.account_id)
    if filters.customer_tenant_id:
        query = query.where(CostLine.customer_tenant_id == filters.customer_tenant_id.strip().lower())
    if filters.subscription_id:
        query = query.where(CostLine.subscription_id == filters.subscription_id.strip().lower())
    if filters.billed is not None:
        query = query.where(CostLine.billed.is_(filters.billed))
    if not filters.include_superseded:
        query = query.where(CostLine.in_force())
    return page(session, query, CostLine.id, cursor=cursor, limit=limit)


def imported_invoices(session: Session, account_id: uuid.UUID) -> set[str]:
    """The invoice numbers the account has a billed import of (upper case)."""
    query = select(CostImport.invoice_number).where(
        CostImport.provider_account_id == account_id,
        CostImport.kind == CostKind.BILLED,
        CostImport.invoice_number != "",
    )
    return {number.upper() for number in session.scalars(query)}


def seatflow_subscriptions(
    session: Session, account_id: uuid.UUID, provider_ids: Iterable[str]
) -> dict[str, uuid.UUID]:
    """Provider subscription id (lower case, as ``cost_lines`` holds it) → the seatflow subscription that records it
    as its ``external_id`` in the account, whatever its spelling there."""
    wanted = sorted({value.strip().lower() for value in provider_ids})
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start : start + 5_000]
        query = select(func.lower(Subscription.external_id), Subscription.id).where(
            Subscription.provider_account_id == account_id, func.lower(Subscription.external_id).in_(chunk)
        )
        for external, subscription_id in session.execute(query):
            found[external] = subscription_id
    return found
