"""What one contract's invoice for one cycle holds (SPEC §8), computed from plain rows, without I/O.

Each subscription is charged per charge cycle of its own billing plan (``charges.py``); the contract's cycle only
says which charges an invoice gathers: those whose first billed day falls in it. An invoice is what the change log
says those charges (and the earlier ones a change not yet billed touches) should bill, less what issued documents
billed for them already; so a late run, a catch-up run and a void-and-rebill all bill what an on-time run would
have billed, and no subscription-day is billed twice or skipped.

How one subscription's lines are worked out is ``bills.py``; the rows are ``rows.py``. Changes are marked invoiced
by the invoice that accounts for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from seatflow.billing.amounts import tax_of
from seatflow.billing.bills import SubscriptionBill, charge_plan, reach
from seatflow.billing.cycles import Cycle
from seatflow.billing.rows import Billed, BilledLine, ChangeRow, ContractTerms, DraftLine, SubscriptionRow

__all__ = [  # the rows are defined in rows.py; a run and its tests take them from here with the drafts
    "Billed",
    "BilledLine",
    "ChangeRow",
    "ContractTerms",
    "Draft",
    "DraftLine",
    "SubscriptionRow",
    "charge_plan",
    "draft_invoice",
    "reach",
]


@dataclass
class Draft:
    contract: ContractTerms
    cycle: Cycle
    lines: list[DraftLine] = field(default_factory=list)
    settled_changes: list[uuid.UUID] = field(default_factory=list)
    """Open changes this invoice accounts for (with a line, or inside what it bills)."""

    subtotal: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    """Set once by ``draft_invoice`` when the lines are final (as properties they summed the lines on every read:
    eight times per invoice in a run)."""


def draft_invoice(
    contract: ContractTerms,
    cycle: Cycle,
    subscriptions: Iterable[SubscriptionRow],
    changes: Mapping[uuid.UUID, list[ChangeRow]],
    *,
    first_billed_index: int,
    settled: set[uuid.UUID],
    billed: dict[uuid.UUID, list[Billed]] | None = None,
    billed_until: date | None = None,
) -> Draft:
    """The invoice of ``cycle``. ``settled`` (changes accounted for by earlier drafts of the run) and ``billed``
    (the lines issued documents hold, by subscription, from the earliest day this draft can touch) are updated
    with this draft's, so the run's next draft of the contract sees them. Nothing is billed that a contract cycle
    before ``first_billed_index`` gathers (another system billed it, or it is before billing began).

    ``billed_until`` is the last day issued documents billed before the run. A cycle before it (a voided invoice's,
    billed again) bills its own charges only, and settles no change: a change not yet billed also touches earlier
    and later charges, and the contract's next invoice bills it for all of them. So every line of a document is
    either a charge its cycle gathers or a change it settles, and voiding it reopens what it billed."""
    draft = Draft(contract, cycle)
    billed_from = contract.schedule.cycle(first_billed_index).start
    behind = billed_until is not None and billed_until > cycle.end
    for subscription in subscriptions:
        prior = billed.get(subscription.id, []) if billed is not None else []
        own = changes.get(subscription.id, [])
        bill = SubscriptionBill(contract, cycle, subscription, own, prior, settled=settled, behind=behind)
        lines = bill.lines(billed_from)
        for change_id in bill.accounted:
            settled.add(change_id)
            draft.settled_changes.append(change_id)
        if lines:
            draft.lines.extend(lines)
            if billed is not None:
                billed.setdefault(subscription.id, []).extend(lines)
    draft.subtotal = sum((line.amount for line in draft.lines), Decimal(0))
    draft.tax = tax_of(draft.subtotal, contract.tax_rate, contract.currency)
    draft.total = draft.subtotal + draft.tax
    return draft
