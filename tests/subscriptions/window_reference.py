"""The reference the refund-window read (``subscriptions.batches.batches_of``) is checked against, for the tests
only: the whole term's read (every seat change of the term, which ``batches_of`` read before it read from the
window) and, in Python, the changes the window read keeps (``steps_from_window``). Why keeping only those gives
the same answers is argued in ``batches_of``'s docstring; tests/subscriptions/test_rules.py checks it on random
logs, tests/subscriptions/test_batches_window.py checks the SQL against both on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from seatflow.subscriptions.batches import _COLUMNS, SEAT_KINDS, _replayed, _Rows
from seatflow.subscriptions.models import LicenseChange, Subscription
from seatflow.subscriptions.rules import QuantityStep, SeatBatch


def steps_from_window(steps: Sequence[QuantityStep], cutoff: date) -> Sequence[QuantityStep]:
    """The end of a term's ``create`` and ``quantity`` steps (in recording order) that ``seat_batches`` needs for
    the batches dated ``cutoff`` or later and for the total: from the step recorded just before the first whose
    effective date is ``cutoff`` or later; nothing when no step is. ``batches_of`` reads the same rows in SQL.

    Exact for the batches dated ``cutoff`` or later (so for ``refundable`` on any day from ``window_cutoff``'s
    ``on``) and for the batches' total; the older seats come out as one batch dated ``term_start``."""
    first = next((i for i, step in enumerate(steps) if step.effective_date >= cutoff), None)
    if first is None:
        return ()
    return steps[max(first - 1, 0) :]


def term_changes(subscriptions: Sequence[Subscription]) -> _Rows:
    """Every ``create`` and ``quantity`` change of each subscription's current term, in recording order."""
    return (
        select(*_COLUMNS, true())
        .join(Subscription, Subscription.id == LicenseChange.subscription_id)
        .where(
            LicenseChange.subscription_id.in_([s.id for s in subscriptions]),
            LicenseChange.kind.in_(SEAT_KINDS),
            LicenseChange.effective_date >= Subscription.term_start,
        )
        .order_by(LicenseChange.subscription_id, LicenseChange.created_at, LicenseChange.id)
    )


def term_batches(session: Session, subscriptions: Sequence[Subscription]) -> dict[uuid.UUID, tuple[SeatBatch, ...]]:
    """Each subscription's seat batches from every seat change of its current term (not only the window's),
    replayed as ``batches_of`` replays its rows: every batch of the term is exact."""
    if not subscriptions:
        return {}
    return _replayed(subscriptions, session.execute(term_changes(subscriptions)))
