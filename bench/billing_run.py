"""Benchmark: a billing run (``run_billing``) over N contracts with two subscriptions each.

Sets up, untimed: a fresh migrated database (a SQLite file in a temporary directory, or with --postgres a
scratch PostgreSQL database dropped and recreated for the run and dropped at the end), a Partner Center
provider account and two products made through the catalog service (Microsoft 365 E3 at 36.00 and
Enterprise Mobility + Security E3 at 10.60 per license and month, one-year terms, as in the demo catalog),
then, inserted set-based with Core ``executemany`` in batches: N customer accounts, one billable contract
each (monthly, in advance, starting on the run date, USD, no tax), and on each contract two active
subscriptions (25 E3 and 10 EMS licenses) with their ``create`` license changes, open and awaiting
provisioning: the rows ``create_subscription`` and ``record_change`` write for a subscription bought on
the run date. So every contract owes one invoice of 25 * 36.00 + 10 * 10.60 = 1,006.00 with two lines.

Measured, each phase in a child process of its own (a fresh interpreter that connects, then runs one
``run_billing`` in one session and transaction, commit included, the way a CLI command would):

  1. with --dry-run-too, a dry run first (computes every draft, writes nothing);
  2. the billing run: N invoices, 2N lines, 2N license changes marked invoiced;
  3. a rerun for the same date, which must create nothing.

For each: wall and CPU time, invoices per second (invoices drafted / wall time: the dry run drafts as many
as the run writes), the child's RSS just before the run and its peak RSS during the run (the high-water
mark ``VmHWM``, reset to the current RSS through ``/proc/self/clear_refs`` just before; see
``peak_rss_bytes`` for why not ``ru_maxrss``), so the RSS growth the run itself causes is the difference.
The data set is built once per invocation, and the setup's memory stays in this parent process.
``--phases`` also times the helpers inside ``run_billing`` (by wrapping them in the child) and the SQL
statements (cursor-execute events), in wall and CPU seconds; ``--in-process`` runs the phases in this
process instead (for ``python -m cProfile``; the RSS figures then include the setup's leftovers).

    .venv/bin/python bench/billing_run.py                            # 100,000 contracts, SQLite
    .venv/bin/python bench/billing_run.py --contracts 10000 --postgres --dry-run-too
    .venv/bin/python -m cProfile -o /tmp/bill.prof bench/billing_run.py --in-process

Exits 1 when a check fails: invoice count, line count, the sum of totals, invoice numbers not 1..N
without gaps, a change left open, the rerun creating anything, the dry run writing anything.
"""

from __future__ import annotations

import argparse
import calendar
import functools
import gc
import itertools
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

from _common import copy_sqlite_database
from sqlalchemy import Engine, Table, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.billing import runs
from seatflow.billing.models import BillingRun, Invoice, InvoiceLine, LineKind
from seatflow.catalog.models import BillingFrequency, BillingPlan, ProductKind, ProviderKind, ReductionBehavior, Term
from seatflow.catalog.providers import create_provider_account
from seatflow.catalog.schemas import ProductCreate, ProviderAccountCreate
from seatflow.catalog.service import create_product
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractStatus, ProrationUnit
from seatflow.customers.models import AccountStatus, CustomerAccount
from seatflow.customers.schemas import Address
from seatflow.db.engine import make_engine
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.events.models import OutboxEvent
from seatflow.ids import new_id
from seatflow.subscriptions.models import (
    BillingStatus,
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.rules import initial_provisioning_status, term_for

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_billing"
PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
RUN_DATE = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REQUESTED_BY = "bench@seatflow.example"
AIM_SECONDS = 15.0
AIM_MB = 300.0
AIM_CONTRACTS = 100_000
MB = 1_000_000  # figures are in MB of 10^6 bytes
SETUP_BATCH = 5_000  # contracts per setup transaction
# (name, provisioning id, price, cost, quantity on every contract)
PRODUCTS = (
    ("Microsoft 365 E3", "SPE_E3", Decimal("36.00"), Decimal("28.80"), 25),
    ("Enterprise Mobility + Security E3", "EMS", Decimal("10.60"), Decimal("8.48"), 10),
)
INVOICE_TOTAL = sum((qty * price for _, _, price, _, qty in PRODUCTS), Decimal(0))  # 1006.00
PHASES = ("dry-run", "run", "rerun")

F = TypeVar("F", bound=Callable[..., Any])


# --- memory ----------------------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark: ``VmHWM``, which ``/proc/self/clear_refs`` resets.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is the same mark on Linux but never below ``signal->maxrss``,
    which exec copies from the address space it replaces: in a child started with vfork (``subprocess``)
    that is the parent's peak, so it would report the setup's peak instead of the run's. It is the
    fallback where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def current_rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Set the RSS high-water mark (and so ru_maxrss) to the current RSS; Linux 4.0+ only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- database --------------------------------------------------------------------------------------------


def _database_name(url: str) -> str:
    name = make_url(url).database
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    return name


def recreate_postgres_database(url: str, *, drop_only: bool = False) -> None:
    """Drop the scratch database and, unless ``drop_only``, create it empty."""
    import psycopg
    from psycopg import sql

    parsed = make_url(url)
    name = _database_name(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",  # maintenance connection only: nothing in it is read or changed
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]


# --- setup (not timed) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    account_id: uuid.UUID
    provisioning: ProvisioningStatus
    products: list[tuple[uuid.UUID, str, Decimal, Decimal, int, int]]
    """(id, name, unit price, cost price, quantity, term months) per product."""


def create_catalog(factory: sessionmaker[Session]) -> Catalog:
    """The provider account and the two products, through the services."""
    with unit_of_work(factory) as session:
        account = create_provider_account(
            session,
            data=ProviderAccountCreate(
                name="Partner Center (bench)",
                kind=ProviderKind.PARTNER_CENTER,
                settings={"base_url": "http://127.0.0.1:8100"},
            ),
        )
        products = []
        for name, provisioning_id, price, cost, quantity in PRODUCTS:
            product = create_product(
                session,
                data=ProductCreate(
                    provider_account_id=str(account.id),
                    kind=ProductKind.LICENSE,
                    name=name,
                    provisioning_id=provisioning_id,
                    term=Term.P1Y,
                    list_price=price,
                    cost_price=cost,
                    reduction_behavior=ReductionBehavior.ALLOWED_WITHIN_WINDOW,
                    reduction_window_days=7,
                ),
                default_currency="USD",
            )
            products.append((product.id, product.name, price, cost, quantity, product.term.months))
        return Catalog(account.id, initial_provisioning_status(account.kind), products)


def _rows(catalog: Catalog, first: int, count: int, created: datetime) -> dict[str, list[dict[str, Any]]]:
    """One batch of customers, contracts, subscriptions and create changes, as the services write them."""
    customers: list[dict[str, Any]] = []
    contracts: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for n in range(first, first + count):
        customer_id, contract_id = new_id(), new_id()
        name = f"Bench Customer {n:06d}"
        address = Address(line1=f"{n} Main Street", city="Springfield", postal_code=f"{n % 100000:05d}", country="US")
        customers.append(
            {
                "id": customer_id,
                "name": name,
                "parent_customer_id": None,
                "tenant_id": None,
                "currency": "USD",
                "billing_address": address.model_dump(),
                "status": AccountStatus.ACTIVE,
                "created_at": created,
                "updated_at": created,
            }
        )
        contracts.append(
            {
                "id": contract_id,
                "customer_id": customer_id,
                "name": f"{name} - Main",
                "parent_contract_id": None,
                "billable": True,
                "is_default": True,
                "currency": "USD",
                "billing_frequency": BillingFrequency.MONTHLY,
                "billing_policy": BillingPolicy.ADVANCE,
                "start_date": RUN_DATE,
                "term_months": 12,
                "auto_renew": True,
                "proration_unit": ProrationUnit.DAYS,
                "process_refunds": False,
                "payment_terms_days": 30,
                "tax_rate": Decimal(0),
                "status": ContractStatus.ACTIVE,
                "created_at": created,
                "updated_at": created,
            }
        )
        for product_id, _name, price, cost, quantity, term_months in catalog.products:
            subscription_id = new_id()
            term_start, term_end = term_for(RUN_DATE, term_months)
            subscriptions.append(
                {
                    "id": subscription_id,
                    "contract_id": contract_id,
                    "product_id": product_id,
                    "provider_account_id": catalog.account_id,
                    "quantity": quantity,
                    "status": SubscriptionStatus.ACTIVE,
                    "start_date": RUN_DATE,
                    "term_start": term_start,
                    "term_end": term_end,
                    "term": Term.P1Y,
                    "billing_plan": BillingPlan.MONTHLY,  # one-year terms billed monthly: one charge a month
                    "co_term_subscription_id": None,
                    "expired_at": None,
                    "auto_renew": True,
                    "currency": "USD",
                    "unit_price": price,
                    "cost_price": cost,
                    "billable": True,
                    "allow_end_user_modification": True,
                    "reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW,
                    "reduction_window_days": 7,
                    "external_id": None,
                    "parent_subscription_id": None,
                    "linked_subscription_id": None,
                    "bundle_id": None,
                    "cancelled_at": None,
                    "claimed_by": None,
                    "claimed_until": None,
                    "retry_at": None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            changes.append(
                {
                    "id": new_id(),
                    "subscription_id": subscription_id,
                    "kind": ChangeKind.CREATE,
                    "quantity_before": 0,
                    "quantity_after": quantity,
                    "price_before": price,
                    "price_after": price,
                    "effective_date": RUN_DATE,
                    "origin": ChangeOrigin.OPERATOR,
                    "requested_by": REQUESTED_BY,
                    "reason": None,
                    "caused_by_change_id": None,
                    "provisioning_status": catalog.provisioning,
                    "billing_status": BillingStatus.OPEN,
                    "message": None,
                    "attempts": 0,
                    "created_at": NOW,
                    "provisioned_at": None,
                    "last_attempt_at": None,
                    "provider_request_id": None,
                    "provider_order_id": None,
                    "notified_at": None,
                    "invoice_id": None,
                }
            )
    return {"customers": customers, "contracts": contracts, "subscriptions": subscriptions, "changes": changes}


def insert_contracts(engine: Engine, catalog: Catalog, count: int) -> None:
    tables = {
        "customers": cast(Table, CustomerAccount.__table__),
        "contracts": cast(Table, BillingContract.__table__),
        "subscriptions": cast(Table, Subscription.__table__),
        "changes": cast(Table, LicenseChange.__table__),
    }
    for first in range(1, count + 1, SETUP_BATCH):
        batch = _rows(catalog, first, min(SETUP_BATCH, count + 1 - first), NOW)
        with engine.begin() as conn:
            for key, table in tables.items():
                conn.execute(table.insert(), batch[key])


# --- the measured phases ---------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    phase: str
    seconds: float
    cpu_seconds: float
    invoices_created: int
    contracts_considered: int
    drafted_invoices: int
    drafted_total: str
    run_id: str | None
    rss_before: int | None
    peak_rss: int
    peak_rss_reset: bool
    timers: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    """name: (calls, wall seconds, CPU seconds), with --phases."""


class Timers:
    """Wall and CPU time per wrapped helper of ``run_billing`` and per kind of SQL statement (nested, so
    inclusive). CPU time is this process's: on SQLite it includes the database's work, on PostgreSQL not; it
    is the steadier figure when other processes compete for the CPUs."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)

    def add(self, name: str, seconds: float, cpu_seconds: float) -> None:
        self.calls[name] += 1
        self.seconds[name] += seconds
        self.cpu_seconds[name] += cpu_seconds

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started, time.process_time() - cpu_started)

    def wrap(self, name: str, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.timed(name):
                return fn(*args, **kwargs)

        return cast(F, wrapper)

    def as_dict(self) -> dict[str, tuple[int, float, float]]:
        return {name: (self.calls[name], self.seconds[name], self.cpu_seconds[name]) for name in self.seconds}


def _statement_kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    if verb == "INSERT":
        return f"insert into {words[2]}"
    if verb == "UPDATE":
        return f"update {words[1]}"
    if verb == "SELECT":
        found = re.search(r"\bFROM\s+(\w+)", statement, re.IGNORECASE)
        return f"select from {found.group(1) if found else '?'}"
    return verb.lower()


def install_timers(engine: Engine) -> Timers:
    """Wrap run_billing's helpers (module attributes, so the calls inside runs.py go through the wrappers)
    and time every statement at the DB-API cursor (execute/executemany only: rows fetched later are not
    included)."""
    timers = Timers()
    for name in (
        "_terms",
        "_drafts_for",
        "_voided_cycles",
        "_subscriptions_and_changes",
        "draft_invoice",
        "due_cycles",
        "_write",
        "_bill_to",
        "allocate",
        "new_id",
        "execute_many",
    ):
        if hasattr(runs, name):  # runs.py may have changed: wrap what is there
            setattr(runs, name, timers.wrap(name, getattr(runs, name)))
    starts: list[tuple[float, float]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(*_args: Any) -> None:
        starts.append((time.perf_counter(), time.process_time()))

    @event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kind = "sql " + _statement_kind(statement)
        started, cpu_started = starts.pop()
        timers.add(kind, time.perf_counter() - started, time.process_time() - cpu_started)

    real_execute = Session.execute

    def execute(self: Session, statement: Any, *args: Any, **kwargs: Any) -> Any:
        table = getattr(statement, "table", None)
        verb = type(statement).__name__
        with timers.timed(f"Session.execute {verb}{' ' + table.name if table is not None else ''}"):
            return real_execute(self, statement, *args, **kwargs)

    Session.execute = execute  # type: ignore[method-assign]
    return timers


def run_phase(url: str, phase: str, *, chunk_size: int, phases: bool) -> PhaseResult:
    """One measured run_billing in this process."""
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        timers = install_timers(engine) if phases else None
        with engine.connect() as conn:  # connect (and load the dialect's modules) before measuring
            conn.execute(text("select 1"))
        gc.collect()
        rss_before = current_rss_bytes()
        was_reset = reset_peak_rss()
        started, cpu_started = time.perf_counter(), time.process_time()
        with unit_of_work(factory) as session:
            summary = runs.run_billing(
                session,
                run_date=RUN_DATE,
                now=NOW,
                requested_by=REQUESTED_BY,
                dry_run=phase == "dry-run",
                chunk_size=chunk_size,
            )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        usd = summary.totals.get("USD")
        return PhaseResult(
            phase=phase,
            seconds=seconds,
            cpu_seconds=cpu_seconds,
            invoices_created=summary.invoices_created,
            contracts_considered=summary.contracts_considered,
            drafted_invoices=usd.invoices if usd else 0,
            drafted_total=str(usd.total if usd else Decimal(0)),
            run_id=str(summary.run_id) if summary.run_id else None,
            rss_before=rss_before,
            peak_rss=peak_rss_bytes(),
            peak_rss_reset=was_reset,
            timers=timers.as_dict() if timers else {},
        )
    finally:
        engine.dispose()


def run_phase_in_child(url: str, phase: str, *, chunk_size: int, phases: bool) -> PhaseResult:
    command = [sys.executable, __file__, "--child", phase, "--database-url", url, "--chunk-size", str(chunk_size)]
    if phases:
        command.append("--phases")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {phase} child process failed with exit status {done.returncode}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["timers"] = {name: tuple(value) for name, value in data["timers"].items()}
    return PhaseResult(**data)


# --- the floor: the same reads, arithmetic and writes with the stdlib sqlite3 module ---------------------

FLOOR_CHUNK = 2000
"""Contracts per chunk of the floor, as run_billing's default chunk_size."""


@dataclass
class FloorResult:
    seconds: float
    cpu_seconds: float
    state: dict[str, Any]
    """``database_state``'s figures, read from the floor's copy."""


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


FLOOR_GC_THRESHOLD = 10_000
"""The floor's young-generation threshold: ``runs.GC_YOUNG_THRESHOLD``, whichever src is measured (about 7 % of the
floor's CPU against Python's default 700), so the floor is the same in every invocation."""


def floor_run(path: Path) -> FloorResult:
    """Bill the due contracts of the database at ``path`` with bare ``sqlite3``, in one transaction.

    The same reads as run_billing (the due contracts in id order in chunks of 2,000 with their customers'
    names and addresses, their billable subscriptions with the product names, their open changes), the same
    per-line Decimal arithmetic (quantity x unit price x months of the plan, a change inside the cycle prorated
    by days, rounded half up to cents) and the same writes (the billing run, the numbering counter, invoices
    with every column, their lines, the changes marked invoiced, an ``invoice.issued`` outbox event per invoice
    with the invoice's head as its data, as ``announce_documents`` writes it). Only the contract shape of this benchmark
    is handled (monthly, in advance, billed on its own, nothing billed before): it is a floor, not a billing
    engine."""
    saved = gc.get_threshold()  # the collector as run_billing (since 35c89e3) has it while it runs
    gc.set_threshold(FLOOR_GC_THRESHOLD, *saved[1:])
    try:
        return _floor_run(path)
    finally:
        gc.set_threshold(*saved)


def _floor_run(path: Path) -> FloorResult:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    cent, factor = Decimal("0.01"), Decimal(10_000)
    run_day, stamp = RUN_DATE.isoformat(), NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    started, cpu_started = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('invoice_number', 0)")  # as allocate does
    conn.execute("UPDATE counters SET value = value WHERE name = 'invoice_number'")  # the numbering lock
    new_hex_id = _time_ordered_ids().__next__  # as seatflow's ids: new rows go to the right of each id index
    run_id = new_hex_id()
    run_dashed = _dashed(run_id)
    conn.execute(
        "INSERT INTO billing_runs (id, run_date, requested_by, started_at, invoices_created, credit_notes_created,"
        " totals) VALUES (?, ?, ?, ?, 0, 0, '{}')",
        (run_id, run_day, REQUESTED_BY, stamp),
    )
    created, grand_total, after = 0, Decimal(0), ""
    while True:
        # "+c.parent_contract_id": without it SQLite walks ix_billing_contracts_parent_contract_id (every contract
        # has none) and sorts all remaining contracts per chunk, quadratic in N; with it, the primary key from `after`.
        contracts = conn.execute(
            "SELECT c.id, c.customer_id, c.currency, c.start_date, c.payment_terms_days, c.tax_rate, c.name,"
            " cu.name, cu.billing_address, cu.tax_id FROM billing_contracts c"
            " JOIN customer_accounts cu ON cu.id = c.customer_id"
            " WHERE c.billable = 1 AND c.status = 'active' AND c.start_date <= ? AND c.id > ?"
            " AND c.consolidate_child_invoices = 0 AND +c.parent_contract_id IS NULL"
            " ORDER BY c.id LIMIT ?",
            (run_day, after, FLOOR_CHUNK),
        ).fetchall()
        if not contracts:
            break
        after = contracts[-1][0]
        ids = [row[0] for row in contracts]
        marks = ",".join("?" * len(ids))
        billed = {
            contract_id
            for (contract_id,) in conn.execute(
                f"SELECT contract_id FROM invoices WHERE contract_id IN ({marks}) AND period_start = ?"  # noqa: S608
                " AND status = 'issued' AND NOT consolidated",
                (*ids, run_day),
            )
        }
        subscriptions: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(
            "SELECT s.contract_id, s.id, s.product_id, p.name, s.unit_price, s.quantity, s.billing_plan"  # noqa: S608
            " FROM subscriptions s JOIN products p ON p.id = s.product_id"
            f" WHERE s.contract_id IN ({marks}) AND s.billable = 1 AND s.status NOT IN ('cancelled', 'expired')"
            " ORDER BY s.contract_id, p.name, s.id",
            ids,
        ):
            subscriptions[row[0]].append(row)
        changes: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(
            "SELECT lc.subscription_id, lc.id, lc.quantity_after - lc.quantity_before, lc.effective_date"  # noqa: S608
            " FROM subscriptions s CROSS JOIN license_changes lc ON lc.subscription_id = s.id"  # s first (SQLite)
            f" WHERE s.contract_id IN ({marks}) AND lc.billing_status = 'open'"
            " ORDER BY lc.created_at, lc.id",
            ids,
        ):
            changes[row[0]].append(row)
        invoices, lines, settled = [], [], []
        for contract in contracts:
            contract_id, customer_id, currency, start, terms_days, tax_rate, name, customer, address, tax_id = contract
            if contract_id in billed:
                continue
            first = date.fromisoformat(start)
            k = (RUN_DATE.year - first.year) * 12 + RUN_DATE.month - first.month
            cycle_start, cycle_end = _add_months(first, k), _add_months(first, k + 1) - ONE_DAY
            if cycle_start > RUN_DATE:
                k -= 1
                cycle_start, cycle_end = _add_months(first, k), _add_months(first, k + 1) - ONE_DAY
            days = (cycle_end - cycle_start).days + 1
            invoice_id, subtotal, position = new_hex_id(), Decimal(0), 0
            for _, subscription_id, product_id, product, price_units, quantity, plan in subscriptions[contract_id]:
                price, months = Decimal(price_units) / factor, PLAN_MONTHS[plan]
                own = changes.get(subscription_id, ())
                inside = [c for c in own if cycle_start < date.fromisoformat(c[3]) <= cycle_end]
                start_quantity = quantity - sum(c[2] for c in inside)
                priced = [(LineKind.RECURRING, start_quantity, None, cycle_start, start_quantity * price * months)]
                priced += [
                    (LineKind.PRORATION, c[2], c[1], date.fromisoformat(c[3]), c[2] * price * months
                     * ((cycle_end - date.fromisoformat(c[3])).days + 1) / days)
                    for c in inside
                ]  # fmt: skip
                for kind, count, change_id, line_start, exact in priced:
                    amount = exact.quantize(cent, rounding=ROUND_HALF_UP)
                    if not amount:
                        continue
                    position += 1
                    subtotal += amount
                    lines.append(
                        (new_hex_id(), invoice_id, position, kind.value, subscription_id, product_id, change_id,
                         product, line_start.isoformat(), cycle_end.isoformat(), count, price_units,
                         int(amount * factor))
                    )  # fmt: skip
                settled.extend((invoice_id, c[1]) for c in own)
            rate = Decimal(tax_rate) / Decimal(1_000_000)
            tax = (subtotal * rate).quantize(cent, rounding=ROUND_HALF_UP)
            bill_to = {"name": customer, "contract": name, "address": json.loads(address or "{}")}
            bill_to["tax_id"] = tax_id or ""
            invoices.append(
                [invoice_id, None, contract_id, customer_id, run_id, "invoice", None, None, k,
                 cycle_start.isoformat(), cycle_end.isoformat(), run_day,
                 (RUN_DATE + timedelta(days=terms_days)).isoformat(), currency, tax_rate, int(subtotal * factor),
                 int(tax * factor), int((subtotal + tax) * factor), "issued", json.dumps(bill_to), "{}", terms_days,
                 "", stamp, 0, None]
            )  # fmt: skip
            grand_total += subtotal + tax
        if invoices:
            (last,) = conn.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'invoice_number' RETURNING value", (len(invoices),)
            ).fetchone()
            for number, invoice in enumerate(invoices, start=last - len(invoices) + 1):
                invoice[1] = f"INV-{number:06d}"
            events = [
                (new_hex_id(), "invoice.issued", _dashed(invoice[0]), stamp, json.dumps(
                    {"id": _dashed(invoice[0]), "number": invoice[1], "kind": "invoice",
                     "contract_id": _dashed(invoice[2]), "customer_id": _dashed(invoice[3]),
                     "billing_run_id": run_dashed, "credit_reason": None, "credits_invoice_id": None,
                     "period_start": invoice[9], "period_end": invoice[10], "issue_date": invoice[11],
                     "due_date": invoice[12], "currency": invoice[13], "subtotal": f"{invoice[15] / factor:.2f}",
                     "tax": f"{invoice[16] / factor:.2f}", "total": f"{invoice[17] / factor:.2f}",
                     "consolidated": False}
                ), None, stamp, None)
                for invoice in invoices
            ]  # fmt: skip
            _floor_insert(
                conn,
                "INSERT INTO invoices (id, number, contract_id, customer_id, billing_run_id, kind, credit_reason,"
                " credits_invoice_id, cycle_index, period_start, period_end, issue_date, due_date, currency, tax_rate,"
                " subtotal, tax, total, status, bill_to, seller, payment_terms_days, payment_instructions, created_at,"
                " consolidated, consolidated_invoice_id) VALUES ",
                invoices,
            )
            _floor_insert(
                conn,
                "INSERT INTO invoice_lines (id, invoice_id, position, kind, subscription_id, product_id,"
                " license_change_id, description, period_start, period_end, quantity, unit_price, amount) VALUES ",
                lines,
            )
            _floor_insert(
                conn,
                "INSERT INTO outbox_events (id, type, subject_id, occurred_at, data, dedupe_key, created_at,"
                " dispatched_at) VALUES ",
                events,
            )
            conn.executemany(
                "UPDATE license_changes SET billing_status = 'invoiced', invoice_id = ? WHERE id = ?", settled
            )
            created += len(invoices)
    totals = {"USD": {"invoices": created, "total": f"{grand_total:.2f}"}}
    conn.execute(
        "UPDATE billing_runs SET invoices_created = ?, totals = ?, finished_at = ? WHERE id = ?",
        (created, json.dumps(totals), stamp, run_id),
    )
    conn.execute("COMMIT")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    try:
        return FloorResult(seconds, cpu_seconds, _floor_state(conn, run_id))
    finally:
        conn.close()


def _floor_insert(conn: sqlite3.Connection, head: str, rows: list[Any]) -> None:
    """Multi-row INSERTs of about 4,000 bound variables each (what ``insert_rows`` does; half the time of
    ``executemany``)."""
    width = len(rows[0])
    per = 4000 // width
    for first in range(0, len(rows), per):
        batch = rows[first : first + per]
        group = "(" + ", ".join("?" * width) + ")"
        conn.execute(head + ", ".join([group] * len(batch)), [value for row in batch for value in row])


def _time_ordered_ids() -> Iterator[str]:
    """Ids as 32 hex digits ordered by creation (milliseconds, a counter, random bits), like ``new_id``'s."""
    base = (time.time_ns() // 1_000_000) << 16
    for k in itertools.count():
        yield f"{base + k:016x}{os.urandom(8).hex()}"


def _dashed(hex_id: str) -> str:
    """A UUID stored as 32 hex digits (SQLite) as the event data writes it (``str(uuid)``)."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


PLAN_MONTHS = {plan.value: plan.months for plan in BillingPlan}
ONE_DAY = timedelta(days=1)


def _floor_state(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """The figures ``database_state`` reads, from the floor's copy (amounts are stored in 10^-4 units)."""
    units = Decimal(10_000)
    inv = conn.execute(
        "SELECT count(*), sum(subtotal), sum(total), min(number), max(number), count(DISTINCT number)"
        " FROM invoices WHERE issue_date = ?",
        (RUN_DATE.isoformat(),),
    ).fetchone()
    lines = conn.execute("SELECT count(*), sum(amount) FROM invoice_lines").fetchone()
    (open_changes,) = conn.execute("SELECT count(*) FROM license_changes WHERE billing_status = 'open'").fetchone()
    (invoiced,) = conn.execute(
        "SELECT count(*) FROM license_changes WHERE billing_status = 'invoiced' AND invoice_id IS NOT NULL"
    ).fetchone()
    (created,) = conn.execute("SELECT invoices_created FROM billing_runs WHERE id = ?", (run_id,)).fetchone()
    (events,) = conn.execute("SELECT count(*) FROM outbox_events WHERE type = 'invoice.issued'").fetchone()
    return {
        "invoices": inv[0],
        "subtotal": Decimal(inv[1] or 0) / units,
        "total": Decimal(inv[2] or 0) / units,
        "first_number": inv[3],
        "last_number": inv[4],
        "distinct_numbers": inv[5],
        "lines": lines[0],
        "lines_amount": Decimal(lines[1] or 0) / units,
        "open_changes": open_changes,
        "invoiced_changes": invoiced,
        "created": created,
        "events": events,
    }


# --- checks and report -----------------------------------------------------------------------------------


def check(failures: list[str], ok: bool, message: str) -> None:
    if not ok:
        failures.append(message)
        print(f"  CHECK FAILED: {message}")


def database_state(factory: sessionmaker[Session]) -> dict[str, Any]:
    with unit_of_work(factory) as session:
        inv = session.execute(
            select(
                func.count(),
                func.sum(Invoice.subtotal),
                func.sum(Invoice.total),
                func.min(Invoice.number),
                func.max(Invoice.number),
                func.count(func.distinct(Invoice.number)),
            ).where(Invoice.issue_date == RUN_DATE)
        ).one()
        lines = session.execute(select(func.count(), func.sum(InvoiceLine.amount))).one()
        open_changes = session.execute(
            select(func.count()).where(LicenseChange.billing_status == BillingStatus.OPEN)
        ).scalar_one()
        invoiced = session.execute(
            select(func.count()).where(
                LicenseChange.billing_status == BillingStatus.INVOICED, LicenseChange.invoice_id.is_not(None)
            )
        ).scalar_one()
        runs_rows = session.execute(select(BillingRun.id, BillingRun.invoices_created)).all()
        events = session.execute(select(func.count()).where(OutboxEvent.type == "invoice.issued")).scalar_one()
    return {
        "invoices": inv[0],
        "subtotal": inv[1] or Decimal(0),
        "total": inv[2] or Decimal(0),
        "first_number": inv[3],
        "last_number": inv[4],
        "distinct_numbers": inv[5],
        "lines": lines[0],
        "lines_amount": lines[1] or Decimal(0),
        "open_changes": open_changes,
        "invoiced_changes": invoiced,
        "runs": {str(run_id): created for run_id, created in runs_rows},
        "events": events,
    }


def report(result: PhaseResult, contracts: int) -> None:
    before = f"{result.rss_before / MB:.1f} MB" if result.rss_before is not None else "n/a"
    scope = "during this run" if result.peak_rss_reset else "of the process so far"
    rate = result.drafted_invoices / result.seconds if result.seconds else 0.0
    growth = f" (+{(result.peak_rss - result.rss_before) / MB:.1f} MB)" if result.rss_before is not None else ""
    print(f"  {result.phase}")
    print(f"    wall time            {result.seconds:8.3f} s (one transaction, commit included)")
    print(f"    CPU time             {result.cpu_seconds:8.3f} s (this process; the database server's is not included)")
    print(f"    contracts            {result.contracts_considered} considered of {contracts}")
    print(f"    invoices             {result.invoices_created} created, {result.drafted_invoices} drafted")
    print(f"    drafted total        USD {result.drafted_total}")
    print(f"    invoices per second  {rate:8.0f} (drafted invoices / wall time)")
    print(f"    RSS before           {before}")
    print(f"    peak RSS             {result.peak_rss / MB:.1f} MB{growth} ({scope}, whole process)")
    if result.timers:
        title = "where the time goes (inclusive; % of the run's wall time)"
        print(f"    {title:<56} {'wall s':>8} {'CPU s':>8} {'%':>5} calls")
        for name, (calls, seconds, cpu) in sorted(result.timers.items(), key=lambda item: -item[1][1]):
            share = 100 * seconds / result.seconds if result.seconds else 0.0
            print(f"      {name:<54} {seconds:8.3f} {cpu:8.3f} {share:5.1f} {calls}")


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=AIM_CONTRACTS, help="contracts (default 100000)")
    parser.add_argument("--chunk-size", type=int, default=2000, help="run_billing's chunk_size (default 2000)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--database-url", help="SQLAlchemy URL of an empty database (default: SQLite in a temp dir)")
    target.add_argument(
        "--postgres",
        nargs="?",
        const=POSTGRES_URL,
        metavar="URL",
        help=f"drop and recreate a scratch PostgreSQL database, drop it at the end (default {POSTGRES_URL})",
    )
    parser.add_argument("--dry-run-too", action="store_true", help="also time a dry run (before the run)")
    parser.add_argument("--phases", action="store_true", help="time run_billing's helpers and SQL statements")
    parser.add_argument("--in-process", action="store_true", help="run the phases in this process (for cProfile)")
    parser.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_phase(args.database_url, args.child, chunk_size=args.chunk_size, phases=args.phases)
        print(json.dumps(asdict(result)))
        return 0
    if args.contracts < 1:
        parser.error("--contracts must be at least 1")

    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        url = args.postgres or args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            recreate_postgres_database(url)
        try:
            upgrade(url)
            engine = make_engine(url)
            try:
                return _bench(args, engine, url)
            finally:
                engine.dispose()
        finally:
            if args.postgres:
                recreate_postgres_database(url, drop_only=True)


def _bench(args: argparse.Namespace, engine: Engine, url: str) -> int:
    factory = make_sessionmaker(engine)
    n = args.contracts
    failures: list[str] = []
    print("seatflow billing run benchmark")
    print(f"  database             {engine.dialect.name} ({server_version(engine)}) {engine.url!r}")
    print(f"  python               {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}")
    started = time.perf_counter()
    catalog = create_catalog(factory)
    insert_contracts(engine, catalog, n)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(
        f"  data                 {n} customers, {n} contracts (monthly, in advance, from {RUN_DATE}), "
        f"{2 * n} subscriptions, {2 * n} create changes; set up in {time.perf_counter() - started:.1f} s (not timed)"
    )
    print(f"  expected             {n} invoices of USD {INVOICE_TOTAL} ({2 * n} lines), USD {n * INVOICE_TOTAL} in all")
    print(f"  phases run           {'in this process' if args.in_process else 'each in a child process'}")
    print()

    def measure(phase: str) -> PhaseResult:
        if args.in_process:
            return run_phase(url, phase, chunk_size=args.chunk_size, phases=args.phases)
        return run_phase_in_child(url, phase, chunk_size=args.chunk_size, phases=args.phases)

    results: list[PhaseResult] = []
    if args.dry_run_too:
        dry = measure("dry-run")
        report(dry, n)
        results.append(dry)
        state = database_state(factory)
        check(failures, dry.invoices_created == 0, f"dry run created {dry.invoices_created}")
        check(failures, dry.drafted_invoices == n, f"dry run drafted {dry.drafted_invoices}, expected {n}")
        check(failures, Decimal(dry.drafted_total) == n * INVOICE_TOTAL, f"dry run total {dry.drafted_total}")
        check(
            failures,
            state["invoices"] == 0 and not state["runs"] and not state["events"],
            "dry run wrote invoices, events or a billing run",
        )
        check(failures, state["open_changes"] == 2 * n, "dry run changed license changes")

    floor_copy: Path | None = None
    if engine.dialect.name == "sqlite" and make_url(url).database not in (None, "", ":memory:"):
        floor_dir = tempfile.TemporaryDirectory(prefix="seatflow-floor-")
        floor_copy = Path(floor_dir.name) / "floor.db"
        copy_sqlite_database(url, floor_copy)  # the seeded state, before the run writes anything

    first = measure("run")
    report(first, n)
    results.append(first)
    state = database_state(factory)
    print(
        f"    in the database      {state['invoices']} invoices, {state['lines']} lines, "
        f"total USD {state['total']}, numbers {state['first_number']}…{state['last_number']}"
    )
    check(failures, first.invoices_created == n, f"run created {first.invoices_created}, expected {n}")
    check(failures, state["invoices"] == n, f"{state['invoices']} invoices stored, expected {n}")
    check(failures, state["lines"] == 2 * n, f"{state['lines']} lines stored, expected {2 * n}")
    check(
        failures, state["total"] == n * INVOICE_TOTAL, f"sum of totals {state['total']}, expected {n * INVOICE_TOTAL}"
    )
    check(failures, state["subtotal"] == state["total"], "subtotals differ from totals (no tax expected)")
    check(failures, state["lines_amount"] == n * INVOICE_TOTAL, f"sum of line amounts {state['lines_amount']}")
    check(
        failures,
        (state["first_number"], state["last_number"], state["distinct_numbers"]) == ("INV-000001", f"INV-{n:06d}", n),
        f"numbers {state['first_number']}…{state['last_number']} ({state['distinct_numbers']} distinct), "
        f"expected INV-000001…INV-{n:06d} without gaps",
    )
    check(failures, state["open_changes"] == 0, f"{state['open_changes']} license changes still open")
    check(failures, state["invoiced_changes"] == 2 * n, f"{state['invoiced_changes']} changes invoiced")
    check(failures, state["runs"].get(first.run_id) == n, f"billing run row says {state['runs']}")
    check(failures, state["events"] == n, f"{state['events']} invoice.issued events written, expected {n}")

    floor: FloorResult | None = None
    if floor_copy is not None:
        floor = floor_run(floor_copy)
        floor_dir.cleanup()
        ours = {key: state[key] for key in floor.state if key in state}
        theirs = {key: floor.state[key] for key in ours}
        print(
            f"  floor (bare sqlite3 on a copy of the seeded database, this process)\n"
            f"    wall time            {floor.seconds:8.3f} s (one transaction, commit included)\n"
            f"    CPU time             {floor.cpu_seconds:8.3f} s\n"
            f"    in the database      {floor.state['invoices']} invoices, {floor.state['lines']} lines, "
            f"total USD {floor.state['total']}, numbers {floor.state['first_number']}…{floor.state['last_number']}"
        )
        check(failures, ours == theirs, f"the floor's figures {theirs} differ from seatflow's {ours}")
        check(failures, floor.state["created"] == first.invoices_created, "the floor's billing run row differs")

    again = measure("rerun")
    report(again, n)
    results.append(again)
    state = database_state(factory)
    check(failures, again.invoices_created == 0, f"rerun created {again.invoices_created}, expected 0")
    check(failures, state["invoices"] == n, f"after the rerun {state['invoices']} invoices stored")

    print()
    print("Summary (MB = 10^6 bytes; peak RSS is the whole process during the run, growth = peak - RSS before)")
    print(
        f"  {'phase':<8} {'db':<10} {'contracts':>9} {'invoices':>8} {'lines':>7} {'seconds':>8} {'CPU s':>6}"
        f" {'invoices/s':>10} {'peak RSS MB':>11} {'growth MB':>9}"
    )
    for result in results:
        lines = 2 * result.drafted_invoices
        growth = (result.peak_rss - result.rss_before) / MB if result.rss_before is not None else float("nan")
        rate = result.drafted_invoices / result.seconds if result.seconds else 0.0
        print(
            f"  {result.phase:<8} {engine.dialect.name:<10} {result.contracts_considered:9d}"
            f" {result.drafted_invoices:8d} {lines:7d} {result.seconds:8.3f} {result.cpu_seconds:6.2f}"
            f" {rate:10.0f} {result.peak_rss / MB:11.1f} {growth:9.1f}"
        )
    if floor is not None:
        print(
            f"  {'floor':<8} {'sqlite3':<10} {'':>9} {floor.state['invoices']:8d} {floor.state['lines']:7d}"
            f" {floor.seconds:8.3f} {floor.cpu_seconds:6.2f}"
        )
        print(
            f"  run / floor: {first.seconds / floor.seconds:.2f}x wall,"
            f" {first.cpu_seconds / floor.cpu_seconds:.2f}x CPU"
            f" (aim: <= 3x; seatflow {first.seconds:.2f} s wall {first.cpu_seconds:.2f} s CPU, floor"
            f" {floor.seconds:.2f} s wall {floor.cpu_seconds:.2f} s CPU)"
        )
    else:
        print("  floor: SQLite file databases only (compare PostgreSQL's run with a SQLite run's floor)")
    print(f"  load average at the end: {_load()} (other processes on the machine skew the timings)")
    if n == AIM_CONTRACTS and engine.dialect.name == "sqlite":
        met = first.seconds <= AIM_SECONDS and first.peak_rss < AIM_MB * MB
        print(
            f"  aim (100,000 contracts on SQLite in <= {AIM_SECONDS:g} s, peak RSS < {AIM_MB:g} MB): "
            f"{'met' if met else 'NOT met'} ({first.seconds:.2f} s, {first.peak_rss / MB:.1f} MB)"
        )
    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print("  checks: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
