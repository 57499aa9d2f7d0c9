"""Seat batches and what can be reduced now (SPEC §6), read from the change log.

With a reduction window (NCE: 7 days), each purchase, renewal and mid-term addition opens its own window for
the seats it added, as Partner Center's ``refundableQuantity`` shows. The batches are derived from the
subscription's ``create`` and ``quantity`` changes of its current term (``rules.seat_batches``); the other kinds
(price, suspend, auto-renew, next-term instructions, cancel, expire) never add or take seats from a batch.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatflow.subscriptions import repository
from seatflow.subscriptions.models import (
    ENDED_STATUSES,
    ChangeKind,
    LicenseChange,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.rules import (
    NOTHING_REFUNDABLE,
    QuantityStep,
    ReductionRule,
    Refundable,
    SeatBatch,
    seat_batches,
    strictest_refundable,
)
from seatflow.subscriptions.schemas import SubscriptionRead

SEAT_KINDS = (ChangeKind.CREATE, ChangeKind.QUANTITY)
"""The only changes that add or take seats."""


def batches_of(session: Session, subscriptions: Sequence[Subscription]) -> dict[uuid.UUID, tuple[SeatBatch, ...]]:
    """Each subscription's seat batches in its current term, in one query: its ``create`` and ``quantity``
    changes effective from its term's start, in the order they were recorded.

    The seats held when the term started are the first such change's ``quantity_before`` (the subscription's
    quantity when the term has none). The subscription's own quantity has the last word: a log that does not end
    on it (a subscription written without its changes) is brought to it as if by one more change."""
    if not subscriptions:
        return {}
    rows = session.execute(
        select(
            LicenseChange.subscription_id,
            LicenseChange.kind,
            LicenseChange.quantity_before,
            LicenseChange.quantity_after,
            LicenseChange.effective_date,
        )
        .join(Subscription, Subscription.id == LicenseChange.subscription_id)
        .where(
            LicenseChange.subscription_id.in_([s.id for s in subscriptions]),
            LicenseChange.kind.in_(SEAT_KINDS),
            LicenseChange.effective_date >= Subscription.term_start,
        )
        .order_by(LicenseChange.subscription_id, LicenseChange.created_at, LicenseChange.id)
    ).all()
    held: dict[uuid.UUID, int] = {}
    steps: dict[uuid.UUID, list[QuantityStep]] = defaultdict(list)
    for subscription_id, kind, before, after, effective_date in rows:
        held.setdefault(subscription_id, before)
        steps[subscription_id].append(QuantityStep(effective_date, after, purchase=kind is ChangeKind.CREATE))
    result = {}
    for subscription in subscriptions:
        own = steps[subscription.id]
        if not own or own[-1].quantity_after != subscription.quantity:
            own.append(QuantityStep(subscription.term_start, subscription.quantity))
        result[subscription.id] = seat_batches(
            own, term_start=subscription.term_start, held=held.get(subscription.id, subscription.quantity)
        )
    return result


def reduction_rules(
    session: Session, subscription: Subscription, label: str, *, parent: Subscription | None = None
) -> list[ReductionRule]:
    """The rules a reduction of ``subscription`` must satisfy, with their batches: its own and, for a linked
    child, its parent's (the parent's batches are the parent's own changes, pushed by its children). ``parent``:
    the linked parent, if the caller has read it already."""
    owners = [(subscription, label)]
    if subscription.linked_subscription_id is not None:
        if parent is None or parent.id != subscription.linked_subscription_id:
            parent = repository.get(session, subscription.linked_subscription_id)
        assert parent is not None  # noqa: S101 - a foreign key guarantees it
        owners.append((parent, "Its linked parent"))
    batches = batches_of(session, [owner for owner, _ in owners])
    return [rule_of(owner, name, batches[owner.id]) for owner, name in owners]


def rule_of(subscription: Subscription, label: str, batches: tuple[SeatBatch, ...] = ()) -> ReductionRule:
    return ReductionRule(
        behavior=subscription.reduction_behavior,
        window_days=subscription.reduction_window_days,
        term_start=subscription.term_start,
        term_end=subscription.term_end,
        label=label,
        batches=batches,
    )


def refundable_quantities(
    session: Session, subscriptions: Sequence[Subscription], *, on: date
) -> dict[uuid.UUID, Refundable | None]:
    """What each subscription can be reduced by on ``on`` under every rule that applies to it (a linked child's
    and its parent's: the strictest wins), as batches with the last day each can still be reduced.

    None when no rule limits it: the rule is ``allowed`` (for the child and its parent), or the subscription is
    pending (nothing is bought before it starts). Nothing for a cancelled or expired subscription. Three queries
    whatever the number of subscriptions: the parents, then every batch."""
    parent_ids = {s.linked_subscription_id for s in subscriptions if s.linked_subscription_id is not None}
    known = {s.id: s for s in subscriptions}
    missing = parent_ids - known.keys()
    if missing:
        known.update(
            (p.id, p) for p in session.execute(select(Subscription).where(Subscription.id.in_(missing))).scalars()
        )
    owners = list(known.values())
    batches = batches_of(session, owners)
    result: dict[uuid.UUID, Refundable | None] = {}
    for subscription in subscriptions:
        if subscription.status in ENDED_STATUSES:
            result[subscription.id] = NOTHING_REFUNDABLE
            continue
        if subscription.status is SubscriptionStatus.PENDING:
            result[subscription.id] = None
            continue
        chain = [subscription]
        if subscription.linked_subscription_id is not None and subscription.linked_subscription_id in known:
            chain.append(known[subscription.linked_subscription_id])
        limits = [rule_of(s, "", batches[s.id]).refundable(on) for s in chain]
        result[subscription.id] = strictest_refundable([limit for limit in limits if limit is not None])
    return result


def subscription_reads(session: Session, subscriptions: Iterable[Subscription], *, on: date) -> list[SubscriptionRead]:
    """The API's answer for subscriptions, each with its ``refundable_quantity`` on ``on``."""
    subscriptions = list(subscriptions)
    refundable = refundable_quantities(session, subscriptions, on=on)
    return [SubscriptionRead.from_model(s, refundable=refundable[s.id]) for s in subscriptions]
