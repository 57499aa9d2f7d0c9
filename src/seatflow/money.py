"""Money is Decimal everywhere; here is how it is shown."""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")
# Unit prices may carry up to four decimals (per-GB prices, distributor costs); amounts carry two.
PRICE_SCALE = 4


def format_money(value: Decimal | None) -> str | None:
    """``Decimal("36")`` → ``"36.00"``; keeps extra precision a price really has (``"0.1875"``)."""
    if value is None:
        return None
    cents = value.quantize(CENT)  # once (a billing run formats three amounts per invoice for its events)
    if value == cents:
        return str(cents)
    return str(value.normalize())
