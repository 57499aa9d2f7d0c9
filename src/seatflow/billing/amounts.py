"""Money on invoices (SPEC §8), pure: per-month prices, proration, half-up rounding per line, tax."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from seatflow.billing.cycles import Cycle

MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}
"""Decimal places of currencies whose minor unit is not the cent (ISO 4217); every other has two."""


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up (ties away from zero) to the currency's minor unit: 185.806… → 185.81; never "-0.00"."""
    rounded = amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    return abs(rounded) if rounded.is_zero() else rounded


def cycle_amount(quantity: int, unit_price: Decimal, months: int) -> Decimal:
    """Prices are per unit per month: a quarterly cycle bills 3 * quantity * unit price (unrounded)."""
    return quantity * unit_price * months


def remaining_days(cycle: Cycle, effective: date) -> int:
    """Days from ``effective`` (counted) to the cycle's end."""
    return (cycle.end - effective).days + 1


def remaining_months(cycle: Cycle, effective: date) -> int:
    """Whole months from the month of the cycle that holds ``effective`` (counted) to the cycle's end; the
    months are anchored on the contract's start, as the cycles are."""
    months = 0
    for month in range(cycle.months):
        month_start, next_start = cycle.month_start(month), cycle.month_start(month + 1)
        if month_start > cycle.end:
            break
        if next_start > effective:
            months += 1
    return months


def prorated(
    quantity: int, unit_price: Decimal, cycle: Cycle, effective: date, *, by_months: bool
) -> tuple[Decimal, str]:
    """The part of a cycle's amount from ``effective`` to the cycle's end, unrounded, and how it was counted.

    By days: cycle amount * remaining days / days in the (full) cycle, counting the effective day.
    By months: quantity * unit price * the whole months left, counting the month the change falls in.
    """
    if by_months:
        months = remaining_months(cycle, effective)
        return quantity * unit_price * months, f"{months}/{cycle.months} months"
    days = remaining_days(cycle, effective)
    return cycle_amount(quantity, unit_price, cycle.months) * days / cycle.days, f"{days}/{cycle.days} days"


def tax_of(subtotal: Decimal, rate: Decimal, currency: str) -> Decimal:
    """Tax on the invoice's subtotal, not per line (SPEC §8)."""
    return round_money(subtotal * rate, currency)
