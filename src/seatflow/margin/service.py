"""The margin report (SPEC §16): what Microsoft charged the reseller beside what seatflow invoiced, per customer,
contract, product, subscription and month, with the margin, and the leaks, each with the lines that prove it.

**What is summed, over ``start``…``end`` (days, both included):**

- *Cost*: Microsoft's reconciliation lines in force (``costs.models.CostLine.in_force``: each charge once, a billed
  line in place of the unbilled one it confirms) whose ``ChargeStartDate`` falls in the range; their ``Subtotal``
  (before tax).
- *Revenue*: the lines of the documents that bill a period (``billing.models.bills_period``: issued invoices and
  the credit notes of negative cycles; a voided invoice and its void's credit note are both left out, a
  consolidated document's sections are counted once, as the sections) whose period starts in the range; their
  amount (before tax).

Both sides are charged in advance for the same periods (Microsoft's charge for a cycle, seatflow's line for it),
so a month's lines face each other. Amounts are summed exactly and rounded half up to the cent per row; a row's
margin is its rounded revenue less its rounded cost, and its margin % is margin / revenue (none without revenue).

**Provider subscriptions.** A cost line names Microsoft's subscription (``SubscriptionId``), which is the seatflow
subscription whose ``external_id`` it is. A linked subscription's children (SPEC §5) are billed per location but
bought as their parent: their revenue counts on the parent's row, which is what Microsoft bills. Rows by customer,
contract or product take the provider subscription's (the parent's) customer, contract and product.

**Leaks** (per provider subscription over the whole range; ``Leak.cost_lines`` and ``Leak.invoice_lines`` are the
evidence):

- ``unknown_subscription``: cost for a subscription seatflow does not know (bought out of band); its lines.
- ``cost_without_revenue``: cost and no revenue at all (bought, never billed).
- ``fewer_seats_billed``: on some day of the range Microsoft charges for more seats than seatflow bills (seats on a
  day: the quantities of the lines covering it, a credit counting against). Listed with the day, the two counts
  and the lines covering that day; not also as negative margin (the seats are the cause).
- ``negative_margin``: revenue, but less than the cost.
- ``revenue_without_cost``: revenue and no cost, for a subscription on a provider account that has cost lines in
  the range (billed but not bought; an account whose costs were never imported raises nothing).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.billing.models import Invoice, InvoiceLine, bills_period
from seatflow.catalog.models import Product
from seatflow.contracts.models import BillingContract
from seatflow.costs.models import CostLine
from seatflow.customers.models import CustomerAccount
from seatflow.errors import ValidationFailed
from seatflow.subscriptions.models import Subscription

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_DAYS = 366 * 3
EVIDENCE_LIMIT = 50
"""Lines listed per leak at most (the count says how many there were)."""


class GroupBy(StrEnum):
    CUSTOMER = "customer"
    CONTRACT = "contract"
    PRODUCT = "product"
    SUBSCRIPTION = "subscription"


class LeakKind(StrEnum):
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"
    COST_WITHOUT_REVENUE = "cost_without_revenue"
    FEWER_SEATS_BILLED = "fewer_seats_billed"
    NEGATIVE_MARGIN = "negative_margin"
    REVENUE_WITHOUT_COST = "revenue_without_cost"


class MarginRangeInvalid(ValidationFailed):
    code = "margin_range_invalid"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def percent(margin: Decimal, revenue: Decimal) -> Decimal | None:
    return (margin * HUNDRED / revenue).quantize(CENT, rounding=ROUND_HALF_UP) if revenue else None


# --- what is read ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostItem:
    id: uuid.UUID
    provider_subscription_id: str
    customer_tenant_id: str
    customer_name: str
    product_key: str
    sku_name: str
    charge_type: str
    charge_start: date
    charge_end: date
    quantity: int
    subtotal: Decimal
    currency: str
    invoice_number: str

    @property
    def seats(self) -> int:
        return -abs(self.quantity) if self.subtotal < 0 else abs(self.quantity)


@dataclass(frozen=True)
class RevenueItem:
    id: uuid.UUID
    subscription_id: uuid.UUID
    invoice_number: str
    period_start: date
    period_end: date
    quantity: int
    amount: Decimal
    currency: str
    description: str

    @property
    def seats(self) -> int:
        return -abs(self.quantity) if self.amount < 0 else abs(self.quantity)


@dataclass(frozen=True)
class _Sub:
    id: uuid.UUID
    external_id: str | None
    linked_to: uuid.UUID | None
    contract_id: uuid.UUID
    product_id: uuid.UUID
    provider_account_id: uuid.UUID
    currency: str
    unit_price: Decimal


# --- what is answered ------------------------------------------------------------------------------------------


@dataclass
class MarginRow:
    key: str
    """The customer, contract, product or subscription id."""
    name: str
    month: date
    """The first day of the month the charges start in."""
    currency: str
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    customer_id: str | None = None
    customer_name: str | None = None

    @property
    def margin(self) -> Decimal:
        return cents(self.revenue) - cents(self.cost)

    @property
    def margin_percent(self) -> Decimal | None:
        return percent(self.margin, cents(self.revenue))


@dataclass
class Leak:
    kind: LeakKind
    currency: str
    amount: Decimal
    """The money at stake: the cost not billed, the margin lost, the revenue without cost, or (seats) the seats
    missing at the subscription's unit price for a month."""
    detail: str
    provider_subscription_id: str | None = None
    subscription_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    customer_name: str = ""
    product_name: str = ""
    day: date | None = None
    seats_paid: int | None = None
    seats_billed: int | None = None
    cost_lines: list[CostItem] = field(default_factory=list)
    invoice_lines: list[RevenueItem] = field(default_factory=list)
    cost_line_count: int = 0
    invoice_line_count: int = 0


@dataclass
class Totals:
    currency: str
    revenue: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def margin(self) -> Decimal:
        return cents(self.revenue) - cents(self.cost)

    @property
    def margin_percent(self) -> Decimal | None:
        return percent(self.margin, cents(self.revenue))


@dataclass
class MarginReport:
    start: date
    end: date
    group_by: GroupBy
    rows: list[MarginRow]
    totals: list[Totals]
    leaks: list[Leak]
    cost_lines: int
    invoice_lines: int


# --- reading ---------------------------------------------------------------------------------------------------


def _cost_items(session: Session, start: date, end: date) -> list[CostItem]:
    c = CostLine
    query = (
        select(
            c.id,
            c.subscription_id,
            c.customer_tenant_id,
            c.customer_name,
            c.product_key,
            c.sku_name,
            c.charge_type,
            c.charge_start,
            c.charge_end,
            c.quantity,
            c.subtotal,
            c.currency,
            c.invoice_number,
        )
        .where(c.in_force(), c.charge_start >= start, c.charge_start <= end)
        .order_by(c.charge_start, c.id)
    )
    return [CostItem(*cast(Any, row)) for row in session.execute(query)]


def _revenue_items(session: Session, start: date, end: date) -> list[RevenueItem]:
    line, invoice = InvoiceLine, Invoice
    query = (
        select(
            line.id,
            line.subscription_id,
            invoice.number,
            line.period_start,
            line.period_end,
            line.quantity,
            line.amount,
            invoice.currency,
            line.description,
        )
        .join(invoice, invoice.id == line.invoice_id)
        .where(bills_period(), line.period_start >= start, line.period_start <= end)
        .order_by(line.period_start, line.id)
    )
    return [RevenueItem(*cast(Any, row)) for row in session.execute(query)]


def _subscriptions(session: Session) -> dict[uuid.UUID, _Sub]:
    s = Subscription
    query = select(
        s.id,
        s.external_id,
        s.linked_subscription_id,
        s.contract_id,
        s.product_id,
        s.provider_account_id,
        s.currency,
        s.unit_price,
    )
    return {row[0]: _Sub(*cast(Any, row)) for row in session.execute(query)}


def _names(
    session: Session, model: type[CustomerAccount] | type[BillingContract] | type[Product]
) -> dict[uuid.UUID, str]:
    return {row[0]: row[1] for row in session.execute(select(model.id, model.name))}


# --- the report ------------------------------------------------------------------------------------------------


def check_range(start: date, end: date) -> None:
    if end < start:
        raise MarginRangeInvalid(f"The range ends ({end}) before it starts ({start}).")
    if (end - start).days >= MAX_DAYS:
        raise MarginRangeInvalid(f"A margin report covers at most {MAX_DAYS} days.")


def month_of(day: date) -> date:
    return day.replace(day=1)


def margin_report(session: Session, *, start: date, end: date, group_by: GroupBy = GroupBy.CUSTOMER) -> MarginReport:
    """The report for ``start``…``end`` (the module's docstring says what it sums and finds)."""
    check_range(start, end)
    subs = _subscriptions(session)
    contracts = {row[0]: row[1] for row in session.execute(select(BillingContract.id, BillingContract.customer_id))}
    customers, contract_names, products = (
        _names(session, CustomerAccount),
        _names(session, BillingContract),
        _names(session, Product),
    )
    by_external = {s.external_id.lower(): s.id for s in subs.values() if s.external_id}

    def root(subscription_id: uuid.UUID) -> uuid.UUID:
        seen = 0
        current = subscription_id
        while (linked := subs[current].linked_to) is not None and seen < 10:
            current, seen = linked, seen + 1
        return current

    costs = _cost_items(session, start, end)
    revenue = _revenue_items(session, start, end)
    cost_by_group: dict[uuid.UUID, list[CostItem]] = defaultdict(list)
    unknown: dict[str, list[CostItem]] = defaultdict(list)
    accounts_with_costs: set[uuid.UUID] = set()
    for item in costs:
        found = by_external.get(item.provider_subscription_id)
        if found is None:
            unknown[item.provider_subscription_id].append(item)
            continue
        group = root(found)
        cost_by_group[group].append(item)
        accounts_with_costs.add(subs[group].provider_account_id)
    revenue_by_group: dict[uuid.UUID, list[RevenueItem]] = defaultdict(list)
    for line in revenue:
        if line.subscription_id in subs:
            revenue_by_group[root(line.subscription_id)].append(line)

    def dimension(group: uuid.UUID) -> tuple[str, str, uuid.UUID]:
        sub = subs[group]
        customer_id = contracts[sub.contract_id]
        if group_by is GroupBy.CUSTOMER:
            return str(customer_id), customers.get(customer_id, ""), customer_id
        if group_by is GroupBy.CONTRACT:
            return str(sub.contract_id), contract_names.get(sub.contract_id, ""), customer_id
        if group_by is GroupBy.PRODUCT:
            return str(sub.product_id), products.get(sub.product_id, ""), customer_id
        return str(group), products.get(sub.product_id, ""), customer_id

    rows: dict[tuple[str, date, str], MarginRow] = {}
    totals: dict[str, Totals] = {}

    def row(group: uuid.UUID, month: date, currency: str) -> MarginRow:
        key, name, customer_id = dimension(group)
        found = rows.get((key, month, currency))
        if found is None:
            found = rows[(key, month, currency)] = MarginRow(
                key=key,
                name=name,
                month=month,
                currency=currency,
                customer_id=str(customer_id),
                customer_name=customers.get(customer_id, ""),
            )
        return found

    for group, items in cost_by_group.items():
        for item in items:
            row(group, month_of(item.charge_start), item.currency).cost += item.subtotal
            totals.setdefault(item.currency, Totals(item.currency)).cost += item.subtotal
    for group, lines in revenue_by_group.items():
        for line in lines:
            row(group, month_of(line.period_start), line.currency).revenue += line.amount
            totals.setdefault(line.currency, Totals(line.currency)).revenue += line.amount
    for items in unknown.values():
        for item in items:
            totals.setdefault(item.currency, Totals(item.currency)).cost += item.subtotal

    leaks = _leaks(
        subs=subs,
        contracts=contracts,
        customers=customers,
        products=products,
        cost_by_group=cost_by_group,
        revenue_by_group=revenue_by_group,
        unknown=unknown,
        accounts_with_costs=accounts_with_costs,
        end=end,
    )
    ordered = sorted(rows.values(), key=lambda r: (r.month, r.name.lower(), r.key, r.currency))
    if unknown:  # cost nobody in seatflow stands for still counts in the totals, on a row of its own
        for items in unknown.values():
            for item in items:
                key = ("unknown", month_of(item.charge_start), item.currency)
                outside = rows.get(key)
                if outside is None:
                    outside = rows[key] = MarginRow(
                        key="unknown",
                        name="Not in seatflow",
                        month=key[1],
                        currency=item.currency,
                    )
                    ordered.append(outside)
                outside.cost += item.subtotal
    return MarginReport(
        start=start,
        end=end,
        group_by=group_by,
        rows=ordered,
        totals=sorted(totals.values(), key=lambda t: t.currency),
        leaks=leaks,
        cost_lines=len(costs),
        invoice_lines=len(revenue),
    )


def _seats_on(day: date, items: Iterable[CostItem | RevenueItem]) -> tuple[int, list[CostItem | RevenueItem]]:
    covering = [
        i
        for i in items
        if (i.charge_start if isinstance(i, CostItem) else i.period_start)
        <= day
        <= (i.charge_end if isinstance(i, CostItem) else i.period_end)
    ]
    return sum(i.seats for i in covering), covering


def _shortfall(
    costs: list[CostItem], revenue: list[RevenueItem], end: date
) -> tuple[int, date, int, int, list[CostItem], list[RevenueItem]] | None:
    """The day Microsoft charges for the most seats more than seatflow bills (the earliest such day)."""
    days = sorted(
        {c.charge_start for c in costs}
        | {r.period_start for r in revenue}
        | {min(end, max(c.charge_end for c in costs))}
    )
    worst: tuple[int, date, int, int, list[CostItem], list[RevenueItem]] | None = None
    for day in days:
        paid, paying = _seats_on(day, costs)
        billed, billing = _seats_on(day, revenue)
        if paid > billed and (worst is None or paid - billed > worst[0]):
            worst = (paid - billed, day, paid, billed, paying, billing)  # type: ignore[assignment]
    return worst


def _evidence(leak: Leak, costs: list[CostItem], revenue: list[RevenueItem]) -> Leak:
    leak.cost_lines, leak.cost_line_count = costs[:EVIDENCE_LIMIT], len(costs)
    leak.invoice_lines, leak.invoice_line_count = revenue[:EVIDENCE_LIMIT], len(revenue)
    return leak


def _leaks(
    *,
    subs: dict[uuid.UUID, _Sub],
    contracts: dict[uuid.UUID, uuid.UUID],
    customers: dict[uuid.UUID, str],
    products: dict[uuid.UUID, str],
    cost_by_group: dict[uuid.UUID, list[CostItem]],
    revenue_by_group: dict[uuid.UUID, list[RevenueItem]],
    unknown: dict[str, list[CostItem]],
    accounts_with_costs: set[uuid.UUID],
    end: date,
) -> list[Leak]:
    leaks: list[Leak] = []
    for provider_id, items in sorted(unknown.items()):
        cost = sum((i.subtotal for i in items), ZERO)
        first = items[0]
        leaks.append(
            _evidence(
                Leak(
                    kind=LeakKind.UNKNOWN_SUBSCRIPTION,
                    currency=first.currency,
                    amount=cents(cost),
                    detail=f"Microsoft charged {cents(cost)} {first.currency} for "
                    f"{first.sku_name or first.product_key} (subscription {provider_id} of "
                    f"{first.customer_name or first.customer_tenant_id}), which seatflow does not know: "
                    "bought outside seatflow, or never imported.",
                    provider_subscription_id=provider_id,
                    customer_name=first.customer_name,
                    product_name=first.sku_name,
                ),
                items,
                [],
            )
        )
    for group in sorted(set(cost_by_group) | set(revenue_by_group), key=str):
        sub = subs[group]
        costs = cost_by_group.get(group, [])
        revenue = revenue_by_group.get(group, [])
        cost = sum((i.subtotal for i in costs), ZERO)
        earned = sum((r.amount for r in revenue), ZERO)
        customer_id = contracts[sub.contract_id]
        base = {
            "provider_subscription_id": sub.external_id,
            "subscription_id": group,
            "customer_id": customer_id,
            "customer_name": customers.get(customer_id, ""),
            "product_name": products.get(sub.product_id, ""),
        }
        currency = costs[0].currency if costs else revenue[0].currency
        what = f"{base['product_name']} of {base['customer_name']}"
        if costs and not revenue:
            if cost > 0:
                leaks.append(
                    _evidence(
                        Leak(
                            kind=LeakKind.COST_WITHOUT_REVENUE,
                            currency=currency,
                            amount=cents(cost),
                            detail=f"{what}: Microsoft charged {cents(cost)} {currency} and seatflow invoiced nothing.",
                            **base,  # type: ignore[arg-type]
                        ),
                        costs,
                        [],
                    )
                )
            continue
        if revenue and not costs:
            if sub.provider_account_id in accounts_with_costs and earned > 0:
                leaks.append(
                    _evidence(
                        Leak(
                            kind=LeakKind.REVENUE_WITHOUT_COST,
                            currency=currency,
                            amount=cents(earned),
                            detail=f"{what}: invoiced {cents(earned)} {currency} and Microsoft charged nothing for it: "
                            "billed but not bought, or bought under another subscription.",
                            **base,  # type: ignore[arg-type]
                        ),
                        [],
                        revenue,
                    )
                )
            continue
        short = _shortfall(costs, revenue, end)
        if short is not None:
            seats, day, paid, billed, paying, billing = short
            leaks.append(
                _evidence(
                    Leak(
                        kind=LeakKind.FEWER_SEATS_BILLED,
                        currency=currency,
                        amount=cents(sub.unit_price * seats),
                        detail=f"{what}: on {day} Microsoft charges for {paid} seats and seatflow bills {billed} "
                        f"({seats} short, {cents(sub.unit_price * seats)} {currency} a month at "
                        f"{sub.unit_price.normalize():f}).",
                        day=day,
                        seats_paid=paid,
                        seats_billed=billed,
                        **base,  # type: ignore[arg-type]
                    ),
                    paying,
                    billing,
                )
            )
            continue
        if earned > 0 and cents(earned) < cents(cost):
            lost = cents(cost) - cents(earned)
            leaks.append(
                _evidence(
                    Leak(
                        kind=LeakKind.NEGATIVE_MARGIN,
                        currency=currency,
                        amount=lost,
                        detail=f"{what}: invoiced {cents(earned)} {currency} for a cost of {cents(cost)}: {lost} lost.",
                        **base,  # type: ignore[arg-type]
                    ),
                    costs,
                    revenue,
                )
            )
    order = list(LeakKind)
    return sorted(leaks, key=lambda leak: (order.index(leak.kind), -leak.amount, leak.customer_name))


def headline(session: Session, *, start: date, end: date) -> MarginReport:
    """The dashboard's figures: the report by customer for the range."""
    return margin_report(session, start=start, end=end, group_by=GroupBy.CUSTOMER)


def has_costs(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(select(CostLine.id).limit(1).subquery())))
