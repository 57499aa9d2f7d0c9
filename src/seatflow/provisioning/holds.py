"""Why an awaiting change waits for something other than the worker (SPEC §7's gating), in the operator's words:
an add-on's parent subscription not yet bought, an earlier failed change that holds it back, a later date."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from seatflow.provisioning.plan import Step, held_back
from seatflow.provisioning.queue import queue_steps
from seatflow.subscriptions.models import ChangeKind, LicenseChange, ProvisioningStatus, Subscription

AWAITING, FAILED = ProvisioningStatus.AWAITING, ProvisioningStatus.FAILED


def hold_reasons(session: Session, changes: Sequence[LicenseChange], *, today: date) -> dict[uuid.UUID, str]:
    """Why awaiting changes wait for something other than the worker (SPEC §7's gating), for the operator: an
    add-on's parent subscription not yet bought, an earlier failed change that holds it back, a later effective
    date. An awaiting change absent from the answer is the worker's to carry out."""
    awaiting = [c for c in changes if c.provisioning_status is AWAITING]
    if not awaiting:
        return {}
    subscription_ids = {c.subscription_id for c in awaiting}
    reasons: dict[uuid.UUID, str] = {}
    for change in awaiting:
        if change.effective_date > today:
            reasons[change.id] = f"Due on {change.effective_date}: nothing provisions before its date."
    # An add-on waits until its parent subscription's purchase is provisioned.
    parent_create = aliased(LicenseChange)
    stmt = (
        select(Subscription.id, parent_create.provisioning_status)
        .join(parent_create, parent_create.subscription_id == Subscription.parent_subscription_id)
        .where(
            Subscription.id.in_(list(subscription_ids)),
            parent_create.kind == ChangeKind.CREATE,
            parent_create.provisioning_status.in_((AWAITING, FAILED)),
        )
    )
    parent_status = {row[0]: row[1] for row in session.execute(stmt)}
    for change in awaiting:
        status = parent_status.get(change.subscription_id)
        if status is FAILED:
            reasons[change.id] = (
                "Blocked: its parent subscription's purchase failed. It goes once that is requeued and provisioned."
            )
        elif status is AWAITING:
            reasons[change.id] = "Waits for its parent subscription's purchase to be provisioned."
    with_failures = set(
        session.execute(
            select(LicenseChange.subscription_id).where(
                LicenseChange.subscription_id.in_(list(subscription_ids)), LicenseChange.provisioning_status == FAILED
            )
        ).scalars()
    )
    for subscription_id in with_failures:
        reasons.update(_held_back(queue_steps(session, subscription_id)))
    return reasons


HELD = "Blocked behind an earlier failed change of this subscription: requeue or resolve that one first."


def _held_back(steps: Sequence[Step]) -> dict[uuid.UUID, str]:
    """The awaiting changes a failed change holds back (``plan.held_back``)."""
    return dict.fromkeys(held_back(steps), HELD)
