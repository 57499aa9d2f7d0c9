"""Everything the Partner Center simulator holds, and the operations on it (no HTTP here).

Operations answer ``Reply(status, body, headers)`` or raise ``SimFault`` (an ApiFault answer) / ``ControlError``
(bad input on a control path). The collections, the clock and the lazy settling are in store.py; new commerce
(catalog, carts, NCE subscription changes) in commerce.py; this module has customers, legacy orders, subscription
reads and the control paths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from seatflow.simulator.carts import CartLine
from seatflow.simulator.catalog import NceOffer
from seatflow.simulator.commerce import Commerce
from seatflow.simulator.faults import ControlError
from seatflow.simulator.orders import LineItem, Order
from seatflow.simulator.paging import page_json, page_request
from seatflow.simulator.resources import (
    DEFAULT_TERM,
    REFUND_WINDOW,
    Customer,
    Offer,
    RefundBatch,
    Subscription,
    SubscriptionStatus,
    collection,
    iso,
    new_etag,
    new_guid,
    parse_iso,
)
from seatflow.simulator.rules import (
    OrderLine,
    SimFault,
    apply_update,
    check_parent,
    check_quantity,
    fields,
    optional_str,
    parse_order_lines,
    plan_update,
)
from seatflow.simulator.seed import control_fields, parse_any_offer, parse_customer, parse_seed_subscription
from seatflow.simulator.traffic import Reply, ok

BULK_MAXIMUM = 100_000

__all__ = ["ControlError", "Reply", "SimFault", "SimulatorState", "demo_seed"]


def demo_seed() -> dict[str, Any]:
    """The packaged seed: the demo catalog's Partner Center offers and the Pine Cone Vet tenant."""
    text = resources.files("seatflow.simulator").joinpath("demo_state.json").read_text(encoding="utf-8")
    seed: dict[str, Any] = json.loads(text)
    return seed


class SimulatorState(Commerce):
    # --- construction, clock, reset ---------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: dict[str, Any]) -> SimulatorState:
        state = cls()
        state.reset(seed)
        return state

    @classmethod
    def load(cls, path: str | Path) -> SimulatorState:
        """A state seeded from a JSON file; ``ControlError`` when it is not a valid seed."""
        try:
            seed = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ControlError(f"{path} is not JSON: {exc}") from exc
        return cls.from_seed(seed)

    @classmethod
    def demo(cls) -> SimulatorState:
        return cls.from_seed(demo_seed())

    def reset(self, seed: Any = None) -> None:
        """Forget everything (resources, faults, clock, replays, counters), then load ``seed`` if given."""
        with self.lock:
            self._clear()
            if seed is not None:
                self._load_seed(seed)

    def _load_seed(self, seed: Any) -> None:
        values = control_fields(seed, "a seed")
        if values.get("clock") is not None:
            self.set_clock(_control_moment(values["clock"]))
        for offer in _list(values, "offers"):
            self._put_offer(parse_any_offer(offer))
        for body in _list(values, "customers"):
            try:
                customer = parse_customer(body)
            except SimFault as fault:
                raise ControlError(f"customer: {fault.description}") from fault
            self._customers[customer.id.lower()] = customer
        for body in _list(values, "subscriptions"):
            sub = parse_seed_subscription(
                body,
                offers=self._offers,
                nce_offers=self._nce_offers,
                subscriptions=self._subscriptions,
                now=self.now(),
            )
            if sub.customer_id.lower() not in self._customers:
                raise ControlError(f"subscription {sub.id}: unknown customer {sub.customer_id}")
            self.ledger.track(sub, now=self.now())  # bought before the simulator started: later cycles only
            self._add_subscription(sub)
        if values.get("faults") is not None:
            self.update_faults(values["faults"])

    # --- customers ---------------------------------------------------------------------------------------------

    def create_customer(self, body: Any) -> Reply:
        with self.lock:
            customer = parse_customer(body)
            if customer.id.lower() in self._customers:
                raise SimFault(409, "1001", f"Customer {customer.id} already exists.")
            self._customers[customer.id.lower()] = customer
            return ok(customer.to_json(), 201)

    def list_customers(self, query: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> Reply:
        """A page of at most ``size`` (and ``max_page_size``) customers, in the order they were created (paging.py)."""
        with self.lock:
            request = page_request(query or {}, headers or {}, max_size=self.traffic.faults.max_page_size)
            customers = list(self._customers.values())
            page = [c.to_json() for c in customers[request.start : request.start + request.size]]
            return ok(page_json(page, request, total=len(customers), uri="/customers"))

    def get_customer(self, customer_id: str) -> Reply:
        with self.lock:
            return ok(self._customer(customer_id).to_json())

    def bulk_customers(self, body: Any) -> Reply:
        """``POST /_sim/customers/bulk {"count": n, "prefix"?: "bulk"}``: n customers ``<prefix>-000001``… at once."""
        values = control_fields(body, "bulk customers")
        count, prefix = values.get("count"), values.get("prefix") or "bulk"
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= BULK_MAXIMUM:
            raise ControlError(f"count must be a whole number from 1 to {BULK_MAXIMUM}")
        if not isinstance(prefix, str) or "/" in prefix:
            raise ControlError("prefix must be a string without '/'")
        with self.lock:
            made = [
                Customer(f"{prefix}-{n:06d}", new_guid(), f"{prefix}{n}.onmicrosoft.com", f"{prefix} {n}")
                for n in range(1, count + 1)
            ]
            taken = [c.id for c in made if c.id.lower() in self._customers]
            if taken:
                raise ControlError(f"customer {taken[0]} exists already; use another prefix")
            self._customers.update((c.id.lower(), c) for c in made)
            return ok({"created": count, "customers": len(self._customers)}, 201)

    # --- orders ------------------------------------------------------------------------------------------------

    def create_order(self, customer_id: str, body: Any) -> Reply:
        """Buy one subscription per line item (developer/create-an-order.md). A line names a legacy offer id or a
        new-commerce catalog item (``productId:skuId:availabilityId``, checked by the cart's rules and needing
        ``PartnerOnRecordAttestationAccepted``, 900203). Every line is checked before anything is created, so an
        order is all or nothing. With ``provisioning_delay_s`` the order and its subscriptions stay pending that
        long."""
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            values = fields(body)
            lines = parse_order_lines(values)
            now = self.now()
            billing_cycle = (optional_str(values, "billingCycle") or "monthly").lower()
            attested = values.get("partneronrecordattestationaccepted") is True
            skus = self._tenant_skus(customer.id)
            checked: list[Offer | tuple[CartLine, NceOffer]] = []
            for line in lines:
                if not line.is_catalog_item:
                    checked.append(
                        self._check_line(customer, line.offer_id, line.quantity, line.parent_subscription_id)
                    )
                    continue
                if not attested:
                    raise SimFault(400, "900203", f"CatalogItemId: {line.offer_id} requires attestation acceptance.")
                checked.append(
                    self._check_catalog_order_line(
                        customer, line, billing_cycle=billing_cycle, tenant_skus=skus, now=now
                    )
                )
            currencies = [item[1].currency for item in checked if isinstance(item, tuple)]
            order = self._new_order(
                customer,
                billing_cycle=billing_cycle,
                currency=currencies[0] if currencies else optional_str(values, "currencyCode") or "USD",
                now=now,
                reference=optional_str(values, "referenceCustomerId"),
            )
            for line, item in zip(lines, checked, strict=True):
                if isinstance(item, tuple):
                    self._add_nce_line(order, line.number, *item)
                    continue
                sub = self._subscribe(customer, order, line, item, pending=not order.completed)
                order.line_items.append(
                    LineItem(
                        line.number,
                        item.id,
                        line.quantity,
                        sub.friendly_name,
                        sub.term_duration,
                        sub.parent_subscription_id,
                        sub.id,
                    )
                )
            self._orders[order.id.lower()] = order
            return ok(order.to_json(), 201)

    def _subscribe(
        self, customer: Customer, order: Order, line: OrderLine, offer: Offer, *, pending: bool
    ) -> Subscription:
        """The subscription an order line buys; its whole quantity is refundable for 168 hours."""
        parent = self._subscription(customer.id, line.parent_subscription_id) if line.parent_subscription_id else None
        sub = Subscription(
            id=new_guid(),
            customer_id=customer.id,
            offer_id=offer.id,
            offer_name=offer.name,
            friendly_name=line.friendly_name or offer.name,
            quantity=line.quantity,
            term_duration=line.term_duration or DEFAULT_TERM,
            billing_cycle=order.billing_cycle,
            creation_date=order.creation_date,
            term_started_at=order.creation_date,
            status=SubscriptionStatus.PENDING if pending else SubscriptionStatus.ACTIVE,
            order_id=order.id,
            parent_subscription_id=parent.id if parent is not None else None,
            batches=[RefundBatch(line.quantity, order.creation_date + REFUND_WINDOW)],
        )
        self._add_subscription(sub)
        return sub

    def _check_line(self, customer: Customer, offer_id: str, quantity: int, parent_id: str | None) -> Offer:
        offer = self._offers.get(offer_id.lower())
        if offer is None:
            raise SimFault(400, "800004", f"Offer {offer_id} is invalid or not available.")
        if not offer.is_available_for_purchase:
            raise SimFault(403, "2091", "The offer is no longer available for purchase")
        check_quantity(offer, quantity)
        parent = self._subscriptions.get(parent_id.lower()) if parent_id else None
        if parent is not None and parent.customer_id.lower() != customer.id.lower():
            parent = None
        check_parent(offer, parent_id, parent)
        return offer

    def list_orders(self, customer_id: str) -> Reply:
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            items = [o.to_json() for o in self._orders.values() if o.customer_id == customer.id]
            return ok(collection(items, f"/customers/{customer.id}/orders"))

    def get_order(self, customer_id: str, order_id: str) -> Reply:
        with self.lock:
            self._settle()
            return ok(self._order(customer_id, order_id).to_json())

    def get_provisioning_status(self, customer_id: str, order_id: str) -> Reply:
        with self.lock:
            self._settle()
            order = self._order(customer_id, order_id)
            uri = f"/customers/{order.customer_id}/orders/{order.id}/provisioningstatus"
            return ok(collection(order.provisioning_status_json(), uri))

    # --- subscriptions -----------------------------------------------------------------------------------------

    def list_subscriptions(self, customer_id: str, order_id: str | None = None) -> Reply:
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            now = self.now()
            subs = [s for s in self._subscriptions.values() if s.customer_id == customer.id]
            if order_id is not None:
                subs = [s for s in subs if (s.order_id or "").lower() == order_id.lower()]
            return ok(collection([s.to_json(now) for s in subs], f"/customers/{customer.id}/subscriptions"))

    def get_subscription(self, customer_id: str, subscription_id: str) -> Reply:
        """The subscription, its etag also in an ``ETag`` header (the one ``If-Match`` takes)."""
        with self.lock:
            self._settle()
            sub = self._subscription(customer_id, subscription_id)
            return Reply(200, sub.to_json(self.now()), {"ETag": sub.etag})

    def list_addons(self, customer_id: str, subscription_id: str) -> Reply:
        with self.lock:
            self._settle()
            parent = self._subscription(customer_id, subscription_id)
            now = self.now()
            items = [s.to_json(now) for s in self._subscriptions.values() if s.parent_subscription_id == parent.id]
            return ok(collection(items, f"/customers/{parent.customer_id}/subscriptions/{parent.id}/addons"))

    def update_subscription(
        self, customer_id: str, subscription_id: str, body: Any, *, if_match: str | None = None
    ) -> Reply:
        """PATCH: a new-commerce subscription takes the full resource (commerce.py); a legacy one honours
        ``quantity``, ``status``, ``autoRenewEnabled`` and ``friendlyName`` (rules in ``rules.plan_update``). A
        stale ``If-Match`` etag is refused with 2055."""
        with self.lock:
            self._settle()
            sub = self._subscription(customer_id, subscription_id)
            if sub.is_nce:
                return self._update_nce(sub, body, if_match)
            if if_match not in (None, "*", sub.etag):
                raise SimFault(400, "2055", f"Etag {if_match} is no longer valid for subscription {sub.id}.")
            now = self.now()
            parent = self._subscriptions.get(sub.parent_subscription_id.lower()) if sub.parent_subscription_id else None
            update = plan_update(sub, fields(body), offer=self._offer_of(sub), parent=parent, now=now)
            if update.changes_anything:
                apply_update(sub, update, now=now)
                sub.etag = new_etag()
            return ok(sub.to_json(now))

    def _offer_of(self, sub: Subscription) -> Offer:
        """The offer as it is now: limits replaced through ``/_sim/offers`` apply to existing subscriptions."""
        return self._offers[sub.offer_id.lower()]

    # --- control paths -----------------------------------------------------------------------------------------

    def put_offers(self, body: Any) -> Reply:
        """Add or replace one offer or a list of them (all checked first): legacy offers (``id``) and new-commerce
        SKUs (``productId``, ``skuId``; a new ``availabilityId`` makes older catalog item ids stale)."""
        with self.lock:
            offers = [parse_any_offer(item) for item in body] if isinstance(body, list) else [parse_any_offer(body)]
            for offer in offers:
                self._put_offer(offer)
            rendered = [_offer_json(offer) for offer in offers]
            return ok(rendered if isinstance(body, list) else rendered[0], 201)

    def _put_offer(self, offer: Offer | NceOffer) -> None:
        if isinstance(offer, NceOffer):
            self._nce_offers[offer.id.lower()] = offer
        else:
            self._offers[offer.id.lower()] = offer

    def list_offers(self) -> Reply:
        """The legacy offers, then the new-commerce SKUs (``productId`` marks them)."""
        with self.lock:
            offers: list[Offer | NceOffer] = [*self._offers.values(), *self._nce_offers.values()]
            return ok(collection([_offer_json(offer) for offer in offers], "/_sim/offers"))

    def update_faults(self, body: Any) -> Reply:
        return ok(self.traffic.update_faults(body).to_json())

    def faults(self) -> Reply:
        return ok(self.traffic.faults.to_json())

    def clock(self) -> Reply:
        return ok({"now": iso(self.now())})

    def move_clock(self, body: Any) -> Reply:
        """Set the clock; the renewals and lifecycle steps it reaches run at once."""
        with self.lock:
            self.set_clock(_control_moment(control_fields(body, "the clock").get("now")))
            self._settle()
            return self.clock()

    def snapshot(self) -> Reply:
        """Customers, carts, orders and subscriptions as the simulator holds them, in their API shapes."""
        with self.lock:
            self._settle()
            now = self.now()
            return ok(
                {
                    "customers": [c.to_json() for c in self._customers.values()],
                    "carts": [c.to_json() for c in self._carts.values()],
                    "orders": [o.to_json() for o in self._orders.values()],
                    "subscriptions": [s.to_json(now) for s in self._subscriptions.values()],
                }
            )

    def stats(self) -> Reply:
        return ok(self.traffic.stats())


def _offer_json(offer: Offer | NceOffer) -> dict[str, Any]:
    return offer.to_control_json() if isinstance(offer, NceOffer) else offer.to_json()


def _list(values: dict[str, Any], name: str) -> list[Any]:
    items = values.get(name) or []
    if not isinstance(items, list):
        raise ControlError(f"{name} must be a list")
    return items


def _control_moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ControlError('the clock needs "now": an ISO-8601 moment')
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise ControlError(f"not an ISO-8601 moment: {value!r}") from exc
