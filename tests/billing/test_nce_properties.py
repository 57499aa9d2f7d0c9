"""The property of billing on NCE terms (SPEC §8, revised 2026-12): whatever runs, late runs, voids and rebills
happen over two years, in whatever order changes become known, the documents that bill their period bill every
subscription-day exactly once, at the quantity and the price the change log gives that day; and each line's
amount is its days counted at their charge cycle's rate, rounded once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.amounts import minor_unit
from seatflow.billing.cycles import Schedule
from seatflow.billing.models import DocumentKind, Invoice, InvoiceLine, InvoiceStatus, bills_period
from seatflow.billing.service import void_invoice
from seatflow.catalog.models import BillingFrequency, BillingPlan, Term
from seatflow.contracts.models import BillingContract, BillingPolicy, ProrationUnit
from seatflow.subscriptions.lifecycle import update_subscription
from seatflow.subscriptions.models import Subscription
from seatflow.subscriptions.rules import add_months
from seatflow.subscriptions.schemas import SubscriptionUpdate
from tests.billing.nce_support import nce_shop
from tests.billing.support import bill, cancel_on, contract, set_quantity, subscribe
from tests.factories import OPERATOR, noon

ONE_DAY = timedelta(days=1)
FIRST_DAY, LAST_DAY = date(2027, 1, 1), date(2028, 12, 31)
FINAL_RUN = date(2029, 3, 5)  # every contract has a cycle due after the last step: its next invoice
PLANS = [
    (Term.P1M, BillingPlan.MONTHLY),
    (Term.P1Y, BillingPlan.MONTHLY),
    (Term.P1Y, BillingPlan.ANNUAL),
    (Term.P3Y, BillingPlan.ANNUAL),
    (Term.P3Y, BillingPlan.TRIENNIAL),
]


@dataclass(frozen=True)
class SubPlan:
    plan: int
    start_offset: int
    quantity: int
    price: int
    auto_renew: bool


@dataclass(frozen=True)
class ContractPlan:
    frequency: BillingFrequency
    policy: BillingPolicy
    start_offset: int
    term: int | None
    subscriptions: list[SubPlan]


@dataclass(frozen=True)
class Run:
    day: date


@dataclass(frozen=True)
class Quantity:
    subscription: int
    day: date
    quantity: int


@dataclass(frozen=True)
class Price:
    subscription: int
    day: date
    """When the operator sets it."""
    effective: date
    price: int


@dataclass(frozen=True)
class Cancel:
    subscription: int
    day: date


@dataclass(frozen=True)
class Void:
    pick: int
    day: date


Step = Run | Quantity | Price | Cancel | Void

days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
sub_plans = st.builds(
    SubPlan,
    plan=st.integers(min_value=0, max_value=len(PLANS) - 1),
    start_offset=st.integers(min_value=0, max_value=200),
    quantity=st.integers(min_value=1, max_value=30),
    price=st.integers(min_value=100, max_value=5000),  # cents: 1.00 to 50.00 per unit per month
    auto_renew=st.booleans(),
)
contract_plans = st.builds(
    ContractPlan,
    frequency=st.sampled_from(list(BillingFrequency)),
    policy=st.sampled_from(list(BillingPolicy)),
    start_offset=st.integers(min_value=0, max_value=60),
    term=st.none() | st.integers(min_value=3, max_value=24),
    subscriptions=st.lists(sub_plans, min_size=1, max_size=2),
)
steps = st.lists(
    st.builds(Run, days)
    | st.builds(Quantity, st.integers(0, 3), days, st.integers(min_value=1, max_value=30))
    | st.builds(Price, st.integers(0, 3), days, days, st.integers(min_value=100, max_value=5000))
    | st.builds(Cancel, st.integers(0, 3), days)
    | st.builds(Void, st.integers(0, 50), days),
    min_size=1,
    max_size=14,
)
DB = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass
class Tracked:
    """What the test itself knows of one subscription: its days and, from the log it wrote, each day's figures."""

    subscription: Subscription
    start: date
    last: date | None
    """The last day it may be billed (its term end without auto-renew, the contract's end), None: open."""
    plan_months: int
    quantities: list[tuple[date, int]]
    prices: list[tuple[date, Decimal]]
    cancelled: date | None = None
    last_change: date = FIRST_DAY

    def quantity(self, day: date) -> int:
        if day < self.start or (self.last is not None and day > self.last):
            return 0
        if self.cancelled is not None and day >= self.cancelled:
            return 0
        return [q for when, q in self.quantities if when <= day][-1]

    def price(self, day: date) -> Decimal:
        return [p for when, p in self.prices if when <= day][-1]

    def charge_days(self, day: date) -> int:
        """Days of the charge cycle (of its billing plan, anchored on its start) that holds ``day``."""
        n = 0
        while add_months(self.start, (n + 1) * self.plan_months) <= day:
            n += 1
        return (add_months(self.start, (n + 1) * self.plan_months) - add_months(self.start, n * self.plan_months)).days


@DB
@given(contracts=st.lists(contract_plans, min_size=1, max_size=2), steps=steps)
def test_every_subscription_day_is_billed_once_at_its_price(
    session: Session, contracts: list[ContractPlan], steps: list[Step]
) -> None:
    savepoint = session.begin_nested()  # every example starts from the same empty database
    try:
        check(session, contracts, steps)
    finally:
        savepoint.rollback()


def check(session: Session, plans: list[ContractPlan], steps: list[Step]) -> None:
    shop = nce_shop(session, products=("A",))
    made: list[tuple[BillingContract, Schedule, bool]] = []
    tracked: list[Tracked] = []
    for plan in plans:
        start = FIRST_DAY + timedelta(days=plan.start_offset)
        ends = add_months(start, plan.term) - ONE_DAY if plan.term else None
        billed = contract(
            session,
            shop,
            start_date=start,
            billing_frequency=plan.frequency,
            billing_policy=plan.policy,
            proration_unit=ProrationUnit.DAYS,
            process_refunds=True,  # every reduction credited: the days billed are the days held
            auto_renew=plan.term is None,
            term_months=plan.term or 12,
        )
        made.append((billed, Schedule(start, plan.frequency.months, ends), plan.policy is BillingPolicy.ADVANCE))
        for sub in plan.subscriptions:
            term, billing_plan = PLANS[sub.plan]
            begins = start + timedelta(days=sub.start_offset)
            price = Decimal(sub.price) / 100
            created = subscribe(
                session,
                shop,
                billed,
                quantity=sub.quantity,
                price=str(price),
                start=begins,
                term=term,
                billing_plan=billing_plan,
                auto_renew=sub.auto_renew,
            )
            last = None if sub.auto_renew else created.term_end
            if ends is not None:
                last = ends if last is None else min(last, ends)
            tracked.append(
                Tracked(created, begins, last, billing_plan.months, [(begins, sub.quantity)], [(begins, price)])
            )

    for step in steps:
        play(session, step, tracked)
    bill(session, FINAL_RUN)
    session.expire_all()

    billing = select(InvoiceLine, Invoice).join(Invoice, Invoice.id == InvoiceLine.invoice_id).where(bills_period())
    rows = session.execute(billing).all()
    for billed, schedule, advance in made:
        horizon = billed_to(schedule, advance)
        for sub in [t for t in tracked if t.subscription.contract_id == billed.id]:
            lines = [line for line, _ in rows if line.subscription_id == sub.subscription.id]
            check_days(sub, lines, horizon)
            for line in lines:
                check_amount(sub, line)


def play(session: Session, step: Step, tracked: list[Tracked]) -> None:
    if isinstance(step, Run):
        bill(session, step.day)
    elif isinstance(step, Void):
        issued = session.scalars(
            select(Invoice)
            .where(Invoice.status == InvoiceStatus.ISSUED, Invoice.kind == DocumentKind.INVOICE)
            .order_by(Invoice.number)
        ).all()
        if issued:
            void_invoice(session, invoice=issued[step.pick % len(issued)], reason="property", now=noon(step.day))
    elif step.subscription < len(tracked):
        sub = tracked[step.subscription]
        if sub.cancelled is not None or step.day < max(sub.start, sub.last_change):
            return  # changes are made in the order of their days, from the subscription's start
        if isinstance(step, Quantity):
            if step.quantity != sub.quantities[-1][1]:
                set_quantity(session, sub.subscription, step.quantity, step.day)
                sub.quantities.append((step.day, step.quantity))
        elif isinstance(step, Cancel):
            cancel_on(session, sub.subscription, step.day)
            sub.cancelled = step.day
        else:
            effective = max(step.effective, sub.start, sub.prices[-1][0])  # never before one already recorded
            price = Decimal(step.price) / 100
            update_subscription(
                session,
                subscription=sub.subscription,
                data=SubscriptionUpdate(unit_price=price, price_effective_date=effective),
                today=step.day,
                now=noon(step.day),
                actor=OPERATOR,
            )
            sub.prices.append((effective, price))
            sub.prices.sort(key=lambda pair: pair[0])  # stable: the later set of one day wins
        sub.last_change = step.day


def billed_to(schedule: Schedule, advance: bool) -> date:
    """The last day every charge of which the final run must have billed: the end of the last cycle due."""
    cycle = schedule.cycle(schedule.index_of(min(FINAL_RUN, schedule.ends or FINAL_RUN)))
    if not advance and cycle.end >= FINAL_RUN:
        cycle = schedule.cycle(cycle.index - 1)
    return cycle.end


def check_days(sub: Tracked, lines: list[InvoiceLine], horizon: date) -> None:
    day = FIRST_DAY
    while day <= horizon:
        covered: dict[Decimal, int] = {}
        for line in lines:
            if line.period_start <= day <= line.period_end:
                covered[line.unit_price] = covered.get(line.unit_price, 0) + line.quantity
        covered = {price: quantity for price, quantity in covered.items() if quantity}
        quantity = sub.quantity(day)
        expected = {sub.price(day): quantity} if quantity else {}
        assert covered == expected, f"{day}: billed {covered}, held {expected}"
        day += ONE_DAY


def check_amount(sub: Tracked, line: InvoiceLine) -> None:
    """quantity x price x the charge cycle's months / its days, for every day of the line."""
    exact = Fraction(0)
    day = line.period_start
    while day <= line.period_end:
        exact += Fraction(line.quantity) * Fraction(line.unit_price) * sub.plan_months / sub.charge_days(day)
        day += ONE_DAY
    assert abs(Fraction(line.amount) - exact) <= Fraction(minor_unit("USD")) / 2 + Fraction(1, 10**12), line
