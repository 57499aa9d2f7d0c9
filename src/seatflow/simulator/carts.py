"""Carts: Partner Center's new-commerce way to buy (developer/create-a-cart.md, checkout-a-cart.md,
update-a-cart.md, cart-resources.md, create-a-cart-with-add-ons.md).

A cart holds lines, each a ``catalogItemId`` (``productId:skuId:availabilityId``) with quantity, term and billing
plan. A malformed request is refused whole (800002), as is one without ``PartnerOnRecordAttestationAccepted: true``
(900206); a line the catalog or the tenant refuses gets its own ``error`` ({errorCode, errorDescription}) when the
cart is created, and the same code as an ``orderErrors`` entry when the cart is checked out. Each line is its own
order group, so a refused line fails only itself. Lines are checked in order: an add-on bought after its
prerequisite in the same cart is purchasable (Microsoft's NCE example buys a base and its add-on in one cart).
Checking out is idempotent: a cart already ordered answers its first result again and buys nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from seatflow.simulator.catalog import NceOffer
from seatflow.simulator.nce_rules import AVAILABILITY_NOT_FOUND, coterm_refusal, parse_custom_term_end
from seatflow.simulator.resources import JSON, iso, link
from seatflow.simulator.rules import SimFault, fields, invalid_input, is_int, optional_str

CART_LIFETIME = timedelta(days=7)
"""Carts expire 7 days from initial creation."""
CART_USER = "9db12087-fbc3-481c-8965-73d44ff88e27"
"""``lastModifiedUser``: the simulator's one partner user."""
ADDON_WITHOUT_BASE = "The addon is not purchasable without a compatible base product"
LEGACY_OFFER = 500600
"""``LegacyOfferNotEligibleForPurchase`` (Partner Center .NET SDK, Models/Carts/Enums/CartErrorCode.cs)."""


@dataclass(frozen=True)
class LineError:
    code: int
    description: str

    def to_json(self) -> JSON:
        return {"errorCode": self.code, "errorDescription": self.description}


@dataclass
class CartLine:
    id: int
    catalog_item_id: str
    quantity: int
    billing_cycle: str
    term_duration: str | None
    friendly_name: str | None = None
    custom_term_end: datetime | None = None
    provisioning_context: dict[str, Any] = field(default_factory=dict)
    participants: list[Any] | None = None
    promotion_id: str | None = None
    error: LineError | None = None
    currency: str = "USD"
    pricing: JSON | None = None

    @property
    def order_group(self) -> str:
        return str(self.id)

    @property
    def sku_key(self) -> str:
        """``productid:skuid``, lower case: the catalog's key for the line's SKU."""
        return ":".join(self.catalog_item_id.lower().split(":")[:2])

    def to_json(self) -> JSON:
        body: JSON = {
            "id": self.id,
            "catalogItemId": self.catalog_item_id,
            "quantity": self.quantity,
            "currencyCode": self.currency,
            "billingCycle": self.billing_cycle,
        }
        if self.term_duration is not None:
            body["termDuration"] = self.term_duration
        if self.friendly_name is not None:
            body["friendlyName"] = self.friendly_name
        if self.custom_term_end is not None:
            body["customTermEndDate"] = iso(self.custom_term_end)
        if self.promotion_id is not None:
            body["promotionId"] = self.promotion_id
        if self.participants is not None:
            body["participants"] = self.participants
        body |= {"provisioningContext": self.provisioning_context, "orderGroup": self.order_group}
        if self.pricing is not None:
            body["pricing"] = self.pricing
        if self.error is not None:
            body["error"] = self.error.to_json()
        return body


@dataclass(frozen=True)
class OrderError:
    order_group_id: str
    code: int
    description: str

    def to_json(self) -> JSON:
        return {"orderGroupId": self.order_group_id, "code": self.code, "description": self.description}


@dataclass
class Cart:
    id: str
    customer_id: str
    created: datetime
    last_modified: datetime
    lines: list[CartLine]
    status: str = "Active"
    """``Active`` (can be updated or checked out) or ``Ordered`` (every line bought)."""
    orders: dict[str, str] = field(default_factory=dict)
    """Order group → the id of the order that bought it."""
    order_errors: list[OrderError] = field(default_factory=list)
    """The refusals of the latest checkout."""

    @property
    def expiration(self) -> datetime:
        return self.created + CART_LIFETIME

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "creationTimestamp": iso(self.created),
            "lastModifiedTimestamp": iso(self.last_modified),
            "expirationTimestamp": iso(self.expiration),
            "lastModifiedUser": CART_USER,
            "status": self.status,
            "lineItems": [line.to_json() for line in self.lines],
            "links": {"self": link(f"/customers/{self.customer_id}/carts/{self.id}")},
            "attributes": {"objectType": "Cart"},
        }


def new_cart_id() -> str:
    return str(uuid.uuid4())


def checkout_result_json(orders: list[JSON], errors: list[OrderError]) -> JSON:
    return {
        "orders": orders,
        "orderErrors": [error.to_json() for error in errors],
        "attributes": {"objectType": "CartCheckoutResult"},
    }


# --- reading a cart ---------------------------------------------------------------------------------------------


def parse_cart_lines(body: Any, *, attestation_required: bool) -> list[CartLine]:
    """The lines of a create (or update) request; 800002 for a malformed one, 900206 when a new cart comes
    without ``PartnerOnRecordAttestationAccepted: true``."""
    values = fields(body)
    if attestation_required and values.get("partneronrecordattestationaccepted") is not True:
        raise SimFault(400, "900206", "Partner Attestation is missing")
    raw = values.get("lineitems")
    if not isinstance(raw, list) or not raw:
        raise invalid_input("A cart must have at least one line item.")
    lines = [_line(fields(item, "line item"), position) for position, item in enumerate(raw)]
    ids = [line.id for line in lines]
    if len(set(ids)) != len(ids):
        raise invalid_input(f"Cart line item ids must be unique; got {ids}.")
    return lines


def _line(values: dict[str, Any], position: int) -> CartLine:
    given = values.get("id", position)
    if isinstance(given, str) and given.isdigit():
        given = int(given)
    if not is_int(given) or given < 0:
        raise invalid_input(f"Line item {position}: id must be a whole number, not {given!r}.")
    catalog_item_id = optional_str(values, "catalogItemId")
    if not catalog_item_id:
        raise invalid_input(f"Line item {given}: catalogItemId is required.")
    quantity = values.get("quantity")
    if not is_int(quantity) or quantity <= 0:
        raise invalid_input(f"Line item {given}: quantity must be a positive integer, not {quantity!r}.")
    billing_cycle = optional_str(values, "billingCycle")
    if not billing_cycle:
        raise invalid_input(f"Line item {given}: billingCycle is required.")
    if values.get("addonitems"):
        raise invalid_input(f"Line item {given}: new-commerce add-ons are lines of their own, not addonItems.")
    context = values.get("provisioningcontext") or {}
    participants = values.get("participants")
    if not isinstance(context, dict) or not (participants is None or isinstance(participants, list)):
        raise invalid_input(f"Line item {given}: provisioningContext must be an object and participants a list.")
    term = optional_str(values, "termDuration")
    return CartLine(
        id=given,
        catalog_item_id=catalog_item_id,
        quantity=quantity,
        billing_cycle=billing_cycle.lower(),
        term_duration=term.upper() if term else None,
        friendly_name=optional_str(values, "friendlyName"),
        custom_term_end=parse_custom_term_end(values.get("customtermenddate"), f"Line item {given}: customTermEndDate"),
        provisioning_context=context,
        participants=participants,
        promotion_id=optional_str(values, "promotionId"),
    )


# --- the catalog's and the tenant's rules -----------------------------------------------------------------------


def check_line(
    line: CartLine,
    *,
    offers: Mapping[str, NceOffer],
    tenant_skus: set[str],
    coterm_ends: Container[date],
    now: datetime,
    legacy_offer_ids: Collection[str] = (),
) -> tuple[NceOffer | None, LineError | None]:
    """The line's offer and, when the line cannot be bought now, why. ``tenant_skus`` holds the ``productid:skuid``
    of the tenant's active subscriptions (and of lines bought before this one); ``legacy_offer_ids`` the lower-cased
    ids of the legacy offers, which are no longer sold (500600). A quantity outside the SKU's minimum and maximum is
    900275 (developer/error-codes.md: "The requested quantity for line item {0} is not within the allowed quantity
    for this offer")."""
    offer = offers.get(line.sku_key) if line.catalog_item_id.count(":") == 2 else None
    if offer is None and line.catalog_item_id.lower() in legacy_offer_ids:
        return None, LineError(LEGACY_OFFER, "The legacy offer is no longer eligible for purchase.")
    if offer is None:
        return None, LineError(10001, "Catalog item ID isn't valid")
    if offer.availability_id.lower() != line.catalog_item_id.split(":")[2].lower():
        return offer, LineError(400019, AVAILABILITY_NOT_FOUND)
    if line.term_duration is None or not offer.has_term(line.term_duration):
        return offer, LineError(800121, "The term duration provided is invalid.")
    if not offer.has_plan(line.term_duration, line.billing_cycle):
        return offer, LineError(900269, "The billing cycle is invalid.")
    if not offer.minimum_quantity <= line.quantity <= offer.maximum_quantity:
        return offer, LineError(
            900275, f"The requested quantity for line item {line.id} is not within the allowed quantity for this offer."
        )
    if offer.is_add_on and not any(offer.accepts_prerequisite(sku) for sku in tenant_skus):
        return offer, LineError(400041, ADDON_WITHOUT_BASE)
    if line.custom_term_end is not None and coterm_refusal(
        line.custom_term_end.date(), term=line.term_duration, start=now, coterm_ends=coterm_ends
    ):
        return offer, LineError(
            900242,
            f"The custom term end date specified for line item {line.id} does not match with the end date of any "
            "active non-trial OnlineServicesNCE subscription or align with the end of the calendar month. Partners "
            "should select a new custom term end date.",
        )
    return offer, None


def annotate(
    lines: list[CartLine],
    *,
    offers: Mapping[str, NceOffer],
    tenant_skus: set[str],
    coterm_ends: Container[date],
    now: datetime,
    legacy_offer_ids: Collection[str] = (),
) -> None:
    """Set each line's ``error``, ``currencyCode`` and ``pricing`` as a freshly created or updated cart shows them."""
    skus = set(tenant_skus)
    for line in lines:
        offer, line.error = check_line(
            line,
            offers=offers,
            tenant_skus=skus,
            coterm_ends=coterm_ends,
            now=now,
            legacy_offer_ids=legacy_offer_ids,
        )
        if offer is not None:
            line.currency = offer.currency
            if line.term_duration in ("P1M", "P1Y", "P3Y"):
                line.pricing = offer.pricing(line.quantity, line.term_duration)
        if line.error is None:
            skus.add(line.sku_key)
