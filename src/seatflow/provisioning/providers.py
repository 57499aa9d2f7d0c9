"""The providers behind one Protocol (SPEC §7): what each kind does with a subscription's due changes.

A provider carries out one ``Op`` and says how it went; the worker writes the outcome. Providers never hold
a database transaction open while they talk to the outside world.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from seatflow.catalog.models import ProviderKind
from seatflow.catalog.providers import PartnerCenterSettings
from seatflow.partner_center.client import PartnerCenterClient, tls_context
from seatflow.provisioning.outcomes import Done, Failed, HandedOff, Ledger, Outcome, Provider, Waiting
from seatflow.provisioning.partner_center import PartnerCenterProvider
from seatflow.provisioning.plan import Job, Op, OpKind

__all__ = [
    "Done",
    "Failed",
    "HandedOff",
    "Ledger",
    "Outcome",
    "PartnerCenterProvider",
    "Provider",
    "ProviderRegistry",
    "Waiting",
]


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
        OpKind.AUTO_RENEW: f"turn auto-renew {'on' if op.auto_renew else 'off'} for {what}",
        OpKind.NEXT_TERM: f"set what {what} changes to at its renewal (see the scheduled changes)",
        OpKind.NOTHING: f"note a change of {what}",
    }[op.kind]


class ProviderRegistry:
    """One provider per account, built once (a Partner Center client keeps its connections and token)."""

    def __init__(
        self,
        *,
        order_poll_seconds: float = 5.0,
        client_factory: Callable[[PartnerCenterSettings], PartnerCenterClient] = PartnerCenterClient,
    ) -> None:
        self._lock = threading.Lock()
        tls_context()  # made now, when the server or worker starts, not in the first provisioning pass
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
