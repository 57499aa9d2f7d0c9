"""Everything the Partner Center simulator holds, and the operations on it (no HTTP here).

One ``threading.RLock`` guards every operation, so concurrent requests see one consistent state. Operations
answer ``Reply(status, body, headers)`` or raise ``SimFault`` (an ApiFault answer) / ``ControlError`` (bad input
on a control path). Time comes from the simulator's clock: real UTC time plus an offset that ``set_clock`` moves,
so time keeps running from a set moment. Provisioning delays are real seconds (``time.monotonic``), evaluated
lazily on every operation.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from seatflow.simulator.faults import ControlError
from seatflow.simulator.resources import (
    REFUND_WINDOW,
    Customer,
    LineItem,
    Offer,
    Order,
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
from seatflow.simulator.seed import control_fields, parse_customer, parse_offer, parse_seed_subscription
from seatflow.simulator.traffic import Reply, Traffic, ok

__all__ = ["ControlError", "Reply", "SimFault", "SimulatorState", "demo_seed"]


def demo_seed() -> dict[str, Any]:
    """The packaged seed: the demo catalog's Partner Center offers and the Pine Cone Vet tenant."""
    text = resources.files("seatflow.simulator").joinpath("demo_state.json").read_text(encoding="utf-8")
    seed: dict[str, Any] = json.loads(text)
    return seed


class SimulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._clock_offset = timedelta(0)
        self._offers: dict[str, Offer] = {}
        self._customers: dict[str, Customer] = {}
        self._orders: dict[str, Order] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self.traffic = Traffic(self.lock)

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

    def now(self) -> datetime:
        return datetime.now(UTC) + self._clock_offset

    def set_clock(self, now: datetime) -> None:
        """From now on the clock reads ``now`` and keeps running from there."""
        with self.lock:
            moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            self._clock_offset = moment - datetime.now(UTC)

    def reset(self, seed: Any = None) -> None:
        """Forget everything (resources, faults, clock, replays, counters), then load ``seed`` if given."""
        with self.lock:
            self._clear()
            if seed is not None:
                self._load_seed(seed)

    def _clear(self) -> None:
        self._clock_offset = timedelta(0)
        self._offers.clear()
        self._customers.clear()
        self._orders.clear()
        self._subscriptions.clear()
        self.traffic.reset()

    def _load_seed(self, seed: Any) -> None:
        values = control_fields(seed, "a seed")
        if values.get("clock") is not None:
            self.set_clock(_control_moment(values["clock"]))
        for offer in _list(values, "offers"):
            self._put_offer(parse_offer(offer))
        for body in _list(values, "customers"):
            try:
                customer = parse_customer(body)
            except SimFault as fault:
                raise ControlError(f"customer: {fault.description}") from fault
            self._customers[customer.id.lower()] = customer
        for body in _list(values, "subscriptions"):
            sub = parse_seed_subscription(body, offers=self._offers, subscriptions=self._subscriptions, now=self.now())
            if sub.customer_id.lower() not in self._customers:
                raise ControlError(f"subscription {sub.id}: unknown customer {sub.customer_id}")
            self._subscriptions[sub.id.lower()] = sub
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

    def list_customers(self) -> Reply:
        with self.lock:
            return ok(collection([c.to_json() for c in self._customers.values()], "/customers"))

    def get_customer(self, customer_id: str) -> Reply:
        with self.lock:
            return ok(self._customer(customer_id).to_json())

    def _customer(self, customer_id: str) -> Customer:
        customer = self._customers.get(customer_id.lower())
        if customer is None:
            raise SimFault(404, "1000", f"Customer {customer_id} not found.")
        return customer

    # --- orders ------------------------------------------------------------------------------------------------

    def create_order(self, customer_id: str, body: Any) -> Reply:
        """Buy one subscription per line item. Every line is checked before anything is created, so an order is
        all or nothing. With ``provisioning_delay_s`` the order and its subscriptions stay pending that long."""
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            values = fields(body)
            lines = parse_order_lines(values)
            offers = [
                self._check_line(customer, line.offer_id, line.quantity, line.parent_subscription_id) for line in lines
            ]
            now, delay = self.now(), self.traffic.faults.provisioning_delay_s
            billing_cycle = (optional_str(values, "billingCycle") or "monthly").lower()
            order = Order(
                id=uuid.uuid4().hex[:12],
                customer_id=customer.id,
                reference_customer_id=optional_str(values, "referenceCustomerId") or customer.id,
                billing_cycle=billing_cycle,
                currency_code=optional_str(values, "currencyCode") or "USD",
                line_items=[],
                creation_date=now,
                status="pending" if delay > 0 else "completed",
                ready_at=time.monotonic() + delay if delay > 0 else None,
            )
            for line, offer in zip(lines, offers, strict=True):
                sub = self._subscribe(customer, order, line, offer, pending=delay > 0)
                order.line_items.append(
                    LineItem(
                        line.number,
                        offer.id,
                        line.quantity,
                        sub.friendly_name,
                        line.term_duration,
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
            term_duration=line.term_duration,
            billing_cycle=order.billing_cycle,
            creation_date=order.creation_date,
            term_started_at=order.creation_date,
            status=SubscriptionStatus.PENDING if pending else SubscriptionStatus.ACTIVE,
            order_id=order.id,
            parent_subscription_id=parent.id if parent is not None else None,
            batches=[RefundBatch(line.quantity, order.creation_date + REFUND_WINDOW)],
        )
        self._subscriptions[sub.id.lower()] = sub
        return sub

    def _check_line(self, customer: Customer, offer_id: str, quantity: int, parent_id: str | None) -> Offer:
        offer = self._offers.get(offer_id.lower())
        if offer is None:
            raise SimFault(400, "800004", f"Offer {offer_id} is invalid or not available.")
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

    def _order(self, customer_id: str, order_id: str) -> Order:
        customer = self._customer(customer_id)
        order = self._orders.get(order_id.lower())
        if order is None or order.customer_id != customer.id:
            raise SimFault(404, "20000", f"Order {order_id} not found.")
        return order

    def _settle(self) -> None:
        """Complete the orders whose provisioning delay has passed: they and their subscriptions turn
        completed / active (a subscription changed meanwhile keeps its status)."""
        moment = time.monotonic()
        for order in self._orders.values():
            if order.ready_at is None or moment < order.ready_at:
                continue
            order.status, order.ready_at, order.etag = "completed", None, new_etag()
            for line in order.line_items:
                sub = self._subscriptions[line.subscription_id.lower()]
                if sub.status == SubscriptionStatus.PENDING:
                    sub.status, sub.etag = SubscriptionStatus.ACTIVE, new_etag()

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
        with self.lock:
            self._settle()
            return ok(self._subscription(customer_id, subscription_id).to_json(self.now()))

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
        """PATCH: honour ``quantity``, ``status``, ``autoRenewEnabled`` and ``friendlyName`` (rules in
        ``rules.plan_update``). A stale ``If-Match`` etag is refused with 2055."""
        with self.lock:
            self._settle()
            sub = self._subscription(customer_id, subscription_id)
            if if_match not in (None, "*", sub.etag):
                raise SimFault(400, "2055", f"Etag {if_match} is no longer valid for subscription {sub.id}.")
            now = self.now()
            parent = self._subscriptions.get(sub.parent_subscription_id.lower()) if sub.parent_subscription_id else None
            update = plan_update(sub, fields(body), offer=self._offer_of(sub), parent=parent, now=now)
            if update.changes_anything:
                apply_update(sub, update, now=now)
                sub.etag = new_etag()
            return ok(sub.to_json(now))

    def _subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        customer = self._customer(customer_id)
        sub = self._subscriptions.get(subscription_id.lower())
        if sub is None or sub.customer_id != customer.id:
            raise SimFault(404, "20003", f"Subscription {subscription_id} not found.")
        return sub

    def _offer_of(self, sub: Subscription) -> Offer:
        """The offer as it is now: limits replaced through ``/_sim/offers`` apply to existing subscriptions."""
        return self._offers[sub.offer_id.lower()]

    # --- control paths -----------------------------------------------------------------------------------------

    def put_offers(self, body: Any) -> Reply:
        """Add or replace one offer or a list of them (all checked first)."""
        with self.lock:
            offers = [parse_offer(item) for item in body] if isinstance(body, list) else [parse_offer(body)]
            for offer in offers:
                self._put_offer(offer)
            rendered = [offer.to_json() for offer in offers]
            return ok(rendered if isinstance(body, list) else rendered[0], 201)

    def _put_offer(self, offer: Offer) -> None:
        self._offers[offer.id.lower()] = offer

    def list_offers(self) -> Reply:
        with self.lock:
            return ok(collection([offer.to_json() for offer in self._offers.values()], "/_sim/offers"))

    def update_faults(self, body: Any) -> Reply:
        return ok(self.traffic.update_faults(body).to_json())

    def faults(self) -> Reply:
        return ok(self.traffic.faults.to_json())

    def clock(self) -> Reply:
        return ok({"now": iso(self.now())})

    def move_clock(self, body: Any) -> Reply:
        self.set_clock(_control_moment(control_fields(body, "the clock").get("now")))
        return self.clock()

    def snapshot(self) -> Reply:
        """Customers, orders and subscriptions as the simulator holds them, in their API shapes."""
        with self.lock:
            self._settle()
            now = self.now()
            return ok(
                {
                    "customers": [c.to_json() for c in self._customers.values()],
                    "orders": [o.to_json() for o in self._orders.values()],
                    "subscriptions": [s.to_json(now) for s in self._subscriptions.values()],
                }
            )

    def stats(self) -> Reply:
        return ok(self.traffic.stats())


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
