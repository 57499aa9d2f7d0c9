"""The seller on invoices and credit notes (the reseller), from ``SEATFLOW_SELLER_*`` settings (docs/billing.md),
recorded on each document when it is issued so that a later change of address never rewrites a sent invoice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seatflow.config import Settings


def _lines(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


@dataclass(frozen=True)
class Seller:
    name: str
    address: tuple[str, ...] = ()
    email: str = ""
    tax_id: str = ""
    payment_instructions: str = ""
    """Lines separated by newlines: how to pay (bank, IBAN, reference)."""

    def as_json(self) -> dict[str, Any]:
        """What an invoice records (``seller``); the payment instructions are recorded on their own."""
        return {"name": self.name, "address": list(self.address), "email": self.email, "tax_id": self.tax_id}

    @classmethod
    def recorded(cls, seller: dict[str, Any], payment_instructions: str, fallback: Seller) -> Seller:
        """The seller an invoice recorded; ``fallback`` (today's) for one issued before sellers were recorded."""
        if not seller:
            return fallback
        address = seller.get("address") or []
        return cls(
            name=str(seller.get("name", "")),
            address=tuple(str(line) for line in address) if isinstance(address, list) else (),
            email=str(seller.get("email", "")),
            tax_id=str(seller.get("tax_id", "")),
            payment_instructions=payment_instructions,
        )


def seller_of(settings: Settings) -> Seller:
    """The seller as configured: SEATFLOW_SELLER_NAME, _ADDRESS and _PAYMENT_INSTRUCTIONS (lines separated by
    '|'), _EMAIL, _TAX_ID."""
    return Seller(
        settings.seller_name,
        _lines(settings.seller_address),
        settings.seller_email,
        settings.seller_tax_id,
        "\n".join(_lines(settings.seller_payment_instructions)),
    )
