"""New commerce on Partner Center's own paths: the catalog, carts and checkout, changes of NCE subscriptions and
the custom term end dates they may be co-termed to (research/nce-and-market.md §1; the pages named in catalog.py,
carts.py and nce_rules.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from seatflow.simulator.carts import (
    Cart,
    CartLine,
    OrderError,
    annotate,
    check_line,
    checkout_result_json,
    new_cart_id,
    parse_cart_lines,
)
from seatflow.simulator.catalog import NceOffer, availability_json, product_json, products_of, sku_json
from seatflow.simulator.invoices import Invoicing
from seatflow.simulator.nce_rules import (
    coterm_refusal,
    midnight,
    parse_custom_term_end,
    plan_nce_update,
)
from seatflow.simulator.orders import LineItem, Order
from seatflow.simulator.pricesheet import price_sheet
from seatflow.simulator.resources import (
    NCE_PRODUCT_TYPE,
    REFUND_WINDOW,
    TERM_MONTHS,
    Customer,
    RefundBatch,
    Subscription,
    SubscriptionStatus,
    add_months,
    collection,
    iso,
    new_etag,
    new_guid,
)
from seatflow.simulator.rules import OrderLine, SimFault, fields, invalid_input
from seatflow.simulator.store import PendingChange
from seatflow.simulator.traffic import Reply, ok

NOT_FOUND_CODES = {400013, 400018, 400019}
"""Product, SKU and availability not found: 404 (developer/error-codes.md)."""


class Commerce(Invoicing):
    # --- the catalog -------------------------------------------------------------------------------------------

    def list_products(self, query: Mapping[str, str]) -> Reply:
        """``GET /v1/products?country=&targetView=``: the NCE products are in the ``OnlineServices`` view."""
        country = _country(query)
        view = _lower(query).get("targetview")
        if not view:
            raise invalid_input("The targetView query parameter is required.")
        with self.lock:
            offers = products_of(self._nce_offers.values()).values() if view.lower() == "onlineservices" else []
            items = [product_json(offer, country) for offer in offers]
            return ok(collection(items, f"/products?country={country}&targetView={view}"))

    def get_product(self, product_id: str, query: Mapping[str, str]) -> Reply:
        country = _country(query)
        with self.lock:
            return ok(product_json(self._skus_of(product_id)[0], country))

    def list_skus(self, product_id: str, query: Mapping[str, str]) -> Reply:
        country = _country(query)
        with self.lock:
            items = [sku_json(offer, country) for offer in self._skus_of(product_id)]
            return ok(collection(items, f"/products/{product_id}/skus?country={country}"))

    def get_sku(self, product_id: str, sku_id: str, query: Mapping[str, str]) -> Reply:
        country = _country(query)
        with self.lock:
            return ok(sku_json(self._sku(product_id, sku_id), country))

    def list_availabilities(
        self, product_id: str, sku_id: str, query: Mapping[str, str], customer_id: str | None = None
    ) -> Reply:
        """One availability per SKU, holding every term and billing plan it is sold in."""
        country = _country(query)
        with self.lock:
            if customer_id is not None:
                self._customer(customer_id)
            offer = self._sku(product_id, sku_id)
            uri = f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities?country={country}"
            return ok(collection([availability_json(offer, country)], uri))

    def get_availability(self, product_id: str, sku_id: str, availability_id: str, query: Mapping[str, str]) -> Reply:
        country = _country(query)
        with self.lock:
            offer = self._sku(product_id, sku_id)
            if offer.availability_id.lower() != availability_id.lower():
                raise SimFault(404, "400019", "Availability not found.")
            return ok(availability_json(offer, country))

    def _skus_of(self, product_id: str) -> list[NceOffer]:
        offers = [o for o in self._nce_offers.values() if o.product_id.lower() == product_id.lower()]
        if not offers:
            raise SimFault(404, "400013", "Product wasn't found")
        return offers

    def _sku(self, product_id: str, sku_id: str) -> NceOffer:
        self._skus_of(product_id)
        offer = self._nce_offers.get(f"{product_id}:{sku_id}".lower())
        if offer is None:
            raise SimFault(404, "400018", "SKU wasn't found")
        return offer

    def get_price_sheet(self, market: str, view: str, query: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """``GET /v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value`` (pricesheet.py)."""
        with self.lock:
            offers = list(self._nce_offers.values())
            return price_sheet(offers, market=market, view=view, query=query, headers=headers, now=self.now())

    # --- carts -------------------------------------------------------------------------------------------------

    def create_cart(self, customer_id: str, body: Any) -> Reply:
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            lines = parse_cart_lines(body, attestation_required=True)
            now = self.now()
            self._annotate(customer, lines, now)
            cart = Cart(id=new_cart_id(), customer_id=customer.id, created=now, last_modified=now, lines=lines)
            self._carts[cart.id.lower()] = cart
            return ok(cart.to_json(), 201)

    def get_cart(self, customer_id: str, cart_id: str) -> Reply:
        with self.lock:
            return ok(self._cart(customer_id, cart_id).to_json())

    def update_cart(self, customer_id: str, cart_id: str, body: Any) -> Reply:
        """``PUT``: the lines are replaced while nothing of the cart is bought yet (201, as the page shows)."""
        with self.lock:
            self._settle()
            cart = self._open_cart(customer_id, cart_id)
            if cart.orders:
                raise SimFault(400, "800065", f"Cart {cart.id} has already been submitted and can't be updated.")
            lines = parse_cart_lines(body, attestation_required=False)
            now = self.now()
            self._annotate(self._customer(customer_id), lines, now)
            cart.lines, cart.last_modified = lines, now
            return ok(cart.to_json(), 201)

    def checkout_cart(self, customer_id: str, cart_id: str) -> Reply:
        """Buy every line not bought yet, one order per line. A cart whose lines are all bought answers its
        orders again; lines refused last time are tried again (checkout-a-cart.md: the API is idempotent). An
        expired cart buys nothing more (800008), but one that bought something still answers what it bought."""
        with self.lock:
            self._settle()
            cart = self._cart(customer_id, cart_id)
            if cart.status == "Active" and (self.now() < cart.expiration or not cart.orders):
                self._open_cart(customer_id, cart_id)
                self._checkout(cart, self.now())
            orders = [
                self._orders[cart.orders[line.order_group].lower()].to_json()
                for line in cart.lines
                if line.order_group in cart.orders
            ]
            return ok(checkout_result_json(orders, cart.order_errors), 201)

    def _checkout(self, cart: Cart, now: datetime) -> None:
        customer = self._customer(cart.customer_id)
        skus, coterm_ends = self._tenant_skus(customer.id), self._coterm_ends(customer.id)
        errors: list[OrderError] = []
        for line in cart.lines:
            if line.order_group not in cart.orders:
                offer, error = check_line(
                    line,
                    offers=self._nce_offers,
                    tenant_skus=skus,
                    coterm_ends=coterm_ends,
                    now=now,
                    legacy_offer_ids=self._offers.keys(),
                )
                if error is not None or offer is None:
                    assert error is not None  # noqa: S101 - check_line answers an offer or an error
                    errors.append(OrderError(line.order_group, error.code, error.description))
                    continue
                cart.orders[line.order_group] = self._buy(customer, line, offer, now).id
            skus.add(line.sku_key)
        cart.order_errors = errors
        cart.status = "Ordered" if len(cart.orders) == len(cart.lines) else "Active"
        cart.last_modified = now

    def _buy(self, customer: Customer, line: CartLine, offer: NceOffer, now: datetime) -> Order:
        """One order with one new-commerce subscription, pending for ``provisioning_delay_s`` when it is set."""
        order = self._new_order(customer, billing_cycle=line.billing_cycle, currency=offer.currency, now=now)
        self._add_nce_line(order, 0, line, offer)
        self._orders[order.id.lower()] = order
        return order

    def _new_order(
        self, customer: Customer, *, billing_cycle: str, currency: str, now: datetime, reference: str | None = None
    ) -> Order:
        """An order without lines yet: pending for ``provisioning_delay_s`` when it is set, else completed."""
        delay = self.traffic.faults.provisioning_delay_s
        return Order(
            id=uuid.uuid4().hex[:12],
            customer_id=customer.id,
            reference_customer_id=reference or customer.id,
            billing_cycle=billing_cycle,
            currency_code=currency,
            line_items=[],
            creation_date=now,
            status="pending" if delay > 0 else "completed",
            ready_at=time.monotonic() + delay if delay > 0 else None,
        )

    def _add_nce_line(self, order: Order, number: int, line: CartLine, offer: NceOffer) -> Subscription:
        """Buy a checked line into ``order``: a new-commerce subscription whose seats are refundable for 168
        hours, pending while the order is."""
        now, term = order.creation_date, line.term_duration or "P1Y"
        sub = Subscription(
            id=new_guid(),
            customer_id=order.customer_id,
            offer_id=offer.catalog_item_id,
            offer_name=offer.name,
            friendly_name=line.friendly_name or offer.name,
            quantity=line.quantity,
            term_duration=term,
            billing_cycle=line.billing_cycle,
            creation_date=now,
            term_started_at=now,
            status=SubscriptionStatus.ACTIVE if order.completed else SubscriptionStatus.PENDING,
            order_id=order.id,
            batches=[RefundBatch(line.quantity, now + REFUND_WINDOW)],
            product_type=NCE_PRODUCT_TYPE,
            custom_term_end=line.custom_term_end,
        )
        self.ledger.bought(sub, at=now)  # "new": the first charge cycle
        self._add_subscription(sub)
        pricing = offer.pricing(line.quantity, term)
        order.line_items.append(
            LineItem(number, offer.catalog_item_id, line.quantity, sub.friendly_name, term, None, sub.id, pricing)
        )
        return sub

    def _check_catalog_order_line(
        self, customer: Customer, line: OrderLine, *, billing_cycle: str, tenant_skus: set[str], now: datetime
    ) -> tuple[CartLine, NceOffer]:
        """A new-commerce catalog item on the order path (developer/create-an-order.md's example buys
        ``CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P`` with an order-level ``billingCycle``): the cart's rules, but an order is
        all or nothing, so a refused line refuses the order with the line's code. Without a ``termDuration`` the
        line takes the SKU's first term billed in the order's cycle."""
        sku = self._nce_offers.get(":".join(line.offer_id.lower().split(":")[:2]))
        term = line.term_duration
        if term is None and sku is not None:
            term = next((t.duration for t in sku.terms if t.billing_cycle == billing_cycle), None)
        cart_line = CartLine(
            id=line.number,
            catalog_item_id=line.offer_id,
            quantity=line.quantity,
            billing_cycle=billing_cycle,
            term_duration=term,
            friendly_name=line.friendly_name,
            custom_term_end=parse_custom_term_end(line.custom_term_end, f"Line item {line.number}: customTermEndDate"),
        )
        offer, error = check_line(
            cart_line,
            offers=self._nce_offers,
            tenant_skus=tenant_skus,
            coterm_ends=self._coterm_ends(customer.id),
            now=now,
        )
        if error is not None or offer is None:
            assert error is not None  # noqa: S101 - check_line answers an offer or an error
            status = 404 if error.code in NOT_FOUND_CODES else 400
            raise SimFault(status, str(error.code), error.description)
        tenant_skus.add(cart_line.sku_key)
        return cart_line, offer

    def _annotate(self, customer: Customer, lines: list[CartLine], now: datetime) -> None:
        annotate(
            lines,
            offers=self._nce_offers,
            tenant_skus=self._tenant_skus(customer.id),
            coterm_ends=self._coterm_ends(customer.id),
            now=now,
            legacy_offer_ids=self._offers.keys(),
        )

    def _cart(self, customer_id: str, cart_id: str) -> Cart:
        customer = self._customer(customer_id)
        cart = self._carts.get(cart_id.lower())
        if cart is None or cart.customer_id != customer.id:
            raise SimFault(404, "800008", "Unable to retrieve cart ID")
        return cart

    def _open_cart(self, customer_id: str, cart_id: str) -> Cart:
        """A cart that can still change or be checked out: carts expire 7 days from initial creation."""
        cart = self._cart(customer_id, cart_id)
        if self.now() >= cart.expiration:
            raise SimFault(
                404, "800008", f"Unable to retrieve cart ID: cart {cart.id} expired on {iso(cart.expiration)}."
            )
        return cart

    # --- new-commerce subscription changes ---------------------------------------------------------------------

    def _update_nce(self, sub: Subscription, body: Any, if_match: str | None) -> Reply:
        """PATCH of the full resource. A stale etag (``If-Match`` or ``attributes.etag``) is 2055; a change while an
        accepted one is still running is 800082; a share of changes (``accepted_rate``) answers 202 with a
        ``Location`` to poll and is applied after ``provisioning_delay_s``."""
        values = fields(body)
        etag = if_match or fields(values.get("attributes") or {}, "attributes").get("etag")
        if etag not in (None, "*", sub.etag):
            raise SimFault(400, "2055", f"Etag is no longer valid: {etag} is not the etag of subscription {sub.id}.")
        if sub.id.lower() in self._pending_changes:
            raise SimFault(409, "800082", "Subscription is not ready to be updated. Try again after sometime")
        now = self.now()
        update = plan_nce_update(
            sub,
            values,
            offer=self._nce_offer_of(sub),
            offers=self._nce_offers,
            coterm_ends=self._coterm_ends(sub.customer_id),
            now=now,
        )
        if not update.changes_anything:
            return ok(sub.to_json(now))
        if self.traffic.draw_accepted():
            ready_at = time.monotonic() + self.traffic.faults.provisioning_delay_s
            self._pending_changes[sub.id.lower()] = PendingChange(update, ready_at)
            # The page shows no 202 body; Location is where the subscription is read, written as its links.self
            return Reply(202, None, {"Location": f"/customers/{sub.customer_id}/subscriptions/{sub.id}"})
        self._apply_nce(sub, update, now)
        sub.etag = new_etag()
        self._note_lifecycle(sub)
        return ok(sub.to_json(now))

    def list_custom_term_end_dates(self, customer_id: str, query: Mapping[str, str]) -> Reply:
        """The end dates a new subscription of ``term_duration`` may be co-termed to: calendar month ends within its
        first term, and the commitment ends of the tenant's active NCE subscriptions (custom-term-end-dates.md)."""
        values = _lower(query)
        term = (values.get("term_duration") or values.get("termduration") or "").upper()
        if term not in TERM_MONTHS:
            raise invalid_input("term_duration must be P1M, P1Y or P3Y.")
        with self.lock:
            self._settle()
            customer = self._customer(customer_id)
            now = self.now()
            last = (add_months(midnight(now), TERM_MONTHS[term]) - timedelta(days=1)).date()
            items: list[dict[str, Any]] = [
                {"allowedCustomTermEndDateType": "calendarMonthAligned", "allowedCustomTermEndDate": f"{end}T00:00:00"}
                for end in _month_ends(now.date(), last)
            ]
            aligned: dict[str, list[str]] = {}
            for sub in self._subscriptions.values():
                end = sub.commitment_end_date.date()
                live = sub.customer_id == customer.id and sub.is_nce and sub.status == SubscriptionStatus.ACTIVE
                if live and coterm_refusal(end, term=term, start=now, coterm_ends={end}) is None:
                    aligned.setdefault(f"{end}T00:00:00", []).append(sub.id)
            items += [
                {
                    "allowedCustomTermEndDateType": "subscriptionAligned",
                    "cotermSubscriptionIds": ids,
                    "allowedCustomTermEndDate": end,
                }
                for end, ids in sorted(aligned.items())
            ]
            uri = f"/customers/{customer.id}/subscriptions/customTermEndDates?term_duration={term}"
            return ok(collection(items, uri))


def _lower(query: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in query.items()}


def _country(query: Mapping[str, str]) -> str:
    country = _lower(query).get("country")
    if not country:
        raise invalid_input("The country query parameter is required.")
    return country.upper()


def _month_ends(after: date, until: date) -> list[date]:
    """The last days of the calendar months ending after ``after``, up to ``until``."""
    ends: list[date] = []
    year, month = after.year, after.month
    while True:
        end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        if end > until:
            return ends
        if end > after:
            ends.append(end)
        year, month = end.year, end.month + 1
