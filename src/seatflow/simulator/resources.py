"""The simulator's resources and their Partner Center JSON shapes.

Responses use camelCase names, lower snake_case enum values, ``links`` of ``{uri, method, headers}`` (URIs
without the ``/v1`` prefix, as Partner Center writes them) and ``attributes{objectType, etag}``
(research/partner-center.md §1.3, §3, §5.1, §6.2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]

REFUND_WINDOW = timedelta(hours=168)
"""Each purchase or seat addition is refundable (may be reduced) for 168 hours (research §7)."""
CANCELLATION_WINDOW = timedelta(days=7)
"""An NCE license subscription may be cancelled for 7 days after its term starts (research §7, 900117)."""
TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}
DEFAULT_TERM = "P1Y"


class SubscriptionStatus:
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"
    EXPIRED = "expired"


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a ``Z``, as Partner Center writes dates."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 moment; a naive one is taken as UTC. Raises ``ValueError``."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months; the day is clamped to the target month's length (Jan 31 + 1M = Feb 28)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def new_guid() -> str:
    return str(uuid.uuid4())


def new_etag() -> str:
    return uuid.uuid4().hex


def link(uri: str, method: str = "GET") -> JSON:
    return {"uri": uri, "method": method, "headers": []}


def collection(items: list[JSON], self_uri: str) -> JSON:
    return {
        "totalCount": len(items),
        "items": items,
        "links": {"self": link(self_uri)},
        "attributes": {"objectType": "Collection"},
    }


def _q(identifier: str) -> str:
    return quote(identifier, safe="")


@dataclass
class Offer:
    """A legacy-style offer: what an order line's ``offerId`` names, with its quantity limits and add-on parents."""

    id: str
    name: str
    is_add_on: bool
    prerequisite_offers: list[str]
    minimum_quantity: int
    maximum_quantity: int

    def accepts_parent(self, parent_offer_id: str) -> bool:
        return parent_offer_id.lower() in {offer.lower() for offer in self.prerequisite_offers}

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "isAddOn": self.is_add_on,
            "prerequisiteOffers": list(self.prerequisite_offers),
            "minimumQuantity": self.minimum_quantity,
            "maximumQuantity": self.maximum_quantity,
            "unitType": "Licenses",
            "billing": "license",
            "links": {"self": link(f"/offers/{_q(self.id)}")},
            "attributes": {"objectType": "Offer"},
        }


@dataclass
class Customer:
    id: str
    commerce_id: str
    domain: str
    company_name: str
    etag: str = field(default_factory=new_etag)

    def to_json(self) -> JSON:
        uri = f"/customers/{_q(self.id)}"
        return {
            "id": self.id,
            "commerceId": self.commerce_id,
            "companyProfile": {
                "tenantId": self.id,
                "domain": self.domain,
                "companyName": self.company_name,
                "links": {"self": link(f"{uri}/profiles/company")},
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "relationshipToPartner": "reseller",
            "allowDelegatedAccess": True,
            "links": {"self": link(uri)},
            "attributes": {"objectType": "Customer", "etag": self.etag},
        }


@dataclass
class RefundBatch:
    """Seats bought at one moment, refundable (reducible) until ``allowed_until``."""

    quantity: int
    allowed_until: datetime


@dataclass
class Subscription:
    id: str
    customer_id: str
    offer_id: str
    offer_name: str
    friendly_name: str
    quantity: int
    term_duration: str
    billing_cycle: str
    creation_date: datetime
    term_started_at: datetime
    status: str
    order_id: str | None
    parent_subscription_id: str | None = None
    auto_renew_enabled: bool = True
    batches: list[RefundBatch] = field(default_factory=list)
    etag: str = field(default_factory=new_etag)

    @property
    def effective_start_date(self) -> datetime:
        return self.term_started_at.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def commitment_end_date(self) -> datetime:
        """NCE end dates are inclusive: a P1Y term starting 2025-03-10 ends on 2026-03-09 (research §6.2)."""
        months = TERM_MONTHS.get(self.term_duration, 12)
        return add_months(self.effective_start_date, months) - timedelta(days=1)

    @property
    def cancellation_allowed_until(self) -> datetime:
        return self.term_started_at + CANCELLATION_WINDOW

    def refundable_batches(self, now: datetime) -> list[RefundBatch]:
        return [batch for batch in self.batches if batch.allowed_until > now and batch.quantity > 0]

    def refundable_quantity(self, now: datetime) -> int:
        return sum(batch.quantity for batch in self.refundable_batches(now))

    def to_json(self, now: datetime) -> JSON:
        uri = f"/customers/{_q(self.customer_id)}/subscriptions/{_q(self.id)}"
        links: JSON = {"offer": link(f"/offers/{_q(self.offer_id)}")}
        body: JSON = {
            "id": self.id,
            "offerId": self.offer_id,
            "offerName": self.offer_name,
            "friendlyName": self.friendly_name,
            "quantity": self.quantity,
            "unitType": "Licenses",
        }
        if self.parent_subscription_id is not None:
            body["parentSubscriptionId"] = self.parent_subscription_id
            links["parentSubscription"] = link(
                f"/customers/{_q(self.customer_id)}/subscriptions/{_q(self.parent_subscription_id)}"
            )
        links["self"] = link(uri)
        refundable = self.refundable_batches(now)
        body |= {
            "creationDate": iso(self.creation_date),
            "effectiveStartDate": iso(self.effective_start_date),
            "commitmentEndDate": iso(self.commitment_end_date),
            "cancellationAllowedUntilDate": iso(self.cancellation_allowed_until),
            "status": self.status,
            "autoRenewEnabled": self.auto_renew_enabled,
            "billingType": "license",
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
            "orderId": self.order_id,
            "refundableQuantity": {
                "totalQuantity": sum(batch.quantity for batch in refundable),
                "details": [
                    {"quantity": batch.quantity, "allowedUntilDateTime": iso(batch.allowed_until)}
                    for batch in refundable
                ],
            },
            "links": links,
            "attributes": {"etag": self.etag, "objectType": "Subscription"},
        }
        return body


@dataclass
class LineItem:
    number: int
    offer_id: str
    quantity: int
    friendly_name: str
    term_duration: str
    parent_subscription_id: str | None
    subscription_id: str


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
        return f"/customers/{_q(self.customer_id)}/orders/{_q(self.id)}"

    def _line_json(self, line: LineItem) -> JSON:
        body: JSON = {"lineItemNumber": line.number, "offerId": line.offer_id}
        links: JSON = {}
        if self.completed:  # the subscription id shows only once provisioned (research §5.1)
            body["subscriptionId"] = line.subscription_id
            links["subscription"] = link(f"/customers/{_q(self.customer_id)}/subscriptions/{_q(line.subscription_id)}")
        if line.parent_subscription_id is not None:
            body["parentSubscriptionId"] = line.parent_subscription_id
        links["provisioningStatus"] = link(f"{self._uri()}/provisioningstatus")
        return body | {
            "termDuration": line.term_duration,
            "friendlyName": line.friendly_name,
            "quantity": line.quantity,
            "transactionType": "new",
            "links": links,
        }

    def to_json(self) -> JSON:
        return {
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
