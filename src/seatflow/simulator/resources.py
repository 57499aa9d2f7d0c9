"""The simulator's resources and their Partner Center JSON shapes.

Responses use camelCase names, lower snake_case enum values, ``links`` of ``{uri, method, headers}`` (URIs
without the ``/v1`` prefix, as Partner Center writes them) and ``attributes{objectType, etag}``
(research/partner-center.md §1.3, §3, §5.1, §6.2). A subscription bought through a cart is a new-commerce one
(``productType.id`` ``OnlineServicesNCE``, ``offerId`` ``productId:skuId:availabilityId``) and renders the
fields of Microsoft's new-commerce examples (developer/change-the-quantity-of-a-subscription.md,
developer/create-scheduled-changes.md).
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
LEGACY_PRODUCT_TYPE = "OnlineServices"
NCE_PRODUCT_TYPE = "OnlineServicesNCE"
COUNTRY = "US"
"""The market the simulator's catalog and links speak for."""
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


class SubscriptionStatus:
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"
    EXPIRED = "expired"
    DISABLED = "disabled"


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


def catalog_parts(catalog_item_id: str) -> tuple[str, str, str]:
    """``(productId, skuId, availabilityId)`` of a ``productId:skuId:availabilityId`` (missing parts empty)."""
    product_id, sku_id, availability_id, *_ = [*catalog_item_id.split(":"), "", "", ""]
    return product_id, sku_id, availability_id


def link(uri: str, method: str = "GET") -> JSON:
    return {"uri": uri, "method": method, "headers": []}


def collection(items: list[JSON], self_uri: str) -> JSON:
    return {
        "totalCount": len(items),
        "items": items,
        "links": {"self": link(self_uri)},
        "attributes": {"objectType": "Collection"},
    }


def quoted(identifier: str) -> str:
    return quote(identifier, safe="")


@dataclass
class Offer:
    """A legacy-style offer: what an order line's ``offerId`` names, with its quantity limits and add-on parents.

    Microsoft no longer sells legacy license-based offers (all license-based purchases go through new commerce
    since 1 September 2024, apart from a few public-sector offers): an offer seeded with ``isAvailableForPurchase``
    false (developer/offer-resources.md) is refused by ``POST …/orders`` with 403 2091 and by a cart with 500600."""

    id: str
    name: str
    is_add_on: bool
    prerequisite_offers: list[str]
    minimum_quantity: int
    maximum_quantity: int
    is_available_for_purchase: bool = True

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
            "isAvailableForPurchase": self.is_available_for_purchase,
            "unitType": "Licenses",
            "billing": "license",
            "links": {"self": link(f"/offers/{quoted(self.id)}")},
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
        uri = f"/customers/{quoted(self.id)}"
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


@dataclass(frozen=True)
class ScheduledInstructions:
    """``scheduledNextTermInstructions``: what the next renewal applies (developer/create-scheduled-changes.md)."""

    product_id: str
    sku_id: str
    availability_id: str
    billing_cycle: str
    term_duration: str
    quantity: int
    custom_term_end: datetime | None = None
    promotion_id: str | None = None

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"

    def to_json(self) -> JSON:
        product: JSON = {
            "productId": self.product_id,
            "skuId": self.sku_id,
            "availabilityId": self.availability_id,
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
        }
        if self.promotion_id is not None:
            product["promotionId"] = self.promotion_id
        body: JSON = {"product": product, "quantity": self.quantity}
        if self.custom_term_end is not None:
            body["customTermEndDate"] = iso(self.custom_term_end)
        return body


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
    product_type: str = LEGACY_PRODUCT_TYPE
    custom_term_end: datetime | None = None
    """The current term's co-termed end (``customTermEndDate``); None: the term's own length."""
    scheduled: ScheduledInstructions | None = None
    ended_at: datetime | None = None
    """When the last term ended without a renewal (expired or disabled since)."""

    @property
    def is_nce(self) -> bool:
        return self.product_type == NCE_PRODUCT_TYPE

    @property
    def effective_start_date(self) -> datetime:
        return self.term_started_at.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def commitment_end_date(self) -> datetime:
        """NCE end dates are inclusive: a P1Y term starting 2025-03-10 ends on 2026-03-09 (research §6.2)."""
        if self.custom_term_end is not None:
            return self.custom_term_end.replace(hour=0, minute=0, second=0, microsecond=0)
        months = TERM_MONTHS.get(self.term_duration, 12)
        return add_months(self.effective_start_date, months) - timedelta(days=1)

    @property
    def term_end(self) -> datetime:
        """The moment the term is over: 00:00 UTC after the (inclusive) commitment end date, when renewals run."""
        return self.commitment_end_date + timedelta(days=1)

    @property
    def cancellation_allowed_until(self) -> datetime:
        return self.term_started_at + CANCELLATION_WINDOW

    def refundable_batches(self, now: datetime) -> list[RefundBatch]:
        return [batch for batch in self.batches if batch.allowed_until > now and batch.quantity > 0]

    def refundable_quantity(self, now: datetime) -> int:
        return sum(batch.quantity for batch in self.refundable_batches(now))

    def to_json(self, now: datetime) -> JSON:
        if self.is_nce:
            return self._nce_json(now)
        uri = f"/customers/{quoted(self.customer_id)}/subscriptions/{quoted(self.id)}"
        links: JSON = {"offer": link(f"/offers/{quoted(self.offer_id)}")}
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
                f"/customers/{quoted(self.customer_id)}/subscriptions/{quoted(self.parent_subscription_id)}"
            )
        links["self"] = link(uri)
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
            "refundableQuantity": self._refundable_json(now),
            "scheduledNextTermInstructions": None,
            "links": links,
            "attributes": {"etag": self.etag, "objectType": "Subscription"},
        }
        return body

    def _refundable_json(self, now: datetime) -> JSON:
        refundable = self.refundable_batches(now)
        return {
            "totalQuantity": sum(batch.quantity for batch in refundable),
            "details": [
                {"quantity": batch.quantity, "allowedUntilDateTime": iso(batch.allowed_until)} for batch in refundable
            ],
        }

    def _nce_json(self, now: datetime) -> JSON:
        """The new-commerce Subscription, field for field as Microsoft's NCE examples show it."""
        product_id, sku_id, availability_id = catalog_parts(self.offer_id)
        refund_open = now < self.cancellation_allowed_until
        return {
            "id": self.id,
            "offerId": self.offer_id,
            "offerName": self.offer_name,
            "friendlyName": self.friendly_name,
            "productType": {"id": NCE_PRODUCT_TYPE, "displayName": NCE_PRODUCT_TYPE},
            "quantity": self.quantity,
            "unitType": "Licenses",
            "hasPurchasableAddons": False,
            "creationDate": iso(self.creation_date),
            "effectiveStartDate": iso(self.effective_start_date),
            "commitmentEndDate": iso(self.commitment_end_date),
            "commitmentEndDateTime": iso(self.term_end - timedelta(seconds=1)),
            "cancellationAllowedUntilDate": iso(self.cancellation_allowed_until),
            "status": self.status,
            "autoRenewEnabled": self.auto_renew_enabled,
            "isTrial": False,
            "billingType": "license",
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
            "renewalTermDuration": "",
            "refundOptions": [{"type": "Full", "expiresAt": iso(self.cancellation_allowed_until)}]
            if refund_open
            else [],
            "isMicrosoftProduct": True,
            "partnerId": "",
            "attentionNeeded": False,
            "actionTaken": False,
            "contractType": "subscription",
            "publisherName": "Microsoft Corporation",
            "refundableQuantity": self._refundable_json(now),
            "scheduledNextTermInstructions": self.scheduled.to_json() if self.scheduled is not None else None,
            "orderId": self.order_id,
            "links": {
                **catalog_links(product_id, sku_id, availability_id),
                "self": link(f"/customers/{quoted(self.customer_id)}/subscriptions/{quoted(self.id)}"),
            },
            "attributes": {"etag": self.etag, "objectType": "Subscription"},
        }


def catalog_links(product_id: str, sku_id: str, availability_id: str) -> JSON:
    """The ``product``, ``sku`` and ``availability`` links of a new-commerce order line or subscription."""
    product = f"/products/{quoted(product_id)}"
    sku = f"{product}/skus/{quoted(sku_id)}"
    return {
        "product": link(f"{product}?country={COUNTRY}"),
        "sku": link(f"{sku}?country={COUNTRY}"),
        "availability": link(f"{sku}/availabilities/{quoted(availability_id)}?country={COUNTRY}"),
    }
