"""Reading offers, customers and subscriptions from JSON: the control paths, the seed files and ``POST /v1/customers``.

A seed is ``{"offers": [...], "customers": [...], "subscriptions": [...]?, "faults": {...}?, "clock": "ISO"?}``.
An offer with ``productId`` and ``skuId`` is a new-commerce SKU (SPEC §10, catalog.py); one with an ``id`` a legacy
offer. Property names are matched case-insensitively, as on Partner Center's own paths.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from seatflow.simulator.catalog import NceOffer, parse_nce_offer
from seatflow.simulator.faults import ControlError
from seatflow.simulator.resources import (
    DEFAULT_TERM,
    LEGACY_PRODUCT_TYPE,
    NCE_PRODUCT_TYPE,
    REFUND_WINDOW,
    TERM_MONTHS,
    Customer,
    Offer,
    RefundBatch,
    Subscription,
    SubscriptionStatus,
    new_guid,
    parse_iso,
)
from seatflow.simulator.rules import SimFault, fields, is_int, optional_str

ADD_ON_MAXIMUM = 10_000_000
LICENSE_MAXIMUM = 300


def control_fields(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ControlError(f"{what} must be a JSON object")
    return {str(key).lower(): value for key, value in body.items()}


def parse_any_offer(body: Any) -> Offer | NceOffer:
    """A new-commerce SKU when the body has a ``productId``, else a legacy offer."""
    values = control_fields(body, "an offer")
    return parse_nce_offer(values) if "productid" in values else parse_offer(body)


def parse_offer(body: Any) -> Offer:
    """An offer from ``POST /_sim/offers`` or a seed. The maximum defaults to 10,000,000 for an add-on and 300 for
    a license; the minimum to 1; ``isAvailableForPurchase`` to true."""
    values = control_fields(body, "an offer")
    offer_id = values.get("id")
    if not isinstance(offer_id, str) or not offer_id:
        raise ControlError("an offer needs an id (a non-empty string)")
    is_add_on = values.get("isaddon", False)
    prerequisites = values.get("prerequisiteoffers") or []
    if not isinstance(is_add_on, bool):
        raise ControlError(f"offer {offer_id}: isAddOn must be true or false")
    if not isinstance(prerequisites, list) or not all(isinstance(p, str) for p in prerequisites):
        raise ControlError(f"offer {offer_id}: prerequisiteOffers must be a list of offer ids")
    minimum = values.get("minimumquantity", 1)
    maximum = values.get("maximumquantity", ADD_ON_MAXIMUM if is_add_on else LICENSE_MAXIMUM)
    if not is_int(minimum) or not is_int(maximum) or not 0 <= minimum <= maximum:
        raise ControlError(f"offer {offer_id}: minimumQuantity and maximumQuantity must be integers, 0 <= min <= max")
    name = values.get("name") or offer_id
    if not isinstance(name, str):
        raise ControlError(f"offer {offer_id}: name must be a string")
    purchasable = values.get("isavailableforpurchase", True)
    if not isinstance(purchasable, bool):
        raise ControlError(f"offer {offer_id}: isAvailableForPurchase must be true or false")
    return Offer(offer_id, name, is_add_on, list(prerequisites), minimum, maximum, purchasable)


def parse_customer(body: Any) -> Customer:
    """A customer tenant from ``POST /v1/customers`` (or a seed): its id is ``companyProfile.tenantId``, else the
    top-level ``id``, else a new GUID. ``companyName`` is required (800002)."""
    values = fields(body)
    profile = fields(values.get("companyprofile") or {}, "companyProfile")
    company_name = optional_str(profile, "companyName") or optional_str(values, "companyName")
    if not company_name:
        raise SimFault(400, "800002", "companyProfile.companyName is required.")
    customer_id = optional_str(profile, "tenantId") or optional_str(values, "id") or new_guid()
    domain = optional_str(profile, "domain") or f"{_slug(company_name)}.onmicrosoft.com"
    commerce_id = optional_str(values, "commerceId") or new_guid()
    return Customer(id=customer_id, commerce_id=commerce_id, domain=domain, company_name=company_name)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()) or "customer"


def parse_seed_subscription(
    body: Any,
    *,
    offers: dict[str, Offer],
    nce_offers: dict[str, NceOffer],
    subscriptions: dict[str, Subscription],
    now: datetime,
) -> Subscription:
    """A subscription preloaded by a seed: ``customerId``, ``offerId``, ``quantity`` and optionally ``id``,
    ``friendlyName``, ``parentSubscriptionId``, ``status``, ``termDuration``, ``billingCycle``, ``creationDate``,
    ``autoRenewEnabled``, ``orderId``. Its seats are refundable for 168 hours from ``creationDate``. The offer
    must exist: a legacy offer id, or a ``productId:skuId:availabilityId`` of a new-commerce SKU (the
    subscription is then a new-commerce one). The order rules are not re-checked (a seed may describe any
    state)."""
    values = control_fields(body, "a subscription")
    try:
        customer_id, offer_id = optional_str(values, "customerId"), optional_str(values, "offerId")
        name, parent_id = optional_str(values, "friendlyName"), optional_str(values, "parentSubscriptionId")
        term = (optional_str(values, "termDuration") or DEFAULT_TERM).upper()
        created_text = optional_str(values, "creationDate")
    except SimFault as fault:
        raise ControlError(f"subscription: {fault.description}") from fault
    offer = offers.get((offer_id or "").lower())
    nce = (
        nce_offers.get(":".join((offer_id or "").lower().split(":")[:2])) if (offer_id or "").count(":") == 2 else None
    )
    quantity = values.get("quantity")
    status = values.get("status", SubscriptionStatus.ACTIVE)
    known = offer or nce
    if not customer_id or known is None or not is_int(quantity) or quantity < 0 or term not in TERM_MONTHS:
        raise ControlError(f"subscription {values.get('id')}: needs customerId, a known offerId, a quantity, a term")
    if status not in {"active", "suspended", "deleted", "expired", "disabled"}:
        raise ControlError(f"subscription {values.get('id')}: status {status!r} cannot be seeded")
    if parent_id is not None and parent_id.lower() not in subscriptions:
        raise ControlError(f"subscription {values.get('id')}: parent {parent_id} must be seeded before it")
    created = _moment(created_text, now)
    return Subscription(
        id=str(values.get("id") or new_guid()),
        customer_id=customer_id,
        offer_id=offer.id if offer is not None else str(offer_id),
        offer_name=known.name,
        friendly_name=name or known.name,
        quantity=quantity,
        term_duration=term,
        billing_cycle=str(values.get("billingcycle") or "monthly").lower(),
        creation_date=created,
        term_started_at=created,
        status=status,
        order_id=values.get("orderid"),
        parent_subscription_id=parent_id,
        auto_renew_enabled=bool(values.get("autorenewenabled", True)),
        batches=[RefundBatch(quantity, created + REFUND_WINDOW)] if quantity else [],
        product_type=LEGACY_PRODUCT_TYPE if offer is not None else NCE_PRODUCT_TYPE,
        ended_at=now if status in {"expired", "disabled"} else None,
    )


def _moment(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise ControlError(f"not an ISO-8601 moment: {text!r}") from exc
