"""Pricing's errors, each with the stable code the API reports."""

from __future__ import annotations

from seatflow.errors import NotFound, ValidationFailed


class PriceSheetInvalid(ValidationFailed):
    """A price sheet that cannot be imported; ``line`` (1 is the header) and ``column`` say where. Nothing of
    the file is imported."""

    code = "price_sheet_invalid"


class PriceSheetAccountInvalid(ValidationFailed):
    """The provider account named cannot take a price sheet (not a Partner Center account)."""

    code = "price_sheet_account_invalid"


class PriceNotFound(NotFound):
    code = "price_not_found"
