"""Partner Center as Microsoft runs it today, new commerce (SPEC §7; research/nce-and-market.md §1).

- **Buy**: the availability of the product's ``productId:skuId`` is looked up for the subscription's term and
  billing plan, a cart is created with one line, its ID is stored (committed) before the first checkout, and the
  cart is checked out. After a lost answer the same cart is checked out again: Microsoft answers a cart's checkout
  once, so a purchase is never made twice. ``orderErrors`` and line errors fail the change with Microsoft's code.
  An NCE add-on is a line of its own; its prerequisite is checked on the tenant by Microsoft (400041), and
  seatflow's gating already waited for its parent subscription to be provisioned. No ``parentSubscriptionId``.
- **Change** (quantity, suspend, reactivate, cancel, auto-renew, changes at renewal): GET the subscription, change
  one field of the full resource, PATCH it with ``If-Match``. A stale etag is read again and re-applied; a ``202``
  is remembered (its ``Location``) and polled on the next round, never re-sent. A change the resource already
  shows (a renewal applied it, or an earlier answer was lost) is done without sending anything.
- A mid-term quantity change clears ``scheduledNextTermInstructions`` at Microsoft: when the renewal has changes
  scheduled, they are sent again right after.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from seatflow.catalog.models import ProviderKind
from seatflow.partner_center.client import PartnerCenterClient
from seatflow.partner_center.errors import CartAlreadySubmitted, PartnerCenterError, SubscriptionEtagStale
from seatflow.partner_center.purchases import Cart, CartLineItem, CatalogItemId, CheckoutResult
from seatflow.partner_center.subscriptions import (
    NextTermInstructions,
    NextTermProduct,
    SubscriptionUpdated,
    UpdatePending,
    read_subscription,
    with_auto_renew,
    with_next_term,
    with_quantity,
    with_status,
)
from seatflow.provisioning.outcomes import Done, Failed, Ledger, Outcome, Waiting
from seatflow.provisioning.plan import Job, NextTerm, Op, OpKind

STALE_ETAG_RETRIES = 3
"""Reads and re-applies after a stale etag in one round; past that the change is retried later (transient)."""

_STATUS_OF = {OpKind.SUSPEND: "suspended", OpKind.REACTIVATE: "active", OpKind.CANCEL: "deleted"}


class PartnerCenterProvider:
    """Carts, checkout and full-resource changes through the Partner Center API (or the simulator)."""

    kind = ProviderKind.PARTNER_CENTER

    def __init__(self, client: PartnerCenterClient, *, order_poll_seconds: float = 5.0) -> None:
        self.client = client
        self.order_poll_seconds = order_poll_seconds

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome:
        if job.tenant_id is None:
            return Failed(f"{job.customer_name} has no tenant id: map the customer to its tenant.", transient=False)
        try:
            return self._execute(job, op, ledger, job.tenant_id)
        except PartnerCenterError as error:
            return Failed(error.message, transient=error.retryable, retry_after=error.retry_after)

    def _execute(self, job: Job, op: Op, ledger: Ledger, tenant: str) -> Outcome:
        if op.kind is OpKind.CREATE:
            return self._buy(job, op, ledger, tenant)
        if op.kind is OpKind.AWAIT_ORDER:
            order_id = op.steps[0].provider_order_id
            assert order_id is not None  # noqa: S101 - the plan makes AWAIT_ORDER only with an order id
            return self._order_outcome(self.client.get_order(tenant, order_id), order_id)
        if op.kind is OpKind.NOTHING:
            return Done(message=op.note)
        if job.external_id is None:
            return Failed("The subscription has no Partner Center subscription id.", transient=False)
        return self._change(job, op, tenant, job.external_id)

    # --- buying ----------------------------------------------------------------------------------------------

    def _buy(self, job: Job, op: Op, ledger: Ledger, tenant: str) -> Outcome:
        step = op.steps[0]
        item = CatalogItemId.parse(job.offer_id or "")
        if item is None or item.availability_id is not None:
            return Failed(
                f"{job.product_name} has no new-commerce product and SKU id (productId:skuId) but "
                f"{job.offer_id!r}: Microsoft sells only new-commerce offers. Set the product's offer id, then "
                "requeue the change.",
                transient=False,
            )
        if step.provider_cart_id is not None:
            # The cart was stored before its first checkout: check the same cart out again.
            return self._checkout(job, op, tenant, step.provider_cart_id)
        availability = self.client.find_availability(
            item.product_id, item.sku_id, job.country, job.term, job.billing_cycle
        )
        line = CartLineItem(
            id=0,
            catalog_item_id=availability.catalog_item_id,
            quantity=op.quantity,
            term_duration=job.term,
            billing_cycle=job.billing_cycle,
            custom_term_end_date=_end_of(job.custom_term_end) if job.custom_term_end else None,
        )
        cart = self.client.create_cart(tenant, [line], request_id=str(uuid.uuid4()))
        ledger.remember_cart_id(step.id, cart.id)
        return self._checkout(job, op, tenant, cart.id, cart_lines=cart)

    def _checkout(self, job: Job, op: Op, tenant: str, cart_id: str, cart_lines: Cart | None = None) -> Outcome:
        try:
            result = self.client.checkout_cart(tenant, cart_id, cart=cart_lines)
        except CartAlreadySubmitted:
            return self._find_order(job, op, tenant, cart_id)
        return self._checkout_outcome(result, cart_id)

    def _checkout_outcome(self, result: CheckoutResult, cart_id: str) -> Outcome:
        if len(result.placed) + len(result.failed) == 0 and not result.orders:
            return Failed(f"Partner Center checked out cart {cart_id} without an order or an error.", transient=True)
        failure = result.failure_for(0)
        if failure is not None:
            return Failed(failure.message, transient=False)
        placed = result.order_line_for(0)
        if placed is None:
            return Failed(f"Partner Center's checkout of cart {cart_id} did not say what it bought.", transient=True)
        if placed.subscription_id:
            return Done(external_id=placed.subscription_id, message=f"Bought in order {placed.order_id}.")
        return Waiting(
            self.order_poll_seconds,
            f"Order {placed.order_id} is being completed by Partner Center.",
            order_id=placed.order_id,
        )

    def _find_order(self, job: Job, op: Op, tenant: str, cart_id: str) -> Outcome:
        """Microsoft says the cart was checked out already (800065): the purchase happened. Its order is in the
        customer's order list (it can take minutes to appear): the newest order line of this SKU and quantity whose
        subscription seatflow does not know yet. Never a new cart."""
        item = CatalogItemId.parse(job.offer_id or "")
        assert item is not None  # noqa: S101 - checked before the cart was made
        prefix = f"{item.product_id}:{item.sku_id}:".lower()
        candidates = []
        for order in self.client.list_orders(tenant):
            for line in order.get("lineItems") or []:
                offer = str(line.get("offerId") or "").lower()
                subscription_id = line.get("subscriptionId")
                if not offer.startswith(prefix) or line.get("quantity") != op.quantity:
                    continue
                if subscription_id and str(subscription_id) in job.known_external_ids:
                    continue
                candidates.append((str(order.get("creationDate") or ""), str(order.get("id")), subscription_id))
        if not candidates:
            return Waiting(
                self.order_poll_seconds,
                f"Cart {cart_id} was checked out; its order is not in Partner Center's order list yet.",
            )
        _, order_id, subscription_id = max(candidates)
        if subscription_id:
            return Done(external_id=str(subscription_id), message=f"Found in order {order_id} after a lost answer.")
        return Waiting(self.order_poll_seconds, f"Order {order_id} is being completed.", order_id=order_id)

    def _order_outcome(self, order: Mapping[str, Any], order_id: str) -> Outcome:
        status = str(order.get("status") or "").lower()
        lines = order.get("lineItems") or []
        subscription_id = lines[0].get("subscriptionId") if lines else None
        if subscription_id and status != "cancelled":
            return Done(external_id=str(subscription_id), message=f"Bought in order {order_id}.")
        if status == "cancelled":
            return Failed(f"Partner Center cancelled order {order_id}.", transient=False)
        return Waiting(
            self.order_poll_seconds, f"Order {order_id} is {status or 'pending'} at Partner Center.", order_id=order_id
        )

    # --- changing ----------------------------------------------------------------------------------------

    def _change(self, job: Job, op: Op, tenant: str, subscription_id: str) -> Outcome:
        if op.pending_operation is not None:
            # Accepted with 202 earlier: look, never send it again.
            resource = self.client.poll(op.pending_operation)
            if _shows(job, op, resource):
                return self._after_change(job, op, tenant, subscription_id, resource)
            return Waiting(
                self.order_poll_seconds,
                "Partner Center accepted the change and is still applying it.",
                operation=op.pending_operation,
            )
        for _ in range(STALE_ETAG_RETRIES):
            resource, etag = self.client.get_subscription_with_etag(tenant, subscription_id)
            if _shows(job, op, resource):
                return self._after_change(job, op, tenant, subscription_id, resource, already=True)
            body = self._body(job, op, resource)
            if isinstance(body, Failed):
                return body
            try:
                answer = self.client.update_subscription_with_etag(tenant, subscription_id, body, etag)
            except SubscriptionEtagStale:
                continue  # changed meanwhile: read it again and re-apply the change to what is there now
            if isinstance(answer, UpdatePending):
                return Waiting(
                    answer.retry_after or self.order_poll_seconds,
                    "Partner Center accepted the change and is applying it.",
                    operation=answer.location,
                )
            assert isinstance(answer, SubscriptionUpdated)  # noqa: S101
            return self._after_change(job, op, tenant, subscription_id, answer.resource)
        return Failed(
            f"The subscription kept changing at Partner Center ({STALE_ETAG_RETRIES} stale etags in a row).",
            transient=True,
        )

    def _body(self, job: Job, op: Op, resource: Mapping[str, Any]) -> dict[str, Any] | Failed:
        if op.kind is OpKind.SET_QUANTITY:
            return with_quantity(resource, op.quantity)
        if op.kind in _STATUS_OF:
            return with_status(resource, _STATUS_OF[op.kind])
        if op.kind is OpKind.AUTO_RENEW:
            return with_auto_renew(resource, bool(op.auto_renew))
        if op.kind is OpKind.NEXT_TERM:
            return with_next_term(resource, self._instructions(job))
        return Failed(f"Nothing Partner Center can be sent for {op.kind.value}.", transient=False)

    def _instructions(self, job: Job) -> NextTermInstructions | None:
        wanted = job.next_term
        if wanted is None:
            return None
        item = CatalogItemId.parse(wanted.offer_id or "")
        if item is None:
            raise PartnerCenterError(
                f"The next term's product has no new-commerce id ({wanted.offer_id!r}).", retryable=False
            )
        availability = self.client.find_availability(
            item.product_id, item.sku_id, job.country, wanted.term, wanted.billing_cycle
        )
        return NextTermInstructions(
            product=NextTermProduct(
                product_id=item.product_id,
                sku_id=item.sku_id,
                availability_id=availability.id,
                billing_cycle=wanted.billing_cycle,
                term_duration=wanted.term,
            ),
            quantity=wanted.quantity,
            custom_term_end_date=_end_of(wanted.custom_term_end) if wanted.custom_term_end else None,
        )

    def _after_change(
        self,
        job: Job,
        op: Op,
        tenant: str,
        subscription_id: str,
        resource: Mapping[str, Any],
        *,
        already: bool = False,
    ) -> Outcome:
        """Done; and after a change that clears the renewal's instructions at Microsoft, they go again."""
        message = "Partner Center showed it already." if already else None
        cleared = op.kind in (OpKind.SET_QUANTITY, OpKind.REACTIVATE) and job.next_term is not None
        if cleared and read_subscription(resource).next_term is None:
            for _ in range(STALE_ETAG_RETRIES):
                fresh, etag = self.client.get_subscription_with_etag(tenant, subscription_id)
                try:
                    self.client.update_subscription_with_etag(
                        tenant, subscription_id, with_next_term(fresh, self._instructions(job)), etag
                    )
                except SubscriptionEtagStale:
                    continue
                message = "The changes scheduled for the renewal were sent again."
                break
        return Done(message=message)


def _shows(job: Job, op: Op, resource: Mapping[str, Any]) -> bool:
    """Whether the subscription at Partner Center already is what the op asks for."""
    subscription = read_subscription(resource)
    if op.kind is OpKind.SET_QUANTITY:
        return subscription.quantity == op.quantity
    if op.kind in _STATUS_OF:
        return subscription.status == _STATUS_OF[op.kind]
    if op.kind is OpKind.AUTO_RENEW:
        return subscription.auto_renew_enabled is bool(op.auto_renew)
    if op.kind is OpKind.NEXT_TERM:
        return _same_next_term(job.next_term, subscription.next_term)
    return False


def _same_next_term(wanted: NextTerm | None, there: NextTermInstructions | None) -> bool:
    if wanted is None or there is None:
        return wanted is None and there is None
    item = CatalogItemId.parse(wanted.offer_id or "")
    return (
        item is not None
        and (there.product.product_id, there.product.sku_id) == (item.product_id, item.sku_id)
        and there.product.term_duration.upper() == wanted.term.upper()
        and there.product.billing_cycle == wanted.billing_cycle
        and there.quantity == wanted.quantity
        and (there.custom_term_end_date.date() if there.custom_term_end_date else None) == wanted.custom_term_end
    )


def _end_of(day: date) -> datetime:
    """A term end as Microsoft writes it: the day, at midnight UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)
