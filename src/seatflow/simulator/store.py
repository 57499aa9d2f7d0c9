"""What the simulator holds, the clock, and the work every operation does first (``settle``).

One ``threading.RLock`` guards everything, so concurrent requests see one consistent state. Time comes from the
simulator's clock: real UTC time plus an offset that ``set_clock`` moves, so time keeps running from a set moment.
Provisioning delays are real seconds (``time.monotonic``). Both are evaluated lazily: every operation first
completes the orders and the accepted (202) changes whose delay has passed, then runs the renewals and lifecycle
steps the clock has reached (renewals.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from seatflow.simulator.carts import Cart
from seatflow.simulator.catalog import NceOffer
from seatflow.simulator.charges import Ledger
from seatflow.simulator.nce_rules import NceUpdate, apply_nce_update
from seatflow.simulator.orders import Order
from seatflow.simulator.renewals import advance, next_event
from seatflow.simulator.resources import Customer, Offer, Subscription, SubscriptionStatus, new_etag
from seatflow.simulator.rules import SimFault
from seatflow.simulator.traffic import Traffic


@dataclass(frozen=True)
class PendingChange:
    """A subscription change answered 202: applied once ``ready_at`` (monotonic seconds) has passed."""

    update: NceUpdate
    ready_at: float


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._clock_offset = timedelta(0)
        self._offers: dict[str, Offer] = {}
        self._nce_offers: dict[str, NceOffer] = {}
        """By ``productid:skuid``, lower case."""
        self._customers: dict[str, Customer] = {}
        self._orders: dict[str, Order] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._carts: dict[str, Cart] = {}
        self._pending_changes: dict[str, PendingChange] = {}
        self._lifecycle_due: datetime | None = None
        """The earliest moment a renewal, lifecycle step or cycle charge may be due; None: none is."""
        self.traffic = Traffic(self.lock)
        self.ledger = Ledger(self._charged_offer, lambda customer_id: self._customers.get(customer_id.lower()))
        """The charges made and the invoices they were closed into (charges.py, invoices.py)."""

    # --- the clock ---------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + self._clock_offset

    def set_clock(self, now: datetime) -> None:
        """From now on the clock reads ``now`` and keeps running from there."""
        with self.lock:
            moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            self._clock_offset = moment - datetime.now(UTC)

    def _clear(self) -> None:
        self._clock_offset = timedelta(0)
        for collection in (
            self._offers,
            self._nce_offers,
            self._customers,
            self._orders,
            self._subscriptions,
            self._carts,
            self._pending_changes,
        ):
            collection.clear()
        self._lifecycle_due = None
        self.ledger.clear()
        self.traffic.reset()

    # --- lookups -----------------------------------------------------------------------------------------------

    def _customer(self, customer_id: str) -> Customer:
        customer = self._customers.get(customer_id.lower())
        if customer is None:
            raise SimFault(404, "1000", f"Customer {customer_id} not found.")
        return customer

    def _subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        customer = self._customer(customer_id)
        sub = self._subscriptions.get(subscription_id.lower())
        if sub is None or sub.customer_id != customer.id:
            raise SimFault(404, "20003", f"Subscription {subscription_id} not found.")
        return sub

    def _order(self, customer_id: str, order_id: str) -> Order:
        customer = self._customer(customer_id)
        order = self._orders.get(order_id.lower())
        if order is None or order.customer_id != customer.id:
            raise SimFault(404, "20000", f"Order {order_id} not found.")
        return order

    def _nce_offer_of(self, sub: Subscription) -> NceOffer:
        """The SKU of a new-commerce subscription as the catalog has it now (limits replaced apply)."""
        return self._nce_offers[":".join(sub.offer_id.lower().split(":")[:2])]

    def _charged_offer(self, sub: Subscription) -> NceOffer | None:
        """The SKU a new-commerce subscription is charged for; None for a legacy one (legacy offers have no price)."""
        return self._nce_offers.get(":".join(sub.offer_id.lower().split(":")[:2])) if sub.is_nce else None

    def _tenant_skus(self, customer_id: str) -> set[str]:
        """``productid:skuid`` of the tenant's active (or being provisioned) new-commerce subscriptions."""
        live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        return {
            ":".join(s.offer_id.lower().split(":")[:2])
            for s in self._subscriptions.values()
            if s.customer_id == customer_id and s.is_nce and s.status in live
        }

    def _coterm_ends(self, customer_id: str) -> Container[date]:
        """The commitment end dates a new term may be aligned to: those of the tenant's active NCE subscriptions.
        Read only when a custom term end that is not a month end is checked (most changes have none): going through
        every subscription of the tenant on every PATCH cost more than the rest of the PATCH."""
        return _Lazy(
            lambda: {
                s.commitment_end_date.date()
                for s in self._subscriptions.values()
                if s.customer_id == customer_id and s.is_nce and s.status == SubscriptionStatus.ACTIVE
            }
        )

    # --- settling ----------------------------------------------------------------------------------------------

    def _add_subscription(self, sub: Subscription) -> None:
        self._subscriptions[sub.id.lower()] = sub
        self._note_lifecycle(sub)

    def _note_lifecycle(self, sub: Subscription) -> None:
        for due in (next_event(sub), self.ledger.next_cycle(sub)):
            if due is not None and (self._lifecycle_due is None or due < self._lifecycle_due):
                self._lifecycle_due = due

    def _apply_nce(self, sub: Subscription, update: NceUpdate, now: datetime) -> None:
        """Apply a checked new-commerce change, charging it first (the ledger reads the quantity before it)."""
        self.ledger.changed(sub, quantity=update.change.quantity, status=update.change.status, at=now)
        apply_nce_update(sub, update, now=now)

    def _settle(self) -> None:
        moment = time.monotonic()
        self._complete_orders(moment)
        self._complete_changes(moment)
        self._run_lifecycle()

    def _complete_orders(self, moment: float) -> None:
        """Complete the orders whose provisioning delay has passed: they and their subscriptions turn
        completed / active (a subscription changed meanwhile keeps its status)."""
        for order in self._orders.values():
            if order.ready_at is None or moment < order.ready_at:
                continue
            order.status, order.ready_at, order.etag = "completed", None, new_etag()
            for line in order.line_items:
                sub = self._subscriptions[line.subscription_id.lower()]
                if sub.status == SubscriptionStatus.PENDING:
                    sub.status, sub.etag = SubscriptionStatus.ACTIVE, new_etag()
                    self._note_lifecycle(sub)

    def _complete_changes(self, moment: float) -> None:
        for key, pending in list(self._pending_changes.items()):
            if moment < pending.ready_at:
                continue
            del self._pending_changes[key]
            sub = self._subscriptions[key]
            self._apply_nce(sub, pending.update, self.now())
            sub.etag = new_etag()
            self._note_lifecycle(sub)

    def _run_lifecycle(self) -> None:
        now = self.now()
        if self._lifecycle_due is None or now < self._lifecycle_due:
            return
        upcoming: datetime | None = None
        for sub in self._subscriptions.values():
            due = advance(sub, now=now, offers=self._nce_offers, charges=self.ledger)
            if due is not None and (upcoming is None or due < upcoming):
                upcoming = due
        self._lifecycle_due = upcoming


class _Lazy:
    """A set of dates computed the first time it is asked whether it holds one."""

    def __init__(self, compute: Callable[[], set[date]]) -> None:
        self._compute = compute
        self._dates: set[date] | None = None

    def __contains__(self, day: object) -> bool:
        if self._dates is None:
            self._dates = self._compute()
        return day in self._dates
