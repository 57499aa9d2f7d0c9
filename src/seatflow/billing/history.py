"""What a billing run reads besides the contracts and their subscriptions (SPEC §8): the lines issued documents
hold for the charges a draft computes again, the older change history a late change needs, and the final
invoices of contracts that ended.

Set-based, a few queries per chunk of contracts, like the rest of the run (``runs.py``); the rules are in
``drafts.py`` and ``charges.py``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from seatflow.billing.bills import reach
from seatflow.billing.cycles import Cycle
from seatflow.billing.models import Invoice, InvoiceLine, bills_period
from seatflow.billing.rows import Billed, BilledLine, ChangeRow, ContractTerms, SubscriptionRow
from seatflow.subscriptions.models import BillingStatus, LicenseChange, Subscription

ONE_DAY = timedelta(days=1)
ChangeReader = Callable[[ColumnElement[bool]], dict[uuid.UUID, list[ChangeRow]]]
"""Reads the billed kinds of license changes that match a condition, by subscription, in the order recorded."""


def read_history(
    session: Session,
    contracts: Sequence[ContractTerms],
    subscriptions: Mapping[uuid.UUID, list[SubscriptionRow]],
    changes: dict[uuid.UUID, list[ChangeRow]],
    *,
    earliest: date,
    read_changes: ChangeReader,
    billed_contracts: Container[uuid.UUID],
) -> dict[uuid.UUID, list[Billed]]:
    """The lines issued documents hold from ``earliest`` on (from further back for a subscription a late change
    or a refund window reaches before it, whose older changes are then read too, into ``changes``). Only the
    ``billed_contracts`` (those an issued document billed) have any."""
    reaches: dict[uuid.UUID, date] = {}
    everyone: list[uuid.UUID] = []
    for contract in contracts:
        for subscription in subscriptions.get(contract.id, ()):
            if contract.id in billed_contracts:
                everyone.append(subscription.id)
            day = reach(contract, subscription, changes.get(subscription.id, []), earliest)
            if day < earliest:
                reaches[subscription.id] = day
    billed = _issued_lines(session, everyone, since=earliest)
    if reaches:
        since = min(reaches.values())
        farther = list(reaches)
        queried = set(everyone)
        with_lines = [subscription_id for subscription_id in farther if subscription_id in queried]
        for subscription_id, lines in _issued_lines(session, with_lines, since=since, before=earliest).items():
            billed[subscription_id][:0] = lines
        older = read_changes(
            and_(
                LicenseChange.subscription_id.in_(farther),
                LicenseChange.effective_date >= since,
            )
        )
        for subscription_id, rows in older.items():
            changes[subscription_id] = rows  # all of them since then, open ones included, in the order recorded
    return billed


def _issued_lines(
    session: Session, subscription_ids: Sequence[uuid.UUID], *, since: date, before: date | None = None
) -> dict[uuid.UUID, list[Billed]]:
    """The lines of the documents that bill their period (issued invoices and the credit notes of negative cycles;
    not a voided invoice nor the credit note that answers it) that end on ``since`` or later."""
    found: dict[uuid.UUID, list[Billed]] = defaultdict(list)
    if not subscription_ids:
        return found
    line = InvoiceLine
    stmt = (
        select(line.subscription_id, line.period_start, line.period_end, line.quantity, line.unit_price)
        .join(Invoice, Invoice.id == line.invoice_id)
        .where(line.subscription_id.in_(subscription_ids), line.period_end >= since, bills_period())
        .order_by(line.period_start, Invoice.issue_date, Invoice.number, line.position)
    )
    if before is not None:
        stmt = stmt.where(line.period_end < before)
    for row in session.connection().execute(stmt):
        found[row.subscription_id].append(BilledLine(row.period_start, row.period_end, row.quantity, row.unit_price))
    return found


def closing_cycles(
    session: Session,
    contracts: Iterable[ContractTerms],
    *,
    run_date: date,
    last_billed: Mapping[uuid.UUID, date],
    billed_kinds: Sequence[object],
) -> dict[uuid.UUID, Cycle]:
    """The final invoices due: a contract that ended (and billed its last cycle) still bills a change inside a cycle
    it billed, from the day after its last day. The final invoice's period is the day it is issued (one a day at
    most: a change recorded after it waits for the next day's run); its lines say which days they bill."""
    ended = {
        contract.id: contract
        for contract in contracts
        if contract.schedule.ends is not None
        and contract.schedule.ends < run_date
        and contract.id in last_billed
        and last_billed[contract.id] < run_date
    }
    if not ended:
        return {}
    stmt = (
        select(Subscription.contract_id, func.min(LicenseChange.effective_date))
        .join(Subscription, Subscription.id == LicenseChange.subscription_id)
        .where(
            Subscription.contract_id.in_(list(ended)),
            Subscription.billable.is_(True),
            LicenseChange.kind.in_(billed_kinds),
            LicenseChange.billing_status == BillingStatus.OPEN,
        )
        .group_by(Subscription.contract_id)
    )
    found: dict[uuid.UUID, Cycle] = {}
    for contract_id, first_open in session.connection().execute(stmt):
        schedule = ended[contract_id].schedule
        ends = schedule.ends
        assert ends is not None  # noqa: S101 - only contracts that end are here
        if first_open <= ends:
            index = schedule.index_of(ends) + 1
            found[contract_id] = Cycle(index, run_date, run_date, run_date, schedule.months, schedule.start)
    return found
