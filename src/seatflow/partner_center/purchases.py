"""Buying new commerce: the catalog item ID, availabilities, carts and the checkout result, as small typed records
read from the JSON Microsoft documents (developer/create-a-cart.md, checkout-a-cart.md, cart-resources.md,
get-a-list-of-availabilities-for-a-sku.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seatflow.partner_center.reading import (
    format_datetime,
    int_field,
    links_of,
    lowered,
    objects_at,
    optional_datetime,
    optional_str,
    str_field,
)


@dataclass(frozen=True)
class CatalogItemId:
    """``productId:skuId:availabilityId`` (what a cart line buys and a subscription's ``offerId`` names), or
    ``productId:skuId`` (seatflow's product offer ID: the availability is looked up at purchase time)."""

    product_id: str
    sku_id: str
    availability_id: str | None = None

    @classmethod
    def parse(cls, value: str) -> CatalogItemId | None:
        """None for anything else, such as a legacy GUID offer ID."""
        parts = value.split(":")
        if len(parts) in (2, 3) and all(part.strip() == part and part for part in parts):
            return cls(*parts)
        return None

    def __str__(self) -> str:
        return ":".join(part for part in (self.product_id, self.sku_id, self.availability_id) if part)


# --- catalog --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AvailabilityTerm:
    duration: str
    billing_cycle: str | None
    description: str


@dataclass(frozen=True)
class Availability:
    id: str
    product_id: str
    sku_id: str
    catalog_item_id: str
    country: str | None
    is_purchasable: bool
    terms: tuple[AvailabilityTerm, ...]

    def offers(self, term_duration: str, billing_cycle: str) -> bool:
        return any(
            term.duration.upper() == term_duration.upper() and term.billing_cycle == billing_cycle.lower()
            for term in self.terms
        )


def read_availability(raw: Mapping[str, Any]) -> Availability:
    what = "availability"
    availability_id = str_field(raw, "id", what)
    product_id, sku_id = str_field(raw, "productId", what), str_field(raw, "skuId", what)
    terms = tuple(
        AvailabilityTerm(
            duration=str_field(term, "duration", "availability term"),
            billing_cycle=lowered(term.get("billingCycle")),
            description=str(term.get("description") or ""),
        )
        for term in objects_at(raw, "terms", what)
    )
    return Availability(
        id=availability_id,
        product_id=product_id,
        sku_id=sku_id,
        catalog_item_id=optional_str(raw, "catalogItemId") or f"{product_id}:{sku_id}:{availability_id}",
        country=optional_str(raw, "country"),
        is_purchasable=raw.get("isPurchasable", True) is not False,
        terms=terms,
    )


# --- carts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartLineItem:
    """One subscription to buy: a line of ``POST /v1/customers/{id}/carts`` (developer/create-a-cart.md).
    ``custom_term_end_date`` co-terms the new subscription with an existing one (custom-term-end-dates.md)."""

    id: int
    catalog_item_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    custom_term_end_date: datetime | None = None
    promotion_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "id": self.id,
            "catalogItemId": self.catalog_item_id,
            "quantity": self.quantity,
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
        }
        if self.custom_term_end_date is not None:
            line["customTermEndDate"] = format_datetime(self.custom_term_end_date)
        if self.promotion_id is not None:
            line["promotionId"] = self.promotion_id
        return line


@dataclass(frozen=True)
class LineError:
    """A cart line's own ``error`` (``{errorCode, errorDescription}``) or a checkout ``orderErrors`` entry."""

    code: str
    description: str


@dataclass(frozen=True)
class CartLine:
    id: int
    catalog_item_id: str
    quantity: int
    term_duration: str | None
    billing_cycle: str | None
    order_group: str | None
    error: LineError | None


@dataclass(frozen=True)
class Cart:
    id: str
    status: str
    expires_at: datetime | None
    lines: tuple[CartLine, ...]


def read_cart(raw: Mapping[str, Any]) -> Cart:
    what = "cart"
    lines = []
    for line in objects_at(raw, "lineItems", what):
        lines.append(
            CartLine(
                id=int_field(line, "id", "cart line"),
                catalog_item_id=str_field(line, "catalogItemId", "cart line"),
                quantity=int_field(line, "quantity", "cart line"),
                term_duration=optional_str(line, "termDuration"),
                billing_cycle=lowered(line.get("billingCycle")),
                order_group=None if line.get("orderGroup") is None else str(line["orderGroup"]),
                error=_line_error(line.get("error")),
            )
        )
    return Cart(
        id=str_field(raw, "id", what),
        status=str(raw.get("status") or ""),
        expires_at=optional_datetime(raw, "expirationTimestamp", what),
        lines=tuple(lines),
    )


def _line_error(error: object) -> LineError | None:
    """A line's ``CartError``; ``errorCode`` is a ``CartErrorCode`` (a name or its number)."""
    if not isinstance(error, Mapping):
        return None
    return LineError(str(error.get("errorCode", "0")), str(error.get("errorDescription") or "no description"))


# --- checkout -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    order_id: str
    line_item_number: int
    offer_id: str
    quantity: int
    term_duration: str | None
    subscription_id: str | None
    """Present only once Microsoft has provisioned the subscription; until then read the order again later."""
    links: Mapping[str, str]


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    billing_cycle: str | None
    lines: tuple[OrderLine, ...]
    links: Mapping[str, str]


@dataclass(frozen=True)
class OrderError:
    order_group_id: str
    code: str
    description: str


@dataclass(frozen=True)
class LineFailure:
    line_id: int
    catalog_item_id: str
    code: str
    description: str

    @property
    def message(self) -> str:
        return f"Partner Center {self.code}: {self.description}"


@dataclass(frozen=True)
class CheckoutResult:
    """``CartCheckoutResult`` read per cart line. Microsoft reports ``orderErrors`` per order group, so every line
    of a failed group fails with that group's code; lines in other groups are unaffected. ``placed`` maps a cart
    line to the order line that bought it (matched on catalog item and quantity: an order line does not name its
    cart line). A line in neither map is undecided: read the orders again before buying it anew."""

    cart_id: str
    orders: tuple[Order, ...]
    order_errors: tuple[OrderError, ...]
    placed: Mapping[int, OrderLine]
    failed: Mapping[int, LineFailure]

    def failure_for(self, line_id: int) -> LineFailure | None:
        return self.failed.get(line_id)

    def order_line_for(self, line_id: int) -> OrderLine | None:
        return self.placed.get(line_id)


def read_checkout(raw: Mapping[str, Any], *, cart_id: str, lines: Sequence[CartLine]) -> CheckoutResult:
    orders = tuple(_read_order(order) for order in objects_at(raw, "orders", "checkout result", required=False))
    errors = tuple(
        OrderError(
            order_group_id=str(error.get("orderGroupId", "")),
            code=str(error.get("code", "0")),
            description=str(error.get("description") or "no description"),
        )
        for error in objects_at(raw, "orderErrors", "checkout result", required=False)
    )
    by_group = {error.order_group_id: error for error in errors}
    failed: dict[int, LineFailure] = {}
    for line in lines:
        error = by_group.get(line.order_group) if line.order_group is not None else None
        if error is not None:
            failed[line.id] = LineFailure(line.id, line.catalog_item_id, error.code, error.description)
    placed = _match_order_lines([line for line in lines if line.id not in failed], orders)
    for line in lines:
        if line.id not in failed and line.id not in placed and line.error is not None:
            failed[line.id] = LineFailure(line.id, line.catalog_item_id, line.error.code, line.error.description)
    return CheckoutResult(cart_id=cart_id, orders=orders, order_errors=errors, placed=placed, failed=failed)


def _match_order_lines(lines: Sequence[CartLine], orders: Sequence[Order]) -> dict[int, OrderLine]:
    unused = [order_line for order in orders for order_line in order.lines]
    placed: dict[int, OrderLine] = {}
    for line in sorted(lines, key=lambda line: line.id):
        same_item = [o for o in unused if o.offer_id.lower() == line.catalog_item_id.lower()]
        match = next((o for o in same_item if o.quantity == line.quantity), same_item[0] if same_item else None)
        if match is not None:
            placed[line.id] = match
            unused.remove(match)
    return placed


def _read_order(raw: Mapping[str, Any]) -> Order:
    order_id = str_field(raw, "id", "order")
    lines = tuple(
        OrderLine(
            order_id=order_id,
            line_item_number=int_field(line, "lineItemNumber", "order line"),
            offer_id=str_field(line, "offerId", "order line"),
            quantity=int_field(line, "quantity", "order line"),
            term_duration=optional_str(line, "termDuration"),
            subscription_id=optional_str(line, "subscriptionId"),
            links=links_of(line),
        )
        for line in objects_at(raw, "lineItems", "order")
    )
    return Order(
        id=order_id,
        status=str(raw.get("status") or ""),
        billing_cycle=lowered(raw.get("billingCycle")),
        lines=lines,
        links=links_of(raw),
    )
