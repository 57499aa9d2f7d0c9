"""Orders and their line items in Partner Center's JSON shape: a legacy order (``POST /v1/customers/{id}/orders``)
and the new-commerce orders a cart checkout creates, one per order group (developer/checkout-a-cart.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from seatflow.simulator.resources import (
    CURRENCY_SYMBOLS,
    JSON,
    catalog_links,
    catalog_parts,
    iso,
    link,
    new_etag,
    quoted,
)


@dataclass
class LineItem:
    number: int
    offer_id: str
    quantity: int
    friendly_name: str
    term_duration: str
    parent_subscription_id: str | None
    subscription_id: str
    pricing: JSON | None = None
    """A new-commerce line's ``pricing``; None on a legacy order line (which has no catalog links either)."""


@dataclass
class Order:
    id: str
    customer_id: str
    reference_customer_id: str
    billing_cycle: str
    currency_code: str
    line_items: list[LineItem]
    creation_date: datetime
    status: str
    ready_at: float | None
    """Monotonic time at which a pending order completes (``provisioning_delay_s``); None once completed."""
    etag: str = field(default_factory=new_etag)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def _uri(self) -> str:
        return f"/customers/{quoted(self.customer_id)}/orders/{quoted(self.id)}"

    def _line_json(self, line: LineItem) -> JSON:
        body: JSON = {"lineItemNumber": line.number, "offerId": line.offer_id}
        links: JSON = {}
        if self.completed:  # the subscription id shows only once provisioned (research §5.1)
            body["subscriptionId"] = line.subscription_id
            links["subscription"] = link(
                f"/customers/{quoted(self.customer_id)}/subscriptions/{quoted(line.subscription_id)}"
            )
        if line.parent_subscription_id is not None:
            body["parentSubscriptionId"] = line.parent_subscription_id
        if line.pricing is not None:  # new commerce: Microsoft's example shape (developer/checkout-a-cart.md)
            product_id, sku_id, availability_id = catalog_parts(line.offer_id)
            return body | {
                "termDuration": line.term_duration,
                "transactionType": "New",
                "friendlyName": line.friendly_name,
                "quantity": line.quantity,
                "pricing": line.pricing,
                "links": links | catalog_links(product_id, sku_id, availability_id),
            }
        links["provisioningStatus"] = link(f"{self._uri()}/provisioningstatus")
        return body | {
            "termDuration": line.term_duration,
            "friendlyName": line.friendly_name,
            "quantity": line.quantity,
            "transactionType": "new",
            "links": links,
        }

    def to_json(self) -> JSON:
        body: JSON = {
            "id": self.id,
            "alternateId": self.id,
            "referenceCustomerId": self.reference_customer_id,
            "billingCycle": self.billing_cycle,
            "currencyCode": self.currency_code,
            "lineItems": [self._line_json(line) for line in self.line_items],
            "creationDate": iso(self.creation_date),
            "status": self.status,
            "transactionType": "UserPurchase",
            "links": {"provisioningStatus": link(f"{self._uri()}/provisioningstatus"), "self": link(self._uri())},
            "attributes": {"objectType": "Order", "etag": self.etag},
        }
        prices = [Decimal(str(line.pricing["extendedPrice"])) for line in self.line_items if line.pricing is not None]
        if prices:  # a new-commerce order, as developer/checkout-a-cart.md shows one
            body["currencySymbol"] = CURRENCY_SYMBOLS.get(self.currency_code, self.currency_code)
            body["links"]["patchOperation"] = link(self._uri(), "PATCH")
            body["totalPrice"] = float(sum(prices))
            body["client"] = {}
        return body

    def provisioning_status_json(self) -> list[JSON]:
        line_status = "fulfilled" if self.completed else "prefulfillmentPending"
        quantity_status = "fulfilled" if self.completed else "unfulfilled"
        return [
            {
                "lineItemNumber": line.number,
                "status": line_status,
                "quantityProvisioningInformation": [{"quantity": line.quantity, "status": quantity_status}],
                "attributes": {"objectType": "OrderLineItemProvisioningStatus"},
            }
            for line in self.line_items
        ]
