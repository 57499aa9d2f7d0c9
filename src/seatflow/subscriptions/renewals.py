"""The daily step (``seatflow renew --date``; the worker calls it too): pending subscriptions start,
scheduled changes whose date has come are applied, and terms that ended renew (applying the changes
scheduled "at renewal") or, without auto-renew, end.

A call does at most ``limit`` items of each kind (SPEC §11: a date far ahead must not hold one transaction for
minutes); ``RenewalResult.more`` says that work is left, and calling again with the same date goes on where
the last call stopped, because every item done is no longer due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from seatflow.errors import SeatflowError
from seatflow.subscriptions import repository
from seatflow.subscriptions.at_renewal import apply_at_renewal
from seatflow.subscriptions.changes import change_quantity, guard_linked_parent, lock
from seatflow.subscriptions.lifecycle import expire
from seatflow.subscriptions.models import (
    ENDED_STATUSES,
    ChangeOrigin,
    ScheduledChange,
    ScheduledStatus,
    SubscriptionStatus,
)
from seatflow.subscriptions.repricing import reprice_at_renewal
from seatflow.subscriptions.rules import renewed_term
from seatflow.subscriptions.schemas import Actor

SYSTEM = Actor(ChangeOrigin.SYSTEM, "seatflow")


@dataclass
class RenewalResult:
    started: int = 0
    scheduled_applied: int = 0
    scheduled_failed: int = 0
    renewed: int = 0
    ended: int = 0
    more: bool = False
    """Work was left for another call (the limit was reached)."""


RENEWAL_BATCH = 500
"""Items of each kind one call handles at most (subscriptions to start, scheduled changes, terms to renew)."""
TERM_STEPS = 5_000
"""Terms renewed in one call at most, over all subscriptions (a monthly term caught up over decades)."""


def anything_due(session: Session, *, today: date) -> bool:
    """Whether ``run_renewals`` has anything to do on ``today``: three reads of at most one row each, so a caller
    can check in a reading transaction before it takes the write lock for nothing."""
    return bool(
        repository.due_to_start(session, today, limit=1)
        or repository.due_scheduled(session, today, limit=1)
        or repository.due_for_renewal(session, today, limit=1)
    )


def run_renewals(
    session: Session, *, today: date, now: datetime, limit: int = RENEWAL_BATCH, term_steps: int = TERM_STEPS
) -> RenewalResult:
    result = RenewalResult()
    starting = repository.due_to_start(session, today, limit=limit)
    for subscription in starting:
        subscription.status = SubscriptionStatus.ACTIVE
        result.started += 1
    scheduled_due = repository.due_scheduled(session, today, limit=limit)
    for scheduled in scheduled_due:
        _apply_scheduled(session, scheduled, today=today, now=now, result=result)
    renewing = repository.due_for_renewal(session, today, limit=limit)
    result.more = limit in (len(starting), len(scheduled_due), len(renewing))
    for subscription in renewing:
        subscription = lock(session, subscription.id)
        # Read once: the changes scheduled "at renewal" apply at the first renewal, and none can be added while
        # this runs, so the later terms of a long catch-up are date arithmetic only.
        at_renewal = list(repository.at_renewal_of(session, subscription.id))
        months = subscription.term.months
        while subscription.status not in ENDED_STATUSES and subscription.term_end < today:
            if result.renewed >= term_steps:
                result.more = True  # the subscription keeps the term it reached; the next call goes on from there
                break
            renewal = subscription.term_end + timedelta(days=1)
            if not subscription.auto_renew:
                expire(session, subscription=subscription, now=now, actor=SYSTEM)
                result.ended += 1
                break
            subscription.term_start, subscription.term_end = renewed_term(
                subscription.start_date,
                subscription.term_end,
                months,
                co_termed=subscription.co_term_subscription_id is not None,
            )
            result.renewed += 1
            for scheduled in at_renewal:
                _apply_scheduled(session, scheduled, today=renewal, now=now, result=result)
            if at_renewal:  # a term changed at the renewal: the later terms of a catch-up are that long
                months = subscription.term.months
            at_renewal = []
            # SPEC §15: the new term's price (a rule-priced subscription) and cost (the sheet on the renewal day).
            reprice_at_renewal(session, subscription, renewal=renewal, now=now, actor=SYSTEM)
    session.flush()
    return result


def _apply_scheduled(
    session: Session, scheduled: ScheduledChange, *, today: date, now: datetime, result: RenewalResult
) -> None:
    """Apply in a savepoint: a change that is no longer possible is marked failed, the run goes on."""
    actor = Actor(scheduled.origin, scheduled.requested_by)
    try:
        with session.begin_nested():
            if scheduled.at_renewal:
                # At renewal a reduction is always allowed: the new term's window is open. The SKU, term, billing
                # plan and co-term it names switch first (subscriptions/at_renewal.py).
                subscription = lock(session, scheduled.subscription_id)
                guard_linked_parent(session, subscription, force=scheduled.force, reason=scheduled.reason)
                change = apply_at_renewal(
                    session, subscription=subscription, scheduled=scheduled, renewal=today, actor=actor, now=now
                )
            else:
                # On its own date, even when the run comes late: that is the date the rules were checked for.
                applied = change_quantity(
                    session,
                    subscription_id=scheduled.subscription_id,
                    quantity=scheduled.quantity,
                    effective="now",
                    today=scheduled.effective_date or today,
                    now=now,
                    actor=actor,
                    force=scheduled.force,
                    reason=scheduled.reason,
                )
                assert not isinstance(applied, ScheduledChange)  # noqa: S101 - "now" never schedules
                change = applied
        scheduled.status = ScheduledStatus.APPLIED
        scheduled.applied_change_id = change.id
        result.scheduled_applied += 1
    except SeatflowError as error:
        scheduled.status = ScheduledStatus.FAILED
        scheduled.message = error.message
        result.scheduled_failed += 1
