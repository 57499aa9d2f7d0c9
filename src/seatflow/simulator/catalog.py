"""The new-commerce catalog: offers defined through ``POST /_sim/offers`` and their Partner Center shapes.

One offer is one NCE SKU (``productId:skuId``) with one availability; its ``catalogItemId`` is
``productId:skuId:availabilityId``. Products group the SKUs that share a ``productId``. The JSON follows the
new-commerce examples of developer/get-a-list-of-products.md, developer/get-a-list-of-skus-for-a-product.md and
developer/get-a-list-of-availabilities-for-a-sku.md (research/nce-and-market.md §1).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from seatflow.simulator.faults import ControlError
from seatflow.simulator.resources import CURRENCY_SYMBOLS, JSON, NCE_PRODUCT_TYPE, TERM_MONTHS, link
from seatflow.simulator.rules import is_int

BILLING_CYCLES = ("monthly", "annual", "triennial")
"""NCE billing plans; a billing cycle never outlasts its term (P1M: monthly; P1Y: monthly, annual; P3Y: all)."""
CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}
DEFAULT_TERMS = (("P1Y", "monthly"), ("P1M", "monthly"))
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Term:
    duration: str
    billing_cycle: str
    """Lower case, as request and subscription bodies carry it (``monthly``)."""

    @property
    def id(self) -> str:
        """A stable opaque term id, like Microsoft's (``5aeco6mffyxo``)."""
        return hashlib.sha256(f"{self.duration}:{self.billing_cycle}".encode()).hexdigest()[:12]

    def to_json(self) -> JSON:
        years = {"P1M": "One-Month", "P1Y": "One-Year", "P3Y": "Three-Year"}[self.duration]
        return {
            "id": self.id,
            "duration": self.duration,
            "description": f"{years} commitment for {self.billing_cycle} billing",
            "billingCycle": self.billing_cycle.capitalize(),  # Microsoft's availability example: "Annual"
            "cancellationPolicies": [{"refundOptions": [{"sequenceId": 0, "type": "Full", "expiresAfter": "P7D"}]}],
        }


@dataclass(frozen=True)
class NceOffer:
    product_id: str
    sku_id: str
    name: str
    product_title: str
    description: str
    is_add_on: bool
    prerequisite_skus: tuple[str, ...]
    """``productId:skuId`` of the SKUs that must be on the tenant before the add-on can be bought."""
    minimum_quantity: int
    maximum_quantity: int
    terms: tuple[Term, ...]
    unit_price: Decimal
    """The partner's price per license and month."""
    erp_price: Decimal
    """Microsoft's estimated retail price per license and month."""
    currency: str
    availability_id: str
    provisioning_id: str
    """The license SKU's GUID in the tenant (``dynamicAttributes.provisioningId``)."""

    @property
    def id(self) -> str:
        """``productId:skuId``: how the rules and errors name the offer."""
        return f"{self.product_id}:{self.sku_id}"

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"

    def has_term(self, duration: str) -> bool:
        return any(term.duration == duration for term in self.terms)

    def has_plan(self, duration: str, billing_cycle: str) -> bool:
        return Term(duration, billing_cycle) in self.terms

    def accepts_prerequisite(self, sku_key: str) -> bool:
        return sku_key.lower() in {p.lower() for p in self.prerequisite_skus}

    def pricing(self, quantity: int, duration: str) -> JSON:
        """A cart or order line's ``pricing``: the monthly unit price and the whole term's extended price."""
        price = self.unit_price.quantize(CENT, ROUND_HALF_UP)
        extended = (price * quantity * TERM_MONTHS[duration]).quantize(CENT, ROUND_HALF_UP)
        return {
            "listPrice": float(price),
            "discountedPrice": float(price),
            "proratedPrice": float(price),
            "price": float(price),
            "extendedPrice": float(extended),
        }

    def to_control_json(self) -> JSON:
        """The offer as ``POST /_sim/offers`` took it, with its current availability and catalog item id."""
        return {
            "id": self.id,
            "productId": self.product_id,
            "skuId": self.sku_id,
            "availabilityId": self.availability_id,
            "catalogItemId": self.catalog_item_id,
            "name": self.name,
            "productTitle": self.product_title,
            "isAddOn": self.is_add_on,
            "prerequisiteSkus": list(self.prerequisite_skus),
            "minimumQuantity": self.minimum_quantity,
            "maximumQuantity": self.maximum_quantity,
            "terms": [{"termDuration": t.duration, "billingCycle": t.billing_cycle} for t in self.terms],
            "unitPrice": str(self.unit_price),
            "erpPrice": str(self.erp_price),
            "currency": self.currency,
            "provisioningId": self.provisioning_id,
        }


# --- the control body ------------------------------------------------------------------------------------------


def parse_nce_offer(values: dict[str, Any]) -> NceOffer:
    """An NCE offer from ``POST /_sim/offers`` (SPEC §10), property names already lower-cased."""
    product_id, sku_id = _code(values, "productid"), _code(values, "skuid")
    where = f"offer {product_id}:{sku_id}"
    name = values.get("name") or f"{product_id}:{sku_id}"
    is_add_on = values.get("isaddon", False)
    prerequisites = values.get("prerequisiteskus") or []
    if not isinstance(name, str) or not isinstance(is_add_on, bool):
        raise ControlError(f"{where}: name must be a string and isAddOn true or false")
    if not isinstance(prerequisites, list) or not all(isinstance(p, str) and p.count(":") == 1 for p in prerequisites):
        raise ControlError(f"{where}: prerequisiteSkus must be a list of productId:skuId strings")
    minimum, maximum = values.get("minimumquantity", 1), values.get("maximumquantity", 10_000_000 if is_add_on else 300)
    if not is_int(minimum) or not is_int(maximum) or not 1 <= minimum <= maximum:
        raise ControlError(f"{where}: minimumQuantity and maximumQuantity must be integers, 1 <= min <= max")
    unit_price = _money(values.get("unitprice", "0"), f"{where}: unitPrice")
    currency = values.get("currency") or "USD"
    if not isinstance(currency, str) or len(currency) != 3:
        raise ControlError(f"{where}: currency must be a three-letter code")
    return NceOffer(
        product_id=product_id,
        sku_id=sku_id,
        name=name,
        product_title=_text(values, "producttitle", name, where),
        description=_text(values, "description", name, where),
        is_add_on=is_add_on,
        prerequisite_skus=tuple(prerequisites),
        minimum_quantity=minimum,
        maximum_quantity=maximum,
        terms=_terms(values.get("terms"), where),
        unit_price=unit_price,
        erp_price=_money(values.get("erpprice", unit_price), f"{where}: erpPrice"),
        currency=currency.upper(),
        availability_id=_availability_id(values, product_id, sku_id),
        provisioning_id=_text(values, "provisioningid", str(uuid.uuid5(uuid.NAMESPACE_URL, where)), where),
    )


def _code(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if not isinstance(value, str) or not value or ":" in value or "/" in value:
        raise ControlError(f"an NCE offer needs {name.replace('id', 'Id')}: a non-empty string without ':' or '/'")
    return value


def _text(values: dict[str, Any], name: str, default: str, where: str) -> str:
    value = values.get(name) or default
    if not isinstance(value, str):
        raise ControlError(f"{where}: {name} must be a string")
    return value


def _money(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ControlError(f"{what} must be a decimal amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ControlError(f"{what} must be a decimal amount, not {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ControlError(f"{what} must be 0 or more")
    return amount


def _terms(value: Any, where: str) -> tuple[Term, ...]:
    if value is None:
        return tuple(Term(duration, cycle) for duration, cycle in DEFAULT_TERMS)
    if not isinstance(value, list) or not value:
        raise ControlError(f"{where}: terms must be a non-empty list of {{termDuration, billingCycle}}")
    terms: list[Term] = []
    for item in value:
        entry = {str(k).lower(): v for k, v in item.items()} if isinstance(item, dict) else {}
        duration, cycle = entry.get("termduration"), entry.get("billingcycle")
        if not isinstance(duration, str) or not isinstance(cycle, str):
            raise ControlError(f"{where}: each term needs termDuration and billingCycle")
        term = Term(duration.upper(), cycle.lower())
        if term.duration not in TERM_MONTHS or term.billing_cycle not in BILLING_CYCLES:
            raise ControlError(f"{where}: {duration}/{cycle} is not an NCE term and billing plan")
        if CYCLE_MONTHS[term.billing_cycle] > TERM_MONTHS[term.duration]:
            raise ControlError(f"{where}: a {cycle} billing plan is longer than a {duration} term")
        terms.append(term)
    return tuple(dict.fromkeys(terms))


def _availability_id(values: dict[str, Any], product_id: str, sku_id: str) -> str:
    """The given ``availabilityId``, else a stable one derived from the SKU (Microsoft's look: ``CFQ7TTC0K971``)."""
    given = values.get("availabilityid")
    if given is not None:
        if not isinstance(given, str) or not given or ":" in given or "/" in given:
            raise ControlError(f"offer {product_id}:{sku_id}: availabilityId must be a string without ':' or '/'")
        return given
    digest = hashlib.sha256(f"{product_id}:{sku_id}".encode()).hexdigest().upper()
    return f"{product_id[:8]}{digest[:4]}"


# --- Partner Center's catalog shapes ----------------------------------------------------------------------------


def _product_uri(product_id: str) -> str:
    return f"/products/{product_id}"


def product_json(offer: NceOffer, country: str) -> JSON:
    uri = _product_uri(offer.product_id)
    return {
        "id": offer.product_id,
        "title": offer.product_title,
        "description": offer.description,
        "productType": {"id": NCE_PRODUCT_TYPE, "displayName": NCE_PRODUCT_TYPE},
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "links": {"skus": link(f"{uri}/skus?country={country}"), "self": link(f"{uri}?country={country}")},
        "attributes": {"objectType": "Product"},
    }


def sku_json(offer: NceOffer, country: str) -> JSON:
    uri = f"{_product_uri(offer.product_id)}/skus/{offer.sku_id}"
    return {
        "id": offer.sku_id,
        "productId": offer.product_id,
        "title": offer.name,
        "description": offer.description,
        "minimumQuantity": offer.minimum_quantity,
        "maximumQuantity": offer.maximum_quantity,
        "isTrial": False,
        "supportedBillingCycles": sorted({term.billing_cycle for term in offer.terms}),
        "purchasePrerequisites": ["MicrosoftCloudAgreement"],
        "inventoryVariables": [],
        "provisioningVariables": [],
        "actions": ["Refund"],
        "dynamicAttributes": {
            "isMicrosoftProduct": True,
            "hasConstraints": True,
            "isAddon": offer.is_add_on,
            "prerequisiteSkus": list(offer.prerequisite_skus),
            "isSoftwareAssuranceApplicable": False,
            "upgradeTargetOffers": [],
            "provisioningId": offer.provisioning_id,
            "internal": False,
        },
        "links": {
            "availabilities": link(f"{uri}/availabilities?country={country}"),
            "self": link(f"{uri}?country={country}"),
        },
        "attributes": {"objectType": "Sku"},
    }


def availability_json(offer: NceOffer, country: str) -> JSON:
    uri = f"{_product_uri(offer.product_id)}/skus/{offer.sku_id}/availabilities/{offer.availability_id}"
    return {
        "id": offer.availability_id,
        "productId": offer.product_id,
        "skuId": offer.sku_id,
        "catalogItemId": offer.catalog_item_id,
        "defaultCurrency": {"code": offer.currency, "symbol": CURRENCY_SYMBOLS.get(offer.currency, offer.currency)},
        "segment": "commercial",
        "country": country,
        "isPurchasable": True,
        "isRenewable": True,
        "renewalInstructions": [
            {
                "applicableTermIds": [term.id for term in offer.terms],
                "renewalOptions": [{"renewToId": offer.id, "isAutoRenewable": True}],
            }
        ],
        "terms": [term.to_json() for term in offer.terms],
        "product": product_json(offer, country),
        "sku": sku_json(offer, country),
        "links": {"self": link(f"{uri}?country={country}")},
        "attributes": {"objectType": "Availability"},
    }


def products_of(offers: Iterable[NceOffer]) -> dict[str, NceOffer]:
    """The first SKU of each product, by lower-cased product id: what a product's own fields come from."""
    found: dict[str, NceOffer] = {}
    for offer in offers:
        found.setdefault(offer.product_id.lower(), offer)
    return found
