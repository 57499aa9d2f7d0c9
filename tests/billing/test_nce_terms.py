"""Billing on NCE terms (SPEC §8, revised 2026-12; issue 13): each subscription is charged per charge cycle of its
own term and billing plan, every line is priced with the price in force on the days it covers, term and contract
ends are billed to their last day (with a final invoice for a change in an already billed last cycle), and a
reduction inside Microsoft's 7-day refund window is credited by day even without ``process_refunds``.

Every figure was worked out by hand; the arithmetic is beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.billing.models import CreditReason, Invoice, InvoiceStatus
from seatflow.billing.service import void_invoice
from seatflow.catalog.models import BillingFrequency, BillingPlan, ProviderKind, ReductionBehavior, Term
from seatflow.contracts.models import BillingContract, BillingPolicy
from seatflow.subscriptions.lifecycle import update_subscription
from seatflow.subscriptions.models import BillingStatus, LicenseChange, Subscription, SubscriptionStatus
from seatflow.subscriptions.renewals import run_renewals
from seatflow.subscriptions.rules import add_months
from seatflow.subscriptions.schemas import SubscriptionUpdate
from tests.billing.nce_support import nce_shop
from tests.billing.support import PRORATION, RECURRING, LineRow, bill, cancel_on, contract, line_rows, set_quantity
from tests.billing.support import subscribe as subscribe_to
from tests.factories import OPERATOR, noon

D = date
MONTHLY, QUARTERLY, ANNUAL = BillingFrequency.MONTHLY, BillingFrequency.QUARTERLY, BillingFrequency.ANNUAL
ADVANCE, ARREARS = BillingPolicy.ADVANCE, BillingPolicy.ARREARS
P1M, P1Y, P3Y = Term.P1M, Term.P1Y, Term.P3Y
BY_MONTH, YEARLY, TRIENNIALLY = BillingPlan.MONTHLY, BillingPlan.ANNUAL, BillingPlan.TRIENNIAL
JAN_1, FEB_1, MAR_1, APR_1 = D(2027, 1, 1), D(2027, 2, 1), D(2027, 3, 1), D(2027, 4, 1)
JAN_31, FEB_28, MAR_31 = D(2027, 1, 31), D(2027, 2, 28), D(2027, 3, 31)


# --- the table's vocabulary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    key: str
    product: str
    quantity: int
    price: str
    start: date
    term: Term = P1M
    plan: BillingPlan = BY_MONTH
    ordered: date | None = None
    """Default: its start."""
    auto_renew: bool = True


@dataclass(frozen=True)
class Qty:
    key: str
    quantity: int
    on: date


@dataclass(frozen=True)
class Cancel:
    key: str
    on: date


@dataclass(frozen=True)
class Price:
    """The operator sets a new unit price on ``on``, from ``effective`` (None: the service's default)."""

    key: str
    price: str
    on: date
    effective: date | None = None


@dataclass(frozen=True)
class NoRenew:
    key: str
    on: date


@dataclass(frozen=True)
class Renewals:
    """The daily step on ``on``: renewals, and expiries of what does not renew."""

    on: date


@dataclass(frozen=True)
class Void:
    number: str
    on: date


@dataclass(frozen=True)
class Bill:
    on: date
    created: int
    credit_notes: int = 0


Step = Sub | Qty | Cancel | Price | NoRenew | Renewals | Void | Bill


@dataclass(frozen=True)
class Doc:
    """An invoice or a credit note of the contract (not a void's credit note), in the order of its number."""

    number: str
    issued: date
    start: date
    end: date
    lines: list[LineRow]
    subtotal: str
    status: InvoiceStatus = InvoiceStatus.ISSUED


@dataclass(frozen=True)
class Case:
    id: str
    contract: dict[str, Any]
    steps: list[Step]
    documents: list[Doc]
    shop: dict[str, Any] = field(default_factory=dict)
    products: tuple[str, ...] = ("A", "B")


def rec(start: date, end: date, quantity: int, price: str, amount: str) -> LineRow:
    return (RECURRING, start, end, quantity, Decimal(price), Decimal(amount))


def pro(start: date, end: date, quantity: int, price: str, amount: str) -> LineRow:
    return (PRORATION, start, end, quantity, Decimal(price), Decimal(amount))


def terms(start: date, frequency: BillingFrequency = MONTHLY, policy: BillingPolicy = ADVANCE, **more: Any) -> dict:
    return {"start_date": start, "billing_frequency": frequency, "billing_policy": policy, **more}


def inv(n: int) -> str:
    return f"INV-{n:06d}"


def cn(n: int) -> str:
    return f"CN-{n:06d}"


# --- price history -----------------------------------------------------------------------------------------

PRICES = [
    Case(
        # Set on Jan 10, from Jan 16: January is billed at both prices, each for its days (SPEC §8 "Price history").
        "arrears-price-change-mid-cycle-then-voided-and-rebilled",
        terms(JAN_1, policy=ARREARS),
        [
            Sub("a", "A", 10, "30.00", JAN_1),
            Price("a", "33.00", D(2027, 1, 10), effective=D(2027, 1, 16)),
            Bill(FEB_1, 1),
            Void(inv(1), D(2027, 2, 3)),
            Bill(D(2027, 2, 3), 1),  # the same numbers: the price of each day, not the price of the run's day
            Bill(MAR_1, 1),
        ],
        [
            Doc(
                inv(1),
                FEB_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, D(2027, 1, 15), 10, "30.00", "145.16"),  # 10 x 30.00 x 15/31 = 145.161… → 145.16
                    rec(D(2027, 1, 16), JAN_31, 10, "33.00", "170.32"),  # 10 x 33.00 x 16/31 = 170.322… → 170.32
                ],
                "315.48",  # 145.16 + 170.32
                InvoiceStatus.VOID,
            ),
            Doc(
                inv(2),
                D(2027, 2, 3),
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, D(2027, 1, 15), 10, "30.00", "145.16"),  # as above
                    rec(D(2027, 1, 16), JAN_31, 10, "33.00", "170.32"),  # as above
                ],
                "315.48",
            ),
            Doc(inv(3), MAR_1, FEB_1, FEB_28, [rec(FEB_1, FEB_28, 10, "33.00", "330.00")], "330.00"),  # 10 x 33.00
        ],
    ),
    Case(
        "arrears-price-change-mid-cycle-caught-up-late",  # the same contract billed only on Mar 1
        terms(JAN_1, policy=ARREARS),
        [
            Sub("a", "A", 10, "30.00", JAN_1),
            Price("a", "33.00", D(2027, 1, 10), effective=D(2027, 1, 16)),
            Bill(MAR_1, 2),
        ],
        [
            Doc(
                inv(1),
                MAR_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, D(2027, 1, 15), 10, "30.00", "145.16"),  # 10 x 30.00 x 15/31
                    rec(D(2027, 1, 16), JAN_31, 10, "33.00", "170.32"),  # 10 x 33.00 x 16/31
                ],
                "315.48",
            ),
            Doc(inv(2), MAR_1, FEB_1, FEB_28, [rec(FEB_1, FEB_28, 10, "33.00", "330.00")], "330.00"),  # 10 x 33.00
        ],
    ),
    Case(
        # In advance January was billed at 30.00; the next invoice takes 30.00 off Jan 16-31 and bills 33.00.
        "advance-price-change-mid-cycle",
        terms(JAN_1),
        [
            Sub("a", "A", 10, "30.00", JAN_1),
            Bill(JAN_1, 1),
            Price("a", "33.00", D(2027, 1, 10), effective=D(2027, 1, 16)),
            Bill(FEB_1, 1),
        ],
        [
            Doc(inv(1), JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "30.00", "300.00")], "300.00"),  # 10 x 30.00
            Doc(
                inv(2),
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 10, "33.00", "330.00"),  # 10 x 33.00
                    pro(D(2027, 1, 16), JAN_31, -10, "30.00", "-154.84"),  # -10 x 30.00 x 16/31 = -154.838… → -154.84
                    pro(D(2027, 1, 16), JAN_31, 10, "33.00", "170.32"),  # 10 x 33.00 x 16/31 = 170.322… → 170.32
                ],
                "345.48",  # 330.00 - 154.84 + 170.32; January in all: 300.00 - 154.84 + 170.32 = 315.48, as in arrears
            ),
        ],
    ),
    Case(
        # NCE price protection: a price set mid-term without a day applies from the renewal (Jan 1 2028), and the
        # seats added mid-term (Nov 16) take the term's price.
        "a-new-price-waits-for-the-renewal-and-added-seats-take-the-terms-price",
        terms(D(2027, 10, 1)),
        [
            Sub("a", "A", 10, "36.00", JAN_1, term=P1Y),  # term Jan 1 - Dec 31 2027, billed monthly
            Bill(D(2027, 10, 1), 1),
            Price("a", "40.00", D(2027, 10, 10)),
            Bill(D(2027, 11, 1), 1),
            Qty("a", 12, D(2027, 11, 16)),
            Bill(D(2027, 12, 1), 1),
            Bill(D(2028, 1, 1), 1),
        ],
        [
            # The contract starts Oct 1: the monthly charges from then, 10 x 36.00
            Doc(
                inv(1),
                D(2027, 10, 1),
                D(2027, 10, 1),
                D(2027, 10, 31),
                [rec(D(2027, 10, 1), D(2027, 10, 31), 10, "36.00", "360.00")],
                "360.00",
            ),
            # Still the term's price: 10 x 36.00
            Doc(
                inv(2),
                D(2027, 11, 1),
                D(2027, 11, 1),
                D(2027, 11, 30),
                [rec(D(2027, 11, 1), D(2027, 11, 30), 10, "36.00", "360.00")],
                "360.00",
            ),
            Doc(
                inv(3),
                D(2027, 12, 1),
                D(2027, 12, 1),
                D(2027, 12, 31),
                [
                    rec(D(2027, 12, 1), D(2027, 12, 31), 12, "36.00", "432.00"),  # 12 x 36.00
                    pro(D(2027, 11, 16), D(2027, 11, 30), 2, "36.00", "36.00"),  # 2 x 36.00 x 15/30 = 36.00
                ],
                "468.00",  # 432.00 + 36.00
            ),
            # The renewal: the new price, 12 x 40.00
            Doc(
                inv(4),
                D(2028, 1, 1),
                D(2028, 1, 1),
                D(2028, 1, 31),
                [rec(D(2028, 1, 1), D(2028, 1, 31), 12, "40.00", "480.00")],
                "480.00",
            ),
        ],
    ),
    Case(
        # An operator sets the day (Oct 16): from it every seat, the 2 added that day too, takes the new price
        # (the rule for seats added after a price change: the price in force on the days they cover).
        "a-price-set-from-a-day-applies-to-every-seat-from-it",
        terms(D(2027, 10, 1)),
        [
            Sub("a", "A", 10, "36.00", D(2027, 10, 1), term=P1Y),
            Bill(D(2027, 10, 1), 1),
            Price("a", "40.00", D(2027, 10, 5), effective=D(2027, 10, 16)),
            Qty("a", 12, D(2027, 10, 16)),
            Bill(D(2027, 11, 1), 1),
        ],
        [
            Doc(
                inv(1),
                D(2027, 10, 1),
                D(2027, 10, 1),
                D(2027, 10, 31),
                [rec(D(2027, 10, 1), D(2027, 10, 31), 10, "36.00", "360.00")],
                "360.00",
            ),
            Doc(
                inv(2),
                D(2027, 11, 1),
                D(2027, 11, 1),
                D(2027, 11, 30),
                [
                    rec(D(2027, 11, 1), D(2027, 11, 30), 12, "40.00", "480.00"),  # 12 x 40.00
                    # Oct 16-31 = 16 of 31 days: -10 x 36.00 x 16/31 = -185.806… → -185.81 (what was billed)
                    pro(D(2027, 10, 16), D(2027, 10, 31), -10, "36.00", "-185.81"),
                    # and 12 x 40.00 x 16/31 = 247.741… → 247.74 (what is due)
                    pro(D(2027, 10, 16), D(2027, 10, 31), 12, "40.00", "247.74"),
                ],
                "541.93",  # 480.00 - 185.81 + 247.74
            ),
        ],
    ),
]


# --- charges from each subscription's own term and billing plan ----------------------------------------------

E3, E5 = "E3", "E5"


def _e5_months() -> list[Doc]:
    """A monthly contract from Jan 1 2027 with E3 (P1Y billed monthly, 5 x 36.00) and E5 (P1Y billed annually,
    10 x 36.19): the invoices of Jan 2027 to Feb 2028, 14 months; +2 E5 on Jul 10 2027."""
    docs = []
    for n in range(14):
        first = add_months(JAN_1, n)
        last = add_months(JAN_1, n + 1) - timedelta(days=1)
        lines = [rec(first, last, 5, "36.00", "180.00")]  # E3: 5 x 36.00 every month
        subtotal = Decimal("180.00")
        if n == 0:
            # E5's first year, upfront, on January's invoice: 10 x 36.19 x 12 = 4342.80 (subtotal 4522.80)
            lines.append(rec(JAN_1, D(2027, 12, 31), 10, "36.19", "4342.80"))
            subtotal += Decimal("4342.80")
        if n == 7:
            # August's: +2 from Jul 10 to the end of E5's year: Jul 10-31 (22) + 31 + 30 + 31 + 30 + 31 = 175 of 365
            # days: 2 x 36.19 x 12 x 175/365 = 416.432… → 416.43 (subtotal 596.43)
            lines.append(pro(D(2027, 7, 10), D(2027, 12, 31), 2, "36.19", "416.43"))
            subtotal += Decimal("416.43")
        if n == 12:
            # E5's second year, upfront, on January 2028's, at its 12 seats: 12 x 36.19 x 12 = 5211.36 (5391.36)
            lines.append(rec(D(2028, 1, 1), D(2028, 12, 31), 12, "36.19", "5211.36"))
            subtotal += Decimal("5211.36")
        docs.append(Doc(inv(n + 1), first, first, last, lines, str(subtotal)))
    return docs


CHARGES = [
    Case(
        # An annual-upfront E5 on a monthly contract appears once a year, in full, on the invoice of the month its
        # year starts; the E3 billed monthly on every invoice. 14 months: Jan 2027 - Feb 2028.
        "annual-upfront-e5-on-a-monthly-contract-over-14-months",
        terms(JAN_1),
        [
            Sub("e3", E3, 5, "36.00", JAN_1, term=P1Y),
            Sub("e5", E5, 10, "36.19", JAN_1, term=P1Y, plan=YEARLY),
            *[Bill(D(2027, month, 1), 1) for month in range(1, 8)],
            Qty("e5", 12, D(2027, 7, 10)),
            *[Bill(D(2027, month, 1), 1) for month in range(8, 13)],
            Bill(D(2028, 1, 1), 1),
            Bill(D(2028, 2, 1), 1),
        ],
        _e5_months(),
        products=(E3, E5),
    ),
    Case(
        # The old figure of test_invoices' advance-annual-days-increase, now from an annual plan: the +2 is
        # prorated to the end of the subscription's year.
        "annual-plan-increase-prorated-to-the-end-of-its-year",
        terms(JAN_1, ANNUAL),
        [
            Sub("a", "A", 3, "20.00", JAN_1, term=P1Y, plan=YEARLY),
            Bill(JAN_1, 1),
            Qty("a", 5, D(2027, 7, 1)),
            Bill(D(2028, 1, 1), 1),
        ],
        [
            Doc(
                inv(1), JAN_1, JAN_1, D(2027, 12, 31), [rec(JAN_1, D(2027, 12, 31), 3, "20.00", "720.00")], "720.00"
            ),  # 3 x 20.00 x 12
            Doc(
                inv(2),
                D(2028, 1, 1),
                D(2028, 1, 1),
                D(2028, 12, 31),
                [
                    rec(D(2028, 1, 1), D(2028, 12, 31), 5, "20.00", "1200.00"),  # 5 x 20.00 x 12
                    # Jul 1 - Dec 31 = 184 of 365 days: 2 x 20.00 x 12 x 184/365 = 241.972… → 241.97
                    pro(D(2027, 7, 1), D(2027, 12, 31), 2, "20.00", "241.97"),
                ],
                "1441.97",  # 1200.00 + 241.97
            ),
        ],
    ),
    Case(
        "annual-plan-in-arrears-across-feb-29",
        terms(MAR_1, ANNUAL, ARREARS),
        [
            Sub("a", "A", 2, "15.00", MAR_1, term=P1Y, plan=YEARLY),
            Qty("a", 3, D(2027, 9, 1)),
            Bill(D(2028, 2, 29), 0),
            Bill(D(2028, 3, 1), 1),
        ],
        [
            Doc(
                inv(1),
                D(2028, 3, 1),
                MAR_1,
                D(2028, 2, 29),
                [
                    rec(MAR_1, D(2028, 2, 29), 2, "15.00", "360.00"),  # 2 x 15.00 x 12
                    # Sep 1 - Feb 29 = 30 + 31 + 30 + 31 + 31 + 29 = 182 of 366 days:
                    # 1 x 15.00 x 12 x 182/366 = 89.508… → 89.51
                    pro(D(2027, 9, 1), D(2028, 2, 29), 1, "15.00", "89.51"),
                ],
                "449.51",  # 360.00 + 89.51
            ),
        ],
    ),
    Case(
        # Triennial: once per term; a seat added in its second year is prorated to the end of the term.
        "triennial-once-per-term",
        terms(JAN_1, ANNUAL),
        [
            Sub("a", "A", 2, "30.00", JAN_1, term=P3Y, plan=TRIENNIALLY),
            Bill(JAN_1, 1),
            Bill(D(2028, 1, 1), 0),  # nothing is gathered by 2028's cycle
            Qty("a", 3, D(2028, 1, 1)),
            Bill(D(2029, 1, 1), 1),  # 2028's cycle, billed now (nothing else is gathered by 2029's)
        ],
        [
            # Jan 1 2027 - Dec 31 2029: 2 x 30.00 x 36 = 2160.00
            Doc(inv(1), JAN_1, JAN_1, D(2027, 12, 31), [rec(JAN_1, D(2029, 12, 31), 2, "30.00", "2160.00")], "2160.00"),
            Doc(
                inv(2),
                D(2029, 1, 1),
                D(2028, 1, 1),
                D(2028, 12, 31),
                # 2028 + 2029 = 366 + 365 = 731 of the term's 365 + 366 + 365 = 1096 days:
                # 1 x 30.00 x 36 x 731/1096 = 720.328… → 720.33
                [pro(D(2028, 1, 1), D(2029, 12, 31), 1, "30.00", "720.33")],
                "720.33",
            ),
        ],
    ),
    Case(
        # The contract ends Apr 30: the annual charge is billed to that day and no further.
        "an-annual-charge-cut-by-the-contracts-end",
        terms(JAN_1, QUARTERLY, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_1, term=P1Y, plan=YEARLY), Bill(JAN_1, 1), Bill(APR_1, 0)],
        [
            # Jan 1 - Apr 30 = 31 + 28 + 31 + 30 = 120 of 365 days: 2 x 30.00 x 12 x 120/365 = 236.712… → 236.71
            Doc(inv(1), JAN_1, JAN_1, MAR_31, [rec(JAN_1, D(2027, 4, 30), 2, "30.00", "236.71")], "236.71"),
        ],
    ),
]


# --- term and contract ends ----------------------------------------------------------------------------------

ENDS = [
    Case(
        # +10 seats on Nov 16, inside the last quarter of a contract that ends Dec 31 (billed on Oct 1): a final
        # invoice bills them from the day after the contract's last day.
        "ten-seats-added-in-the-last-cycle-of-a-contract-that-does-not-renew",
        terms(D(2027, 7, 1), QUARTERLY, term_months=6, auto_renew=False),
        [
            Sub("a", "A", 20, "36.00", D(2027, 7, 1), term=P1Y),
            Bill(D(2027, 7, 1), 1),
            Bill(D(2027, 10, 1), 1),
            Qty("a", 30, D(2027, 11, 16)),
            Bill(D(2027, 12, 31), 0),
            Bill(D(2028, 1, 1), 1),
            Bill(D(2028, 2, 1), 0),
        ],
        [
            # 20 x 36.00 x 3 months
            Doc(
                inv(1),
                D(2027, 7, 1),
                D(2027, 7, 1),
                D(2027, 9, 30),
                [rec(D(2027, 7, 1), D(2027, 9, 30), 20, "36.00", "2160.00")],
                "2160.00",
            ),
            Doc(
                inv(2),
                D(2027, 10, 1),
                D(2027, 10, 1),
                D(2027, 12, 31),
                [rec(D(2027, 10, 1), D(2027, 12, 31), 20, "36.00", "2160.00")],
                "2160.00",
            ),
            # The final invoice (its period is the day it is issued): Nov 16-30 = 15 of 30 days, 10 x 36.00 x 15/30 =
            # 180.00, and all of December, 10 x 36.00 = 360.00: 540.00
            Doc(
                inv(3),
                D(2028, 1, 1),
                D(2028, 1, 1),
                D(2028, 1, 1),
                [pro(D(2027, 11, 16), D(2027, 12, 31), 10, "36.00", "540.00")],
                "540.00",
            ),
        ],
    ),
    Case(
        # In arrears the last quarter's invoice holds the +10; a reduction recorded after it (dated Dec 20) is
        # credited on a final credit note (in arrears the quarter was not paid ahead).
        "arrears-a-change-recorded-after-the-last-invoice-of-a-contract-that-ended",
        terms(D(2027, 7, 1), QUARTERLY, ARREARS, term_months=6, auto_renew=False),
        [
            Sub("a", "A", 20, "36.00", D(2027, 7, 1), term=P1Y),
            Bill(D(2027, 10, 1), 1),
            Qty("a", 30, D(2027, 11, 16)),
            Bill(D(2028, 1, 1), 1),
            Qty("a", 25, D(2027, 12, 20)),
            Bill(D(2028, 1, 2), 0, credit_notes=1),
        ],
        [
            Doc(
                inv(1),
                D(2027, 10, 1),
                D(2027, 7, 1),
                D(2027, 9, 30),
                [rec(D(2027, 7, 1), D(2027, 9, 30), 20, "36.00", "2160.00")],
                "2160.00",
            ),
            Doc(
                inv(2),
                D(2028, 1, 1),
                D(2027, 10, 1),
                D(2027, 12, 31),
                [
                    rec(D(2027, 10, 1), D(2027, 12, 31), 20, "36.00", "2160.00"),  # 20 x 36.00 x 3
                    pro(D(2027, 11, 16), D(2027, 12, 31), 10, "36.00", "540.00"),  # 10 x 36.00 x 15/30 + 10 x 36.00
                ],
                "2700.00",  # 2160.00 + 540.00
            ),
            # Dec 20-31 = 12 of 31 days: -5 x 36.00 x 12/31 = -69.677… → -69.68
            Doc(
                cn(1),
                D(2028, 1, 2),
                D(2028, 1, 2),
                D(2028, 1, 2),
                [pro(D(2027, 12, 20), D(2027, 12, 31), -5, "36.00", "-69.68")],
                "-69.68",
            ),
        ],
    ),
    Case(
        # A P1M subscription bought on Jan 16 that does not renew: its one month, Jan 16 - Feb 15, and no more,
        # though the quarter runs to Mar 31. It expires on Feb 16 (not cancelled).
        "a-p1m-subscription-that-expires-mid-cycle",
        terms(JAN_1, QUARTERLY),
        [
            Sub("a", "A", 5, "20.00", D(2027, 1, 16), ordered=D(2026, 12, 20), auto_renew=False),
            Sub("b", "B", 1, "10.00", JAN_1, term=P1Y),
            Bill(JAN_1, 1),
            Renewals(D(2027, 2, 16)),
            Bill(APR_1, 1),
        ],
        [
            Doc(
                inv(1),
                JAN_1,
                JAN_1,
                MAR_31,
                [
                    rec(D(2027, 1, 16), D(2027, 2, 15), 5, "20.00", "100.00"),  # its only month: 5 x 20.00
                    rec(JAN_1, MAR_31, 1, "10.00", "30.00"),  # b: 1 x 10.00 x 3
                ],
                "130.00",  # 100.00 + 30.00
            ),
            Doc(
                inv(2), APR_1, APR_1, D(2027, 6, 30), [rec(APR_1, D(2027, 6, 30), 1, "10.00", "30.00")], "30.00"
            ),  # b only
        ],
    ),
    Case(
        # Set not to renew on Jan 20 after the quarter was billed: it expires after Jan 31, so February and March,
        # billed ahead, are credited (an expired subscription is billed to its term end, refunds or not).
        "a-p1m-subscription-set-not-to-renew-after-its-quarter-was-billed",
        terms(JAN_1, QUARTERLY),
        [
            Sub("a", "A", 5, "20.00", JAN_1),
            Sub("b", "B", 1, "10.00", JAN_1, term=P1Y),
            Bill(JAN_1, 1),
            NoRenew("a", D(2027, 1, 20)),
            Renewals(FEB_1),
            Bill(APR_1, 0, credit_notes=1),
        ],
        [
            Doc(
                inv(1),
                JAN_1,
                JAN_1,
                MAR_31,
                [rec(JAN_1, MAR_31, 5, "20.00", "300.00"), rec(JAN_1, MAR_31, 1, "10.00", "30.00")],  # x 3 months
                "330.00",
            ),
            Doc(
                cn(1),
                APR_1,
                APR_1,
                D(2027, 6, 30),
                [
                    pro(FEB_1, MAR_31, -5, "20.00", "-200.00"),  # its months after its term: -5 x 20.00 x 2
                    rec(APR_1, D(2027, 6, 30), 1, "10.00", "30.00"),  # b: 1 x 10.00 x 3
                ],
                "-170.00",  # -200.00 + 30.00: a credit note
            ),
        ],
    ),
]


# --- Microsoft's 7-day refund window -------------------------------------------------------------------------

PARTNER_CENTER = {"provider": ProviderKind.PARTNER_CENTER}  # Microsoft refunds 7 days; the reseller allows any day

WINDOWS = [
    Case(
        # No process_refunds. Bought Jan 1: its seats can be refunded Jan 1-7. The reduction on day 3 is credited
        # by day; the one on day 9 is not (January keeps those seats, February has not got them).
        "a-reduction-on-day-3-is-credited-and-one-on-day-9-is-not",
        terms(JAN_1),
        [
            Sub("a", "A", 10, "36.00", JAN_1, term=P1Y),
            Bill(JAN_1, 1),
            Qty("a", 8, D(2027, 1, 3)),
            Qty("a", 6, D(2027, 1, 9)),
            Bill(FEB_1, 1),
        ],
        [
            Doc(inv(1), JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "36.00", "360.00")], "360.00"),  # 10 x 36.00
            Doc(
                inv(2),
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 6, "36.00", "216.00"),  # 6 x 36.00
                    pro(D(2027, 1, 3), JAN_31, -2, "36.00", "-67.35"),  # Jan 3-31, 29 of 31 days: -2 x 36.00 x 29/31
                ],
                "148.65",  # 216.00 - 67.35
            ),
        ],
        shop=PARTNER_CENTER,
    ),
    Case(
        # +4 on Jan 12 opens a window for those 4 (Jan 12-18). -5 on Jan 15: 4 of them are inside it (the newest
        # seats go first), 1 is not: 4 are credited.
        "a-reduction-partly-inside-the-window-of-seats-added-mid-term",
        terms(JAN_1),
        [
            Sub("a", "A", 10, "36.00", JAN_1, term=P1Y),
            Bill(JAN_1, 1),
            Qty("a", 14, D(2027, 1, 12)),
            Qty("a", 9, D(2027, 1, 15)),
            Bill(FEB_1, 1),
        ],
        [
            Doc(inv(1), JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "36.00", "360.00")], "360.00"),
            Doc(
                inv(2),
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 9, "36.00", "324.00"),  # 9 x 36.00
                    pro(D(2027, 1, 12), JAN_31, 4, "36.00", "92.90"),  # Jan 12-31, 20 days: 4 x 36.00 x 20/31 = 92.903…
                    pro(
                        D(2027, 1, 15), JAN_31, -4, "36.00", "-78.97"
                    ),  # Jan 15-31, 17 days: -4 x 36.00 x 17/31 = -78.967…
                ],
                "337.93",  # 324.00 + 92.90 - 78.97
            ),
        ],
        shop=PARTNER_CENTER,
    ),
    Case(
        "a-cancellation-on-day-5-is-credited-by-day",
        terms(JAN_1),
        [Sub("a", "A", 10, "36.00", JAN_1, term=P1Y), Bill(JAN_1, 1), Cancel("a", D(2027, 1, 5)), Bill(FEB_1, 0, 1)],
        [
            Doc(inv(1), JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "36.00", "360.00")], "360.00"),
            # Jan 5-31 = 27 of 31 days: -10 x 36.00 x 27/31 = -313.548… → -313.55: a credit note
            Doc(cn(1), FEB_1, FEB_1, FEB_28, [pro(D(2027, 1, 5), JAN_31, -10, "36.00", "-313.55")], "-313.55"),
        ],
        shop=PARTNER_CENTER,
    ),
    Case(
        # The reseller's own rule may be the window (allowed_within_window, 7 days): the same credit.
        "a-reduction-inside-the-subscriptions-own-window-is-credited",
        terms(JAN_1),
        [Sub("a", "A", 10, "36.00", JAN_1, term=P1Y), Bill(JAN_1, 1), Qty("a", 8, D(2027, 1, 3)), Bill(FEB_1, 1)],
        [
            Doc(inv(1), JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "36.00", "360.00")], "360.00"),
            Doc(
                inv(2),
                FEB_1,
                FEB_1,
                FEB_28,
                # 8 x 36.00 = 288.00; Jan 3-31: -2 x 36.00 x 29/31 = -67.354… → -67.35
                [rec(FEB_1, FEB_28, 8, "36.00", "288.00"), pro(D(2027, 1, 3), JAN_31, -2, "36.00", "-67.35")],
                "220.65",  # 288.00 - 67.35
            ),
        ],
        shop={"reductions": ReductionBehavior.ALLOWED_WITHIN_WINDOW},
    ),
]

CASES = [*PRICES, *CHARGES, *ENDS, *WINDOWS]


def play(session: Session, case: Case) -> tuple[BillingContract, dict[str, Subscription]]:
    shop = nce_shop(session, products=case.products, **case.shop)
    billed = contract(session, shop, **case.contract)
    subscriptions: dict[str, Subscription] = {}
    for step in case.steps:
        if isinstance(step, Sub):
            subscriptions[step.key] = subscribe_to(
                session,
                shop,
                billed,
                product=step.product,
                quantity=step.quantity,
                price=step.price,
                start=step.start,
                today=step.ordered,
                term=step.term,
                billing_plan=step.plan,
                auto_renew=step.auto_renew,
            )
        elif isinstance(step, Qty):
            set_quantity(session, subscriptions[step.key], step.quantity, step.on)
        elif isinstance(step, Cancel):
            cancel_on(session, subscriptions[step.key], step.on)
        elif isinstance(step, Price | NoRenew):
            data = (
                SubscriptionUpdate(unit_price=Decimal(step.price), price_effective_date=step.effective)
                if isinstance(step, Price)
                else SubscriptionUpdate(auto_renew=False)
            )
            update_subscription(
                session,
                subscription=session.get_one(Subscription, subscriptions[step.key].id),
                data=data,
                today=step.on,
                now=noon(step.on),
                actor=OPERATOR,
            )
        elif isinstance(step, Renewals):
            run_renewals(session, today=step.on, now=noon(step.on))
        elif isinstance(step, Void):
            found = session.scalars(select(Invoice).where(Invoice.number == step.number)).one()
            void_invoice(session, invoice=found, reason="Wrong figures", now=noon(step.on))
        else:
            summary = bill(session, step.on)
            assert (summary.invoices_created, summary.credit_notes_created) == (step.created, step.credit_notes), (
                f"the run of {step.on}"
            )
    session.expire_all()
    return billed, subscriptions


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_documents(session: Session, case: Case) -> None:
    billed, subscriptions = play(session, case)

    found = session.scalars(
        select(Invoice)
        .where(Invoice.contract_id == billed.id)
        .where((Invoice.credit_reason.is_(None)) | (Invoice.credit_reason != CreditReason.VOID))
        .order_by(Invoice.kind, Invoice.number)
    ).all()
    actual = [
        (i.number, i.status, i.issue_date, i.period_start, i.period_end, line_rows(session, i), i.subtotal)
        for i in found
    ]
    expected = [
        (d.number, d.status, d.issued, d.start, d.end, d.lines, Decimal(d.subtotal))
        for d in sorted(case.documents, key=lambda d: (not d.number.startswith("CN-"), d.number))
    ]
    assert actual == expected
    for invoice in found:
        assert invoice.total == invoice.subtotal + invoice.tax
    # Every change is billed, once: none is left open; each names the issued document that billed it, if any.
    changes = session.scalars(
        select(LicenseChange).where(LicenseChange.subscription_id.in_([s.id for s in subscriptions.values()]))
    ).all()
    billed_kinds = {"create", "quantity", "cancel", "expire", "price"}
    assert [c for c in changes if c.kind.value in billed_kinds and c.billing_status is BillingStatus.OPEN] == []


def test_an_expired_subscription_is_expired_not_cancelled(session: Session) -> None:
    case = next(c for c in ENDS if c.id == "a-p1m-subscription-that-expires-mid-cycle")
    _, subscriptions = play(session, case)
    expired = session.get_one(Subscription, subscriptions["a"].id)
    assert (expired.status, expired.term_end) == (SubscriptionStatus.EXPIRED, D(2027, 2, 15))
    kinds = [
        c.kind.value for c in session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == expired.id))
    ]
    assert "expire" in kinds
    assert "cancel" not in kinds
