"""What the simulator bills the partner: one reconciliation line per charge it makes on a new-commerce subscription,
kept until a billing period is closed into an invoice (invoices.py serves them as Partner Center does).

Which charges (recon-file-charge-types.md; common-billing-scenarios-onetime-recurring.md, "PC23" below):

- a purchase is ``new`` for the first charge cycle; each later cycle of the term is ``cycleCharge``; a renewal is
  ``renew`` for the new term's first cycle. A charge cycle is the billing plan's length (a month, a year, three
  years) counted from the term's start day, ``add_months`` from that day each time (PC23's tables: bought January
  31, the cycles run January 31-February 27, February 28-March 30, March 31-April 29); it ends with the term;
- seats added or removed are two lines of the change's type on one ``ReferenceId`` (PC23, "How are licenses
  (seats) added or removed?"): a refund of the old seat count and a charge of the new one, from the day of the
  change to the end of the current charge cycle. Seats can only be removed inside their refund window (the
  simulator's rules), so a ``removeQuantity`` pair is always a credit;
- a cancellation is one ``cancelImmediate`` refund of every seat from the day it happens to the cycle's end; within
  24 hours of the term's start it refunds the whole cycle (PC23: "a full refund if you cancel within 24 hours of
  purchase or renewal, or a prorated refund if you cancel within 7 days");
- a suspended subscription keeps its term, so its cycles are still charged; an expired or cancelled one is not.
  Legacy subscriptions (orders of legacy offers, which have no price) and conversions, upgrades and billing-plan
  changes (the simulator has none) make no lines.

**Amounts.** ``UnitPrice`` is the simulator's price sheet price for the subscription's billing plan
(pricesheet.plan_price: the offer's monthly price * the plan's months), read when a term starts and kept for the
term (NCE price protection). For a part of a charge cycle:

    EffectiveUnitPrice = UnitPrice / charge cycle days * billing days            (PC23, six decimals, half up)

where the charge cycle days are the whole cycle's calendar days and the billing days count from the event's day to
the cycle's end, both days included (PC23: June 20-July 17 of a June 18-July 17 cycle is 28 of 30 days); a refund's
EffectiveUnitPrice is negative. Then, as the reconciliation file's field list defines a seat-based Subtotal
(modern-invoice-reconciliation-file.md, ``Subtotal``; PCToBCExchangeRate is 1, the simulator bills in the price's
currency):

    Subtotal = ROUNDDOWN(EffectiveUnitPrice * PCToBCExchangeRate, 2) * BillableQuantity

ROUNDDOWN as Excel's: toward zero. TaxTotal is 0 and Total equals Subtotal. PC23's worked examples round the product
instead (10.08 / 30 * 28 = 9.408 for 12 seats is 112.89 there, 9.40 * 12 = 112.80 by the field list's formula);
the simulator follows the field list, and the two agree on every whole-cycle charge of a price with two decimals.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from seatflow.simulator.catalog import CYCLE_MONTHS, NceOffer
from seatflow.simulator.pricesheet import plan_price
from seatflow.simulator.resources import (
    TERM_MONTHS,
    Customer,
    Subscription,
    SubscriptionStatus,
    add_months,
    catalog_parts,
)

DAY = timedelta(days=1)
FULL_REFUND_WITHIN = timedelta(hours=24)
SIX_DECIMALS = Decimal("0.000001")
CENT = Decimal("0.01")
NEW, RENEW, CYCLE_CHARGE = "new", "renew", "cycleCharge"
ADD_QUANTITY, REMOVE_QUANTITY, CANCEL_IMMEDIATE = "addQuantity", "removeQuantity", "cancelImmediate"
CHARGED_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED, SubscriptionStatus.PENDING)
TERM_DESCRIPTIONS = {
    "P1M": "One-Month commitment for monthly billing",
    "P1Y": "One-Year commitment for monthly/yearly billing",
    "P3Y": "Three-Year commitment for monthly/yearly billing",
}
"""``TermAndBillingCycle`` as PC23's "How do I find the billing term" table writes it."""


def effective_unit_price(unit_price: Decimal, *, days: int, cycle_days: int) -> Decimal:
    """``UnitPrice / charge cycle days * billing days``, to six decimals (half up); the price itself for a whole
    cycle."""
    if days == cycle_days:
        return unit_price
    return (unit_price * days / cycle_days).quantize(SIX_DECIMALS, ROUND_HALF_UP)


def subtotal(effective_price: Decimal, billable_quantity: int, exchange_rate: Decimal = Decimal(1)) -> Decimal:
    """``ROUNDDOWN(EffectiveUnitPrice * PCToBCExchangeRate, 2) * BillableQuantity`` (toward zero)."""
    return (effective_price * exchange_rate).quantize(CENT, ROUND_DOWN) * billable_quantity


def month_start(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True)
class Cycle:
    start: date
    end: date
    """The last day charged (inclusive): the cycle's own last day, or the term's when that comes first."""
    days: int
    """The whole cycle's calendar days: what a part of it is prorated against."""


def charge_cycle(subscription: Subscription, day: date) -> Cycle | None:
    """The charge cycle of the subscription's current term that holds ``day``; None outside the term or for a
    billing plan the simulator does not charge."""
    months = CYCLE_MONTHS.get(subscription.billing_cycle)
    term_end = subscription.term_end
    if months is None or not subscription.effective_start_date.date() <= day < term_end.date():
        return None
    start = subscription.effective_start_date
    number = 0
    while add_months(start, (number + 1) * months).date() <= day:
        number += 1
    begins, following = add_months(start, number * months), add_months(start, (number + 1) * months)
    return Cycle(begins.date(), (min(following, term_end) - DAY).date(), (following - begins).days)


def next_cycle_start(subscription: Subscription, after: datetime) -> datetime | None:
    """The start (00:00 UTC) of the first charge cycle of the current term that begins after ``after``."""
    months = CYCLE_MONTHS.get(subscription.billing_cycle)
    if months is None:
        return None
    start, number = subscription.effective_start_date, 1
    while (begins := add_months(start, number * months)) <= after:
        number += 1
    return begins if begins < subscription.term_end else None


@dataclass
class ChargeLine:
    """One line of the reconciliation data (a ``OneTimeInvoiceLineItem``); ``invoice_number`` is empty until its
    billing period is closed."""

    customer_id: str
    customer_name: str
    customer_domain: str
    order_id: str
    order_date: datetime
    product_id: str
    sku_id: str
    availability_id: str
    product_name: str
    sku_name: str
    is_add_on: bool
    charge_type: str
    unit_price: Decimal
    effective_unit_price: Decimal
    quantity: int
    currency: str
    subscription_id: str
    subscription_start: date
    subscription_end: date
    charge_start: date
    charge_end: date
    term_duration: str
    billing_frequency: str
    """``Monthly``, ``Annual``, ``Triennial``; blank when one charge pays the whole term (PC23: "For one-time
    payments … the billing frequency is left blank")."""
    reference_id: str
    invoice_number: str = ""

    @property
    def subtotal(self) -> Decimal:
        return subtotal(self.effective_unit_price, self.quantity)

    @property
    def period(self) -> date:
        """The billing period (a calendar month, PC23) the charge falls in: its order date's."""
        return month_start(self.order_date.date())


@dataclass
class _TermPrice:
    unit_price: Decimal
    offer: NceOffer


ChargeOffer = Callable[[Subscription], NceOffer | None]
CustomerOf = Callable[[str], Customer | None]


@dataclass
class Invoice:
    id: str
    invoice_date: datetime
    period_start: date
    period_end: date
    currency: str
    lines: list[ChargeLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal(0))


class Ledger:
    """Every charge line the simulator made, the invoices they were closed into, and per subscription the term's
    price and the start of its next cycle charge. The state's lock guards it; no HTTP here."""

    def __init__(self, offer_of: ChargeOffer, customer_of: CustomerOf) -> None:
        self._offer_of = offer_of
        self._customer_of = customer_of
        self.lines: list[ChargeLine] = []
        self.invoices: dict[str, Invoice] = {}
        """By upper-case id, in the order they were issued."""
        self._prices: dict[str, _TermPrice] = {}
        self._next_cycle: dict[str, datetime] = {}

    def clear(self) -> None:
        self.lines.clear()
        self.invoices.clear()
        self._prices.clear()
        self._next_cycle.clear()

    # --- the events -------------------------------------------------------------------------------------------

    def bought(self, subscription: Subscription, *, at: datetime) -> None:
        """``new``: the first charge cycle of a purchase."""
        if self._price_term(subscription) is not None:
            self._charge_cycle(subscription, NEW, at=at)

    def track(self, subscription: Subscription, *, now: datetime) -> None:
        """A subscription seeded as bought before the simulator started: no line for what is past, its next cycles
        charged as they come."""
        if self._price_term(subscription) is not None:
            self._set_next_cycle(subscription, after=now)

    def changed(self, subscription: Subscription, *, quantity: int | None, status: str | None, at: datetime) -> None:
        """A mid-term change about to be applied (the subscription still shows the quantity before it)."""
        price = self._prices.get(subscription.id.lower())
        if price is None:
            return
        if status == SubscriptionStatus.DELETED:
            self._cancel(subscription, price, at)
        elif quantity is not None and quantity != subscription.quantity:
            kind = ADD_QUANTITY if quantity > subscription.quantity else REMOVE_QUANTITY
            self._prorated(subscription, price, kind, at, refund=subscription.quantity, charge=quantity)

    def charge_cycles(self, subscription: Subscription, *, until: datetime) -> None:
        """``cycleCharge`` for every cycle of the current term that started by ``until``."""
        key = subscription.id.lower()
        while (due := self._next_cycle.get(key)) is not None and due <= until:
            if subscription.status not in CHARGED_STATUSES:
                del self._next_cycle[key]
                return
            self._charge_cycle(subscription, CYCLE_CHARGE, at=due)

    def after_step(self, subscription: Subscription, *, at: datetime, renewed: bool) -> None:
        """A lifecycle step at the end of a term: a renewal is ``renew`` at the new price; anything else ends the
        charges."""
        key = subscription.id.lower()
        self._next_cycle.pop(key, None)
        if renewed and self._price_term(subscription) is not None:
            self._charge_cycle(subscription, RENEW, at=at)
        elif not renewed:
            self._prices.pop(key, None)

    def next_cycle(self, subscription: Subscription) -> datetime | None:
        return self._next_cycle.get(subscription.id.lower())

    def add(self, line: ChargeLine) -> None:
        """A line made elsewhere (a charge planted by a test for a subscription bought out of band)."""
        self.lines.append(line)

    # --- periods and invoices ---------------------------------------------------------------------------------

    def unbilled(self, currency: str, period: date) -> list[ChargeLine]:
        return [
            line
            for line in self.lines
            if not line.invoice_number and line.period == period and line.currency == currency.upper()
        ]

    def close(self, *, through: date, at: datetime) -> list[Invoice]:
        """Close every unbilled line of a billing period up to ``through`` (a month) into one invoice per currency,
        dated ``at``."""
        closing = [line for line in self.lines if not line.invoice_number and line.period <= month_start(through)]
        currencies = list(dict.fromkeys(line.currency for line in closing))
        period_end = add_months(datetime(through.year, through.month, 1, tzinfo=UTC), 1).date() - DAY
        made = []
        for currency in currencies:
            number = f"G{len(self.invoices) + 1:09d}"
            lines = [line for line in closing if line.currency == currency]
            for line in lines:
                line.invoice_number = number
            invoice = Invoice(number, at, min(line.period for line in lines), period_end, currency, lines)
            self.invoices[number] = invoice
            made.append(invoice)
        return made

    # --- the lines --------------------------------------------------------------------------------------------

    def _price_term(self, subscription: Subscription) -> _TermPrice | None:
        """Read the plan's price from the sheet for the term starting now; None when the subscription is not
        charged (a legacy one, or a SKU no longer in the catalog)."""
        offer = self._offer_of(subscription)
        key = subscription.id.lower()
        if offer is None or subscription.billing_cycle not in CYCLE_MONTHS:
            self._prices.pop(key, None)
            return None
        price = self._prices[key] = _TermPrice(plan_price(offer.unit_price, subscription.billing_cycle), offer)
        return price

    def _set_next_cycle(self, subscription: Subscription, *, after: datetime) -> None:
        key = subscription.id.lower()
        following = next_cycle_start(subscription, after)
        if following is None:
            self._next_cycle.pop(key, None)
        else:
            self._next_cycle[key] = following

    def _charge_cycle(self, subscription: Subscription, kind: str, *, at: datetime) -> None:
        """A whole charge cycle (cut short only by a co-termed end) starting on ``at``'s day."""
        price = self._prices[subscription.id.lower()]
        cycle = charge_cycle(subscription, at.date())
        if cycle is not None:
            days = (cycle.end - cycle.start).days + 1
            effective = effective_unit_price(price.unit_price, days=days, cycle_days=cycle.days)
            self._append(subscription, price, kind, at, cycle, cycle.start, effective, subscription.quantity)
        self._set_next_cycle(subscription, after=at)

    def _prorated(
        self, subscription: Subscription, price: _TermPrice, kind: str, at: datetime, *, refund: int, charge: int
    ) -> None:
        cycle = charge_cycle(subscription, at.date())
        if cycle is None:
            return
        effective = effective_unit_price(price.unit_price, days=(cycle.end - at.date()).days + 1, cycle_days=cycle.days)
        reference = str(uuid.uuid4())
        self._append(subscription, price, kind, at, cycle, at.date(), -effective, refund, reference=reference)
        self._append(subscription, price, kind, at, cycle, at.date(), effective, charge, reference=reference)

    def _cancel(self, subscription: Subscription, price: _TermPrice, at: datetime) -> None:
        cycle = charge_cycle(subscription, at.date())
        if cycle is not None:
            within_a_day = at < subscription.term_started_at + FULL_REFUND_WITHIN
            start = cycle.start if within_a_day else at.date()
            days = (cycle.end - start).days + 1
            effective = effective_unit_price(price.unit_price, days=days, cycle_days=cycle.days)
            self._append(subscription, price, CANCEL_IMMEDIATE, at, cycle, start, -effective, subscription.quantity)
        self._next_cycle.pop(subscription.id.lower(), None)

    def _append(
        self,
        subscription: Subscription,
        price: _TermPrice,
        kind: str,
        at: datetime,
        cycle: Cycle,
        start: date,
        effective: Decimal,
        quantity: int,
        *,
        reference: str | None = None,
    ) -> None:
        """One line; a seat change's refund and charge share one ``reference``."""
        offer = price.offer
        customer = self._customer_of(subscription.customer_id)
        _, _, availability_id = catalog_parts(subscription.offer_id)
        whole_term = CYCLE_MONTHS[subscription.billing_cycle] >= TERM_MONTHS.get(subscription.term_duration, 12)
        self.lines.append(
            ChargeLine(
                customer_id=subscription.customer_id,
                customer_name=customer.company_name if customer is not None else "",
                customer_domain=customer.domain if customer is not None else "",
                order_id=subscription.order_id or "",
                order_date=at,
                product_id=offer.product_id,
                sku_id=offer.sku_id,
                availability_id=availability_id or offer.availability_id,
                product_name=offer.product_title,
                sku_name=offer.name,
                is_add_on=offer.is_add_on,
                charge_type=kind,
                unit_price=price.unit_price,
                effective_unit_price=effective,
                quantity=quantity,
                currency=offer.currency,
                subscription_id=subscription.id,
                subscription_start=subscription.effective_start_date.date(),
                subscription_end=subscription.commitment_end_date.date(),
                charge_start=start,
                charge_end=cycle.end,
                term_duration=subscription.term_duration,
                billing_frequency="" if whole_term else subscription.billing_cycle.capitalize(),
                reference_id=reference or str(uuid.uuid4()),
            )
        )
