"""The billing run (SPEC §8): every billable, active contract whose cycle is due gets one invoice per due
cycle, never twice.

It streams contracts in chunks and works set-based: a handful of queries per chunk read the contracts, their
billable subscriptions and the changes that matter; the drafts are computed in Python (``drafts.py``); the
invoices, lines and change updates are written with one multi-row statement each. The whole run is one
transaction: the numbering counter is locked first, so concurrent runs queue behind each other, each sees
what the one before it billed, and invoice numbers have no gaps.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from seatflow.billing.cycles import Cycle, Schedule, due_cycles
from seatflow.billing.drafts import ChangeRow, ContractTerms, Draft, SubscriptionRow, draft_invoice
from seatflow.billing.models import BillingRun, Invoice, InvoiceLine, InvoiceStatus
from seatflow.catalog.models import Product
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractStatus, ProrationUnit
from seatflow.customers.models import CustomerAccount
from seatflow.db.bulk import execute_many
from seatflow.db.sequences import allocate
from seatflow.errors import ValidationFailed
from seatflow.ids import new_id
from seatflow.money import format_money
from seatflow.subscriptions.models import ENDED_STATUSES, BillingStatus, ChangeKind, LicenseChange, Subscription
from seatflow.subscriptions.rules import add_months

INVOICE_COUNTER = "invoice_number"
BILLED_KINDS = (ChangeKind.CREATE, ChangeKind.QUANTITY, ChangeKind.CANCEL, ChangeKind.EXPIRE)
Progress = Callable[[int, int], None]
"""Called with (contracts done, contracts in all)."""


@dataclass
class CurrencyTotals:
    invoices: int = 0
    subtotal: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    def add(self, draft: Draft) -> None:
        self.invoices += 1
        self.subtotal += draft.subtotal
        self.tax += draft.tax
        self.total += draft.total

    def as_json(self) -> dict[str, Any]:
        return {
            "invoices": self.invoices,
            "subtotal": format_money(self.subtotal),
            "tax": format_money(self.tax),
            "total": format_money(self.total),
        }


@dataclass
class RunSummary:
    run_date: date
    dry_run: bool
    run_id: uuid.UUID | None = None
    invoices_created: int = 0
    contracts_considered: int = 0
    totals: dict[str, CurrencyTotals] = field(default_factory=lambda: defaultdict(CurrencyTotals))
    preview: list[Draft] = field(default_factory=list)
    """The drafts of a dry run (at most ``preview_limit``)."""
    invoice_ids: list[uuid.UUID] = field(default_factory=list)
    contracts_with_more: int = 0
    """Contracts that had more cycles due than one run bills (``MAX_CYCLES_PER_RUN``): run again to go on."""

    @property
    def more(self) -> bool:
        return self.contracts_with_more > 0


MAX_CYCLES_PER_RUN = 36
"""Cycles one run bills per contract at most, oldest first: a contract imported with a start long ago is caught
up over several runs (SPEC §11), each a bounded transaction; the next run goes on after the last cycle billed."""


def run_billing(
    session: Session,
    *,
    run_date: date,
    now: datetime,
    requested_by: str,
    dry_run: bool = False,
    invoice_prefix: str = "INV-",
    progress: Progress | None = None,
    chunk_size: int = 2000,
    preview_limit: int = 200,
    keep_ids: bool = False,
    today: date | None = None,
    max_cycles: int = MAX_CYCLES_PER_RUN,
) -> RunSummary:
    """Bill every due cycle on ``run_date``; with ``dry_run`` compute the same and write nothing.

    ``run_date`` may not lie after ``today`` (the clock's; ``now``'s date when absent): an invoice is never
    issued for days that have not come. At most ``max_cycles`` cycles per contract are billed in one run."""
    today = today or now.date()
    if run_date > today:
        raise ValidationFailed(
            f"A billing run cannot be dated after today ({today.isoformat()}): {run_date.isoformat()} has not come.",
            code="billing_date_in_future",
            today=today.isoformat(),
        )
    summary = RunSummary(run_date=run_date, dry_run=dry_run)
    run: BillingRun | None = None
    if not dry_run:
        allocate(session, INVOICE_COUNTER, 0)  # takes the counter's row lock: runs queue here, one at a time
        run = BillingRun(run_date=run_date, requested_by=requested_by, started_at=now, totals={})
        session.add(run)
        session.flush()
        summary.run_id = run.id
    total = session.execute(select(func.count()).select_from(_billable_contracts(run_date).subquery())).scalar_one()
    after: uuid.UUID | None = None
    done = 0
    while True:
        stmt = _billable_contracts(run_date).order_by(BillingContract.id).limit(chunk_size)
        if after is not None:
            stmt = stmt.where(BillingContract.id > after)
        rows = session.connection().execute(stmt).all()  # Core rows: no ORM result machinery
        if not rows:
            break
        after = rows[-1].id
        drafts, quiet, capped = _drafts_for(session, [_terms(row) for row in rows], run_date, max_cycles=max_cycles)
        summary.contracts_with_more += capped
        for draft in drafts:
            summary.totals[draft.contract.currency].add(draft)
        if dry_run:
            room = preview_limit - len(summary.preview)
            summary.preview.extend(drafts[: max(0, room)])
        else:
            if drafts:
                assert run is not None  # noqa: S101
                ids = _write(session, drafts, run=run, run_date=run_date, now=now, prefix=invoice_prefix)
                if keep_ids:
                    summary.invoice_ids.extend(ids)
            if quiet:
                _settle_without_invoice(session, quiet)
        summary.invoices_created += 0 if dry_run else len(drafts)
        done += len(rows)
        if progress is not None:
            progress(done, total)
    summary.contracts_considered = done
    if run is not None:
        run.invoices_created = summary.invoices_created
        run.totals = {currency: totals.as_json() for currency, totals in summary.totals.items()}
        run.finished_at = now
        session.flush()
    return summary


def _billable_contracts(run_date: date) -> Select[*tuple[Any, ...]]:
    c = BillingContract
    stmt: Select[*tuple[Any, ...]] = select(
        c.id,
        c.customer_id,
        c.currency,
        c.billing_frequency,
        c.billing_policy,
        c.start_date,
        c.term_months,
        c.auto_renew,
        c.proration_unit,
        c.process_refunds,
        c.tax_rate,
        c.payment_terms_days,
    ).where(c.billable.is_(True), c.status == ContractStatus.ACTIVE, c.start_date <= run_date)
    return stmt


def _terms(row: Any) -> ContractTerms:
    ends = None if row.auto_renew else add_months(row.start_date, row.term_months) - timedelta(days=1)
    return ContractTerms(
        id=row.id,
        customer_id=row.customer_id,
        currency=row.currency,
        schedule=Schedule(row.start_date, row.billing_frequency.months, ends),
        advance=row.billing_policy is BillingPolicy.ADVANCE,
        by_months=row.proration_unit is ProrationUnit.MONTHS,
        refunds=row.process_refunds,
        tax_rate=row.tax_rate,
        payment_terms_days=row.payment_terms_days,
    )


def _drafts_for(
    session: Session, contracts: list[ContractTerms], run_date: date, *, max_cycles: int = MAX_CYCLES_PER_RUN
) -> tuple[list[Draft], list[uuid.UUID], int]:
    """The invoices due for these contracts, the open changes settled without any line (a reduction
    without refunds on a cycle with nothing else to bill), which are marked invoiced with no invoice, and how
    many contracts had more than ``max_cycles`` cycles due (the oldest are billed now, the rest next run)."""
    ids = [c.id for c in contracts]
    billed = {
        row.contract_id: (row.first, row.last)
        for row in session.connection().execute(
            select(
                Invoice.contract_id,
                func.min(Invoice.cycle_index).label("first"),
                func.max(Invoice.cycle_index).label("last"),
            )
            .where(Invoice.contract_id.in_(ids), Invoice.status == InvoiceStatus.ISSUED)
            .group_by(Invoice.contract_id)
        )
    }
    rebill = _voided_cycles(session, ids)
    due: dict[uuid.UUID, list[Cycle]] = {}
    capped = 0
    for contract in contracts:
        first, last = billed.get(contract.id, (None, None))
        cycles = due_cycles(contract.schedule, after=last, run_date=run_date, advance=contract.advance)
        for index in rebill.get(contract.id, ()):
            cycle = contract.schedule.cycle(index)
            if (cycle.start if contract.advance else cycle.end + timedelta(days=1)) <= run_date:
                cycles.append(cycle)
        if cycles:
            ordered = sorted(set(cycles))
            if len(ordered) > max_cycles:
                capped += 1
                ordered = ordered[:max_cycles]
            due[contract.id] = ordered
    if not due:
        return [], [], capped
    earliest = min(cycles[0].start for cycles in due.values())
    subscriptions, changes = _subscriptions_and_changes(session, list(due), earliest)
    drafts: list[Draft] = []
    quiet: list[uuid.UUID] = []
    for contract in contracts:
        if contract.id not in due:
            continue
        to_bill = due[contract.id]
        first_ever = billed.get(contract.id, (None, None))[0]
        first = to_bill[0].index if first_ever is None else min(first_ever, to_bill[0].index)
        settled: set[uuid.UUID] = set()
        for cycle in to_bill:
            draft = draft_invoice(
                contract,
                cycle,
                subscriptions.get(contract.id, ()),
                changes,
                first_billed_index=first,
                settled=settled,
            )
            if draft.lines:
                drafts.append(draft)
            else:
                quiet.extend(draft.settled_changes)
    return drafts, quiet, capped


def _voided_cycles(session: Session, contract_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
    """Cycles whose invoice was voided and not billed again."""
    issued = aliased(Invoice)
    stmt = select(Invoice.contract_id, Invoice.cycle_index).where(
        Invoice.contract_id.in_(contract_ids),
        Invoice.status == InvoiceStatus.VOID,
        ~exists().where(
            issued.contract_id == Invoice.contract_id,
            issued.period_start == Invoice.period_start,
            issued.status == InvoiceStatus.ISSUED,
        ),
    )
    found: dict[uuid.UUID, list[int]] = defaultdict(list)
    for contract_id, index in session.connection().execute(stmt):
        found[contract_id].append(index)
    return found


def _subscriptions_and_changes(
    session: Session, contract_ids: Sequence[uuid.UUID], earliest: date
) -> tuple[dict[uuid.UUID, list[SubscriptionRow]], dict[uuid.UUID, list[ChangeRow]]]:
    """The billable subscriptions of these contracts (not linked parents; cancelled ones only while a change
    of theirs still matters), and their changes that are open or take effect after ``earliest``."""
    s, child = Subscription, aliased(Subscription)
    relevant = or_(LicenseChange.billing_status == BillingStatus.OPEN, LicenseChange.effective_date > earliest)
    stmt = (
        select(s.id, s.contract_id, s.product_id, Product.name, s.unit_price, s.quantity, s.status)
        .join(Product, Product.id == s.product_id)
        .where(
            s.contract_id.in_(contract_ids),
            s.billable.is_(True),
            ~exists().where(child.linked_subscription_id == s.id),
            or_(
                s.status.not_in(tuple(ENDED_STATUSES)),
                exists().where(LicenseChange.subscription_id == s.id, relevant),
            ),
        )
        .order_by(s.contract_id, Product.name, s.id)
    )
    subscriptions: dict[uuid.UUID, list[SubscriptionRow]] = defaultdict(list)
    for row in session.connection().execute(stmt):
        quantity = 0 if row.status in ENDED_STATUSES else row.quantity
        subscriptions[row.contract_id].append(
            SubscriptionRow(row.id, row.product_id, row.name, row.unit_price, quantity)
        )
    c = LicenseChange
    change_stmt = (
        select(c.id, c.subscription_id, c.quantity_before, c.quantity_after, c.effective_date, c.billing_status)
        .join(s, s.id == c.subscription_id)
        .where(s.contract_id.in_(contract_ids), s.billable.is_(True), c.kind.in_(BILLED_KINDS), relevant)
        .order_by(c.created_at, c.id)
    )
    changes: dict[uuid.UUID, list[ChangeRow]] = defaultdict(list)
    for change in session.connection().execute(change_stmt):
        changes[change.subscription_id].append(
            ChangeRow(
                change.id,
                change.subscription_id,
                change.quantity_after - change.quantity_before,
                change.effective_date,
                change.billing_status is BillingStatus.OPEN,
            )
        )
    return subscriptions, changes


def _write(
    session: Session, drafts: list[Draft], *, run: BillingRun, run_date: date, now: datetime, prefix: str
) -> list[uuid.UUID]:
    first_number = allocate(session, INVOICE_COUNTER, len(drafts))
    bill_to = _bill_to(session, drafts)
    invoices: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    settled: list[dict[str, Any]] = []
    ids: list[uuid.UUID] = []
    for offset, draft in enumerate(drafts):
        invoice_id = new_id()
        ids.append(invoice_id)
        contract = draft.contract
        invoices.append(
            {
                "id": invoice_id,
                "number": f"{prefix}{first_number + offset:06d}",
                "contract_id": contract.id,
                "customer_id": contract.customer_id,
                "billing_run_id": run.id,
                "cycle_index": draft.cycle.index,
                "period_start": draft.cycle.start,
                "period_end": draft.cycle.end,
                "issue_date": run_date,
                "due_date": run_date + timedelta(days=contract.payment_terms_days),
                "currency": contract.currency,
                "tax_rate": contract.tax_rate,
                "subtotal": draft.subtotal,
                "tax": draft.tax,
                "total": draft.total,
                "status": InvoiceStatus.ISSUED,
                "bill_to": bill_to[contract.id],
                "created_at": now,
            }
        )
        for position, line in enumerate(draft.lines, start=1):
            lines.append(
                {
                    "id": new_id(),
                    "invoice_id": invoice_id,
                    "position": position,
                    "kind": line.kind,
                    "subscription_id": line.subscription_id,
                    "product_id": line.product_id,
                    "license_change_id": line.change_id,
                    "description": line.description,
                    "period_start": line.period_start,
                    "period_end": line.period_end,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                }
            )
        settled.extend({"b_change": change_id, "b_invoice": invoice_id} for change_id in draft.settled_changes)
    execute_many(session, insert(cast(Table, Invoice.__table__)), invoices)
    execute_many(session, insert(cast(Table, InvoiceLine.__table__)), lines)
    if settled:
        changes = cast(Table, LicenseChange.__table__)  # Core: one UPDATE per row, no ORM bookkeeping
        execute_many(
            session,
            update(changes)
            .where(changes.c.id == bindparam("b_change"))
            .values(billing_status=BillingStatus.INVOICED, invoice_id=bindparam("b_invoice")),
            settled,
        )
    return ids


def _settle_without_invoice(session: Session, change_ids: list[uuid.UUID]) -> None:
    changes = cast(Table, LicenseChange.__table__)
    session.execute(update(changes).where(changes.c.id.in_(change_ids)).values(billing_status=BillingStatus.INVOICED))


def _bill_to(session: Session, drafts: list[Draft]) -> dict[uuid.UUID, dict[str, Any]]:
    """The customer's name and address as they are today, kept on the invoice."""
    rows = session.execute(
        select(BillingContract.id, BillingContract.name, CustomerAccount.name, CustomerAccount.billing_address)
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
        .where(BillingContract.id.in_({d.contract.id for d in drafts}))
    ).all()
    return {
        contract_id: {"name": customer, "contract": contract, "address": address or {}}
        for contract_id, contract, customer, address in rows
    }
