"""What a subscription costs and what a quantity change does to it, as a customer reads it (SPEC §8, §10); pure.

Prices are per unit per month: the monthly cost is quantity x unit price, rounded half-up to the currency's minor
unit once, as an invoice line is. An upfront plan (annual, triennial) is billed once per year or term: each bill is
the months it covers x quantity x unit price, rounded once, the amount of its invoice line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from seatflow.billing.amounts import cycle_amount, round_money
from seatflow.subscriptions.models import BillingPlan
from seatflow.subscriptions.rules import Refundable


@dataclass(frozen=True)
class Cost:
    quantity: int
    unit_price: Decimal
    currency: str
    plan: BillingPlan

    @property
    def monthly(self) -> Decimal:
        return round_money(cycle_amount(self.quantity, self.unit_price, 1), self.currency)

    @property
    def billed_per_month(self) -> bool:
        return self.plan.months == 1

    @property
    def per_bill(self) -> Decimal:
        """One bill of the plan: a month, a quarter, a year or the three years of a triennial plan."""
        return round_money(cycle_amount(self.quantity, self.unit_price, self.plan.months), self.currency)

    def with_quantity(self, quantity: int) -> Cost:
        return Cost(quantity, self.unit_price, self.currency, self.plan)


def price_key(price: Decimal) -> str:
    """One spelling of a price whatever the database stored (36, 36.00 and 36.0000 are "36")."""
    return format(price.normalize(), "f")


def last_day_all_removable(refundable: Refundable, seats: int) -> date | None:
    """The last day on which the ``seats`` newest seats can all still be removed, or None if they cannot be.

    Reductions take the newest seats first, and on a day ``d`` every batch still open then (``allowed_until >= d``)
    can be removed: the added seats can all go while those batches hold at least ``seats``."""
    last = None
    for batch in refundable.batches:
        still_open = sum(b.quantity for b in refundable.batches if b.allowed_until >= batch.allowed_until)
        if still_open >= seats and (last is None or batch.allowed_until > last):
            last = batch.allowed_until
    return last
