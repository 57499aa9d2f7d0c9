"""The renewal desk (SPEC §10 "renewals in the next 30/60/90 days"): the live subscriptions whose term renews within
a number of days, each with what its next term will be (the changes scheduled for the renewal, combined) and its
monthly amount now and after, or the day it expires when it does not renew.

Monthly amounts are unit price * quantity, rounded half-up to the currency's minor unit. The next term's unit price
follows ``next_term.renewal_prices``: the new plan's list price for a subscription on list price, its own otherwise.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from seatflow.billing.amounts import round_money
from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product
from seatflow.catalog.rules import plan_text
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.customers.service import descendant_ids
from seatflow.errors import SeatflowError, ValidationFailed
from seatflow.money import format_money
from seatflow.pagination import MAX_LIMIT, InvalidCursor
from seatflow.subscriptions import repository
from seatflow.subscriptions.models import ScheduledChange, ScheduledStatus, Subscription
from seatflow.subscriptions.next_term import NextTerm, combine, next_term_end, renewal_date, renewal_prices

WINDOWS = (30, 60, 90)
"""The windows the console offers; any number of days from 1 to MAX_DAYS can be asked."""
MAX_DAYS = 366


@dataclass(frozen=True)
class Difference:
    """One thing the renewal changes, in words: ``what`` (quantity, product, term, billing plan, co-term, unit price)
    from ``before`` to ``after``."""

    what: str
    before: str
    after: str


@dataclass(frozen=True)
class NextTermView:
    quantity: int
    product: Product
    term_start: date
    term_end: date | None
    """None when the co-term scheduled can no longer apply (``Renewal.problem`` says why)."""
    unit_price: Decimal
    cost_price: Decimal | None
    next: NextTerm
    co_term_with: Subscription | None
    changes: tuple[Difference, ...]


@dataclass(frozen=True)
class Renewal:
    subscription: Subscription
    customer: CustomerAccount
    contract: BillingContract
    product: Product
    scheduled: tuple[ScheduledChange, ...]
    """The changes scheduled for the renewal, oldest first (empty when it renews as it is)."""
    next_term: NextTermView | None
    """None when it does not renew."""
    problem: str | None = None

    @property
    def renewal_date(self) -> date:
        return renewal_date(self.subscription)

    @property
    def expires_on(self) -> date | None:
        """Without auto-renew: the day it expires (the day after its term's last day)."""
        return None if self.subscription.auto_renew else self.renewal_date

    @property
    def monthly_amount(self) -> Decimal:
        s = self.subscription
        return round_money(s.unit_price * s.quantity, s.currency)

    @property
    def monthly_amount_after(self) -> Decimal:
        """The next term's monthly amount; 0 when it expires."""
        if self.next_term is None:
            return round_money(Decimal(0), self.subscription.currency)
        return round_money(self.next_term.unit_price * self.next_term.quantity, self.subscription.currency)

    @property
    def changes(self) -> tuple[Difference, ...]:
        return self.next_term.changes if self.next_term else ()


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}, not {days}.", code="invalid_days")
    return days


def upcoming_renewals(
    session: Session,
    *,
    today: date,
    days: int,
    customer_id: uuid.UUID | None = None,
    include_descendants: bool = False,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[Renewal], str | None]:
    """Live subscriptions (pending, active, suspended) renewing (or expiring) on or before ``today + days``, soonest
    first; one whose renewal is overdue (the run has not reached it yet) is listed first. Paged by ``cursor``."""
    check_days(days)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.")
    stmt = (
        select(Subscription, BillingContract, CustomerAccount)
        .join(BillingContract, BillingContract.id == Subscription.contract_id)
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
        .where(
            Subscription.status.in_(repository.NOT_CANCELLED),
            Subscription.term_end < today + timedelta(days=days),  # renewal date = term_end + 1 <= today + days
        )
    )
    if customer_id is not None:
        customers = {customer_id} | (descendant_ids(session, customer_id) if include_descendants else set())
        stmt = stmt.where(BillingContract.customer_id.in_(customers))
    if cursor:
        last_end, last_id = _decode(cursor)
        stmt = stmt.where(
            or_(
                Subscription.term_end > last_end,
                and_(Subscription.term_end == last_end, Subscription.id > last_id),
            )
        )
    found = session.execute(stmt.order_by(Subscription.term_end, Subscription.id).limit(limit + 1)).all()
    rows = [(s, contract, customer) for s, contract, customer in found[:limit]]
    renewals = _build(session, rows)
    next_cursor = _encode(rows[-1][0]) if len(found) > limit else None
    return renewals, next_cursor


def count_upcoming(session: Session, *, today: date, days: int) -> int:
    """How many live subscriptions renew or expire on or before ``today + days`` (the dashboard's figure)."""
    check_days(days)
    stmt = select(func.count()).where(
        Subscription.status.in_(repository.NOT_CANCELLED), Subscription.term_end < today + timedelta(days=days)
    )
    return int(session.execute(stmt).scalar_one())


def renewal_of(session: Session, subscription: Subscription) -> Renewal:
    """One subscription's renewal as the desk shows it, whenever it is."""
    contract = session.get(BillingContract, subscription.contract_id)
    assert contract is not None  # noqa: S101 - a foreign key guarantees it
    customer = session.get(CustomerAccount, contract.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key guarantees it
    [renewal] = _build(session, [(subscription, contract, customer)])
    return renewal


def _build(session: Session, rows: Sequence[tuple[Subscription, BillingContract, CustomerAccount]]) -> list[Renewal]:
    ids = [s.id for s, _, _ in rows]
    scheduled: dict[uuid.UUID, list[ScheduledChange]] = {i: [] for i in ids}
    if ids:
        stmt = select(ScheduledChange).where(
            ScheduledChange.subscription_id.in_(ids),
            ScheduledChange.status == ScheduledStatus.SCHEDULED,
            ScheduledChange.at_renewal.is_(True),
        )
        for change in session.execute(stmt.order_by(ScheduledChange.id)).scalars():
            scheduled[change.subscription_id].append(change)
    product_ids = {s.product_id for s, _, _ in rows} | {
        c.product_id for changes in scheduled.values() for c in changes if c.product_id
    }
    products = {p.id: p for p in _products(session, product_ids)}
    renewals = []
    for subscription, contract, customer in rows:
        mine = tuple(scheduled[subscription.id])
        product = products[subscription.product_id]
        view, problem = None, None
        if subscription.auto_renew:
            view, problem = _next_term(session, subscription, product, mine, products)
        renewals.append(Renewal(subscription, customer, contract, product, mine, view, problem))
    return renewals


def _products(session: Session, ids: set[uuid.UUID]) -> Sequence[Product]:
    if not ids:
        return []
    return session.execute(select(Product).where(Product.id.in_(ids))).scalars().all()


def _next_term(
    session: Session,
    subscription: Subscription,
    product: Product,
    scheduled: Sequence[ScheduledChange],
    products: dict[uuid.UUID, Product],
) -> tuple[NextTermView, str | None]:
    after = combine(subscription, scheduled)
    after_product = products.get(after.product_id) or catalog_repository.get_product(session, after.product_id)
    assert after_product is not None  # noqa: S101 - a foreign key guarantees it
    unit_price, cost_price = renewal_prices(subscription, product, after_product, after.term, after.billing_plan)
    problem, term_end = None, None
    try:
        term_end = next_term_end(session, subscription, after)
    except SeatflowError as error:
        problem = error.message
    co_term = repository.get(session, after.co_term_subscription_id) if after.co_term_subscription_id else None
    view = NextTermView(
        quantity=after.quantity,
        product=after_product,
        term_start=renewal_date(subscription),
        term_end=term_end,
        unit_price=unit_price,
        cost_price=cost_price,
        next=after,
        co_term_with=co_term,
        changes=_differences(subscription, product, after, after_product, unit_price, term_end),
    )
    return view, problem


def _differences(
    subscription: Subscription,
    product: Product,
    after: NextTerm,
    after_product: Product,
    unit_price: Decimal,
    term_end: date | None,
) -> tuple[Difference, ...]:
    found = []
    if after.quantity != subscription.quantity:
        found.append(Difference("quantity", str(subscription.quantity), str(after.quantity)))
    if after.product_id != subscription.product_id:
        found.append(Difference("product", product.name, after_product.name))
    if (after.term, after.billing_plan) != (subscription.term, subscription.billing_plan):
        before_plan, after_plan = (subscription.term, subscription.billing_plan), (after.term, after.billing_plan)
        found.append(Difference("term and billing plan", plan_text(*before_plan), plan_text(*after_plan)))
    if after.co_term_subscription_id is not None:
        found.append(Difference("term end", "a full term", f"co-termed: {term_end or 'cannot apply'}"))
    if unit_price != subscription.unit_price:
        found.append(Difference("unit price", _money(subscription.unit_price), _money(unit_price)))
    return tuple(found)


def _money(value: Decimal) -> str:
    return format_money(value) or ""


def _encode(subscription: Subscription) -> str:
    raw = subscription.term_end.isoformat().encode() + b"|" + subscription.id.bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        day, _, ident = raw.partition(b"|")
        return date.fromisoformat(day.decode()), uuid.UUID(bytes=ident)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


# --- CSV (the console's export and ``seatflow renewals upcoming --csv``) ---------------------------------------------

CSV_HEADER = (
    "renewal_date",
    "customer",
    "contract",
    "product",
    "subscription_id",
    "status",
    "quantity",
    "term",
    "billing_plan",
    "term_end",
    "auto_renew",
    "expires_on",
    "currency",
    "unit_price",
    "monthly_amount",
    "next_quantity",
    "next_product",
    "next_term",
    "next_billing_plan",
    "next_term_end",
    "next_unit_price",
    "monthly_amount_after",
    "changes",
)


def csv_row(renewal: Renewal) -> list[object]:
    """One line of the export, in CSV_HEADER's order (the caller makes each cell spreadsheet-safe)."""
    s, after = renewal.subscription, renewal.next_term
    return [
        renewal.renewal_date,
        renewal.customer.name,
        renewal.contract.name,
        renewal.product.name,
        s.id,
        s.status.value,
        s.quantity,
        s.term.value,
        s.billing_plan.value,
        s.term_end,
        "yes" if s.auto_renew else "no",
        renewal.expires_on or "",
        s.currency,
        _money(s.unit_price),
        _money(renewal.monthly_amount),
        after.quantity if after else "",
        after.product.name if after else "",
        after.next.term.value if after else "",
        after.next.billing_plan.value if after else "",
        (after.term_end or "") if after else "",
        _money(after.unit_price) if after else "",
        _money(renewal.monthly_amount_after),
        "; ".join(f"{d.what} {d.before} → {d.after}" for d in renewal.changes)
        or ("expires" if not s.auto_renew else "renews as it is"),
    ]
