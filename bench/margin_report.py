"""Benchmark: the margin report (``margin.service.margin_report``) for December 2026 over 100,000 subscriptions
and 200,000 of Microsoft's cost lines, by customer and by subscription.

Generates, deterministically (``random.Random(seed)``: ids, tenants, quantities, days; seatflow's ids time-ordered
in ``seatflow.ids.new_id``'s layout, Microsoft's random), and inserts untimed into a freshly migrated database (a
SQLite file in a temporary directory, or with ``--postgres`` a scratch PostgreSQL database dropped and recreated
for the run and dropped at the end) with Core ``insert()`` through ``db.bulk.execute_many``:

- a Partner Center provider account and a linked one, and five products (Microsoft's monthly cost per seat;
  seatflow's price is cost x 1.20);
- 20,000 customers, each with a tenant id and a billable monthly contract; the first 1,000 also have a
  non-billable parent contract holding a provider subscription whose two linked children (SPEC §5, on the
  linked account, on the customer's billable contract) are billed for it;
- 100,000 subscriptions: 1,000 linked parents, their 2,000 children (no ``external_id``: the linked provider
  buys nothing) and 97,000 ordinary ones, every provider subscription with an ``external_id`` (one in three
  spelled in upper case, as Microsoft's API may hand it back; cost lines are lower case);
- December's invoices (issued, one per billable contract, by one billing run) with one recurring line per billed
  subscription, and a proration line where Microsoft's seats went up mid-month; plus 200 voided invoices with
  their void's credit notes (which the report must leave out);
- 200,000 cost lines in force from one billed import: a ``cycleCharge`` per provider subscription, a refund and
  charge pair (``addQuantity`` / ``removeQuantity``, from a day of the month to its end) for about 51,000 of
  them, and 300 lines for 100 subscription ids seatflow does not know; plus 1,000 unbilled lines superseded by
  billed ones (not in force: the report must leave them out).

Planted leaks, 100 of each kind (each kind's subscriptions apart from the others): billed for 1-5 seats fewer
than Microsoft charges (``fewer_seats_billed``), never billed (``cost_without_revenue``), priced at cost x 0.80
(``negative_margin``), billed with no cost line (``revenue_without_cost``), and the unknown subscription ids
(``unknown_subscription``). The expected figures are summed with Decimal from the generated values, not from the
database.

Measured, each phase in a child process of its own (a fresh interpreter that connects, then runs one
``margin_report`` for 2026-12-01…2026-12-31 in one ``unit_of_work``): ``customer`` (by customer, the
dashboard's report) and ``subscription`` (by subscription, the most rows). Wall and CPU time with
``time.perf_counter`` / ``time.process_time``; peak RSS is the child's high-water mark (``VmHWM``, ``ru_maxrss``
where /proc is missing) after resetting it to the current RSS through ``/proc/self/clear_refs`` just before the
report (see bench/billing_run.py for why not ``ru_maxrss`` in a child). ``--repeat N`` measures each phase N
times; ``--in-process`` runs the phases in this process instead (for a profiler; the RSS figures then include the
seed data's leftovers).

    .venv/bin/python bench/margin_report.py                  # 100,000 subscriptions, 200,000 cost lines, SQLite
    .venv/bin/python bench/margin_report.py --postgres       # a scratch database seatflow_bench_margin
    .venv/bin/py-spy record --format raw -o /tmp/m.txt -- .venv/bin/python bench/margin_report.py --in-process
    .venv/bin/python bench/margin_report.py --customers 500 --subscriptions 2500 --cost-lines 5000 --linked 25 \
        --leaks 5 --superseded 50 --voided 10                 # a small run

Exits 1 when a check fails: the totals (revenue and cost) against the seeded sums, each row's revenue and cost
(by customer, by subscription) against the seeded sums, the cost and invoice line counts, the leaks found
(exactly the planted ones: kind, subscription, amount, and for seats the day and both counts), or a phase over
the targets (5 s, 300 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.billing.models import (
    BillingRun,
    CreditReason,
    DocumentKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from seatflow.catalog.models import BillingFrequency, BillingPlan, ProductKind, ProviderKind, ReductionBehavior, Term
from seatflow.catalog.providers import create_provider_account
from seatflow.catalog.schemas import ProductCreate, ProviderAccountCreate
from seatflow.catalog.service import create_product
from seatflow.contracts.models import BillingContract, BillingPolicy, ContractStatus, ProrationUnit
from seatflow.costs.models import CostImport, CostKind, CostLine, CostSource
from seatflow.customers.models import AccountStatus, CustomerAccount
from seatflow.db.bulk import execute_many
from seatflow.db.engine import make_engine
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.margin.service import GroupBy, LeakKind, margin_report
from seatflow.subscriptions.models import Subscription, SubscriptionStatus
from seatflow.subscriptions.rules import term_for

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_margin"
PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
DEC_1, DEC_31 = date(2026, 12, 1), date(2026, 12, 31)
DAYS = 31
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
MARKUP, BELOW_COST = Decimal("1.20"), Decimal("0.80")
MS_INVOICE = "G000001226"
# (name, offer id, Microsoft's monthly cost per seat)
PRODUCTS = (
    ("Microsoft 365 Business Basic", "CFQ7TTC0LH18:0001", Decimal("6.00")),
    ("Microsoft 365 Business Standard", "CFQ7TTC0LDPB:0001", Decimal("12.50")),
    ("Microsoft 365 Business Premium", "CFQ7TTC0LCHC:0002", Decimal("22.00")),
    ("Microsoft 365 E3", "CFQ7TTC0LFLX:0001", Decimal("36.00")),
    ("Microsoft 365 E5", "CFQ7TTC0LFLZ:0002", Decimal("57.00")),
)
PHASES = ("customer", "subscription")
TARGET_SECONDS = 5.0
TARGET_BYTES = 300_000_000
MB = 1_000_000
BATCH = 20_000  # rows per execute_many


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- memory (as bench/billing_run.py) ---------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """``VmHWM`` (which ``/proc/self/clear_refs`` resets); ``ru_maxrss`` where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# --- database ----------------------------------------------------------------------------------------------------


def recreate_postgres_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    parsed = make_url(url)
    name = parsed.database
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to drop and recreate database {name!r}")
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
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


# --- the data (generated, then inserted untimed) -----------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    partner_center: uuid.UUID
    linked: uuid.UUID
    products: list[tuple[uuid.UUID, str, str, Decimal, Decimal]]
    """(id, name, offer id, cost per seat and month, price per seat and month) per product."""


def create_catalog(factory: sessionmaker[Session]) -> Catalog:
    """The provider accounts and the products, through the services."""
    with unit_of_work(factory) as session:
        partner_center = create_provider_account(
            session,
            data=ProviderAccountCreate(
                name="Partner Center (bench)",
                kind=ProviderKind.PARTNER_CENTER,
                settings={"base_url": "http://127.0.0.1:9"},
            ),
        )
        linked = create_provider_account(
            session, data=ProviderAccountCreate(name="Linked (bench)", kind=ProviderKind.LINKED, settings={})
        )
        products = []
        for name, offer_id, cost in PRODUCTS:
            price = cents(cost * MARKUP)
            product = create_product(
                session,
                data=ProductCreate(
                    provider_account_id=str(partner_center.id),
                    kind=ProductKind.LICENSE,
                    name=name,
                    offer_id=offer_id,
                    provisioning_id=offer_id.split(":")[0],
                    term=Term.P1Y,
                    list_price=price,
                    cost_price=cost,
                    reduction_behavior=ReductionBehavior.ALLOWED_WITHIN_WINDOW,
                    reduction_window_days=7,
                ),
                default_currency="USD",
            )
            products.append((product.id, name, offer_id, cost, price))
        return Catalog(partner_center.id, linked.id, products)


@dataclass
class Expected:
    """What the report must answer, summed from the generated values."""

    revenue: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    cost_lines: int = 0
    invoice_lines: int = 0
    by_subscription: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(lambda: [Decimal(0)] * 2))
    """Provider subscription (a linked child's parent) -> [revenue, cost]; ``unknown`` for the unknown ids."""
    customer_of: dict[str, str] = field(default_factory=dict)
    """Provider subscription -> its customer."""
    leaks: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """(kind, subscription id or unknown provider id) -> (amount, and for seats the day and both counts)."""

    def by_customer(self) -> dict[str, list[Decimal]]:
        out: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
        for key, (revenue, cost) in self.by_subscription.items():
            target = out[self.customer_of.get(key, key)]
            target[0] += revenue
            target[1] += cost
        return dict(out)


@dataclass
class Data:
    tables: list[tuple[Table, list[dict[str, Any]]]]
    expected: Expected
    counts: dict[str, int]


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def generate(catalog: Catalog, args: argparse.Namespace) -> Data:
    rng = random.Random(args.seed)
    n_customers, n_subs, n_lines, k = args.customers, args.subscriptions, args.cost_lines, args.leaks
    n_linked = args.linked
    n_regular = n_subs - 3 * n_linked
    unknown_lines = 3 * k
    provider_subs = n_regular + n_linked - k  # the revenue_without_cost ones have no cost line
    pairs = (n_lines - provider_subs - unknown_lines) // 2
    normal = n_regular - 4 * k  # ordinary subscriptions that may get a pair
    if n_linked > n_customers or n_regular < n_customers + 4 * k or not 0 <= pairs <= normal:
        raise SystemExit("these sizes do not fit: lower --cost-lines, --leaks or --linked, or raise --subscriptions")
    exp = Expected()

    clock = int(NOW.timestamp() * 1000) - 10**9

    def uid() -> uuid.UUID:
        """seatflow's ids: time-ordered, as ``seatflow.ids.new_id`` makes them (its layout, a millisecond each)."""
        nonlocal clock
        clock += 1
        return uuid.UUID(int=clock << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62))

    def guid() -> str:
        """Microsoft's ids (tenants, subscriptions): random."""
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    customers: list[dict[str, Any]] = []
    parent_contracts: list[dict[str, Any]] = []
    contracts: list[dict[str, Any]] = []
    for n in range(n_customers):
        customer_id = uid()
        name = f"Margin Customer {n:05d}"
        customers.append(
            {"id": customer_id, "name": name, "parent_customer_id": None, "tenant_id": guid(), "currency": "USD",
             "billing_address": {"line1": f"{n} Main Street", "city": "Springfield", "country": "US"},
             "tax_id": None, "status": AccountStatus.ACTIVE, "created_at": NOW, "updated_at": NOW}
        )  # fmt: skip
        parent_contract_id = None
        if n < n_linked:
            parent_contract_id = uid()
            parent_contracts.append(_contract(parent_contract_id, customer_id, f"{name} - Parent", None, False))
        contracts.append(_contract(uid(), customer_id, f"{name} - Main", parent_contract_id, True))

    # Subscriptions: (row, customer index) in insertion order (parents before their children).
    subs: list[dict[str, Any]] = []
    cost_rows: list[dict[str, Any]] = []
    billed: dict[int, list[dict[str, Any]]] = defaultdict(list)  # customer index -> its invoice lines
    line_no = 0

    def subscription(customer: int, product: int, quantity: int, **fields: Any) -> dict[str, Any]:
        product_id, _, _, cost, price = catalog.products[product]
        start = date(2026, rng.randint(1, 12), 1)
        term_start, term_end = term_for(start, 12)
        row = {
            "id": uid(), "contract_id": contracts[customer]["id"], "product_id": product_id,
            "provider_account_id": catalog.partner_center, "quantity": quantity, "status": SubscriptionStatus.ACTIVE,
            "start_date": start, "term_start": term_start, "term_end": term_end, "auto_renew": True,
            "term": Term.P1Y, "billing_plan": BillingPlan.MONTHLY, "co_term_subscription_id": None, "expired_at": None,
            "currency": "USD", "unit_price": price, "cost_price": cost, "price_rule_id": None, "billable": True,
            "allow_end_user_modification": True, "reduction_behavior": ReductionBehavior.ALLOWED_WITHIN_WINDOW,
            "reduction_window_days": 7, "external_id": None, "parent_subscription_id": None,
            "linked_subscription_id": None, "bundle_id": None, "cancelled_at": None, "claimed_by": None,
            "claimed_until": None, "retry_at": None, "created_at": NOW, "updated_at": NOW,
        }  # fmt: skip
        row.update(fields)
        subs.append(row)
        return row

    def external_id() -> str:
        value = guid()
        return value.upper() if rng.random() < 1 / 3 else value

    def cost_line(customer: int, provider_id: str, product: int, charge_type: str, start: date,
                  quantity: int, effective: Decimal, subtotal: Decimal, **fields: Any) -> dict[str, Any]:  # fmt: skip
        nonlocal line_no
        line_no += 1
        _, product_name, offer_id, cost, _ = catalog.products[product]
        product_part, sku = offer_id.split(":")
        row = {
            "id": uid(), "provider_account_id": catalog.partner_center, "import_id": None,
            "line_key": hashlib.sha256(f"bench-{line_no}".encode()).hexdigest(), "invoice_number": MS_INVOICE,
            "billed": True, "billing_period": DEC_1, "customer_tenant_id": customers[customer]["tenant_id"],
            "customer_name": customers[customer]["name"], "subscription_id": provider_id.lower(),
            "order_id": f"order-{line_no}", "order_date": start, "product_id": product_part, "sku_id": sku,
            "availability_id": "CFQ7TTC0AVAIL", "product_key": offer_id, "sku_name": product_name,
            "product_name": product_name, "charge_type": charge_type, "charge_start": start, "charge_end": DEC_31,
            "quantity": quantity, "billable_quantity": Decimal(quantity), "unit_price": cost,
            "effective_unit_price": effective, "subtotal": subtotal, "tax_total": Decimal(0), "total": subtotal,
            "currency": "USD", "term_and_billing_cycle": "One-Year commitment for monthly billing",
            "billing_frequency": "Monthly", "reference_id": f"ref-{provider_id[:8].lower()}-{start.day}",
            "superseded_by_import_id": None, "superseded_by_line_id": None,
        }  # fmt: skip
        row.update(fields)
        cost_rows.append(row)
        return row

    def invoice_line(customer: int, sub: dict[str, Any], kind: LineKind, start: date, quantity: int,
                     amount: Decimal) -> None:  # fmt: skip
        billed[customer].append(
            {"id": uid(), "invoice_id": None, "position": 0, "kind": kind, "subscription_id": sub["id"],
             "product_id": sub["product_id"], "license_change_id": None,
             "description": f"{kind.value} {quantity} x {sub['unit_price']}", "period_start": start,
             "period_end": DEC_31, "quantity": quantity, "unit_price": sub["unit_price"], "amount": amount}
        )  # fmt: skip

    def expect(key: str, customer: int, revenue: Decimal = Decimal(0), cost: Decimal = Decimal(0)) -> None:
        exp.customer_of[key] = str(customers[customer]["id"])
        sums = exp.by_subscription[key]
        sums[0] += revenue
        sums[1] += cost
        exp.revenue += revenue
        exp.cost += cost

    def cycle_charge(customer: int, sub: dict[str, Any], product: int, quantity: int) -> Decimal:
        cost = catalog.products[product][3]
        subtotal = cost * quantity
        cost_line(customer, sub["external_id"], product, "cycleCharge", DEC_1, quantity, cost, subtotal)
        return subtotal

    # Linked parents (on the parent contract, not billed) and their two children (billed).
    for n in range(n_linked):
        product = rng.randrange(len(PRODUCTS))
        seats = (rng.randint(1, 60), rng.randint(1, 60))
        parent = subscription(n, product, sum(seats), external_id=external_id(), billable=False,
                              contract_id=parent_contracts[n]["id"])  # fmt: skip
        revenue = Decimal(0)
        for quantity in seats:
            child = subscription(n, product, quantity, provider_account_id=catalog.linked,
                                 linked_subscription_id=parent["id"])  # fmt: skip
            invoice_line(n, child, LineKind.RECURRING, DEC_1, quantity, child["unit_price"] * quantity)
            revenue += child["unit_price"] * quantity
        expect(str(parent["id"]), n, revenue, cycle_charge(n, parent, product, sum(seats)))

    # Ordinary subscriptions: one for each customer, then the rest at random; the leaks among the rest.
    first = len(subs)
    owners = list(range(n_customers)) + [rng.randrange(n_customers) for _ in range(n_regular - n_customers)]
    planted = rng.sample(range(n_customers, n_regular), 4 * k)
    fewer, unbilled, below, unbought = (set(planted[i * k : (i + 1) * k]) for i in range(4))
    leaky = fewer | unbilled | below | unbought
    with_pair = set(rng.sample([i for i in range(n_regular) if i not in leaky], pairs))
    for i, customer in enumerate(owners):
        product = rng.randrange(len(PRODUCTS))
        cost, price = catalog.products[product][3:]
        quantity = rng.randint(6, 120) if i in fewer else rng.randint(1, 120)
        fields: dict[str, Any] = {"external_id": external_id()}
        if i in below:
            fields["unit_price"] = price = cents(cost * BELOW_COST)
        if i in unbilled:
            fields["billable"] = False
        sub = subscription(customer, product, quantity, **fields)
        key = str(sub["id"])
        billed_seats = quantity - rng.randint(1, 5) if i in fewer else quantity
        revenue = Decimal(0)
        if i not in unbilled:
            revenue = price * billed_seats
            invoice_line(customer, sub, LineKind.RECURRING, DEC_1, billed_seats, revenue)
        charged = Decimal(0) if i in unbought else cycle_charge(customer, sub, product, quantity)
        if i in with_pair:  # seats changed on a day of the month: a refund of the old count, a charge of the new
            day = DEC_1 + timedelta(days=rng.randint(1, 27))
            left = DAYS - day.day + 1
            after = max(1, quantity + rng.choice((-1, 1)) * rng.randint(1, 10))
            after = quantity + 1 if after == quantity else after
            effective = (cost * left / DAYS).quantize(MICRO, rounding=ROUND_DOWN)
            per_seat = effective.quantize(CENT, rounding=ROUND_DOWN)
            kind = "addQuantity" if after > quantity else "removeQuantity"
            cost_line(customer, sub["external_id"], product, kind, day, quantity, -effective, -per_seat * quantity)
            cost_line(customer, sub["external_id"], product, kind, day, after, effective, per_seat * after)
            charged += per_seat * (after - quantity)
            if after > quantity:  # seatflow bills the added seats for the rest of the month
                amount = cents(price * (after - quantity) * left / DAYS)
                invoice_line(customer, sub, LineKind.PRORATION, day, after - quantity, amount)
                revenue += amount
        expect(key, customer, revenue, charged)
        if i in fewer:
            exp.leaks[(LeakKind.FEWER_SEATS_BILLED, key)] = (
                str(cents(price * (quantity - billed_seats))),
                DEC_1.isoformat(),
                str(quantity),
                str(billed_seats),
            )
        elif i in unbilled:
            exp.leaks[(LeakKind.COST_WITHOUT_REVENUE, key)] = (str(cents(charged)),)
        elif i in below:
            exp.leaks[(LeakKind.NEGATIVE_MARGIN, key)] = (str(cents(charged) - cents(revenue)),)
        elif i in unbought:
            exp.leaks[(LeakKind.REVENUE_WITHOUT_COST, key)] = (str(cents(revenue)),)
    assert len(subs) - first == n_regular  # noqa: S101

    # Subscriptions Microsoft charges for and seatflow does not know: a cycle charge and a pair each.
    for _ in range(k):
        customer, product = rng.randrange(n_customers), rng.randrange(len(PRODUCTS))
        provider_id, quantity, cost = guid(), rng.randint(1, 50), catalog.products[product][3]
        day = DEC_1 + timedelta(days=rng.randint(1, 27))
        effective = (cost * (DAYS - day.day + 1) / DAYS).quantize(MICRO, rounding=ROUND_DOWN)
        per_seat = effective.quantize(CENT, rounding=ROUND_DOWN)
        charged = cost * quantity + per_seat
        cost_line(customer, provider_id, product, "cycleCharge", DEC_1, quantity, cost, cost * quantity)
        cost_line(customer, provider_id, product, "addQuantity", day, quantity, -effective, -per_seat * quantity)
        cost_line(
            customer, provider_id, product, "addQuantity", day, quantity + 1, effective, per_seat * (quantity + 1)
        )
        expect("unknown", customer, cost=charged)
        exp.leaks[(LeakKind.UNKNOWN_SUBSCRIPTION, provider_id)] = (str(cents(charged)),)
    exp.customer_of.pop("unknown")
    exp.cost_lines = len(cost_rows)

    # The imports: the billed one holds every line in force; unbilled lines it superseded are not in force.
    billed_import, unbilled_import = uid(), uid()
    for row in cost_rows:
        row["import_id"] = billed_import
    cycle_charges = [row for row in cost_rows if row["charge_type"] == "cycleCharge"]
    superseded = []
    for row in rng.sample(cycle_charges, min(args.superseded, len(cycle_charges))):
        line_no += 1
        key = hashlib.sha256(f"bench-{line_no}".encode()).hexdigest()
        unbilled_line = {"id": uid(), "import_id": unbilled_import, "billed": False, "invoice_number": "",
                         "line_key": key, "superseded_by_import_id": billed_import}  # fmt: skip
        superseded.append(row | unbilled_line | {"superseded_by_line_id": row["id"]})
    imports = [
        _import(billed_import, catalog, CostKind.BILLED, MS_INVOICE, None, len(cost_rows), len(superseded)),
        _import(unbilled_import, catalog, CostKind.UNBILLED, "", DEC_1, len(superseded), 0),
    ]

    # December's invoices, one per billable contract, and 200 voided ones with their void's credit notes.
    run_id = uid()
    invoices: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    voided = set(rng.sample(range(n_linked, n_customers), min(args.voided, n_customers - n_linked)))
    for customer in sorted(voided):  # an invoice issued, then voided and issued again (the lines below)
        wrong = [line | {"quantity": line["quantity"] + 5, "amount": line["unit_price"] * (line["quantity"] + 5)}
                 for line in billed[customer][:1]]  # fmt: skip
        void = _invoice(uid(), f"INV-{len(invoices) + 1:06d}", contracts[customer], None, wrong, lines, uid)
        void.update(status=InvoiceStatus.VOID, voided_at=NOW, void_reason="Wrong seats")
        negated = [line | {"amount": -line["amount"]} for line in wrong]
        credit = _invoice(uid(), f"CN-{len(invoices) // 2 + 1:06d}", contracts[customer], None, negated, lines, uid)
        credit.update(kind=DocumentKind.CREDIT_NOTE, credit_reason=CreditReason.VOID, credits_invoice_id=void["id"])
        invoices += [void, credit]
    before = len(lines)
    for customer in range(n_customers):
        if billed[customer]:
            number = f"INV-{len(invoices) + 1:06d}"
            invoices.append(_invoice(uid(), number, contracts[customer], run_id, billed[customer], lines, uid))
    exp.invoice_lines = len(lines) - before
    run = {"id": run_id, "run_date": DEC_1, "requested_by": "bench@seatflow.example", "started_at": NOW,
           "finished_at": NOW, "invoices_created": len(invoices) - 2 * len(voided), "credit_notes_created": 0,
           "totals": {"USD": {"total": str(exp.revenue)}}}  # fmt: skip

    tables = [
        (_table(CustomerAccount), customers),
        (_table(BillingContract), parent_contracts),
        (_table(BillingContract), contracts),
        (_table(Subscription), subs),
        (_table(CostImport), imports),
        (_table(CostLine), cost_rows),
        (_table(CostLine), superseded),
        (_table(BillingRun), [run]),
        (_table(Invoice), invoices),
        (_table(InvoiceLine), lines),
    ]
    counts = {
        "customers": len(customers),
        "contracts": len(contracts) + len(parent_contracts),
        "subscriptions": len(subs),
        "linked parents": n_linked,
        "cost lines in force": len(cost_rows),
        "superseded cost lines": len(superseded),
        "refund/charge pairs": pairs,
        "invoices": len(invoices),
        "invoice lines": exp.invoice_lines,
        "voided invoices": len(voided),
        "lines of voided invoices and their credit notes": len(lines) - exp.invoice_lines,
    }
    return Data(tables, exp, counts)


def _contract(
    contract_id: uuid.UUID, customer_id: uuid.UUID, name: str, parent: uuid.UUID | None, billable: bool
) -> dict[str, Any]:
    return {
        "id": contract_id, "customer_id": customer_id, "name": name, "parent_contract_id": parent,
        "billable": billable, "is_default": billable, "currency": "USD", "billing_frequency": BillingFrequency.MONTHLY,
        "billing_policy": BillingPolicy.ADVANCE, "start_date": date(2026, 1, 1), "term_months": 12,
        "auto_renew": True, "proration_unit": ProrationUnit.DAYS, "process_refunds": False, "payment_terms_days": 30,
        "tax_rate": Decimal(0), "status": ContractStatus.ACTIVE, "bill_from": None,
        "consolidate_child_invoices": False, "schedule_from": None, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip


def _import(
    import_id: uuid.UUID, catalog: Catalog, kind: CostKind, number: str, period: date | None, read: int, changed: int
) -> dict[str, Any]:
    return {
        "id": import_id, "provider_account_id": catalog.partner_center, "source": CostSource.FILE,
        "name": f"bench {kind.value} {number or period}", "kind": kind, "invoice_number": number, "period": period,
        "currency": "USD", "lines_read": read, "inserted": read, "unchanged": 0, "replaced": 0,
        "superseded": changed, "imported_at": NOW,
    }  # fmt: skip


def _invoice(
    invoice_id: uuid.UUID,
    number: str,
    contract: dict[str, Any],
    run_id: uuid.UUID | None,
    its_lines: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    uid: Any,
) -> dict[str, Any]:
    subtotal = sum((line["amount"] for line in its_lines), Decimal(0))
    for position, line in enumerate(its_lines, start=1):
        lines.append(line | {"id": uid(), "invoice_id": invoice_id, "position": position})
    return {
        "id": invoice_id, "number": number, "contract_id": contract["id"], "customer_id": contract["customer_id"],
        "billing_run_id": run_id, "kind": DocumentKind.INVOICE, "credit_reason": None, "credits_invoice_id": None,
        "cycle_index": 11, "period_start": DEC_1, "period_end": DEC_31, "issue_date": DEC_1,
        "due_date": DEC_31, "currency": "USD", "tax_rate": Decimal(0), "subtotal": subtotal, "tax": Decimal(0),
        "total": subtotal, "status": InvoiceStatus.ISSUED, "bill_to": {"name": contract["name"]}, "seller": {},
        "payment_terms_days": 30, "payment_instructions": "", "created_at": NOW, "voided_at": None,
        "void_reason": None, "consolidated": False, "consolidated_invoice_id": None,
    }  # fmt: skip


def insert_data(factory: sessionmaker[Session], data: Data) -> None:
    with unit_of_work(factory) as session:
        for table, rows in data.tables:
            for start in range(0, len(rows), BATCH):
                execute_many(session, insert(table), rows[start : start + BATCH])


# --- the measured phases -----------------------------------------------------------------------------------------


def run_phase(url: str, phase: str) -> dict[str, Any]:
    """One measured margin_report in this process, and what it answered (summed up for the checks)."""
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        with engine.connect() as conn:  # connect (and load the dialect's modules) before measuring
            conn.execute(text("select 1"))
        gc.collect()
        rss_before = current_rss_bytes()
        reset_peak_rss()
        started, cpu_started = time.perf_counter(), time.process_time()
        with unit_of_work(factory) as session:
            report = margin_report(session, start=DEC_1, end=DEC_31, group_by=GroupBy(phase))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        peak = peak_rss_bytes()
    finally:
        engine.dispose()
    return {
        "phase": phase,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_before": rss_before,
        "peak_rss": peak,
        "cost_lines": report.cost_lines,
        "invoice_lines": report.invoice_lines,
        "totals": [[t.currency, str(t.revenue), str(t.cost)] for t in report.totals],
        "months": sorted({f"{r.month.isoformat()} {r.currency}" for r in report.rows}),
        "rows": {r.key: [str(r.revenue), str(r.cost)] for r in report.rows},
        "row_count": len(report.rows),
        "leaks": [
            [
                leak.kind.value,
                str(leak.subscription_id) if leak.subscription_id else leak.provider_subscription_id or "",
                str(leak.amount),
                *(
                    [str(leak.day), str(leak.seats_paid), str(leak.seats_billed)]
                    if leak.kind is LeakKind.FEWER_SEATS_BILLED
                    else []
                ),
            ]
            for leak in report.leaks
        ],
    }


def run_phase_in_child(url: str, phase: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", phase, "--database-url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {phase} child process failed with exit status {done.returncode}")
    return cast(dict[str, Any], json.loads(done.stdout.strip().splitlines()[-1]))


# --- checks --------------------------------------------------------------------------------------------------------


def check_phase(result: dict[str, Any], expected: Expected) -> list[str]:
    failures: list[str] = []
    phase = result["phase"]

    def check(ok: bool, message: str) -> None:
        if not ok:
            failures.append(f"{phase}: {message}")

    want = [["USD", expected.revenue, expected.cost]]
    got = [[currency, Decimal(revenue), Decimal(cost)] for currency, revenue, cost in result["totals"]]
    check(got == want, f"totals {result['totals']}, expected revenue {expected.revenue}, cost {expected.cost}")
    check(result["cost_lines"] == expected.cost_lines, f"{result['cost_lines']} cost lines, not {expected.cost_lines}")
    check(
        result["invoice_lines"] == expected.invoice_lines,
        f"{result['invoice_lines']} invoice lines, not {expected.invoice_lines}",
    )
    check(result["months"] == ["2026-12-01 USD"], f"rows for {result['months']}, expected December in USD only")
    rows = {key: [Decimal(revenue), Decimal(cost)] for key, (revenue, cost) in result["rows"].items()}
    check(len(rows) == result["row_count"], f"{result['row_count']} rows for {len(rows)} keys")
    expected_rows = expected.by_customer() if phase == "customer" else dict(expected.by_subscription)
    wrong = [key for key in expected_rows.keys() | rows.keys() if rows.get(key) != expected_rows.get(key)]
    check(not wrong, f"{len(wrong)} of {len(expected_rows)} rows differ from the seeded sums, e.g. " + ", ".join(
        f"{key}: {rows.get(key)} instead of {expected_rows.get(key)}" for key in sorted(wrong)[:3]))  # fmt: skip
    kinds = Counter(leak[0] for leak in result["leaks"])
    want_kinds = Counter(str(kind) for kind, _ in expected.leaks)
    check(kinds == want_kinds, f"leaks {dict(kinds)}, expected {dict(want_kinds)}")
    leaks = {(leak[0], leak[1]): tuple(leak[2:]) for leak in result["leaks"]}
    check(len(leaks) == len(result["leaks"]), "a subscription has the same leak twice")
    want_leaks = {(str(kind), key): value for (kind, key), value in expected.leaks.items()}
    bad = [key for key in want_leaks.keys() | leaks.keys() if leaks.get(key) != want_leaks.get(key)]
    check(not bad, f"{len(bad)} leaks differ from the planted ones, e.g. " + ", ".join(
        f"{key}: {leaks.get(key)} instead of {want_leaks.get(key)}" for key in sorted(bad)[:3]))  # fmt: skip
    if result["seconds"] > TARGET_SECONDS or result["peak_rss"] > TARGET_BYTES:
        check(False, f"{result['seconds']:.2f} s, {result['peak_rss'] / MB:.0f} MB is over the target (5 s, 300 MB)")
    return failures


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--cost-lines", type=int, default=200_000, help="cost lines in force")
    parser.add_argument("--linked", type=int, default=1_000, help="linked parents, with two children each")
    parser.add_argument("--leaks", type=int, default=100, help="planted leaks of each kind")
    parser.add_argument("--superseded", type=int, default=1_000, help="unbilled cost lines superseded")
    parser.add_argument("--voided", type=int, default=200, help="voided invoices (with their credit notes)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1, help="measure each phase this many times")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--database-url", help=argparse.SUPPRESS)
    target.add_argument("--postgres", nargs="?", const=POSTGRES_URL, metavar="URL")
    parser.add_argument("--in-process", action="store_true", help="run the phases in this process (for a profiler)")
    parser.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_phase(args.database_url, args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.db'}"
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
    print("seatflow margin report benchmark")
    print(f"  database   {engine.dialect.name} ({server_version(engine)})")
    print(f"  python     {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}")
    started = time.perf_counter()
    data = generate(create_catalog(factory), args)
    generated = time.perf_counter() - started
    insert_data(factory, data)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    expected = data.expected
    print("  data       " + ", ".join(f"{count:,} {name}" for name, count in data.counts.items()))
    print(f"             generated in {generated:.1f} s, inserted in {time.perf_counter() - started - generated:.1f} s"
          " (not timed)")  # fmt: skip
    print(f"  expected   revenue USD {cents(expected.revenue)}, cost USD {cents(expected.cost)}, "
          f"{len(expected.leaks)} leaks ({args.leaks} of each kind)")  # fmt: skip
    del data.tables[:]
    gc.collect()

    failures: list[str] = []
    results = []
    for phase in PHASES:
        for _ in range(args.repeat):
            result = run_phase(url, phase) if args.in_process else run_phase_in_child(url, phase)
            results.append(result)
            failures += check_phase(result, expected)
            kinds = Counter(leak[0] for leak in result["leaks"])
            print(
                f"  by {phase:<12} {result['seconds']:6.2f} s (CPU {result['cpu_seconds']:.2f} s), peak RSS "
                f"{result['peak_rss'] / MB:.0f} MB (before {result['rss_before'] / MB:.0f} MB); "
                f"{result['row_count']:,} rows, leaks {dict(sorted(kinds.items()))}"
            )
    print(f"  load average at the end: {_load()}")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("ok" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
