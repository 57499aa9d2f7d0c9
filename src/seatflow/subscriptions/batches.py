"""Seat batches and what can be reduced now (SPEC §6), read from the change log.

With a reduction window (NCE: 7 days), each purchase, renewal and mid-term addition opens its own window for
the seats it added, as Partner Center's ``refundableQuantity`` shows. The batches are derived from the
subscription's ``create`` and ``quantity`` changes of its current term (``rules.seat_batches``); the other kinds
(price, suspend, auto-renew, next-term instructions, cancel, expire) never add or take seats from a batch.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    ScalarSelect,
    Select,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.orm import QueryableAttribute, Session, aliased

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
    logged_seat_batches,
    strictest_refundable,
    window_cutoff,
)
from seatflow.subscriptions.schemas import SubscriptionRead

SEAT_KINDS = (ChangeKind.CREATE, ChangeKind.QUANTITY)
"""The only changes that add or take seats."""


def batches_of(
    session: Session, subscriptions: Sequence[Subscription], *, on: date
) -> dict[uuid.UUID, tuple[SeatBatch, ...]]:
    """Each subscription's seat batches in its current term as a caller asking from ``on`` needs them, in one
    query: ``on`` is the earliest day the caller will ask what is refundable (``refundable``, a reduction's check).
    The batches dated from ``rules.window_cutoff(on, its window)`` are exact, and so is their total; the seats left
    before that day come out as one batch dated the term's start. So what is refundable on ``on`` or later is the
    whole term's, while the read is bounded by the changes recorded since the window's first one, not the term's.

    The read: the subscription's ``create`` and ``quantity`` changes effective from its term's start, in the order
    they were recorded, from the one recorded just before the first effective from the cut-off (or from that first
    one when none is before it), replayed by ``rules.logged_seat_batches`` (the seats held before them are the first
    one's ``quantity_before``; the subscription's own quantity has the last word); nothing is read when no change is
    effective from the cut-off. A change recorded late with an earlier date is among them when it was recorded
    after that first one, and counts as in the whole term's replay.

    Why the batches from the cut-off and the total are the whole term's: every change recorded before that first one
    is dated before the cut-off (as is the term's start, or it would be that first one), so the seats they leave are
    all in batches dated before it, and replaying from the last of them with its ``quantity_before`` leaves the same
    total in batches dated before the cut-off too. From there both replays agree: an increase adds the same seats on
    the same day, a reduction takes the newest first, so the batches dated from the cut-off (the newest) go the same
    way in both before the older ones, whose totals are equal; a ``create`` empties both. When no change is effective
    from the cut-off, every batch is dated before it: reading nothing gives the subscription's quantity as one batch
    dated the term's start, the total a full replay ends on too. The tests check the read against a replay of the
    whole term (``tests/subscriptions/window_reference.py``)."""
    if not subscriptions:
        return {}
    return _replayed(subscriptions, session.execute(*_window_changes(subscriptions, on)))


_RowValues = Iterable[tuple[uuid.UUID, ChangeKind, int, int, date, bool]]
"""A seat-batch read's rows: (subscription, kind, quantity before, quantity after, effective date, in the term)."""


def _replayed(subscriptions: Sequence[Subscription], rows: _RowValues) -> dict[uuid.UUID, tuple[SeatBatch, ...]]:
    """Each subscription's batches from its seat changes' rows, in recording order (the rows not of its current
    term are skipped)."""
    steps: dict[uuid.UUID, list[QuantityStep]] = defaultdict(list)
    for subscription_id, kind, before, after, effective_date, in_term in rows:
        if not in_term:
            continue
        steps[subscription_id].append(
            QuantityStep(effective_date, after, purchase=kind is ChangeKind.CREATE, quantity_before=before)
        )
    return {s.id: logged_seat_batches(steps[s.id], term_start=s.term_start, quantity=s.quantity) for s in subscriptions}


_Rows = Select[uuid.UUID, ChangeKind, int, int, date, bool]
_COLUMNS = (
    LicenseChange.subscription_id,
    LicenseChange.kind,
    LicenseChange.quantity_before,
    LicenseChange.quantity_after,
    LicenseChange.effective_date,
)
"""A seat-batch read's columns, but the last (whether the change is of the term)."""


# Aliases of the change log for the window read.
_FIRST = aliased(LicenseChange, name="first_in_window")
_BEFORE = aliased(LicenseChange, name="before_window")


def _window_changes(subscriptions: Sequence[Subscription], on: date) -> tuple[_Rows, dict[str, object]]:
    """The statement (built once for each number of distinct cut-offs) and its parameters: the subscriptions
    grouped by their window's cut-off on ``on``."""
    by_cutoff: dict[date, list[uuid.UUID]] = defaultdict(list)
    for subscription in subscriptions:
        by_cutoff[window_cutoff(on, subscription.reduction_window_days)].append(subscription.id)
    params: dict[str, object] = {"ids": [s.id for s in subscriptions]}
    for n, (cutoff, ids) in enumerate(sorted(by_cutoff.items())):
        params[f"ids_{n}"], params[f"cutoff_{n}"] = ids, cutoff
    return _window_statement(len(by_cutoff)), params


@functools.cache
def _window_statement(groups: int) -> _Rows:
    """The end of each subscription's current term changes that ``batches_of`` reads for a caller asking from
    ``on``, in recording order: from the change recorded just before ("before_window": the term's seat change
    with the greatest (created_at, id) below the first's) the first one effective from the cut-off
    ("first_in_window": the least (created_at, id) of those), or from that first one when none is before it.

    Each step is bounded by the window's changes, not the term's: the first's ``created_at`` is a grouped
    ``min`` over the changes effective from the cut-off (``ix_license_changes_subscription_effective``; grouped,
    so that no planner turns it into a walk of the term in recording order that stops at the first match, which
    would come last), its ``id`` one among those recorded at that instant; the one before it and the read walk
    ``ix_license_changes_subscription_created`` (subscription_id, created_at, id) from there."""
    ids: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)

    def cutoff_of(subscription_id: QueryableAttribute[uuid.UUID]) -> ColumnElement[date]:
        """The subscription's cut-off: ``cutoff_n`` for the subscriptions in ``ids_n``."""
        last: ColumnElement[date] = bindparam(f"cutoff_{groups - 1}", type_=Date)
        if groups == 1:
            return last
        return case(
            *(
                (subscription_id.in_(bindparam(f"ids_{n}", expanding=True)), bindparam(f"cutoff_{n}", type_=Date))
                for n in range(groups - 1)
            ),
            else_=last,
        )

    firsts = (
        select(
            LicenseChange.subscription_id,
            Subscription.term_start,
            func.min(LicenseChange.created_at).label("first_at"),
        )
        .join(Subscription, Subscription.id == LicenseChange.subscription_id)
        .where(
            LicenseChange.subscription_id.in_(ids),
            LicenseChange.kind.in_(SEAT_KINDS),
            LicenseChange.effective_date >= Subscription.term_start,
            LicenseChange.effective_date >= cutoff_of(LicenseChange.subscription_id),
        )
        .group_by(LicenseChange.subscription_id, Subscription.term_start)
        .cte("firsts")
    )
    first_id = (
        select(_FIRST.id)
        .where(
            _FIRST.subscription_id == firsts.c.subscription_id,
            _FIRST.created_at == firsts.c.first_at,
            _FIRST.kind.in_(SEAT_KINDS),
            _FIRST.effective_date >= firsts.c.term_start,
            _FIRST.effective_date >= cutoff_of(_FIRST.subscription_id),
        )
        .order_by(_FIRST.id)
        .limit(1)
        .scalar_subquery()
    )
    windows = select(firsts.c.subscription_id, firsts.c.term_start, firsts.c.first_at, first_id.label("first_id")).cte(
        "windows"
    )

    def before_window(column: QueryableAttribute[Any]) -> ScalarSelect[Any]:
        """The column of the term's seat change recorded just before the first in the window (none: NULL)."""
        return (
            select(column)
            .where(
                _BEFORE.subscription_id == windows.c.subscription_id,
                _BEFORE.kind.in_(SEAT_KINDS),
                _BEFORE.effective_date >= windows.c.term_start,
                _BEFORE.created_at <= windows.c.first_at,
                or_(_BEFORE.created_at < windows.c.first_at, _BEFORE.id < windows.c.first_id),
            )
            .order_by(_BEFORE.created_at.desc(), _BEFORE.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    # Materialized: each subscription's starting point is found once, before the read, whatever the planner's
    # statistics (without, PostgreSQL once joined the starting change by subscription and tested every pair).
    starts = (
        select(
            windows.c.subscription_id,
            windows.c.term_start,
            func.coalesce(before_window(_BEFORE.created_at), windows.c.first_at).label("start_at"),
            func.coalesce(before_window(_BEFORE.id), windows.c.first_id).label("start_id"),
        )
        .cte("starts")
        .prefix_with("MATERIALIZED")
    )
    # Changes dated before the term (recorded late) are read, and skipped by ``batches_of``: as a condition,
    # PostgreSQL took ``effective_date >= term_start`` for the better index and read the whole term by it.
    return (
        select(*_COLUMNS, LicenseChange.effective_date >= starts.c.term_start)
        .join(starts, starts.c.subscription_id == LicenseChange.subscription_id)
        .where(
            LicenseChange.subscription_id.in_(ids),
            LicenseChange.kind.in_(SEAT_KINDS),
            LicenseChange.created_at >= starts.c.start_at,
            or_(LicenseChange.created_at > starts.c.start_at, LicenseChange.id >= starts.c.start_id),
        )
        .order_by(LicenseChange.subscription_id, LicenseChange.created_at, LicenseChange.id)
    )


def reduction_rules(
    session: Session, subscription: Subscription, label: str, *, on: date, parent: Subscription | None = None
) -> list[ReductionRule]:
    """The rules a reduction of ``subscription`` on ``on`` must satisfy, with their batches: its own and, for a
    linked child, its parent's (the parent's batches are the parent's own changes, pushed by its children).
    ``parent``: the linked parent, if the caller has read it already. The batches are exact from
    ``rules.window_cutoff(on, ...)`` (``batches_of``): ask the rules about ``on`` or later only."""
    owners = [(subscription, label)]
    if subscription.linked_subscription_id is not None:
        if parent is None or parent.id != subscription.linked_subscription_id:
            parent = repository.get(session, subscription.linked_subscription_id)
        assert parent is not None  # noqa: S101 - a foreign key guarantees it
        owners.append((parent, "Its linked parent"))
    batches = batches_of(session, [owner for owner, _ in owners], on=on)
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
    batches = batches_of(session, owners, on=on)
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
