"""The providers behind one Protocol (SPEC §7): what each kind does with a subscription's due changes.

A provider carries out one ``Op`` and says how it went; the worker writes the outcome. Providers never hold
a database transaction open while they talk to the outside world.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from seatflow.catalog.models import ProviderKind
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.client import PartnerCenterClient, PartnerCenterError
from seatflow.provisioning.plan import Job, Op, OpKind


@dataclass(frozen=True)
class Done:
    """The provider did it: the changes are provisioned."""

    external_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Waiting:
    """Accepted but not finished (an order the provider is still completing): look again later."""

    retry_in: float
    message: str
    order_id: str | None = None


@dataclass(frozen=True)
class HandedOff:
    """A person provisions it and confirms (manual providers); the worker has nothing more to do."""

    recipient: str | None
    subject: str
    body: str


@dataclass(frozen=True)
class Failed:
    message: str
    transient: bool
    retry_after: float | None = None


Outcome = Done | Waiting | HandedOff | Failed


class Ledger(Protocol):
    """What a provider may write before it acts (in its own committed transaction)."""

    def remember_request_id(self, change_id: uuid.UUID, request_id: str) -> None: ...


class Provider(Protocol):
    kind: ProviderKind

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome: ...


class DoNothingProvider:
    """Changes of a do-nothing account are ``not_applicable`` when recorded; nothing reaches the worker."""

    kind = ProviderKind.DO_NOTHING

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome:
        return Done(message="Nothing to provision (do-nothing provider).")


class LinkedProvider:
    """A linked child provisions through its parent (SPEC §5): its changes settle when the parent change they
    caused does (``queue.flow_back``), so the worker never sends them anywhere."""

    kind = ProviderKind.LINKED

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome:
        return Failed("A linked subscription provisions through its parent's change.", transient=False)


class ManualProvider:
    """A notification for the account's people; an operator confirms ``provisioned`` or ``failed``."""

    kind = ProviderKind.MANUAL

    def execute(self, job: Job, op: Op, ledger: Ledger) -> Outcome:
        settings = job.account_settings
        action = _describe(job, op)
        lines = [
            f"Please {action} for {job.customer_name} ({job.contract_name}) in {job.account_name}, then confirm "
            "the change in seatflow (provisioned, or failed with the reason).",
            f"Subscription: {job.subscription_id}",
            "Changes: " + ", ".join(str(change_id) for change_id in op.change_ids),
        ]
        if settings.get("instructions"):
            lines.append(str(settings["instructions"]))
        return HandedOff(
            recipient=settings.get("notify_email"),
            subject=f"Provision by hand: {action} ({job.customer_name})",
            body="\n".join(lines),
        )


def _describe(job: Job, op: Op) -> str:
    what = job.product_name
    return {
        OpKind.CREATE: f"buy {op.quantity} {what}",
        OpKind.AWAIT_ORDER: f"buy {op.quantity} {what}",
        OpKind.SET_QUANTITY: f"set {what} to {op.quantity}",
        OpKind.SUSPEND: f"suspend {what}",
        OpKind.REACTIVATE: f"reactivate {what}",
        OpKind.CANCEL: f"cancel {what}",
        OpKind.NOTHING: f"note a change of {what}",
    }[op.kind]


class PartnerCenterProvider:
    """Orders, quantity and status through the Partner Center API (or the simulator)."""

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
            return self._create(job, op, ledger, tenant)
        if op.kind is OpKind.AWAIT_ORDER:
            order_id = op.steps[0].provider_order_id
            assert order_id is not None  # noqa: S101 - the plan makes AWAIT_ORDER only with an order id
            return self._order_outcome(self.client.get_order(tenant, order_id))
        if op.kind is OpKind.NOTHING:
            return Done(message=op.note)
        if job.external_id is None:
            return Failed("The subscription has no Partner Center subscription id.", transient=False)
        statuses = {OpKind.SUSPEND: "suspended", OpKind.REACTIVATE: "active", OpKind.CANCEL: "deleted"}
        changes: dict[str, Any] = (
            {"quantity": op.quantity} if op.kind is OpKind.SET_QUANTITY else {"status": statuses[op.kind]}
        )
        self.client.update_subscription(tenant, job.external_id, changes)
        return Done()

    def _create(self, job: Job, op: Op, ledger: Ledger, tenant: str) -> Outcome:
        """Buy once: the MS-RequestId is stored before the first send, and before any re-send the provider's
        subscriptions are searched for ours (the order's friendlyName), so a lost answer never buys twice."""
        if job.offer_id is None:
            return Failed(f"{job.product_name} has no offer id to order.", transient=False)
        if job.parent_subscription_id is not None and job.parent_external_id is None:
            return Failed("Its parent subscription has no Partner Center subscription id yet.", transient=False)
        step = op.steps[0]
        request_id = step.provider_request_id
        if request_id is not None:
            found = self._find_ours(tenant, job)
            if found is not None:
                return found
        else:
            request_id = str(uuid.uuid4())
            ledger.remember_request_id(step.id, request_id)
        line: dict[str, Any] = {
            "lineItemNumber": 0,
            "offerId": job.offer_id,
            "quantity": op.quantity,
            "friendlyName": job.friendly_name,
            "termDuration": job.term,
        }
        if job.parent_external_id is not None:
            line["parentSubscriptionId"] = job.parent_external_id
        order = self.client.create_order(tenant, [line], request_id=request_id, billing_cycle=job.billing_cycle)
        return self._order_outcome(order)

    def _find_ours(self, tenant: str, job: Job) -> Outcome | None:
        for subscription in self.client.list_subscriptions(tenant):
            if subscription.get("friendlyName") != job.friendly_name or subscription.get("status") == "deleted":
                continue
            if subscription.get("status") == "pending":
                return Waiting(
                    self.order_poll_seconds,
                    f"Order {subscription.get('orderId')} is being completed by Partner Center.",
                    order_id=subscription.get("orderId"),
                )
            return Done(external_id=str(subscription["id"]), message="Found at Partner Center after a lost answer.")
        return None

    def _order_outcome(self, order: dict[str, Any]) -> Outcome:
        status = order.get("status")
        lines = order.get("lineItems") or []
        subscription_id = lines[0].get("subscriptionId") if lines else None
        if status == "completed" and subscription_id:
            return Done(external_id=str(subscription_id))
        if status == "cancelled":
            return Failed(f"Partner Center cancelled order {order.get('id')}.", transient=False)
        return Waiting(
            self.order_poll_seconds,
            f"Order {order.get('id')} is {status or 'pending'} at Partner Center.",
            order_id=str(order.get("id")),
        )


class ProviderRegistry:
    """One provider per account, built once (a Partner Center client keeps its connections and token)."""

    def __init__(
        self,
        *,
        order_poll_seconds: float = 5.0,
        client_factory: Callable[[PartnerCenterSettings], PartnerCenterClient] = PartnerCenterClient,
    ) -> None:
        self._lock = threading.Lock()
        self._partner_center: dict[tuple[uuid.UUID, str], PartnerCenterProvider] = {}
        self._order_poll_seconds = order_poll_seconds
        self._client_factory = client_factory
        self._simple: dict[ProviderKind, Provider] = {
            ProviderKind.DO_NOTHING: DoNothingProvider(),
            ProviderKind.MANUAL: ManualProvider(),
            ProviderKind.LINKED: LinkedProvider(),
        }

    def for_job(self, job: Job) -> Provider:
        if job.account_kind is not ProviderKind.PARTNER_CENTER:
            return self._simple[job.account_kind]
        settings = PartnerCenterSettings.model_validate(job.account_settings)
        key = (job.account_id, settings.model_dump_json())
        with self._lock:
            provider = self._partner_center.get(key)
            if provider is None:
                provider = PartnerCenterProvider(
                    self._client_factory(settings), order_poll_seconds=self._order_poll_seconds
                )
                self._partner_center[key] = provider
            return provider

    def partner_center_calls(self) -> int:
        with self._lock:
            return sum(provider.client.calls for provider in self._partner_center.values())

    def close(self) -> None:
        with self._lock:
            for provider in self._partner_center.values():
                provider.client.close()
            self._partner_center.clear()
