"""What one contract's invoice for one cycle holds (SPEC §8), computed from plain rows, without I/O.

The quantity a cycle bills comes from the change log: the subscription's quantity now, less every change that
takes effect after the cycle's first day. So a subscription that starts inside the cycle bills from its start
(its create change is a prorated line) and one cancelled inside it stops there.

Changes become lines once:
- in advance, the cycle is billed at its start with the quantity of its first day; a change inside a cycle
  already billed becomes a prorated line on the next invoice (an increase charges the rest of that cycle, a
  reduction credits it only when the contract processes refunds);
- in arrears, the cycle just ended is billed with the quantity of its first day plus a prorated line for
  every change inside it (a reduction always lowers it: nothing was paid in advance).
Changes already counted in a cycle's starting quantity are marked invoiced without a line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from seatflow.billing.amounts import cycle_amount, prorated, round_money, tax_of
from seatflow.billing.cycles import Cycle, Schedule
from seatflow.billing.models import LineKind


@dataclass(frozen=True)
class ContractTerms:
    id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    schedule: Schedule
    advance: bool
    by_months: bool
    refunds: bool
    tax_rate: Decimal
    payment_terms_days: int


@dataclass(frozen=True)
class SubscriptionRow:
    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    unit_price: Decimal
    quantity: int
    """The quantity now (0 once cancelled)."""


@dataclass(frozen=True)
class ChangeRow:
    id: uuid.UUID
    subscription_id: uuid.UUID
    delta: int
    effective_date: date
    open: bool
    """Not yet invoiced."""


@dataclass(frozen=True)
class DraftLine:
    kind: LineKind
    subscription_id: uuid.UUID
    product_id: uuid.UUID
    change_id: uuid.UUID | None
    description: str
    period_start: date
    period_end: date
    quantity: int
    unit_price: Decimal
    amount: Decimal


@dataclass
class Draft:
    contract: ContractTerms
    cycle: Cycle
    lines: list[DraftLine] = field(default_factory=list)
    settled_changes: list[uuid.UUID] = field(default_factory=list)
    """Open changes this invoice accounts for (with a line, or inside the starting quantity)."""

    subtotal: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    """Set once by ``draft_invoice`` when the lines are final (as properties they summed the lines on every read:
    eight times per invoice in a run)."""


def draft_invoice(
    contract: ContractTerms,
    cycle: Cycle,
    subscriptions: Iterable[SubscriptionRow],
    changes: dict[uuid.UUID, list[ChangeRow]],
    *,
    first_billed_index: int,
    settled: set[uuid.UUID],
) -> Draft:
    """The invoice of ``cycle``; ``settled`` (changes accounted for by earlier drafts) is updated."""
    draft = Draft(contract, cycle)
    for subscription in subscriptions:
        own = changes.get(subscription.id, [])
        starting = subscription.quantity - sum(c.delta for c in own if c.effective_date > cycle.start)
        if starting > 0:
            draft.lines.append(_recurring(contract, cycle, subscription, starting))
        for change in own:
            if not change.open or change.id in settled:
                continue
            line = _change_line(contract, cycle, subscription, change, first_billed_index)
            if line is _LATER:
                continue
            settled.add(change.id)
            draft.settled_changes.append(change.id)
            if isinstance(line, DraftLine) and line.amount != 0:
                draft.lines.append(line)
    draft.subtotal = sum((line.amount for line in draft.lines), Decimal(0))
    draft.tax = tax_of(draft.subtotal, contract.tax_rate, contract.currency)
    draft.total = draft.subtotal + draft.tax
    return draft


_LATER = object()
"""A change after this cycle: a later invoice's."""


def _recurring(contract: ContractTerms, cycle: Cycle, subscription: SubscriptionRow, quantity: int) -> DraftLine:
    if cycle.partial:
        amount, _ = prorated(quantity, subscription.unit_price, cycle, cycle.start, by_months=contract.by_months)
    else:
        amount = cycle_amount(quantity, subscription.unit_price, cycle.months)
    return DraftLine(
        kind=LineKind.RECURRING,
        subscription_id=subscription.id,
        product_id=subscription.product_id,
        change_id=None,
        description=subscription.product_name,
        period_start=cycle.start,
        period_end=cycle.end,
        quantity=quantity,
        unit_price=subscription.unit_price,
        amount=round_money(amount, contract.currency),
    )


def _change_line(
    contract: ContractTerms, cycle: Cycle, subscription: SubscriptionRow, change: ChangeRow, first_billed_index: int
) -> DraftLine | object | None:
    """The prorated line for ``change`` on ``cycle``'s invoice; None when it is settled without a line
    (inside the starting quantity, or a reduction without refunds); ``_LATER`` when it is not this one's."""
    effective = change.effective_date
    if effective > cycle.end:
        return _LATER
    if effective <= cycle.start:
        home = contract.schedule.cycle_containing(effective)
        if home is None or home.index >= cycle.index or home.index < first_billed_index:
            return None  # inside this cycle's starting quantity, and in no earlier invoice's
        # Still open, yet its cycle (and maybe later ones) was billed: it became known after those invoices
        # (a change scheduled in the past applied late, a subscription created with a past start). It is
        # billed now for the rest of its cycle and every whole cycle billed without it.
        return _proration(contract, home, subscription, change, through=contract.schedule.cycle(cycle.index - 1))
    # Inside this cycle: in arrears every such change; in advance one that exists when the cycle is entered
    # (a subscription starting later in it) is billed with it, and later ones wait for the next invoice.
    return _proration(contract, cycle, subscription, change, through=cycle)


def _proration(
    contract: ContractTerms, home: Cycle, subscription: SubscriptionRow, change: ChangeRow, *, through: Cycle
) -> DraftLine | None:
    """``change`` from its effective day to the end of ``home``, plus every cycle after it up to ``through``."""
    if change.delta < 0 and contract.advance and not contract.refunds:
        return None  # paid in advance and not refunded: the reduction shows from the next cycle on
    amount, counted = prorated(
        change.delta, subscription.unit_price, home, change.effective_date, by_months=contract.by_months
    )
    later = [contract.schedule.cycle(index) for index in range(home.index + 1, through.index + 1)]
    for cycle in later:
        if cycle.partial:
            part, _ = prorated(change.delta, subscription.unit_price, cycle, cycle.start, by_months=contract.by_months)
        else:
            part = cycle_amount(change.delta, subscription.unit_price, cycle.months)
        amount += part
    if later:
        counted += f" and {len(later)} later cycle{'s' if len(later) > 1 else ''}"
    sign = "+" if change.delta > 0 else "-"
    return DraftLine(
        kind=LineKind.PRORATION,
        subscription_id=subscription.id,
        product_id=subscription.product_id,
        change_id=change.id,
        description=f"{subscription.product_name}: {sign}{abs(change.delta)} from {change.effective_date} ({counted})",
        period_start=change.effective_date,
        period_end=through.end,
        quantity=change.delta,
        unit_price=subscription.unit_price,
        amount=round_money(amount, contract.currency),
    )
