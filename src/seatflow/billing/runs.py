"""The billing run (SPEC §8): every billable, active contract whose cycle is due gets one invoice per due
cycle, never twice.

It streams contracts in chunks and works set-based: a handful of queries per chunk read the contracts, their
billable subscriptions and the changes that matter; the drafts are computed in Python (``drafts.py``); the
invoices, lines and change updates are written with one multi-row statement each. The whole run is one
transaction: the numbering counter is locked first, so concurrent runs queue behind each other, each sees
what the one before it billed, and invoice numbers have no gaps.
"""

from __future__ import annotations

import functools
import gc
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, aliased

from seatflow.billing.amounts import tax_of
from seatflow.billing.announcements import announce_documents
from seatflow.billing.cycles import Cycle, Schedule
from seatflow.billing.drafts import ChangeRow, ContractTerms, Draft, SubscriptionRow, draft_invoice
from seatflow.billing.history import closing_cycles, read_history
from seatflow.billing.models import (
    CREDIT_NOTE_COUNTER,
    INVOICE_COUNTER,
    BillingRun,
    CreditReason,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from seatflow.billing.schedules import Terms, billed_periods, build_schedule, due_from, earlier_schedules, terms_of
from seatflow.billing.seller import Seller
from seatflow.catalog.models import BillingPlan, Product, ProviderAccount, ProviderKind, ReductionBehavior, Term
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractSchedule, ContractStatus, ProrationUnit
from seatflow.customers.models import CustomerAccount
from seatflow.db.bulk import execute_many, insert_rows
from seatflow.db.sequences import allocate
from seatflow.db.types import HexUuid
from seatflow.errors import ValidationFailed
from seatflow.ids import new_id
from seatflow.money import format_money
from seatflow.subscriptions.models import ENDED_STATUSES, BillingStatus, ChangeKind, LicenseChange, Subscription
from seatflow.subscriptions.rules import add_months

ONE_DAY = timedelta(days=1)
BILLED_KINDS = (ChangeKind.CREATE, ChangeKind.QUANTITY, ChangeKind.CANCEL, ChangeKind.EXPIRE, ChangeKind.PRICE)
MICROSOFT_REFUND_DAYS = 7
"""New commerce refunds a reduction or cancellation in the 7 days (168 hours) after the seats were bought, renewed
or added: a Partner Center subscription's refund window, whatever reduction rule the reseller set (SPEC §8)."""
Progress = Callable[[int, int], None]
"""Called with (contracts done, contracts in all)."""


@dataclass
class CurrencyTotals:
    invoices: int = 0
    subtotal: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)
    credit_notes: int = 0
    """Cycles whose total is negative: credit notes (their negative amounts are in the sums)."""

    def add(self, draft: Draft | Consolidation) -> None:
        if is_credit(draft):
            self.credit_notes += 1
        else:
            self.invoices += 1
        self.subtotal += draft.subtotal
        self.tax += draft.tax
        self.total += draft.total

    def as_json(self) -> dict[str, Any]:
        totals: dict[str, Any] = {
            "invoices": self.invoices,
            "subtotal": format_money(self.subtotal),
            "tax": format_money(self.tax),
            "total": format_money(self.total),
        }
        if self.credit_notes:
            totals["credit_notes"] = self.credit_notes
        return totals


def is_credit(draft: Draft | Consolidation) -> bool:
    """A cycle whose total is negative is a credit note, not an invoice (SPEC §8)."""
    return draft.total < 0


def currency_of(document: Draft | Consolidation) -> str:
    return document.currency if isinstance(document, Consolidation) else document.contract.currency


@dataclass
class Consolidation:
    """One consolidated document (SPEC §8 "Consolidated invoices"): the drafts of a parent contract's group (its
    billable children and, when billable, itself) with the same currency, tax rate and period, as sections in the
    order of their contracts' names. Tax is computed once, on the sum of the sections' subtotals."""

    parent_id: uuid.UUID
    """The consolidating parent contract: the document's contract; its customer is billed."""
    customer_id: uuid.UUID
    payment_terms_days: int
    currency: str
    tax_rate: Decimal
    period_start: date
    period_end: date
    sections: list[Draft]
    names: list[str]
    """The sections' contract names, in section order."""
    subtotal: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.subtotal = sum((section.subtotal for section in self.sections), Decimal(0))
        self.tax = tax_of(self.subtotal, self.tax_rate, self.currency)
        self.total = self.subtotal + self.tax


@dataclass(frozen=True)
class GroupHead:
    """A consolidating parent contract, as the run needs it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    payment_terms_days: int


@dataclass
class RunSummary:
    run_date: date
    dry_run: bool
    run_id: uuid.UUID | None = None
    invoices_created: int = 0
    credit_notes_created: int = 0
    contracts_considered: int = 0
    totals: dict[str, CurrencyTotals] = field(default_factory=lambda: defaultdict(CurrencyTotals))
    preview: list[Draft | Consolidation] = field(default_factory=list)
    """The documents of a dry run (at most ``preview_limit``): drafts, and consolidated documents."""
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    """The names of the preview's contracts."""
    invoice_ids: list[uuid.UUID] = field(default_factory=list)
    contracts_with_more: int = 0
    """Contracts that had more cycles due than one run bills (``MAX_CYCLES_PER_RUN``): run again to go on."""

    @property
    def more(self) -> bool:
        return self.contracts_with_more > 0


MAX_CYCLES_PER_RUN = 36
"""Cycles one run bills per contract at most, oldest first: a contract imported with a start long ago is caught
up over several runs (SPEC §11), each a bounded transaction; the next run goes on after the last cycle billed."""


_P = ParamSpec("_P")
_R = TypeVar("_R")

PLANNER_SETTINGS = {"random_page_cost": "1.1", "jit": "off"}
"""PostgreSQL planner settings for the run's transaction (restored when it returns). With the default
``random_page_cost`` (4, for spinning disks) the planner prices a chunk's 4,000 probes of
``ix_license_changes_subscription_created`` above a parallel sequential scan of every license change, so each chunk
read the whole change log (70-100 ms at 200,000 changes, two more processes; quadratic over a run): at 1.1, the
usual value for SSDs, it probes the index (11-20 ms). JIT compiled the run's two counting queries for 0.3-0.5 s each;
they take milliseconds without it."""


@contextmanager
def _planner_settings(session: Session) -> Iterator[None]:
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        yield
        return
    names = list(PLANNER_SETTINGS)
    before = conn.exec_driver_sql("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), tuple(names)).one()
    apply = "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names))
    conn.exec_driver_sql(apply, tuple(v for pair in PLANNER_SETTINGS.items() for v in pair))
    yield  # on an error the transaction (or savepoint) is rolled back, and the settings with it
    conn.exec_driver_sql(apply, tuple(v for pair in zip(names, before, strict=True) for v in pair))


GC_YOUNG_THRESHOLD = 10_000
"""The garbage collector's first threshold while a run is under way (Python's default is 700). A run allocates
millions of short-lived objects (rows, drafts, lines, ids); at 700 the collector ran about 65 young and 6 full
collections per 1,000 contracts, 18 % of the run's CPU (2.30 s against 1.88 s with the collector off, 10,000
contracts); at 10,000 it runs about 3 young ones and costs nothing measurable. Cyclic garbage is still collected,
in larger batches. Process-wide, so it is raised by the first run under way and restored when the last ends."""

_gc_lock = threading.Lock()
_gc_runs = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def _fewer_collections() -> Iterator[None]:
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            _gc_saved = gc.get_threshold()
            if _gc_saved[0] and _gc_saved[0] < GC_YOUNG_THRESHOLD:  # 0: the collector is off; leave it so
                gc.set_threshold(GC_YOUNG_THRESHOLD, *_gc_saved[1:])
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0 and _gc_saved is not None:
                if gc.get_threshold()[0] == GC_YOUNG_THRESHOLD:  # unless someone else changed it meanwhile
                    gc.set_threshold(*_gc_saved)
                _gc_saved = None


def _planner_tuned(fn: Callable[Concatenate[Session, _P], _R]) -> Callable[Concatenate[Session, _P], _R]:
    """Run ``fn`` (``run_billing``, its session first) with the PostgreSQL planner settings above and fewer garbage
    collections."""

    @functools.wraps(fn)
    def wrapper(session: Session, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _fewer_collections(), _planner_settings(session):
            return fn(session, *args, **kwargs)

    return wrapper


@_planner_tuned
def run_billing(
    session: Session,
    *,
    run_date: date,
    now: datetime,
    requested_by: str,
    dry_run: bool = False,
    invoice_prefix: str = "INV-",
    credit_note_prefix: str = "CN-",
    seller: Seller | None = None,
    progress: Progress | None = None,
    chunk_size: int = 2000,
    preview_limit: int = 200,
    keep_ids: bool = False,
    today: date | None = None,
    max_cycles: int = MAX_CYCLES_PER_RUN,
) -> RunSummary:
    """Bill every due cycle on ``run_date``; with ``dry_run`` compute the same and write nothing.

    ``run_date`` may not lie after ``today`` (the clock's; ``now``'s date when absent): an invoice is never
    issued for days that have not come. At most ``max_cycles`` cycles per contract are billed in one run. A cycle
    whose total is negative is issued as a credit note (``credit_note_prefix``). ``seller`` is recorded on every
    document (none: the PDF shows the seller configured when it is printed)."""
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
    total = session.execute(
        select(func.count()).select_from(_billable_contracts(run_date).where(_on_its_own()).subquery())
    ).scalar_one()
    total += session.execute(select(func.count()).select_from(_grouped_contracts(run_date).subquery())).scalar_one()
    done = 0

    def bill(rows: Sequence[Any], groups: dict[uuid.UUID, uuid.UUID] | None) -> None:
        """Bill a chunk: plain documents, or (``groups``: contract -> its group's parent) consolidated ones."""
        nonlocal done
        terms, bill_from = _terms_of(session, rows)
        drafts, quiet, capped = _drafts_for(session, terms, run_date, max_cycles=max_cycles, bill_from=bill_from)
        summary.contracts_with_more += capped
        names: dict[uuid.UUID, str] = {}
        documents: list[Draft | Consolidation] = list(drafts)
        if groups is not None and drafts:
            names = _names_of(session, {d.contract.id for d in drafts})
            documents = list(_consolidate(session, drafts, groups, names))
        for document in documents:
            summary.totals[currency_of(document)].add(document)
        if dry_run:
            room = preview_limit - len(summary.preview)
            shown = documents[: max(0, room)]
            summary.preview.extend(shown)
            if shown:
                wanted = {d.contract.id for d in shown if isinstance(d, Draft)}
                summary.names.update(_names_of(session, wanted) if wanted else {})
                summary.names.update(names)
        else:
            if documents:
                assert run is not None  # noqa: S101
                ids = _write(
                    session,
                    documents,
                    run=run,
                    run_date=run_date,
                    now=now,
                    prefix=invoice_prefix,
                    credit_prefix=credit_note_prefix,
                    seller=seller,
                )
                if keep_ids:
                    summary.invoice_ids.extend(ids)
            if quiet:
                _settle_without_invoice(session, quiet)
            credits = sum(1 for document in documents if is_credit(document))
            summary.invoices_created += len(documents) - credits
            summary.credit_notes_created += credits
        done += len(rows)
        if progress is not None:
            progress(done, total)

    # Contracts billed on their own (the common path): streamed in id order.
    after: uuid.UUID | None = None
    while True:
        stmt = _billable_contracts(run_date).where(_on_its_own()).order_by(BillingContract.id).limit(chunk_size)
        if after is not None:
            stmt = stmt.where(BillingContract.id > after)
        rows = session.connection().execute(stmt).all()  # Core rows: no ORM result machinery
        if not rows:
            break
        after = rows[-1].id
        bill(rows, None)
    # Contracts whose parent consolidates (and consolidating parents): chunked by parent, so a group is whole.
    after = None
    while True:
        group_ids = _group_keys(run_date, after, chunk_size, session)
        if not group_ids:
            break
        after = group_ids[-1]
        key = _group_key()
        grouped = _grouped_contracts(run_date).add_columns(key.label("group_id")).where(key.in_(group_ids))
        rows = session.connection().execute(grouped.order_by(BillingContract.id)).all()
        bill(rows, {row.id: row.group_id for row in rows})
    summary.contracts_considered = done
    if run is not None:
        run.invoices_created = summary.invoices_created
        run.credit_notes_created = summary.credit_notes_created
        run.totals = {currency: totals.as_json() for currency, totals in summary.totals.items()}
        run.finished_at = now
        session.flush()
    return summary


_HEX_UUID = HexUuid()


def _id(column: Any) -> Any:
    """An id column read as ``HexUuid`` (ids repeated across a chunk's rows are parsed once on SQLite)."""
    return type_coerce(column, _HEX_UUID).label(column.key)


def _billable_contracts(run_date: date) -> Select[*tuple[Any, ...]]:
    c = BillingContract
    stmt: Select[*tuple[Any, ...]] = select(
        _id(c.id),
        _id(c.customer_id),
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
        c.bill_from,
        c.schedule_from,
    ).where(c.billable.is_(True), c.status == ContractStatus.ACTIVE, c.start_date <= run_date)
    return stmt


_PARENT = aliased(BillingContract, name="consolidating_parent")


def _parent_consolidates() -> ColumnElement[bool]:
    """The contract's parent consolidates its children's invoices (a primary-key lookup per contract that has a
    parent)."""
    return exists().where(
        _PARENT.id == BillingContract.parent_contract_id, _PARENT.consolidate_child_invoices.is_(True)
    )


def _on_its_own() -> ColumnElement[bool]:
    """Billed with documents of its own: neither a consolidating parent nor the child of one."""
    return and_(
        BillingContract.consolidate_child_invoices.is_(False),
        or_(BillingContract.parent_contract_id.is_(None), ~_parent_consolidates()),
    )


def _group_key() -> ColumnElement[Any]:
    """The consolidating parent a grouped contract's documents go onto: its parent when that consolidates, itself
    otherwise (a consolidating parent whose own parent does not)."""
    return case((_parent_consolidates(), BillingContract.parent_contract_id), else_=BillingContract.id)


def _grouped_contracts(run_date: date) -> Select[*tuple[Any, ...]]:
    return _billable_contracts(run_date).where(~_on_its_own())


def _group_keys(run_date: date, after: uuid.UUID | None, limit: int, session: Session) -> list[uuid.UUID]:
    key = _group_key()
    stmt = select(key.label("group_id")).where(
        BillingContract.billable.is_(True),
        BillingContract.status == ContractStatus.ACTIVE,
        BillingContract.start_date <= run_date,
        ~_on_its_own(),
    )
    if after is not None:
        stmt = stmt.where(key > after)
    stmt = stmt.group_by(key).order_by(key).limit(limit)
    return [row.group_id for row in session.connection().execute(stmt)]


def _names_of(session: Session, contract_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.connection().execute(
        select(BillingContract.id, BillingContract.name).where(BillingContract.id.in_(contract_ids))
    )
    return {row.id: row.name for row in rows}


def _consolidate(
    session: Session, drafts: list[Draft], groups: dict[uuid.UUID, uuid.UUID], names: dict[uuid.UUID, str]
) -> list[Consolidation]:
    """The drafts of each group with the same currency, tax rate and period, as one consolidated document each
    (a child in another currency, at another tax rate or on another cycle gets a document of its own)."""
    heads = {
        row.id: GroupHead(row.id, row.customer_id, row.payment_terms_days)
        for row in session.connection().execute(
            select(BillingContract.id, BillingContract.customer_id, BillingContract.payment_terms_days).where(
                BillingContract.id.in_(set(groups.values()))
            )
        )
    }
    buckets: dict[tuple[uuid.UUID, str, Decimal, date, date], list[Draft]] = defaultdict(list)
    for draft in drafts:
        contract = draft.contract
        key = (groups[contract.id], contract.currency, contract.tax_rate, draft.cycle.start, draft.cycle.end)
        buckets[key].append(draft)
    documents = []
    for (parent_id, currency, rate, start, end), sections in buckets.items():
        sections.sort(key=lambda d: (names[d.contract.id], str(d.contract.id)))
        head = heads[parent_id]
        documents.append(
            Consolidation(
                parent_id=parent_id,
                customer_id=head.customer_id,
                payment_terms_days=head.payment_terms_days,
                currency=currency,
                tax_rate=rate,
                period_start=start,
                period_end=end,
                sections=sections,
                names=[names[d.contract.id] for d in sections],
            )
        )
    documents.sort(key=lambda d: (d.period_start, str(d.parent_id), d.currency, d.tax_rate))
    return documents


def _terms_of(session: Session, rows: Sequence[Any]) -> tuple[list[ContractTerms], dict[uuid.UUID, date]]:
    """The contracts' terms (each with its schedules: one query for those whose schedule changed) and their
    bill-from days."""
    changed = [row.id for row in rows if row.schedule_from is not None]
    earlier = earlier_schedules(session, changed) if changed else {}
    bill_from = {row.id: row.bill_from for row in rows if row.bill_from is not None}
    schedules: dict[tuple[Any, ...], Schedule] = {}  # contracts alike share one (frozen) schedule
    return [_terms(row, earlier.get(row.id, ()), schedules) for row in rows], bill_from


def _terms(
    row: Any, earlier: Sequence[ContractSchedule] = (), schedules: dict[tuple[Any, ...], Schedule] | None = None
) -> ContractTerms:
    advance = row.billing_policy is BillingPolicy.ADVANCE
    by_months = row.proration_unit is ProrationUnit.MONTHS
    key = (
        row.start_date,
        row.auto_renew,
        row.term_months,
        row.billing_frequency,
        advance,
        by_months,
        row.schedule_from,
    )
    schedule = schedules.get(key) if schedules is not None and not earlier else None
    if schedule is None:
        ends = None if row.auto_renew else add_months(row.start_date, row.term_months) - timedelta(days=1)
        schedule = build_schedule(
            start=row.start_date,
            ends=ends,
            frequency=row.billing_frequency,
            advance=advance,
            by_months=by_months,
            schedule_from=row.schedule_from,
            earlier=earlier,
        )
        if schedules is not None and not earlier:
            schedules[key] = schedule
    return ContractTerms(
        id=row.id,
        customer_id=row.customer_id,
        currency=row.currency,
        schedule=schedule,
        advance=advance,
        by_months=by_months,
        refunds=row.process_refunds,
        tax_rate=row.tax_rate,
        payment_terms_days=row.payment_terms_days,
    )


def _drafts_for(
    session: Session,
    contracts: list[ContractTerms],
    run_date: date,
    *,
    max_cycles: int = MAX_CYCLES_PER_RUN,
    bill_from: dict[uuid.UUID, date] | None = None,
) -> tuple[list[Draft], list[uuid.UUID], int]:
    """The invoices due for these contracts, the open changes settled without any line (a reduction
    without refunds on a cycle with nothing else to bill), which are marked invoiced with no invoice, and how
    many contracts had more than ``max_cycles`` cycles due (the oldest are billed now, the rest next run).

    What is due is decided by periods (``schedules.py``): the cycles after the last period an issued document
    billed (from ``bill_from``, or the start, while none is), and the periods of voided invoices not billed
    again; each cycle is due and drafted under its own schedule's policy and proration unit."""
    bill_from = bill_from or {}
    ids = [c.id for c in contracts]
    billed = billed_periods(session, ids)
    rebill = _voided_periods(session, ids)
    # A contract that ended still bills a change inside a cycle it billed: a final invoice (SPEC §8 "Term ends").
    last_billed = {contract_id: done.last_end for contract_id, done in billed.items()}
    closing = closing_cycles(session, contracts, run_date=run_date, last_billed=last_billed, billed_kinds=BILLED_KINDS)
    due: dict[uuid.UUID, list[Cycle]] = {}
    capped = 0
    for contract in contracts:
        schedule, current = contract.schedule, Terms(contract.advance, contract.by_months)
        begin = max(bill_from.get(contract.id, schedule.start), schedule.start)
        done = billed.get(contract.id)
        first = begin if done is None else max(begin, done.last_end + ONE_DAY)
        cycles = due_from(schedule, first=first, run_date=run_date, current=current, limit=max_cycles + 1)
        for start in rebill.get(contract.id, ()):
            cycle = schedule.cycle_containing(start) if start >= begin else None
            if cycle is None or cycle.start != start:
                continue
            if (cycle.start if terms_of(schedule, cycle, current).advance else cycle.end + ONE_DAY) <= run_date:
                cycles.append(cycle)
        if done is not None and contract.id in closing:
            cycles.append(closing[contract.id])  # after any voided cycle billed again: it bills what is left
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
    issued = read_history(
        session,
        [contract for contract in contracts if contract.id in due],
        subscriptions,
        changes,
        earliest=earliest,
        read_changes=lambda condition: _changes_where(session, condition),
        billed_contracts=billed,
    )
    drafts: list[Draft] = []
    quiet: list[uuid.UUID] = []
    for contract in contracts:
        if contract.id not in due:
            continue
        to_bill = due[contract.id]
        done = billed.get(contract.id)
        first_index = to_bill[0].index
        if done is not None:
            first_index = min(first_index, contract.schedule.index_of(done.first_start))
        current = Terms(contract.advance, contract.by_months)
        settled: set[uuid.UUID] = set()
        for cycle in to_bill:
            terms = terms_of(contract.schedule, cycle, current)
            draft = draft_invoice(
                contract if terms == current else replace(contract, advance=terms.advance, by_months=terms.by_months),
                cycle,
                subscriptions.get(contract.id, ()),
                changes,
                first_billed_index=first_index,
                settled=settled,
                billed=issued,
                billed_until=done.last_end if done is not None else None,
            )
            if draft.lines:
                drafts.append(draft)
            else:
                quiet.extend(draft.settled_changes)
    return drafts, quiet, capped


def _voided_periods(session: Session, contract_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[date]]:
    """The first days of the periods whose invoice was voided and not billed again."""
    issued = aliased(Invoice)
    stmt = select(Invoice.contract_id, Invoice.period_start).where(
        Invoice.contract_id.in_(contract_ids),
        Invoice.kind == DocumentKind.INVOICE,
        Invoice.status == InvoiceStatus.VOID,
        Invoice.consolidated.is_(False),
        ~exists().where(
            issued.contract_id == Invoice.contract_id,
            issued.period_start == Invoice.period_start,
            issued.status == InvoiceStatus.ISSUED,
            or_(issued.credit_reason.is_(None), issued.credit_reason != CreditReason.VOID),
            issued.consolidated.is_(False),
        ),
    )
    found: dict[uuid.UUID, list[date]] = defaultdict(list)
    for contract_id, start in session.connection().execute(stmt):
        found[contract_id].append(start)
    return found


def _subscriptions_and_changes(
    session: Session, contract_ids: Sequence[uuid.UUID], earliest: date
) -> tuple[dict[uuid.UUID, list[SubscriptionRow]], dict[uuid.UUID, list[ChangeRow]]]:
    """The billable subscriptions of these contracts (not linked parents; cancelled or expired ones only while a
    change of theirs still matters or a line billed them from ``earliest`` on), and their changes that are open
    or take effect after ``earliest``."""
    s, child = Subscription, aliased(Subscription)
    relevant = or_(LicenseChange.billing_status == BillingStatus.OPEN, LicenseChange.effective_date > earliest)
    billed_lately = exists().where(InvoiceLine.subscription_id == s.id, InvoiceLine.period_end >= earliest)
    stmt = (
        select(
            _id(s.id),
            _id(s.contract_id),
            _id(s.product_id),
            Product.name,
            s.unit_price,
            s.quantity,
            s.status,
            s.start_date,
            # Computed in SQL, for a hundred thousand rows: the months of its plan and term, its refund window, and
            # its term's dates only when they matter (co-termed, or not renewing).
            case(*((s.billing_plan == plan, plan.months) for plan in BillingPlan), else_=1).label("plan_months"),
            case(*((s.term == term, term.months) for term in Term), else_=1).label("term_months"),
            case(
                (
                    s.reduction_behavior == ReductionBehavior.ALLOWED_WITHIN_WINDOW,
                    func.coalesce(s.reduction_window_days, 0),
                ),
                (ProviderAccount.kind == ProviderKind.PARTNER_CENTER, MICROSOFT_REFUND_DAYS),
                else_=0,
            ).label("window_days"),
            case((s.co_term_subscription_id.is_not(None), s.term_start)).label("co_term_start"),
            case((or_(s.co_term_subscription_id.is_not(None), s.auto_renew.is_(False)), s.term_end)).label("term_end"),
            s.auto_renew,
        )
        .join(Product, Product.id == s.product_id)
        .join(ProviderAccount, ProviderAccount.id == s.provider_account_id)
        .where(
            s.contract_id.in_(contract_ids),
            s.billable.is_(True),
            ~exists().where(child.linked_subscription_id == s.id),
            or_(
                s.status.not_in(tuple(ENDED_STATUSES)),
                exists().where(LicenseChange.subscription_id == s.id, relevant),
                billed_lately,
            ),
        )
        .order_by(s.contract_id, Product.name, s.id)
    )
    subscriptions: dict[uuid.UUID, list[SubscriptionRow]] = defaultdict(list)
    for row in session.connection().execute(stmt).all():  # one fetchall, not a fetchone per row
        subscriptions[row.contract_id].append(_subscription_row(row))
    changes = _changes_where(session, and_(s.contract_id.in_(contract_ids), relevant))
    return subscriptions, changes


def _subscription_row(row: Any) -> SubscriptionRow:
    """Charged per cycle of its billing plan, anchored on its start's day (co-termed: on the day after its term
    ends, or its renewal), to its term end when it does not renew (SPEC §8)."""
    if row.co_term_start is None:
        anchor = row.start_date
    else:
        anchor = row.term_end + ONE_DAY if row.co_term_start == row.start_date else row.co_term_start
    return SubscriptionRow(
        row.id,
        row.product_id,
        row.name,
        row.unit_price,
        0 if row.status in ENDED_STATUSES else row.quantity,
        row.start_date,
        anchor,
        row.plan_months,
        row.term_months,
        None if row.auto_renew else row.term_end,
        row.window_days,
    )


def _changes_where(session: Session, condition: ColumnElement[bool]) -> dict[uuid.UUID, list[ChangeRow]]:
    """The billed kinds of changes of billable subscriptions that match ``condition``, in the order recorded."""
    s, c = Subscription, LicenseChange
    change_stmt = (
        select(
            _id(c.id),
            _id(c.subscription_id),
            (c.kind == ChangeKind.EXPIRE).label("expiry"),
            c.quantity_before,
            c.quantity_after,
            case((c.kind == ChangeKind.PRICE, c.price_before)).label("price_before"),  # only a price change's
            case((c.kind == ChangeKind.PRICE, c.price_after)).label("price_after"),
            c.effective_date,
            c.billing_status,
        )
        .join(s, s.id == c.subscription_id)
        .where(condition, s.billable.is_(True), c.kind.in_(BILLED_KINDS))
        .order_by(c.created_at, c.id)
    )
    changes: dict[uuid.UUID, list[ChangeRow]] = defaultdict(list)
    open_ = BillingStatus.OPEN
    # One fetchall, and the rows unpacked by position (in the order selected above), not read by name.
    for change_id, subscription_id, expiry, before, after, price_before, price_after, effective, status in (
        session.connection().execute(change_stmt).all()
    ):
        changes[subscription_id].append(
            ChangeRow(
                change_id,
                subscription_id,
                after - before,
                effective,
                status is open_,
                price_after,
                price_before,
                bool(expiry),
            )
        )
    return changes


def _write(
    session: Session,
    documents: Sequence[Draft | Consolidation],
    *,
    run: BillingRun,
    run_date: date,
    now: datetime,
    prefix: str,
    credit_prefix: str = "CN-",
    seller: Seller | None = None,
) -> list[uuid.UUID]:
    """Write the documents (numbered from the gapless counters) with their lines, and mark the changes they settle
    invoiced. A consolidated document is written with its sections: one per-contract row each, numbered
    ``<document's number>-<k>`` without using a number of the counters."""
    credits = sum(1 for document in documents if is_credit(document))
    next_number = allocate(session, INVOICE_COUNTER, len(documents) - credits)
    next_credit = allocate(session, CREDIT_NOTE_COUNTER, credits) if credits else 0
    plain = [d for d in documents if isinstance(d, Draft)]
    groups = [d for d in documents if isinstance(d, Consolidation)]
    credited = _invoices_before(session, {d.contract.id for d in plain if is_credit(d)}) if credits else {}
    credited_groups = (
        _invoices_before(session, {d.parent_id for d in groups if is_credit(d)}, consolidated=True) if credits else {}
    )
    bill_to = _bill_to(
        session,
        {d.contract.id for d in plain}
        | {section.contract.id for d in groups for section in d.sections}
        | {d.parent_id for d in groups},
    )
    recorded_seller = seller.as_json() if seller else {}
    instructions = seller.payment_instructions if seller else ""
    invoices: list[dict[str, Any]] = []
    lines: list[tuple[Any, ...]] = []  # in the order of _LINE_COLUMNS
    settled: list[dict[str, Any]] = []
    ids: list[uuid.UUID] = []

    def row(draft: Draft, invoice_id: uuid.UUID, number: str, credit: bool, **fields: Any) -> dict[str, Any]:
        contract = draft.contract
        invoice = {
            "id": invoice_id,
            "number": number,
            "contract_id": contract.id,
            "customer_id": contract.customer_id,
            "billing_run_id": run.id,
            "kind": DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
            "credit_reason": CreditReason.NEGATIVE_CYCLE if credit else None,
            "credits_invoice_id": None,
            "cycle_index": draft.cycle.index,
            "period_start": draft.cycle.start,
            "period_end": draft.cycle.end,
            "issue_date": run_date,
            "due_date": run_date if credit else run_date + timedelta(days=contract.payment_terms_days),
            "currency": contract.currency,
            "tax_rate": contract.tax_rate,
            "subtotal": draft.subtotal,
            "tax": draft.tax,
            "total": draft.total,
            "status": InvoiceStatus.ISSUED,
            "bill_to": bill_to[contract.id],
            "seller": recorded_seller,
            "payment_terms_days": 0 if credit else contract.payment_terms_days,
            "payment_instructions": "" if credit else instructions,
            "created_at": now,
            "consolidated": False,
            "consolidated_invoice_id": None,
        }
        invoice.update(fields)
        lines.extend(
            (
                new_id(),
                invoice_id,
                position,
                line.kind,
                line.subscription_id,
                line.product_id,
                line.change_id,
                line.description,
                line.period_start,
                line.period_end,
                line.quantity,
                line.unit_price,
                line.amount,
            )
            for position, line in enumerate(draft.lines, start=1)
        )
        settled.extend({"b_change": change_id, "b_invoice": invoice_id} for change_id in draft.settled_changes)
        return invoice

    for document in documents:
        invoice_id = new_id()
        ids.append(invoice_id)
        credit = is_credit(document)
        key = document.parent_id if isinstance(document, Consolidation) else document.contract.id
        start = document.period_start if isinstance(document, Consolidation) else document.cycle.start
        known = credited_groups if isinstance(document, Consolidation) else credited
        if credit:
            number, next_credit = f"{credit_prefix}{next_credit:06d}", next_credit + 1
            earlier = [(day, id_) for day, id_ in known.get(key, ()) if day < start]
            credits_invoice_id = max(earlier, key=lambda pair: pair[0])[1] if earlier else None
        else:
            number, next_number = f"{prefix}{next_number:06d}", next_number + 1
            credits_invoice_id = None
            if key in known:
                known[key].append((start, invoice_id))
        if isinstance(document, Draft):
            invoices.append(row(document, invoice_id, number, credit, credits_invoice_id=credits_invoice_id))
            continue
        terms_days = 0 if credit else document.payment_terms_days
        due_date = run_date + timedelta(days=terms_days)
        invoices.append(
            {
                "id": invoice_id,
                "number": number,
                "contract_id": document.parent_id,
                "customer_id": document.customer_id,
                "billing_run_id": run.id,
                "kind": DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
                "credit_reason": CreditReason.NEGATIVE_CYCLE if credit else None,
                "credits_invoice_id": credits_invoice_id,
                "cycle_index": min(section.cycle.index for section in document.sections),
                "period_start": document.period_start,
                "period_end": document.period_end,
                "issue_date": run_date,
                "due_date": due_date,
                "currency": document.currency,
                "tax_rate": document.tax_rate,
                "subtotal": document.subtotal,
                "tax": document.tax,
                "total": document.total,
                "status": InvoiceStatus.ISSUED,
                "bill_to": bill_to[document.parent_id],
                "seller": recorded_seller,
                "payment_terms_days": terms_days,
                "payment_instructions": "" if credit else instructions,
                "created_at": now,
                "consolidated": True,
                "consolidated_invoice_id": None,
            }
        )
        for k, section in enumerate(document.sections, start=1):
            invoices.append(
                row(
                    section,
                    new_id(),
                    f"{number}-{k}",
                    credit,
                    consolidated_invoice_id=invoice_id,
                    due_date=due_date,
                    payment_terms_days=terms_days,
                    payment_instructions="",
                )
            )
    # Consolidated documents first: their sections reference them.
    _insert(session, cast(Table, Invoice.__table__), [i for i in invoices if i["consolidated"]])
    _insert(session, cast(Table, Invoice.__table__), [i for i in invoices if not i["consolidated"]])
    if lines:
        insert_rows(session, cast(Table, InvoiceLine.__table__), _LINE_COLUMNS, lines)
    announce_documents(session, invoices, now=now)
    if settled:
        _mark_invoiced(session, settled)
    return ids


_LINE_COLUMNS = (
    "id",
    "invoice_id",
    "position",
    "kind",
    "subscription_id",
    "product_id",
    "license_change_id",
    "description",
    "period_start",
    "period_end",
    "quantity",
    "unit_price",
    "amount",
)
"""Every column of ``invoice_lines``, in the order ``_write`` builds a line's row."""


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys, every column given) the fastest way the database has: COPY on
    PostgreSQL, multi-row INSERTs on SQLite (``insert_rows``)."""
    if rows:
        columns = list(rows[0])
        insert_rows(session, table, columns, map(itemgetter(*columns), rows))


def _mark_invoiced(session: Session, settled: list[dict[str, Any]]) -> None:
    """Mark the changes (``b_change``) invoiced by their invoices (``b_invoice``): on PostgreSQL one ``UPDATE …
    FROM unnest(…)`` for all of them, elsewhere one DB-API ``executemany`` of a per-row UPDATE."""
    changes = cast(Table, LicenseChange.__table__)
    conn = session.connection()
    dialect = conn.dialect
    if dialect.driver == "psycopg":
        conn.exec_driver_sql(
            "UPDATE license_changes SET billing_status = %s, invoice_id = v.invoice_id"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS v(id, invoice_id) WHERE license_changes.id = v.id",
            (
                BillingStatus.INVOICED.value,
                [row["b_change"] for row in settled],
                [row["b_invoice"] for row in settled],
            ),
        )
        return
    execute_many(
        session,
        update(changes)
        .where(changes.c.id == bindparam("b_change"))
        .values(billing_status=BillingStatus.INVOICED, invoice_id=bindparam("b_invoice")),
        settled,
    )


def _settle_without_invoice(session: Session, change_ids: list[uuid.UUID]) -> None:
    changes = cast(Table, LicenseChange.__table__)
    session.execute(update(changes).where(changes.c.id.in_(change_ids)).values(billing_status=BillingStatus.INVOICED))


def _bill_to(session: Session, contract_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The customer's name, address and tax ID as they are today, kept on the invoice."""
    rows = session.connection().execute(  # Core rows: no ORM result machinery
        select(
            _id(BillingContract.id),
            BillingContract.name,
            CustomerAccount.name,
            CustomerAccount.billing_address,
            CustomerAccount.tax_id,
        )
        .join(CustomerAccount, CustomerAccount.id == BillingContract.customer_id)
        .where(BillingContract.id.in_(contract_ids))
    )
    return {
        contract_id: {"name": customer, "contract": contract, "address": address or {}, "tax_id": tax_id or ""}
        for contract_id, contract, customer, address, tax_id in rows
    }


def _invoices_before(
    session: Session, contract_ids: set[uuid.UUID], *, consolidated: bool = False
) -> dict[uuid.UUID, list[tuple[date, uuid.UUID]]]:
    """The issued invoices of these contracts (period start, id): a negative cycle's credit note references the
    latest one before its period. ``consolidated``: the consolidated invoices of these parent contracts (a
    consolidated credit note references its group's latest); otherwise the contracts' own (sections included)."""
    found: dict[uuid.UUID, list[tuple[date, uuid.UUID]]] = {contract_id: [] for contract_id in contract_ids}
    stmt = select(Invoice.contract_id, Invoice.period_start, Invoice.id).where(
        Invoice.contract_id.in_(contract_ids),
        Invoice.kind == DocumentKind.INVOICE,
        Invoice.status == InvoiceStatus.ISSUED,
        Invoice.consolidated.is_(consolidated),
    )
    for contract_id, start, invoice_id in session.connection().execute(stmt):
        found[contract_id].append((start, invoice_id))
    return found
