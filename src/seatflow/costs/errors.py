"""The cost import's errors, each with the stable code the API reports."""

from __future__ import annotations

from seatflow.errors import ValidationFailed


class CostFileInvalid(ValidationFailed):
    """Reconciliation lines that cannot be imported; ``line`` (1 is a file's header; an API item's position counts
    from 1) and ``column`` say where. Nothing of the import is written."""

    code = "cost_file_invalid"


class CostAccountInvalid(ValidationFailed):
    """The provider account named cannot take Microsoft's costs (not a Partner Center account, or none named)."""

    code = "cost_account_invalid"


class CostCurrencyUnknown(ValidationFailed):
    """Unbilled lines are asked per currency, and the account does not say which it is billed in."""

    code = "cost_currency_unknown"
