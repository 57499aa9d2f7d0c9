"""Billing runs end to end (SPEC §8): what each invoice holds, worked out by hand (the arithmetic is written
next to every figure), through the real services and ``run_billing``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatflow.billing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus
from seatflow.billing.runs import INVOICE_COUNTER
from seatflow.billing.service import void_invoice
from seatflow.catalog.models import BillingFrequency, ProviderKind
from seatflow.contracts.models import BillingContract, BillingPolicy, ProrationUnit
from seatflow.db.sequences import Counter
from seatflow.subscriptions.changes import change_quantity
from seatflow.subscriptions.models import BillingStatus, LicenseChange, Subscription
from seatflow.subscriptions.renewals import run_renewals
from tests.billing.support import (
    PRORATION,
    RECURRING,
    LineRow,
    Shop,
    bill,
    cancel_on,
    contract,
    expected_numbers,
    invoices,
    line_rows,
    lines,
    numbers,
    open_shop,
    set_quantity,
    subscribe,
)
from tests.factories import OPERATOR, create_provider_account, create_subscription, noon

D = date
MONTHLY, QUARTERLY, ANNUAL = BillingFrequency.MONTHLY, BillingFrequency.QUARTERLY, BillingFrequency.ANNUAL
ADVANCE, ARREARS = BillingPolicy.ADVANCE, BillingPolicy.ARREARS
DAYS, MONTHS = ProrationUnit.DAYS, ProrationUnit.MONTHS


# --- the table's vocabulary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    """A subscription ``key`` of product ``product`` starting on ``start``, ordered on ``ordered`` (default:
    its start)."""

    key: str
    product: str
    quantity: int
    price: str
    start: date
    ordered: date | None = None


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
class Bill:
    on: date
    created: int
    """Invoices the run creates."""
    credit_notes: int = 0
    """Credit notes it creates: cycles whose total is negative (SPEC §8)."""


Step = Sub | Qty | Cancel | Bill


@dataclass(frozen=True)
class Inv:
    issued: date
    start: date
    end: date
    lines: list[LineRow]
    subtotal: str
    tax: str = "0.00"
    total: str | None = None
    """Default: subtotal + tax."""


@dataclass(frozen=True)
class Case:
    id: str
    contract: dict[str, Any]
    steps: list[Step]
    invoices: list[Inv]
    currency: str = "USD"
    open_changes: int = 0
    """Changes still open at the end (not yet billed)."""


def rec(start: date, end: date, quantity: int, price: str, amount: str) -> LineRow:
    return (RECURRING, start, end, quantity, Decimal(price), Decimal(amount))


def pro(start: date, end: date, quantity: int, price: str, amount: str) -> LineRow:
    return (PRORATION, start, end, quantity, Decimal(price), Decimal(amount))


def terms(
    start: date,
    frequency: BillingFrequency = MONTHLY,
    policy: BillingPolicy = ADVANCE,
    unit: ProrationUnit = DAYS,
    **more: Any,
) -> dict[str, Any]:
    return {
        "start_date": start,
        "billing_frequency": frequency,
        "billing_policy": policy,
        "proration_unit": unit,
        **more,
    }


JAN_1, FEB_1, MAR_1, APR_1 = D(2027, 1, 1), D(2027, 2, 1), D(2027, 3, 1), D(2027, 4, 1)
JAN_31, FEB_28, MAR_31 = D(2027, 1, 31), D(2027, 2, 28), D(2027, 3, 31)

CASES = [
    Case(
        "advance-monthly-days-increase",
        terms(JAN_1),
        [
            Sub("a", "A", 10, "36.00", JAN_1),
            Bill(JAN_1, 1),
            Qty("a", 15, D(2027, 1, 16)),
            Bill(D(2027, 1, 31), 0),
            Bill(FEB_1, 1),
        ],
        [
            Inv(JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "36.00", "360.00")], "360.00"),  # 10 x 36.00
            Inv(
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 15, "36.00", "540.00"),  # 15 x 36.00
                    # +5 for Jan 16-31, 16 of 31 days: 5 x 36.00 x 16/31 = 92.903… → 92.90
                    pro(D(2027, 1, 16), JAN_31, 5, "36.00", "92.90"),
                ],
                "632.90",
            ),
        ],
    ),
    Case(
        "advance-quarterly-days-increase",
        terms(JAN_1, QUARTERLY),
        [
            Sub("a", "A", 4, "25.00", JAN_1),
            Bill(JAN_1, 1),
            Qty("a", 6, D(2027, 2, 15)),
            Bill(MAR_1, 0),
            Bill(APR_1, 1),
        ],
        [
            Inv(JAN_1, JAN_1, MAR_31, [rec(JAN_1, MAR_31, 4, "25.00", "300.00")], "300.00"),  # 4 x 25.00 x 3
            Inv(
                APR_1,
                APR_1,
                D(2027, 6, 30),
                [
                    rec(APR_1, D(2027, 6, 30), 6, "25.00", "450.00"),  # 6 x 25.00 x 3
                    # Feb 15 - Mar 31 = 14 + 31 = 45 of 90 days: 2 x 25.00 x 3 x 45/90 = 75.00
                    pro(D(2027, 2, 15), MAR_31, 2, "25.00", "75.00"),
                ],
                "525.00",
            ),
        ],
    ),
    Case(
        "advance-quarterly-months-increase",
        terms(JAN_1, QUARTERLY, unit=MONTHS),
        [
            Sub("a", "A", 4, "25.00", JAN_1),
            Bill(JAN_1, 1),
            Qty("a", 6, D(2027, 2, 15)),
            Bill(APR_1, 1),
        ],
        [
            Inv(JAN_1, JAN_1, MAR_31, [rec(JAN_1, MAR_31, 4, "25.00", "300.00")], "300.00"),
            Inv(
                APR_1,
                APR_1,
                D(2027, 6, 30),
                [
                    rec(APR_1, D(2027, 6, 30), 6, "25.00", "450.00"),
                    pro(D(2027, 2, 15), MAR_31, 2, "25.00", "100.00"),  # February and March: 2 x 25.00 x 2
                ],
                "550.00",
            ),
        ],
    ),
    Case(
        "advance-annual-days-increase",
        terms(JAN_1, ANNUAL),
        [
            Sub("a", "A", 3, "20.00", JAN_1),
            Bill(JAN_1, 1),
            Qty("a", 5, D(2027, 7, 1)),
            Bill(D(2027, 12, 31), 0),
            Bill(D(2028, 1, 1), 1),
        ],
        [
            Inv(JAN_1, JAN_1, D(2027, 12, 31), [rec(JAN_1, D(2027, 12, 31), 3, "20.00", "720.00")], "720.00"),
            Inv(
                D(2028, 1, 1),
                D(2028, 1, 1),
                D(2028, 12, 31),
                [
                    rec(D(2028, 1, 1), D(2028, 12, 31), 5, "20.00", "1200.00"),  # 5 x 20.00 x 12
                    # SPEC §8 (2026-12): the subscription is billed monthly, so +2 from Jul 1 is six whole monthly
                    # charges, July-December: 2 x 20.00 x 6 = 240.00. (When the contract's year was the charge it
                    # was 2 x 20.00 x 12 x 184/365 = 241.97; an annual plan still is: test_nce_terms.py.)
                    pro(D(2027, 7, 1), D(2027, 12, 31), 2, "20.00", "240.00"),
                ],
                "1440.00",  # 1200.00 + 240.00
            ),
        ],
    ),
    Case(
        "advance-annual-months-increase",
        terms(JAN_1, ANNUAL, unit=MONTHS),
        [Sub("a", "A", 3, "20.00", JAN_1), Bill(JAN_1, 1), Qty("a", 5, D(2027, 7, 1)), Bill(D(2028, 1, 1), 1)],
        [
            Inv(JAN_1, JAN_1, D(2027, 12, 31), [rec(JAN_1, D(2027, 12, 31), 3, "20.00", "720.00")], "720.00"),
            Inv(
                D(2028, 1, 1),
                D(2028, 1, 1),
                D(2028, 12, 31),
                [
                    rec(D(2028, 1, 1), D(2028, 12, 31), 5, "20.00", "1200.00"),
                    pro(D(2027, 7, 1), D(2027, 12, 31), 2, "20.00", "240.00"),  # July-December: 2 x 20.00 x 6
                ],
                "1440.00",
            ),
        ],
    ),
    Case(
        "advance-monthly-anchored-on-the-31st",
        terms(JAN_31),
        [
            Sub("a", "A", 1, "28.00", JAN_31),
            Bill(JAN_31, 1),
            Qty("a", 2, D(2027, 2, 14)),
            Bill(D(2027, 2, 27), 0),
            Bill(FEB_28, 1),
        ],
        [
            Inv(JAN_31, JAN_31, D(2027, 2, 27), [rec(JAN_31, D(2027, 2, 27), 1, "28.00", "28.00")], "28.00"),
            Inv(
                FEB_28,
                FEB_28,
                D(2027, 3, 30),
                [
                    rec(FEB_28, D(2027, 3, 30), 2, "28.00", "56.00"),
                    # The cycle Jan 31 - Feb 27 has 28 days; Feb 14-27 is 14 of them: 28.00 x 14/28 = 14.00
                    pro(D(2027, 2, 14), D(2027, 2, 27), 1, "28.00", "14.00"),
                ],
                "70.00",
            ),
        ],
    ),
    Case(
        "arrears-monthly-days-increase-and-reduction",
        terms(JAN_1, policy=ARREARS),
        [
            Sub("a", "A", 10, "12.50", JAN_1),
            Bill(JAN_1, 0),
            Qty("a", 14, D(2027, 1, 11)),
            Qty("a", 8, D(2027, 1, 25)),
            Bill(JAN_31, 0),
            Bill(FEB_1, 1),
            Bill(MAR_1, 1),
        ],
        [
            Inv(
                FEB_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 10, "12.50", "125.00"),  # the quantity of Jan 1: 10 x 12.50
                    # Jan 11-31 = 21 of 31 days: 4 x 12.50 x 21/31 = 33.870… → 33.87
                    pro(D(2027, 1, 11), JAN_31, 4, "12.50", "33.87"),
                    # Jan 25-31 = 7 days: -6 x 12.50 x 7/31 = -16.935… → -16.94 (credited without refunds:
                    # nothing was paid in advance)
                    pro(D(2027, 1, 25), JAN_31, -6, "12.50", "-16.94"),
                ],
                "141.93",  # 125.00 + 33.87 - 16.94
            ),
            Inv(MAR_1, FEB_1, FEB_28, [rec(FEB_1, FEB_28, 8, "12.50", "100.00")], "100.00"),
        ],
    ),
    Case(
        "arrears-quarterly-months-increase",
        terms(JAN_1, QUARTERLY, ARREARS, MONTHS),
        [Sub("a", "A", 5, "30.00", JAN_1), Qty("a", 7, D(2027, 2, 10)), Bill(MAR_31, 0), Bill(APR_1, 1)],
        [
            Inv(
                APR_1,
                JAN_1,
                MAR_31,
                [
                    rec(JAN_1, MAR_31, 5, "30.00", "450.00"),  # 5 x 30.00 x 3
                    pro(D(2027, 2, 10), MAR_31, 2, "30.00", "120.00"),  # February and March: 2 x 30.00 x 2
                ],
                "570.00",
            )
        ],
    ),
    Case(
        "arrears-annual-days-across-feb-29",
        terms(MAR_1, ANNUAL, ARREARS),
        [
            Sub("a", "A", 2, "15.00", MAR_1),
            Qty("a", 3, D(2027, 9, 1)),
            Bill(D(2028, 2, 29), 0),
            Bill(D(2028, 3, 1), 1),
        ],
        [
            Inv(
                D(2028, 3, 1),
                MAR_1,
                D(2028, 2, 29),
                [
                    rec(MAR_1, D(2028, 2, 29), 2, "15.00", "360.00"),  # 2 x 15.00 x 12
                    # SPEC §8 (2026-12): billed monthly, +1 from Sep 1 is the six monthly charges September-February:
                    # 1 x 15.00 x 6 = 90.00. (By the contract's 366-day year it was 15.00 x 12 x 182/366 = 89.51;
                    # an annual plan still is: test_nce_terms.py.)
                    pro(D(2027, 9, 1), D(2028, 2, 29), 1, "15.00", "90.00"),
                ],
                "450.00",  # 360.00 + 90.00
            )
        ],
    ),
    Case(
        "advance-catch-up-of-three-months",
        terms(JAN_1),
        [Sub("a", "A", 2, "9.99", JAN_1), Qty("a", 3, D(2027, 2, 20)), Bill(D(2027, 3, 10), 3)],
        [
            Inv(D(2027, 3, 10), JAN_1, JAN_31, [rec(JAN_1, JAN_31, 2, "9.99", "19.98")], "19.98"),
            Inv(
                D(2027, 3, 10),
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 2, "9.99", "19.98"),  # the quantity of Feb 1
                    # Feb 20-28 = 9 of 28 days: 9.99 x 9/28 = 3.211… → 3.21
                    pro(D(2027, 2, 20), FEB_28, 1, "9.99", "3.21"),
                ],
                "23.19",
            ),
            Inv(D(2027, 3, 10), MAR_1, MAR_31, [rec(MAR_1, MAR_31, 3, "9.99", "29.97")], "29.97"),
        ],
    ),
    Case(
        "arrears-catch-up-of-three-months",
        terms(JAN_1, policy=ARREARS),
        [Sub("a", "A", 2, "9.99", JAN_1), Qty("a", 3, D(2027, 2, 20)), Bill(APR_1, 3), Bill(APR_1, 0)],
        [
            Inv(APR_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 2, "9.99", "19.98")], "19.98"),
            Inv(
                APR_1,
                FEB_1,
                FEB_28,
                [rec(FEB_1, FEB_28, 2, "9.99", "19.98"), pro(D(2027, 2, 20), FEB_28, 1, "9.99", "3.21")],
                "23.19",
            ),
            Inv(APR_1, MAR_1, MAR_31, [rec(MAR_1, MAR_31, 3, "9.99", "29.97")], "29.97"),
        ],
    ),
    Case(
        "advance-subscription-starting-mid-cycle-ordered-before-the-run",
        terms(JAN_1),
        [
            Sub("a", "A", 1, "10.00", JAN_1),
            Sub("b", "B", 3, "31.00", D(2027, 1, 10), ordered=D(2026, 12, 20)),
            Bill(JAN_1, 1),
            Bill(FEB_1, 1),
        ],
        [
            Inv(
                JAN_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 1, "10.00", "10.00"),
                    # b exists when January is billed. SPEC §8 (2026-12): it is charged per month of its own term,
                    # from its start: Jan 10 - Feb 9 starts in January, whole: 3 x 31.00 = 93.00 (it was Jan 10-31,
                    # 3 x 31.00 x 22/31 = 66.00, then February from the 1st).
                    rec(D(2027, 1, 10), D(2027, 2, 9), 3, "31.00", "93.00"),
                ],
                "103.00",  # 10.00 + 93.00
            ),
            Inv(
                FEB_1,
                FEB_1,
                FEB_28,
                # a: 1 x 10.00; b's month Feb 10 - Mar 9: 3 x 31.00
                [rec(FEB_1, FEB_28, 1, "10.00", "10.00"), rec(D(2027, 2, 10), D(2027, 3, 9), 3, "31.00", "93.00")],
                "103.00",
            ),
        ],
    ),
    Case(
        "advance-subscription-starting-mid-cycle-ordered-after-the-run",
        terms(JAN_1),
        [
            Sub("a", "A", 1, "10.00", JAN_1),
            Bill(JAN_1, 1),
            Sub("b", "B", 3, "31.00", D(2027, 1, 10)),
            Bill(FEB_1, 1),
        ],
        [
            Inv(JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 1, "10.00", "10.00")], "10.00"),
            Inv(
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 1, "10.00", "10.00"),
                    # SPEC §8 (2026-12): b's months of its own term, Jan 10 - Feb 9 (January's, not billed then) and
                    # Feb 10 - Mar 9 (February's): 2 x 3 x 31.00 = 186.00 (it was 66.00 for Jan 10-31 + 93.00)
                    rec(D(2027, 1, 10), D(2027, 3, 9), 3, "31.00", "186.00"),
                ],
                "196.00",  # 10.00 + 186.00
            ),
        ],
    ),
    Case(
        "arrears-subscription-starting-mid-cycle-days",
        terms(JAN_1, policy=ARREARS),
        [
            Sub("a", "A", 1, "10.00", JAN_1),
            Sub("b", "B", 2, "20.00", D(2027, 1, 20)),
            Bill(FEB_1, 1),
            Bill(MAR_1, 1),
        ],
        [
            Inv(
                FEB_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 1, "10.00", "10.00"),
                    # SPEC §8 (2026-12): b's first month Jan 20 - Feb 19 starts in January, whole: 2 x 20.00 = 40.00
                    # (it was Jan 20-31, 2 x 20.00 x 12/31 = 15.48)
                    rec(D(2027, 1, 20), D(2027, 2, 19), 2, "20.00", "40.00"),
                ],
                "50.00",  # 10.00 + 40.00
            ),
            Inv(
                MAR_1,
                FEB_1,
                FEB_28,
                # a: 1 x 10.00; b's month Feb 20 - Mar 19: 2 x 20.00
                [rec(FEB_1, FEB_28, 1, "10.00", "10.00"), rec(D(2027, 2, 20), D(2027, 3, 19), 2, "20.00", "40.00")],
                "50.00",
            ),
        ],
    ),
    Case(
        "arrears-subscription-starting-mid-cycle-months",
        terms(JAN_1, policy=ARREARS, unit=MONTHS),
        [Sub("a", "A", 1, "10.00", JAN_1), Sub("b", "B", 2, "20.00", D(2027, 1, 20)), Bill(FEB_1, 1)],
        [
            Inv(
                FEB_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 1, "10.00", "10.00"),
                    # SPEC §8 (2026-12): b's own month Jan 20 - Feb 19, whole: 2 x 20.00 (the same 40.00 as the month
                    # it starts in counted whole, now as its charge)
                    rec(D(2027, 1, 20), D(2027, 2, 19), 2, "20.00", "40.00"),
                ],
                "50.00",
            )
        ],
    ),
    Case(
        "advance-cancelled-with-refunds-credits-the-rest-taxed-at-8.25%",
        terms(JAN_1, process_refunds=True, tax_rate=Decimal("0.0825")),
        [
            Sub("a", "A", 10, "31.00", JAN_1),
            Bill(JAN_1, 1),
            Cancel("a", D(2027, 1, 21)),
            Bill(FEB_1, 0, credit_notes=1),
            Bill(MAR_1, 0),
        ],
        [
            # 310.00 x 0.0825 = 25.575 → 25.58
            Inv(JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 10, "31.00", "310.00")], "310.00", "25.58", "335.58"),
            # Jan 21-31 = 11 of 31 days: -10 x 31.00 x 11/31 = -110.00; tax -9.075 → -9.08 (half away from 0);
            # the total is negative: a credit note, CN-000001
            Inv(FEB_1, FEB_1, FEB_28, [pro(D(2027, 1, 21), JAN_31, -10, "31.00", "-110.00")], "-110.00", "-9.08"),
        ],
    ),
    Case(
        "advance-cancelled-without-refunds-credits-nothing",
        terms(JAN_1),
        [
            Sub("a", "A", 10, "31.00", JAN_1),
            Sub("b", "B", 1, "5.00", JAN_1),
            Bill(JAN_1, 1),
            Cancel("a", D(2027, 1, 21)),
            Bill(FEB_1, 1),
        ],
        [
            Inv(
                JAN_1,
                JAN_1,
                JAN_31,
                [rec(JAN_1, JAN_31, 10, "31.00", "310.00"), rec(JAN_1, JAN_31, 1, "5.00", "5.00")],
                "315.00",
            ),
            Inv(FEB_1, FEB_1, FEB_28, [rec(FEB_1, FEB_28, 1, "5.00", "5.00")], "5.00"),  # a: nothing, no credit
        ],
    ),
    Case(
        "arrears-cancelled-mid-cycle-stops-there",
        terms(JAN_1, policy=ARREARS),
        [Sub("a", "A", 10, "31.00", JAN_1), Cancel("a", D(2027, 1, 21)), Bill(FEB_1, 1), Bill(MAR_1, 0)],
        [
            Inv(
                FEB_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 10, "31.00", "310.00"),
                    pro(D(2027, 1, 21), JAN_31, -10, "31.00", "-110.00"),  # -10 x 31.00 x 11/31
                ],
                "200.00",  # 20 days of 31: 10 x 31.00 x 20/31
            )
        ],
    ),
    Case(
        "tax-on-the-subtotal-not-per-line",
        terms(JAN_1, tax_rate=Decimal("0.0825")),
        [
            Sub("a", "A", 1, "10.00", JAN_1),
            Sub("b", "B", 2, "5.00", JAN_1),
            Sub("c", "C", 3, "10.00", JAN_1),
            Bill(JAN_1, 1),
        ],
        [
            Inv(
                JAN_1,
                JAN_1,
                JAN_31,
                [
                    rec(JAN_1, JAN_31, 1, "10.00", "10.00"),
                    rec(JAN_1, JAN_31, 2, "5.00", "10.00"),
                    rec(JAN_1, JAN_31, 3, "10.00", "30.00"),
                ],
                "50.00",
                "4.13",  # 50.00 x 0.0825 = 4.125 → 4.13; per line 0.83 + 0.83 + 2.48 would be 4.14
                "54.13",
            )
        ],
    ),
    Case(
        "advance-quarterly-contract-ending-mid-cycle-days",
        terms(JAN_1, QUARTERLY, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_1), Bill(JAN_1, 1), Bill(APR_1, 1), Bill(D(2027, 7, 1), 0)],
        [
            Inv(JAN_1, JAN_1, MAR_31, [rec(JAN_1, MAR_31, 2, "30.00", "180.00")], "180.00"),
            # The contract ends Apr 30. SPEC §8 (2026-12): the subscription is billed monthly, and April is one whole
            # monthly charge: 2 x 30.00 = 60.00 (59.34 when the 91-day quarter was the charge: 2 x 30.00 x 3 x
            # 30/91). A charge the end cuts is prorated: test_nce_terms.py.
            Inv(APR_1, APR_1, D(2027, 4, 30), [rec(APR_1, D(2027, 4, 30), 2, "30.00", "60.00")], "60.00"),
        ],
    ),
    Case(
        "advance-quarterly-contract-ending-mid-cycle-months",
        terms(JAN_1, QUARTERLY, unit=MONTHS, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_1), Bill(JAN_1, 1), Bill(APR_1, 1), Bill(D(2027, 7, 1), 0)],
        [
            Inv(JAN_1, JAN_1, MAR_31, [rec(JAN_1, MAR_31, 2, "30.00", "180.00")], "180.00"),
            Inv(APR_1, APR_1, D(2027, 4, 30), [rec(APR_1, D(2027, 4, 30), 2, "30.00", "60.00")], "60.00"),  # 1 month
        ],
    ),
    Case(
        "arrears-quarterly-contract-ending-mid-cycle",
        terms(JAN_1, QUARTERLY, ARREARS, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_1), Bill(APR_1, 1), Bill(D(2027, 4, 30), 0), Bill(D(2027, 5, 1), 1)],
        [
            Inv(APR_1, JAN_1, MAR_31, [rec(JAN_1, MAR_31, 2, "30.00", "180.00")], "180.00"),
            # April, one whole monthly charge: 2 x 30.00 (SPEC §8, 2026-12; it was 59.34, see above)
            Inv(D(2027, 5, 1), APR_1, D(2027, 4, 30), [rec(APR_1, D(2027, 4, 30), 2, "30.00", "60.00")], "60.00"),
        ],
    ),
    Case(
        "advance-quarterly-days-from-jan-31-ending-may-30",
        terms(JAN_31, QUARTERLY, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_31), Bill(JAN_31, 1), Bill(D(2027, 4, 30), 1), Bill(D(2027, 7, 31), 0)],
        [
            Inv(JAN_31, JAN_31, D(2027, 4, 29), [rec(JAN_31, D(2027, 4, 29), 2, "30.00", "180.00")], "180.00"),
            # Apr 30 - May 30 is the subscription's 4th monthly charge, whole (SPEC §8, 2026-12): 2 x 30.00 = 60.00
            # (as 31 of the 92 days of the quarter Apr 30 - Jul 30 it was 2 x 30.00 x 3 x 31/92 = 60.65)
            Inv(
                D(2027, 4, 30),
                D(2027, 4, 30),
                D(2027, 5, 30),
                [rec(D(2027, 4, 30), D(2027, 5, 30), 2, "30.00", "60.00")],
                "60.00",
            ),
        ],
    ),
    Case(
        "advance-quarterly-months-from-jan-31-ending-may-30",
        terms(JAN_31, QUARTERLY, unit=MONTHS, term_months=4, auto_renew=False),
        [Sub("a", "A", 2, "30.00", JAN_31), Bill(JAN_31, 1), Bill(D(2027, 4, 30), 1)],
        [
            Inv(JAN_31, JAN_31, D(2027, 4, 29), [rec(JAN_31, D(2027, 4, 29), 2, "30.00", "180.00")], "180.00"),
            # The contract's 4th month is Apr 30 - May 30 (its months start Jan 31, Feb 28, Mar 31, Apr 30): one
            # month left, 2 x 30.00 = 60.00. The engine counts months from Apr 30 (Apr 30 - May 29, May 30 - …)
            # and bills two: 120.00.
            Inv(
                D(2027, 4, 30),
                D(2027, 4, 30),
                D(2027, 5, 30),
                [rec(D(2027, 4, 30), D(2027, 5, 30), 2, "30.00", "60.00")],
                "60.00",
            ),
        ],
    ),
    Case(
        "advance-monthly-months-from-jan-31-increase-on-mar-29",
        terms(JAN_31, unit=MONTHS),
        [
            Sub("a", "A", 1, "10.00", JAN_31),
            Bill(JAN_31, 1),
            Bill(FEB_28, 1),
            Qty("a", 3, D(2027, 3, 29)),
            Bill(MAR_31, 1),
        ],
        [
            Inv(JAN_31, JAN_31, D(2027, 2, 27), [rec(JAN_31, D(2027, 2, 27), 1, "10.00", "10.00")], "10.00"),
            Inv(FEB_28, FEB_28, D(2027, 3, 30), [rec(FEB_28, D(2027, 3, 30), 1, "10.00", "10.00")], "10.00"),
            Inv(
                MAR_31,
                MAR_31,
                D(2027, 4, 29),
                [
                    rec(MAR_31, D(2027, 4, 29), 3, "10.00", "30.00"),
                    # Mar 29 is in the cycle Feb 28 - Mar 30, its one month: +2 x 10.00 x 1 = 20.00. The engine
                    # counts the month from Feb 28 to Mar 27 and finds none left: 0.00.
                    pro(D(2027, 3, 29), D(2027, 3, 30), 2, "10.00", "20.00"),
                ],
                "50.00",
            ),
        ],
    ),
    Case(
        "yen-whole-units-and-tax",
        terms(JAN_1, tax_rate=Decimal("0.10")),
        [Sub("a", "A", 3, "1000", JAN_1), Bill(JAN_1, 1), Qty("a", 4, D(2027, 1, 16)), Bill(FEB_1, 1)],
        [
            Inv(JAN_1, JAN_1, JAN_31, [rec(JAN_1, JAN_31, 3, "1000", "3000")], "3000", "300", "3300"),
            Inv(
                FEB_1,
                FEB_1,
                FEB_28,
                [
                    rec(FEB_1, FEB_28, 4, "1000", "4000"),
                    pro(D(2027, 1, 16), JAN_31, 1, "1000", "516"),  # ¥1,000 x 16/31 = 516.129… → ¥516
                ],
                "4516",
                "452",  # 451.6 → 452
                "4968",
            ),
        ],
        currency="JPY",
    ),
]


def play(session: Session, case: Case) -> tuple[BillingContract, dict[str, Subscription]]:
    shop = open_shop(session, currency=case.currency)
    billed = contract(session, shop, **case.contract)
    subscriptions: dict[str, Subscription] = {}
    for step in case.steps:
        if isinstance(step, Sub):
            subscriptions[step.key] = subscribe(
                session,
                shop,
                billed,
                product=step.product,
                quantity=step.quantity,
                price=step.price,
                start=step.start,
                today=step.ordered,
            )
        elif isinstance(step, Qty):
            set_quantity(session, subscriptions[step.key], step.quantity, step.on)
        elif isinstance(step, Cancel):
            cancel_on(session, subscriptions[step.key], step.on)
        else:
            summary = bill(session, step.on)
            assert summary.invoices_created == step.created, f"the run of {step.on}"
            assert summary.credit_notes_created == step.credit_notes, f"the run of {step.on}"
    session.expire_all()
    return billed, subscriptions


def as_expected(invoice: Inv) -> tuple[Any, ...]:
    subtotal, tax = Decimal(invoice.subtotal), Decimal(invoice.tax)
    total = Decimal(invoice.total) if invoice.total is not None else subtotal + tax
    return (invoice.issued, invoice.start, invoice.end, invoice.lines, subtotal, tax, total)


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=case.id) for case in CASES],
)
def test_invoices(session: Session, case: Case) -> None:
    billed, subscriptions = play(session, case)

    found = invoices(session, billed)
    actual = [
        (i.issue_date, i.period_start, i.period_end, line_rows(session, i), i.subtotal, i.tax, i.total) for i in found
    ]
    assert actual == [as_expected(invoice) for invoice in case.invoices]
    for invoice in found:
        assert invoice.currency == case.currency
        assert invoice.tax_rate == case.contract.get("tax_rate", Decimal(0))
        assert invoice.subtotal == sum((line.amount for line in lines(session, invoice)), Decimal(0))
        assert invoice.status is InvoiceStatus.ISSUED
        # A cycle whose total is negative is a credit note, numbered in its own sequence (SPEC §8).
        credit = invoice.total < 0
        assert invoice.kind is (DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE)
        assert invoice.number.startswith("CN-" if credit else "INV-")

    # Every change is billed once, by the invoice that holds its line (if it has one).
    changes = session.scalars(
        select(LicenseChange).where(LicenseChange.subscription_id.in_([s.id for s in subscriptions.values()]))
    ).all()
    assert sum(change.billing_status is BillingStatus.OPEN for change in changes) == case.open_changes
    ids = {invoice.id for invoice in found}
    for change in changes:
        if change.billing_status is BillingStatus.INVOICED:
            assert change.invoice_id in ids
    for invoice in found:
        for line in lines(session, invoice):
            if line.license_change_id is not None:
                billed_change = session.get(LicenseChange, line.license_change_id)
                assert billed_change is not None
                assert billed_change.invoice_id == invoice.id


# --- what produces nothing -------------------------------------------------------------------------------


def test_a_non_billable_contract_and_a_non_billable_subscription_produce_nothing(session: Session) -> None:
    shop = open_shop(session)
    not_billed = contract(session, shop, start_date=JAN_1, billable=False)
    subscribe(session, shop, not_billed, quantity=5, price="10.00", start=JAN_1)
    billed = contract(session, shop, start_date=JAN_1)
    subscribe(session, shop, billed, product="A", quantity=2, price="7.00", start=JAN_1, billable=False)
    subscribe(session, shop, billed, product="B", quantity=3, price="4.00", start=JAN_1)
    only_free = contract(session, shop, start_date=JAN_1)
    subscribe(session, shop, only_free, quantity=9, price="10.00", start=JAN_1, billable=False)

    summary = bill(session, JAN_1)

    assert summary.invoices_created == 1
    (invoice,) = invoices(session)
    assert invoice.contract_id == billed.id
    assert line_rows(session, invoice) == [rec(JAN_1, JAN_31, 3, "4.00", "12.00")]  # B only: 3 x 4.00


def test_a_linked_parent_subscription_is_never_billed_its_children_are(session: Session) -> None:
    # The setup check flags a billable parent contract; billing still never bills the parent's quantity, which
    # its children's contracts pay for.
    shop = open_shop(session)
    linked = create_provider_account(session, kind=ProviderKind.LINKED)
    parent_contract = contract(session, shop, start_date=JAN_1)  # billable, by mistake
    parent = subscribe(session, shop, parent_contract, quantity=4, price="36.00", start=JAN_1)
    child_contract = contract(session, shop, start_date=JAN_1, parent=parent_contract)
    create_subscription(
        session,
        contract=child_contract,
        product=shop.products["A"],
        quantity=4,
        provider_account=linked,
        linked_to=parent,
        start_date=JAN_1,
        unit_price=Decimal("36.00"),
    )
    session.expire_all()
    pushed_up = session.get(Subscription, parent.id)
    assert pushed_up is not None
    assert pushed_up.quantity == 8  # 4 + the child's 4

    summary = bill(session, JAN_1)

    assert summary.invoices_created == 1
    (invoice,) = invoices(session)
    assert invoice.contract_id == child_contract.id
    assert line_rows(session, invoice) == [rec(JAN_1, JAN_31, 4, "36.00", "144.00")]


# --- reruns, numbers, changes, dry runs, voids -----------------------------------------------------------


def three_contracts(session: Session) -> tuple[Shop, list[BillingContract], list[Subscription]]:
    """Monthly in advance, quarterly in advance, monthly in arrears; one subscription each from Jan 1."""
    shop = open_shop(session)
    made = [
        contract(session, shop, **terms(JAN_1)),
        contract(session, shop, **terms(JAN_1, QUARTERLY)),
        contract(session, shop, **terms(JAN_1, policy=ARREARS)),
    ]
    subs = [subscribe(session, shop, c, quantity=2, price="10.00", start=JAN_1) for c in made]
    return shop, made, subs


def test_a_rerun_for_the_same_date_creates_nothing(session: Session) -> None:
    three_contracts(session)
    first = bill(session, FEB_1)  # monthly advance: Jan + Feb; quarterly: Q1; arrears: January
    again = bill(session, FEB_1)
    assert (first.invoices_created, again.invoices_created) == (4, 0)
    assert numbers(session) == expected_numbers(4)
    runs = session.scalars(select(BillingRun).order_by(BillingRun.started_at)).all()
    assert [run.invoices_created for run in runs] == [4, 0]


def test_invoice_numbers_are_sequential_without_gaps_across_runs(session: Session) -> None:
    three_contracts(session)
    created = [bill(session, day).invoices_created for day in (JAN_1, JAN_1, FEB_1, MAR_1, D(2027, 3, 15), APR_1)]
    # Jan 1: monthly + quarterly; again: none; Feb 1 and Mar 1: monthly + arrears; Mar 15: none;
    # Apr 1: monthly + quarterly + arrears.
    assert created == [2, 0, 2, 2, 0, 3]
    assert numbers(session) == expected_numbers(9)
    by_number = session.scalars(select(Invoice).order_by(Invoice.number)).all()
    issued = [invoice.issue_date for invoice in by_number]
    assert issued == sorted(issued)  # a later run never takes an earlier number
    counter = session.get(Counter, INVOICE_COUNTER)
    assert counter is not None
    assert counter.value == 9


def test_changes_become_invoiced_by_the_invoice_that_bills_them(session: Session) -> None:
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1))
    subscription = subscribe(session, shop, billed, quantity=10, price="36.00", start=JAN_1)
    (create,) = session.scalars(select(LicenseChange).where(LicenseChange.subscription_id == subscription.id)).all()
    assert create.billing_status is BillingStatus.OPEN
    bill(session, JAN_1)
    increase = set_quantity(session, subscription, 12, D(2027, 1, 16))
    session.expire_all()
    january = invoices(session, billed)[0]
    assert (create.billing_status, create.invoice_id) == (BillingStatus.INVOICED, january.id)
    assert (increase.billing_status, increase.invoice_id) == (BillingStatus.OPEN, None)

    bill(session, FEB_1)
    session.expire_all()

    february = invoices(session, billed)[1]
    assert (increase.billing_status, increase.invoice_id) == (BillingStatus.INVOICED, february.id)
    (proration,) = [line for line in lines(session, february) if line.kind is PRORATION]
    assert proration.license_change_id == increase.id
    assert proration.amount == Decimal("37.16")  # 2 x 36.00 x 16/31 = 37.161… → 37.16


def test_a_dry_run_writes_nothing_and_previews_what_the_run_then_creates(session: Session) -> None:
    _, made, subs = three_contracts(session)
    bill(session, JAN_1)  # INV-000001, INV-000002
    increase = set_quantity(session, subs[0], 5, D(2027, 1, 11))
    session.expire_all()
    runs_before = session.scalar(select(func.count()).select_from(BillingRun))

    preview = bill(session, FEB_1, dry_run=True)
    session.expire_all()

    assert (preview.invoices_created, preview.run_id) == (0, None)
    assert numbers(session) == expected_numbers(2)
    assert session.scalar(select(func.count()).select_from(BillingRun)) == runs_before
    counter = session.get(Counter, INVOICE_COUNTER)
    assert counter is not None
    assert counter.value == 2
    assert (increase.billing_status, increase.invoice_id) == (BillingStatus.OPEN, None)
    # February for the monthly contract: 5 x 10.00 + 3 x 10.00 x 21/31 (Jan 11-31) = 50.00 + 20.32 = 70.32;
    # January in arrears: 2 x 10.00 = 20.00.
    usd = preview.totals["USD"]
    assert (usd.invoices, usd.subtotal, usd.tax, usd.total) == (2, Decimal("90.32"), Decimal(0), Decimal("90.32"))
    previewed = {
        (draft.contract.id, draft.cycle.start): [line.amount for line in draft.lines] for draft in preview.preview
    }
    assert previewed == {
        (made[0].id, FEB_1): [Decimal("50.00"), Decimal("20.32")],
        (made[2].id, JAN_1): [Decimal("20.00")],
    }

    real = bill(session, FEB_1)
    session.expire_all()

    assert real.invoices_created == 2
    assert real.totals["USD"].as_json() == preview.totals["USD"].as_json()
    created = session.scalars(select(Invoice).where(Invoice.issue_date == FEB_1)).all()
    assert {(i.contract_id, i.period_start): [line.amount for line in lines(session, i)] for i in created} == previewed
    assert sorted(i.number for i in created) == ["INV-000003", "INV-000004"]
    assert increase.billing_status is BillingStatus.INVOICED


def test_a_voided_invoice_is_billed_again_with_a_new_number(session: Session) -> None:
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1))
    subscription = subscribe(session, shop, billed, quantity=10, price="36.00", start=JAN_1)
    bill(session, JAN_1)
    increase = set_quantity(session, subscription, 15, D(2027, 1, 16))
    bill(session, FEB_1)
    session.expire_all()
    february = invoices(session, billed)[1]
    expected = line_rows(session, february)
    assert february.subtotal == Decimal("632.90")  # 540.00 + 5 x 36.00 x 16/31 (92.90)

    void_invoice(session, invoice=february, reason="Wrong address", now=noon(D(2027, 2, 2)))
    session.expire_all()
    assert (increase.billing_status, increase.invoice_id) == (BillingStatus.OPEN, None)
    again = bill(session, D(2027, 2, 2))
    session.expire_all()

    assert again.invoices_created == 1
    rebilled = invoices(session, billed)[1]
    assert rebilled.id != february.id
    assert (rebilled.period_start, rebilled.number, rebilled.issue_date) == (FEB_1, "INV-000003", D(2027, 2, 2))
    assert line_rows(session, rebilled) == expected
    assert (increase.billing_status, increase.invoice_id) == (BillingStatus.INVOICED, rebilled.id)
    voided = session.get(Invoice, february.id)
    assert voided is not None
    assert voided.status is InvoiceStatus.VOID
    assert bill(session, D(2027, 2, 3)).invoices_created == 0
    assert numbers(session) == expected_numbers(3)


def test_a_cancellation_without_refunds_bills_nothing_in_later_runs(session: Session) -> None:
    # Advance, no refunds, the contract's only subscription: the January invoice is all there is.
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1))
    subscription = subscribe(session, shop, billed, quantity=10, price="31.00", start=JAN_1)
    bill(session, JAN_1)
    cancel_on(session, subscription, D(2027, 1, 21))
    assert [bill(session, day).invoices_created for day in (FEB_1, MAR_1, APR_1)] == [0, 0, 0]
    assert [i.subtotal for i in invoices(session, billed)] == [Decimal("310.00")]


# --- amounts that were once wrong: each pins the fix ------------------------------------------------------


def test_advance_an_increase_made_on_the_first_day_after_that_days_run_is_billed(session: Session) -> None:
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1))
    subscription = subscribe(session, shop, billed, quantity=10, price="31.00", start=JAN_1)
    bill(session, JAN_1)  # January billed for 10 (310.00)
    set_quantity(session, subscription, 15, JAN_1)  # later that day: +5 from Jan 1
    bill(session, FEB_1)

    february = invoices(session, billed)[1]
    assert line_rows(session, february) == [
        rec(FEB_1, FEB_28, 15, "31.00", "465.00"),
        pro(JAN_1, JAN_31, 5, "31.00", "155.00"),  # 5 x 31.00 x 31/31: all of January was not billed
    ]


def test_advance_a_scheduled_change_applied_late_bills_every_cycle_it_covers(session: Session) -> None:
    # +2 scheduled for Jan 16; the daily renewal step only runs on Feb 3, after February was billed for 10.
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1))
    subscription = subscribe(session, shop, billed, quantity=10, price="31.00", start=JAN_1)
    bill(session, JAN_1)
    change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=12,
        effective=D(2027, 1, 16),
        today=D(2027, 1, 5),
        now=noon(D(2027, 1, 5)),
        actor=OPERATOR,
    )
    bill(session, FEB_1)
    run_renewals(session, today=D(2027, 2, 3), now=noon(D(2027, 2, 3)))  # applied, effective Jan 16
    bill(session, MAR_1)

    january, february, march = invoices(session, billed)
    assert (january.subtotal, february.subtotal) == (Decimal("310.00"), Decimal("310.00"))
    # March: 12 x 31.00 = 372.00; Jan 16-31: 2 x 31.00 x 16/31 = 32.00; all of February: 2 x 31.00 = 62.00
    assert march.subtotal == Decimal("466.00")


def test_arrears_a_scheduled_change_applied_late_is_billed(session: Session) -> None:
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1, policy=ARREARS))
    subscription = subscribe(session, shop, billed, quantity=10, price="31.00", start=JAN_1)
    change_quantity(
        session,
        subscription_id=subscription.id,
        quantity=12,
        effective=D(2027, 1, 16),
        today=D(2027, 1, 5),
        now=noon(D(2027, 1, 5)),
        actor=OPERATOR,
    )
    bill(session, FEB_1)  # January for 10: 310.00 (the change is not applied yet)
    run_renewals(session, today=D(2027, 2, 3), now=noon(D(2027, 2, 3)))
    bill(session, MAR_1)

    january, february = invoices(session, billed)
    assert january.subtotal == Decimal("310.00")
    # February: 12 x 31.00 = 372.00, plus Jan 16-31 not yet billed: 2 x 31.00 x 16/31 = 32.00
    assert february.subtotal == Decimal("404.00")


def test_advance_cancelling_a_subscription_before_it_starts_credits_what_was_charged(session: Session) -> None:
    shop = open_shop(session)
    billed = contract(session, shop, **terms(JAN_1, process_refunds=True))
    subscription = subscribe(
        session, shop, billed, quantity=3, price="31.00", start=D(2027, 1, 10), today=D(2026, 12, 20)
    )
    # Its first month Jan 10 - Feb 9, whole (SPEC §8, 2026-12: charged per month of its own term): 3 x 31.00 = 93.00
    bill(session, JAN_1)
    cancel_on(session, subscription, D(2027, 1, 5))  # before it ever started
    bill(session, FEB_1)

    january, february = invoices(session, billed)
    assert january.subtotal == Decimal("93.00")
    assert february.subtotal == Decimal("-93.00")  # back to zero: all of the month it was charged for
