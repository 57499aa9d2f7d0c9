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

import gc
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from math import gcd
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Select, String, func, select, type_coerce
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from seatflow.billing.models import Invoice, InvoiceLine, bills_period
from seatflow.catalog.models import Product
from seatflow.contracts.models import BillingContract
from seatflow.costs.models import CostLine
from seatflow.customers.models import CustomerAccount
from seatflow.db.types import ScaledDecimal
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

CHUNK = 500
"""Ids per ``IN (...)`` when the evidence of the leaks is read."""


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


def _cost_items(session: Session, start: date, end: date, provider_ids: Sequence[str] | None = None) -> list[CostItem]:
    """The cost lines in force starting in the range (of these provider subscriptions only, when given)."""
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
    if provider_ids is None:
        return [CostItem(*cast(Any, row)) for row in session.execute(query)]
    items = []
    for chunk in _chunks(provider_ids):
        items += [CostItem(*cast(Any, row)) for row in session.execute(query.where(c.subscription_id.in_(chunk)))]
    return items


def _revenue_items(
    session: Session, start: date, end: date, subscription_ids: Sequence[uuid.UUID] | None = None
) -> list[RevenueItem]:
    """The lines of the documents that bill a period starting in the range (of these subscriptions only)."""
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
    if subscription_ids is None:
        return [RevenueItem(*cast(Any, row)) for row in session.execute(query)]
    items = []
    for chunk in _chunks(subscription_ids):
        items += [RevenueItem(*cast(Any, row)) for row in session.execute(query.where(line.subscription_id.in_(chunk)))]
    return items


def _subscriptions(session: Session, ids: Sequence[uuid.UUID] | None = None) -> dict[uuid.UUID, _Sub]:
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
    if ids is None:
        return {row[0]: _Sub(*cast(Any, row)) for row in session.execute(query)}
    found = {}
    for chunk in _chunks(ids):
        found.update({row[0]: _Sub(*cast(Any, row)) for row in session.execute(query.where(s.id.in_(chunk)))})
    return found


# How the report reads (every line of a month, hundreds of thousands): through the session's connection, as the
# driver hands the values over (no ORM rows, no type processing: ``_raw``; ids cast to text, which PostgreSQL
# sends without building UUIDs), each line added at once, in integers (amounts are stored as integers of
# 10^-scale units), to its row and to its provider subscription, which keeps of it only what the seats need:
# (start, end, seats). A value is converted where the answer shows it, each distinct one once (``_Converted``). The
# provider subscriptions that may leak, and the unknown ones, have their lines read again as items, which
# ``_leaks`` judges and shows as before; the sums are the ones the items give, to the Decimal's exponent
# (``_decimal``).


def _raw(column: Any) -> Any:
    """``column`` read without its type's result processing."""
    return type_coerce(column, NullType())


def _id(column: Any) -> Any:
    """An id column read as text (a hex string on SQLite, the canonical form on PostgreSQL)."""
    return sql_cast(column, String)


class _Converted(dict[Any, Any]):
    """Raw value -> the value read the usual way, each distinct raw value converted once."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, raw: Any) -> Any:
        value = self[raw] = self.convert(raw)
        return value


def _converter(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy converts ``column``'s values read from ``dialect`` (nothing to do: the value itself)."""
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return cast(Callable[[Any], Any], process) if process is not None else _same


def _same(value: Any) -> Any:
    return value


def _id_text(raw: str) -> str:
    """``str(uuid.UUID(raw))``: the canonical form of an id read as text, without making the UUID when it is in
    the form the databases give (PostgreSQL's canonical one, SQLAlchemy's 32 hex digits on SQLite)."""
    if _CANONICAL.fullmatch(raw):
        return raw
    if _HEX.fullmatch(raw):
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return str(uuid.UUID(raw))


_CANONICAL = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile("[0-9a-f]{32}")


def _scale(column: Any) -> int:
    kind = column.type
    assert isinstance(kind, ScaledDecimal)  # noqa: S101 - the models say so
    return kind.scale


def _decimal(total: int, common: int, scale: int) -> Decimal:
    """The sum, starting from ``ZERO``, of ``Decimal`` values read from integers of 10^-``scale`` units whose sum
    is ``total`` and whose greatest common divisor with 10^``scale`` is ``common``: the same value with the same
    exponent (each value read has as many decimals as it needs, a sum as many as its terms have at most)."""
    found = _EXPONENTS.get((scale, common))
    if found is None:
        places = scale - next(t for t in range(scale, -1, -1) if common % 10**t == 0)
        found = _EXPONENTS[(scale, common)] = (10 ** (scale - places), -places)
    divisor, exponent = found
    return Decimal(total // divisor).scaleb(exponent) if exponent else Decimal(total // divisor)


_EXPONENTS: dict[tuple[int, int], tuple[int, int]] = {}
"""(scale, greatest common divisor of the terms with 10^scale) -> (10^(scale - decimals), -decimals) of their
sum."""

STREAM_BATCH = 5_000


def _stream(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    """The query's rows, fetched in batches (through a server-side cursor where the driver has one: PostgreSQL
    keeps the rows until they are asked for)."""
    for batch in conn.execute(query.execution_options(yield_per=STREAM_BATCH)).partitions():
        yield from batch


def _short_of_seats(costs: list[tuple[date, date, int]], revenue: list[tuple[date, date, int]], end: date) -> bool:
    """Whether Microsoft charges for more seats than seatflow bills on one of ``_shortfall``'s days (the items:
    ``(start, end, seats)``)."""
    if len(costs) == 1 and len(revenue) == 1:  # most subscriptions: one line on each side
        (paid_from, paid_to, paid), (billed_from, billed_to, billed) = costs[0], revenue[0]
        for day in (paid_from, billed_from, min(end, paid_to)):
            if (paid if paid_from <= day <= paid_to else 0) > (billed if billed_from <= day <= billed_to else 0):
                return True
        return False
    days = {c[0] for c in costs}
    days.update(r[0] for r in revenue)
    days.add(min(end, max(c[1] for c in costs)))
    for day in days:
        paid = sum([c[2] for c in costs if c[0] <= day <= c[1]])
        billed = sum([r[2] for r in revenue if r[0] <= day <= r[1]])
        if paid > billed:
            return True
    return False


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
    with _collector_paused():
        return _report(session, start, end, group_by)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the report builds its hundreds of thousands of small lists and
    tuples (none in a cycle): it would go over all of them again and again, a third of the report's time."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _report(session: Session, start: date, end: date, group_by: GroupBy) -> MarginReport:
    if session.autoflush:
        session.flush()  # the reads below go through the connection, which does not flush the session
    conn = session.connection()
    as_uuid = _Converted(uuid.UUID)
    as_str = _Converted(_id_text)
    as_date = _Converted(_converter(CostLine.__table__.c.charge_start, conn.dialect))
    months = _Converted(lambda raw: month_of(as_date[raw]))  # raw start -> its month
    same: dict[Any, Any] = {}
    keep = same.setdefault  # one object for equal values (SQLite hands out new strings for every row)

    s = Subscription
    subs: dict[str, tuple[str | None, str, str, str, str]] = {}
    """Id -> (linked to, contract, product, provider account, the id), as text."""
    by_external: dict[str, str] = {}
    query = select(
        _id(s.id), s.external_id, _id(s.linked_subscription_id), _id(s.contract_id), _id(s.product_id),
        _id(s.provider_account_id),
    )  # fmt: skip
    for sid, external_id, linked, contract, product, account in _stream(conn, query):
        subs[sid] = (linked, keep(contract, contract), keep(product, product), keep(account, account), sid)
        if external_id:
            by_external[external_id.lower()] = sid
    bc = BillingContract
    query = select(_id(bc.id), _id(bc.customer_id), bc.name)
    contracts = {row[0]: (keep(row[1], row[1]), row[2]) for row in _stream(conn, query)}
    customers = {row[0]: row[1] for row in _stream(conn, select(_id(CustomerAccount.id), CustomerAccount.name))}
    products = {row[0]: row[1] for row in conn.execute(select(_id(Product.id), Product.name))}

    def root(subscription_id: str) -> str:
        """The provider subscription (a linked child's parent), as the key ``subs`` holds."""
        seen = 0
        entry = subs[subscription_id]
        while entry[0] is not None and seen < 10:
            entry, seen = subs[entry[0]], seen + 1
        return entry[4]

    for external_id, sid in by_external.items():  # Microsoft's id -> the provider subscription
        by_external[external_id] = root(sid)

    dimensions: dict[Any, tuple[str, str, str | None, str | None]] = {}

    def dimension(group: str) -> tuple[str, str, str | None, str | None]:
        """(key, name, customer id, customer name) of the group's rows."""
        _, contract, product, _, _ = subs[group]
        if group_by is GroupBy.SUBSCRIPTION:  # one call per group: its own id is not kept
            customer_id = contracts[contract][0]
            return _id_text(group), products.get(product, ""), as_str[customer_id], customers.get(customer_id, "")
        shared = (product, contract) if group_by is GroupBy.PRODUCT else contract
        found = dimensions.get(shared)
        if found is None:
            customer_id = contracts[contract][0]
            customer, customer_name = as_str[customer_id], customers.get(customer_id, "")
            if group_by is GroupBy.CUSTOMER:
                found = (customer, customer_name, customer, customer_name)
            elif group_by is GroupBy.CONTRACT:
                found = (as_str[contract], contracts[contract][1], customer, customer_name)
            else:
                found = (as_str[product], products.get(product, ""), customer, customer_name)
            dimensions[shared] = found
        return found

    # Each line goes at once to its row, [revenue, its gcd with 10^scale, cost, its gcd, dimension, month,
    # currency, rank] per (key, month, currency), and to its provider subscription, [dimension, cost, revenue,
    # Microsoft's (start, end, seats), seatflow's, rank of its cost, of its revenue]. A row shows the customer of
    # the first subscription that touches it when each one's cost is added in turn, in the order their first lines
    # come, then each one's revenue likewise (the rank; it tells only on a product's rows, which alone need the
    # lines in order).
    cost_scale, revenue_scale = _scale(CostLine.__table__.c.subtotal), _scale(InvoiceLine.__table__.c.amount)
    cost_unit, revenue_unit = 10**cost_scale, 10**revenue_scale
    rows: dict[tuple[str, date, str], list[Any]] = {}
    groups: dict[str, list[Any]] = {}
    unknown: set[str] = set()
    c = CostLine
    query = select(
        c.subscription_id, _raw(c.charge_start), _raw(c.charge_end), c.quantity, _raw(c.subtotal), c.currency
    ).where(c.in_force(), c.charge_start >= start, c.charge_start <= end)
    if group_by is GroupBy.PRODUCT:
        query = query.order_by(c.charge_start, c.id)
    cost_lines = 0
    for provider_id, first_day, last_day, quantity, subtotal, currency in _stream(conn, query):
        cost_lines += 1
        group = by_external.get(provider_id)
        if group is None:
            unknown.add(provider_id)
            continue
        state = groups.get(group)
        if state is None:
            state = groups[group] = [dimension(group), 0, 0, [], [], len(groups), None]
        state[1] += subtotal
        seats = (as_date[first_day], as_date[last_day], -abs(quantity) if subtotal < 0 else abs(quantity))
        state[3].append(keep(seats, seats))
        month = months[first_day]
        acc = rows.get((state[0][0], month, currency))
        if acc is None:
            acc = [0, revenue_unit, 0, cost_unit, state[0], month, currency, state[5]]
            rows[(state[0][0], month, currency)] = acc
        elif acc[7] > state[5]:
            acc[4], acc[7] = state[0], state[5]
        acc[2] += subtotal
        acc[3] = gcd(acc[3], subtotal)
    accounts_with_costs = {subs[group][3] for group in groups}

    line, invoice = InvoiceLine, Invoice
    query = (
        select(
            _id(line.subscription_id),
            _raw(line.period_start),
            _raw(line.period_end),
            line.quantity,
            _raw(line.amount),
            invoice.currency,
        )
        .join(invoice, invoice.id == line.invoice_id)
        .where(bills_period(), line.period_start >= start, line.period_start <= end)
    )
    if group_by is GroupBy.PRODUCT:
        query = query.order_by(line.period_start, line.id)
    invoice_lines = 0
    ranked = len(groups)
    for sid, first_day, last_day, quantity, amount, currency in _stream(conn, query):
        invoice_lines += 1
        entry = subs.get(sid)
        if entry is None:
            continue
        group = entry[4] if entry[0] is None else root(sid)  # a linked child's revenue is its parent's
        state = groups.get(group)
        if state is None:
            state = groups[group] = [dimension(group), 0, 0, [], [], None, None]
        if state[6] is None:
            state[6] = ranked = ranked + 1
        state[2] += amount
        seats = (as_date[first_day], as_date[last_day], -abs(quantity) if amount < 0 else abs(quantity))
        state[4].append(keep(seats, seats))
        month = months[first_day]
        acc = rows.get((state[0][0], month, currency))
        if acc is None:
            acc = [0, revenue_unit, 0, cost_unit, state[0], month, currency, state[6]]
            rows[(state[0][0], month, currency)] = acc
        elif acc[7] > state[6]:
            acc[4], acc[7] = state[0], state[6]
        acc[0] += amount
        acc[1] = gcd(acc[1], amount)

    # The provider subscriptions that may leak as ``_leaks`` judges them (a negative margin within a cent of
    # rounding either way): their lines, and the unknown ones', are read as items for ``_leaks`` to decide.
    common = max(cost_scale, revenue_scale)
    cost_to_common, revenue_to_common = 10 ** (common - cost_scale), 10 ** (common - revenue_scale)
    cent = 10 ** (common - 2)
    suspects = set()
    for group, (_, cost, earned, costs, revenue, _, _) in groups.items():
        if not revenue:
            if cost > 0:
                suspects.add(group)
        elif not costs:
            if earned > 0 and subs[group][3] in accounts_with_costs:
                suspects.add(group)
        elif 0 < earned * revenue_to_common < cost * cost_to_common + cent or _short_of_seats(costs, revenue, end):
            suspects.add(group)
    del groups
    ids = {group: as_uuid[group] for group in suspects}
    group_of = {provider: ids[group] for provider, group in by_external.items() if group in ids}
    members = {provider: provider for provider in ids.values()}  # whose revenue is theirs: linked children too
    for sid, entry in subs.items():
        if entry[0] is not None and (parent := root(sid)) in ids:
            members[as_uuid[sid]] = ids[parent]
    cost_items, revenue_items, unknown_items = _lines_of(
        session, start=start, end=end, providers=[*group_of, *sorted(unknown)], members=members, group_of=group_of
    )
    contract_ids = {subs[group][1] for group in suspects}
    leaks = _leaks(
        subs=_subscriptions(session, list(ids.values())),
        contracts={as_uuid[contract]: as_uuid[contracts[contract][0]] for contract in contract_ids},
        customers={
            as_uuid[customer]: customers[customer]
            for customer in {contracts[contract][0] for contract in contract_ids}
            if customer in customers
        },
        products={as_uuid[subs[g][2]]: products[subs[g][2]] for g in suspects if subs[g][2] in products},
        cost_by_group=cost_items,
        revenue_by_group=revenue_items,
        unknown=unknown_items,
        accounts_with_costs={as_uuid[account] for account in accounts_with_costs},
        end=end,
    )

    sums: dict[str, list[int]] = {}
    for acc in rows.values():
        found = sums.get(acc[6])
        if found is None:
            found = sums[acc[6]] = [0, revenue_unit, 0, cost_unit]
        found[0] += acc[0]
        found[1] = gcd(found[1], acc[1])
        found[2] += acc[2]
        found[3] = gcd(found[3], acc[3])
    totals = {
        currency: Totals(currency, _decimal(revenue, revenue_gcd, revenue_scale), _decimal(cost, cost_gcd, cost_scale))
        for currency, (revenue, revenue_gcd, cost, cost_gcd) in sums.items()
    }

    def made(acc: list[Any]) -> MarginRow:
        key, name, customer, customer_name = acc[4]
        revenue, cost = _decimal(acc[0], acc[1], revenue_scale), _decimal(acc[2], acc[3], cost_scale)
        return MarginRow(key, name, acc[5], acc[6], revenue, cost, customer, customer_name)

    ordered = [made(rows.pop(key)) for key in list(rows)]  # each row's sums let go as it is made
    lowered = _Converted(str.lower)
    ordered.sort(key=lambda r: (r.month, lowered[r.name], r.key, r.currency))
    outside: dict[tuple[date, str], MarginRow] = {}
    # cost nobody in seatflow stands for still counts in the totals, on rows of its own, after the others (in the
    # order of the lines: the subscriptions by their first line)
    for items in sorted(unknown_items.values(), key=lambda items: (items[0].charge_start, items[0].id)):
        for item in items:
            key = (month_of(item.charge_start), item.currency)
            row = outside.get(key)
            if row is None:
                row = outside[key] = MarginRow(key="unknown", name="Not in seatflow", month=key[0], currency=key[1])
            row.cost += item.subtotal
            totals.setdefault(item.currency, Totals(item.currency)).cost += item.subtotal
    return MarginReport(
        start=start,
        end=end,
        group_by=group_by,
        rows=ordered + list(outside.values()),
        totals=sorted(totals.values(), key=lambda t: t.currency),
        leaks=leaks,
        cost_lines=cost_lines,
        invoice_lines=invoice_lines,
    )


def _lines_of(
    session: Session,
    *,
    start: date,
    end: date,
    providers: list[str],
    members: dict[uuid.UUID, uuid.UUID],
    group_of: dict[str, uuid.UUID],
) -> tuple[dict[uuid.UUID, list[CostItem]], dict[uuid.UUID, list[RevenueItem]], dict[str, list[CostItem]]]:
    """The lines of some provider subscriptions as items, in their order: Microsoft's of ``providers`` (per
    ``group_of``, per provider subscription id when not there), seatflow's of ``members`` (subscription -> its
    provider subscription)."""
    costs: dict[uuid.UUID, list[CostItem]] = defaultdict(list)
    unknown: dict[str, list[CostItem]] = defaultdict(list)
    for item in _cost_items(session, start, end, providers) if providers else []:
        group = group_of.get(item.provider_subscription_id)
        (unknown[item.provider_subscription_id] if group is None else costs[group]).append(item)
    revenue: dict[uuid.UUID, list[RevenueItem]] = defaultdict(list)
    for line in _revenue_items(session, start, end, list(members)) if members else []:
        revenue[members[line.subscription_id]].append(line)
    for items in (*costs.values(), *unknown.values()):
        items.sort(key=lambda i: (i.charge_start, i.id))  # read in chunks: back in the lines' order
    for lines in revenue.values():
        lines.sort(key=lambda i: (i.period_start, i.id))
    return dict(costs), dict(revenue), dict(unknown)


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
