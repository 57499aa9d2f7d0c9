"""The plain rows billing computes from (SPEC §8): a contract's terms, its subscriptions and their changes as a run
reads them, what issued documents billed, and the lines of a draft. No I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from seatflow.billing.cycles import Schedule
from seatflow.billing.models import LineKind


@dataclass(frozen=True)
class ContractTerms:
    id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    schedule: Schedule
    advance: bool
    by_months: bool
    refunds: bool
    tax_rate: Decimal
    payment_terms_days: int


@dataclass(slots=True)
class SubscriptionRow:
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    unit_price: Decimal
    """The latest price set (the change log's price changes say from when each applies)."""
    quantity: int
    """The quantity now (0 once cancelled or expired)."""
    start: date | None = None
    """Its start date: nothing is charged before it (None: the contract's start)."""
    anchor: date | None = None
    """Where its charge cycles are anchored (None: on the contract's start)."""
    plan_months: int = 1
    """Months per charge cycle: 1 monthly, 3 quarterly, 12 annual, 36 triennial."""
    term_months: int = 1
    last_day: date | None = None
    """The last day it is billed: its term end when it does not renew; None while it renews."""
    window_days: int = 0
    """Its refund window (Microsoft's 7 days after each purchase, renewal and addition); 0: none."""


@dataclass(slots=True)
class ChangeRow:
    id: uuid.UUID
    subscription_id: uuid.UUID
    delta: int
    effective_date: date
    open: bool
    """Not yet invoiced."""
    price: Decimal | None = None
    """For a price change: the price from its effective date."""
    price_before: Decimal | None = None
    expiry: bool = False
    """The term ended without renewal: billed to the day before, whatever the refund rules."""


class Billed(Protocol):
    """A line of an issued document (or of a draft of the run): ``quantity`` at ``unit_price`` over its period."""

    @property
    def period_start(self) -> date: ...
    @property
    def period_end(self) -> date: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...


@dataclass(frozen=True)
class BilledLine:
    """A line of an issued document, as a run reads it."""

    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class DraftLine:
    kind: LineKind
    subscription_id: uuid.UUID
    product_id: uuid.UUID
    change_id: uuid.UUID | None
    description: str
    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal
    amount: Decimal
