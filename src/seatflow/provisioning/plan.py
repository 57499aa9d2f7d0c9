"""What the worker sends for one subscription (SPEC §7), as pure functions of its awaiting changes.

Only the due head of the queue goes: changes in the order they were recorded, up to the first one whose
effective date has not come, without those an earlier failed change holds back (``holds_back``). Consecutive
quantity changes collapse into one call carrying the last absolute quantity; a status change (suspend, reactivate,
cancel) is a call of its own, in its place.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from seatflow.catalog.models import ProviderKind
from seatflow.subscriptions.models import ChangeKind, ProvisioningStatus


class OpKind(enum.StrEnum):
    CREATE = "create"
    """Buy the subscription (an order; for an add-on with its parent's provider subscription id)."""
    AWAIT_ORDER = "await_order"
    """The order was accepted and the provider is still completing it: look at it again."""
    SET_QUANTITY = "set_quantity"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    CANCEL = "cancel"
    AUTO_RENEW = "auto_renew"
    """Turn auto-renew on or off (``Op.auto_renew``): off is how a subscription is not renewed, and expires."""
    NEXT_TERM = "next_term"
    """Send what the renewal is to change (the job's ``next_term``), or clear it when nothing is scheduled."""
    NOTHING = "nothing"
    """Nothing to send: a price change, an expiry (the provider lets the term end itself), or a subscription
    cancelled before it was ever ordered."""


@dataclass(frozen=True)
class Step:
    """One change of the subscription's queue, as the worker sees it: an awaiting one, or a failed one (or one
    provisioned after an awaiting one) that bears on what the awaiting ones send."""

    id: uuid.UUID
    kind: ChangeKind
    quantity_after: int
    effective_date: date
    attempts: int
    provider_request_id: str | None = None
    provider_order_id: str | None = None
    status: ProvisioningStatus = ProvisioningStatus.AWAITING
    quantity_before: int | None = None
    provider_cart_id: str | None = None
    provider_operation: str | None = None
    auto_renew_after: bool | None = None
    linked_child: uuid.UUID | None = None
    """For a quantity change a linked child caused on its parent (SPEC §5): that child subscription. Such a
    change carries one child's delta and nothing else."""

    @property
    def delta(self) -> int:
        return self.quantity_after - self.quantity_before if self.quantity_before is not None else 0


@dataclass(frozen=True)
class Op:
    kind: OpKind
    steps: tuple[Step, ...]
    quantity: int
    note: str | None = None
    auto_renew: bool | None = None

    @property
    def pending_operation(self) -> str | None:
        """The ``Location`` of this op's change that the provider accepted and is still applying (polled)."""
        return next((step.provider_operation for step in self.steps if step.provider_operation), None)

    @property
    def change_ids(self) -> list[uuid.UUID]:
        return [step.id for step in self.steps]

    @property
    def attempts(self) -> int:
        return max(step.attempts for step in self.steps)


@dataclass(frozen=True)
class NextTerm:
    """The next term as the changes scheduled "at renewal" leave it (sent as ``scheduledNextTermInstructions``)."""

    offer_id: str | None
    term: str
    billing_cycle: str
    quantity: int
    custom_term_end: date | None = None


@dataclass(frozen=True)
class Job:
    """A subscription's due changes and everything a provider needs to carry them out."""

    subscription_id: uuid.UUID
    account_id: uuid.UUID
    account_kind: ProviderKind
    account_name: str
    account_settings: dict[str, Any]
    tenant_id: str | None
    customer_name: str
    contract_name: str
    product_name: str
    offer_id: str | None
    term: str
    billing_cycle: str
    external_id: str | None
    parent_subscription_id: uuid.UUID | None
    parent_external_id: str | None
    ops: tuple[Op, ...] = field(default=())
    country: str | None = None
    """The customer's country, for the availabilities a purchase is looked up in (the account's when None)."""
    custom_term_end: date | None = None
    """A co-termed purchase: the term end to buy it with (``customTermEndDate``)."""
    next_term: NextTerm | None = None
    """What the changes scheduled for the renewal make of the next term; None when nothing is scheduled."""
    known_external_ids: frozenset[str] = frozenset()
    """The provider subscription ids seatflow has for the same tenant (an order found after a lost answer must be
    none of them)."""


def holds_back(failed: Step, later: Step) -> bool:
    """Whether a failed change keeps a later change of the same subscription from going (SPEC §7's gating).

    It does, until it is requeued or resolved, with one exception (SPEC §5): the changes linked children caused
    on their parent each carry one child's delta, so one child's refused change holds back that child's later
    changes (they assumed it), never another child's. Any other change (an operator's forced quantity, a
    suspension) assumes everything before it and waits."""
    if failed.linked_child is None or later.linked_child is None:
        return True
    return failed.linked_child == later.linked_child


def held_back(steps: Sequence[Step]) -> set[uuid.UUID]:
    """The awaiting changes that a failed change holds back, directly or through a change it holds back.

    ``steps`` is the subscription's queue in the order the changes were recorded, failed ones included."""
    skipped: list[Step] = []
    held = set()
    for step in steps:
        if step.status is ProvisioningStatus.FAILED:
            skipped.append(step)
        elif step.status is ProvisioningStatus.AWAITING and any(holds_back(s, step) for s in skipped):
            skipped.append(step)
            held.add(step.id)
    return held


def due_steps(steps: Sequence[Step], today: date) -> list[Step]:
    """The awaiting changes that go now, in order: up to the first one whose effective date has not come
    (nothing provisions before its date, and nothing overtakes it), without those held back (``held_back``).

    Each change that goes carries the absolute quantity the provider is to hold: its own, less the deltas of
    the changes before it that did not reach the provider (failed, or held back), plus those of the changes
    after it that were provisioned already (it was requeued after they went)."""
    held = held_back(steps)
    due = []
    skipped: list[Step] = []
    for index, step in enumerate(steps):
        if step.status is ProvisioningStatus.FAILED or step.id in held:
            skipped.append(step)
            continue
        if step.status is not ProvisioningStatus.AWAITING:
            continue
        if step.effective_date > today:
            break
        landed = sum(s.delta for s in steps[index + 1 :] if s.status is ProvisioningStatus.PROVISIONED)
        target = step.quantity_after - sum(s.delta for s in skipped) + landed
        due.append(replace(step, quantity_after=target) if target != step.quantity_after else step)
    return due


def plan(steps: list[Step], *, external_id: str | None, today: date) -> tuple[Op, ...]:
    ops: list[Op] = []
    exists = external_id is not None
    for step in due_steps(steps, today):
        last = ops[-1] if ops else None
        if step.kind is ChangeKind.CREATE and not exists:
            kind = OpKind.AWAIT_ORDER if step.provider_order_id else OpKind.CREATE
            ops.append(Op(kind, (step,), step.quantity_after))
            exists = True
        elif step.kind in (ChangeKind.CREATE, ChangeKind.QUANTITY):
            if last is not None and _absorbs(last):
                ops[-1] = replace(last, steps=(*last.steps, step), quantity=step.quantity_after)
            else:
                ops.append(Op(OpKind.SET_QUANTITY, (step,), step.quantity_after))
        elif step.kind is ChangeKind.CANCEL and last is not None and _unsent_create(last) and len(ops) == 1:
            note = "Cancelled before it was ordered: nothing was bought."
            ops[-1] = Op(OpKind.NOTHING, (*last.steps, step), 0, note)
            exists = False
        elif step.kind in _STATUS_OPS:
            ops.append(Op(_STATUS_OPS[step.kind], (step,), step.quantity_after))
        elif step.kind is ChangeKind.AUTO_RENEW:
            if last is not None and last.kind is OpKind.AUTO_RENEW:  # only the last value matters
                ops[-1] = replace(last, steps=(*last.steps, step), auto_renew=step.auto_renew_after)
            else:
                ops.append(Op(OpKind.AUTO_RENEW, (step,), step.quantity_after, auto_renew=step.auto_renew_after))
        elif step.kind is ChangeKind.NEXT_TERM:
            if last is not None and last.kind is OpKind.NEXT_TERM:  # sent as they stand when it goes
                ops[-1] = replace(last, steps=(*last.steps, step))
            else:
                ops.append(Op(OpKind.NEXT_TERM, (step,), step.quantity_after))
        elif step.kind is ChangeKind.EXPIRE:
            note = "Expires at the provider at its term end (it was set not to renew): nothing to send."
            ops.append(Op(OpKind.NOTHING, (step,), 0, note))
        elif last is not None and last.kind is OpKind.NOTHING:
            ops[-1] = replace(last, steps=(*last.steps, step))
        else:
            ops.append(Op(OpKind.NOTHING, (step,), step.quantity_after))
    return tuple(ops)


_STATUS_OPS = {
    ChangeKind.SUSPEND: OpKind.SUSPEND,
    ChangeKind.REACTIVATE: OpKind.REACTIVATE,
    ChangeKind.CANCEL: OpKind.CANCEL,
}


def _unsent_create(op: Op) -> bool:
    first = op.steps[0]
    return op.kind is OpKind.CREATE and first.provider_request_id is None and first.provider_cart_id is None


def _absorbs(op: Op) -> bool:
    """A later quantity joins this call: another quantity call, or an order not yet sent (an order already
    sent keeps its request, so that a re-send is the same request)."""
    return (op.kind is OpKind.SET_QUANTITY and op.pending_operation is None) or _unsent_create(op)


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential (base, 2 * base, 4 * base, ...), never shorter than the provider's Retry-After."""
        exponential = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return max(exponential, retry_after or 0.0)


def when(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def replace_external_id(job: Job, external_id: str) -> Job:
    """The job once the provider gave the subscription its id (the ops after an order need it)."""
    return replace(job, external_id=external_id)
