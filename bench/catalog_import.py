"""Benchmark: import a generated Microsoft licensing CSV into seatflow.

Generates a CSV in the shape of Microsoft's "Product names and service plan identifiers for licensing"
file (one row per product SKU and included service plan; UTF-8 with a byte-order mark; a few non-ASCII
names, a few names with a no-break or zero-width space, quoted names with commas), migrates a fresh
database, creates a provider account, and measures:

  1. the first import (every product created) and
  2. a re-import of the same bytes (every product unchanged),

each in one transaction (``unit_of_work``), as ``seatflow catalog import`` runs it. Generating the CSV,
migrating and creating the account are not timed.

Memory is measured two ways, and they are different things:

* peak RSS: the whole process's resident-set high-water mark (``getrusage(RUSAGE_SELF).ru_maxrss``,
  KiB on Linux). Before each import the mark is reset to the current RSS through
  ``/proc/self/clear_refs``, so the figure is the process's peak during that import: interpreter,
  libraries, the CSV bytes and the import together. Without that reset (not Linux) it is the peak so far.
* tracemalloc peak: the peak of Python allocations made by the import alone (started just before it,
  stopped just after). tracemalloc slows allocation down, so it runs in separate passes, importing the
  same file into a second, empty provider account; those passes are not timed figures.

    .venv/bin/python bench/catalog_import.py                 # SQLite file in a temporary directory
    .venv/bin/python bench/catalog_import.py --postgres      # drops and recreates database seatflow_bench
    .venv/bin/python bench/catalog_import.py --database-url postgresql+psycopg://…/db

Exits 1 when a correctness check fails (e.g. the products table does not hold exactly --products products
of the account after the first import, or the re-import creates anything).
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import io
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.catalog.imports import ImportFormat, import_catalog
from seatflow.catalog.microsoft_csv import decode, parse
from seatflow.catalog.models import Product, ProviderKind
from seatflow.catalog.providers import create_provider_account
from seatflow.catalog.schemas import ImportResult, ProviderAccountCreate
from seatflow.db.engine import make_engine
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work

HEADER = (
    "Product_Display_Name",
    "String_Id",
    "GUID",
    "Service_Plan_Name",
    "Service_Plan_Id",
    "Service_Plans_Included_Friendly_Names",
)
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench"
PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
AIM_SECONDS = 5.0
AIM_MB = 200.0
MB = 1_000_000  # figures are in MB of 10^6 bytes

FAMILIES = (
    ("Microsoft 365", "SPE"),
    ("Office 365", "O365"),
    ("Dynamics 365 Sales", "D365_SALES"),
    ("Dynamics 365 Customer Service", "D365_CS"),
    ("Power BI", "PBI"),
    ("Power Apps", "POWERAPPS"),
    ("Power Automate", "FLOW"),
    ("Microsoft Teams", "TEAMS"),
    ("Exchange Online", "EXCHANGE"),
    ("SharePoint Online", "SHAREPOINT"),
    ("Windows 365", "CPC"),
    ("Microsoft Defender for Endpoint", "MDE"),
    ("Project Online", "PROJECT"),
    ("Visio", "VISIO"),
    ("Microsoft Intune", "INTUNE"),
    ("Microsoft Entra ID", "AAD"),
)
EDITIONS = (
    ("E1", "E1"),
    ("E3", "E3"),
    ("E5", "E5"),
    ("F1", "F1"),
    ("F3", "F3"),
    ("A1", "A1"),
    ("A3", "A3"),
    ("A5", "A5"),
    ("Business Basic", "BB"),
    ("Business Standard", "BS"),
    ("Business Premium", "BP"),
    ("Plan 1", "P1"),
    ("Plan 2", "P2"),
    ("Pro", "PRO"),
    ("Premium Per User", "PPU"),
    ("Enterprise", "ENT"),
)
QUALIFIERS = (
    ("", ""),
    (" (no Teams)", "NOTEAMS"),
    (" for Faculty", "FAC"),
    (" for Students", "STU"),
    (" for GCC", "GOV"),
    (" Trial", "TRIAL"),
    (" (Nonprofit Staff Pricing)", "NPS"),
    (" (with Teams, no Audio Conferencing)", "NOPSTN"),  # a comma: the field is quoted
)
# About one product in 200 gets a non-ASCII name (the real file has a few), one in 1,000 an odd space.
NON_ASCII = (" \u2013 Édition Éducation", " für Lehrkräfte", " (Ελληνικά)", " 日本向け", " Türkiye", " Pré-paiement")
ODD_SPACES = ("\u00a0", "\u200b")
PLAN_WORDS = (
    ("EXCHANGE_S", "Exchange Online"),
    ("SHAREPOINT", "SharePoint"),
    ("MCOSTANDARD", "Skype for Business Online"),
    ("TEAMS", "Microsoft Teams"),
    ("INTUNE_A", "Microsoft Intune"),
    ("AAD_PREMIUM", "Microsoft Entra ID"),
    ("BI_AZURE", "Power BI"),
    ("FLOW", "Power Automate"),
    ("POWERAPPS", "Power Apps"),
    ("DYN365", "Dynamics 365"),
    ("MDE", "Microsoft Defender for Endpoint"),
    ("YAMMER", "Viva Engage"),
)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_csv(rows: int, products: int, seed: int = 42) -> bytes:
    """Deterministic licensing CSV: ``rows`` rows over ``products`` SKUs, each row one included plan."""
    if products < 1 or rows < products:
        raise ValueError("need at least one product and at least one row per product")
    rng = random.Random(seed)
    plans_per_product = [1] * products
    for index in rng.choices(range(products), k=rows - products):
        plans_per_product[index] += 1
    pool_size = max(3000, max(plans_per_product))
    plans = []
    for n in range(pool_size):
        code, friendly = PLAN_WORDS[n % len(PLAN_WORDS)]
        suffix = " (Ünicode)" if n % 997 == 0 else ""
        plans.append((f"{code}_{n:05d}", _guid(rng), f"{friendly} (Plan {n}){suffix}"))
    skus = []
    names: set[str] = set()
    for i in range(products):
        family, family_code = FAMILIES[rng.randrange(len(FAMILIES))]
        edition, edition_code = EDITIONS[rng.randrange(len(EDITIONS))]
        qualifier, qualifier_code = QUALIFIERS[rng.randrange(len(QUALIFIERS))]
        name = f"{family} {edition}{qualifier}"
        if name in names:
            name = f"{name} ({i})"
        names.add(name)
        if i % 200 == 7:
            name += NON_ASCII[(i // 200) % len(NON_ASCII)]
        elif i % 1000 == 501:
            odd = ODD_SPACES[(i // 1000) % len(ODD_SPACES)]
            name = name.replace(" ", odd if odd.isspace() else odd + " ", 1)
        string_id = "_".join(filter(None, (family_code, edition_code, qualifier_code, f"{i:05d}")))
        skus.append((name, string_id, _guid(rng), rng.sample(plans, plans_per_product[i])))
    skus.sort(key=lambda sku: sku[0].casefold())  # the real file is sorted by display name
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for name, string_id, guid, sku_plans in skus:
        for plan_name, plan_id, friendly in sku_plans:
            writer.writerow((name, string_id, guid, plan_name, plan_id, friendly))
    return out.getvalue().encode("utf-8-sig")


# --- memory ----------------------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
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


def recreate_postgres_database(url: str) -> None:
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
        dbname="postgres",  # maintenance connection only: nothing in it is read or changed
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]


def create_account(factory: sessionmaker[Session], name: str) -> str:
    with unit_of_work(factory) as session:
        account = create_provider_account(
            session,
            data=ProviderAccountCreate(
                name=name, kind=ProviderKind.PARTNER_CENTER, settings={"base_url": "http://127.0.0.1:8100"}
            ),
        )
        return str(account.id)


def count_products(factory: sessionmaker[Session], account_id: str) -> int:
    with unit_of_work(factory) as session:
        stmt = select(func.count()).select_from(Product).where(Product.provider_account_id == uuid.UUID(account_id))
        return int(session.execute(stmt).scalar_one())


# --- measuring -------------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    seconds: float
    cpu_seconds: float
    result: ImportResult
    rss_before: int | None
    peak_rss: int
    peak_rss_reset: bool
    traced_peak: int | None = None


def run_import(factory: sessionmaker[Session], content: bytes, account_id: str, label: str, *, trace: bool) -> Phase:
    gc.collect()
    rss_before = current_rss_bytes()
    was_reset = reset_peak_rss()
    if trace:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    with unit_of_work(factory) as session:
        result = import_catalog(
            session,
            content=content,
            fmt=ImportFormat.MICROSOFT_CSV,
            default_currency="USD",
            provider_account=account_id,
        )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    traced_peak = None
    if trace:
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Phase(label, seconds, cpu_seconds, result, rss_before, peak_rss_bytes(), was_reset, traced_peak)


def report(phase: Phase) -> None:
    r = phase.result
    before = f"{phase.rss_before / MB:.1f} MB" if phase.rss_before is not None else "n/a"
    scope = "during this import" if phase.peak_rss_reset else "of the process so far"
    print(f"  {phase.label}")
    print(f"    wall time            {phase.seconds:8.3f} s (one transaction, commit included)")
    print(f"    CPU time             {phase.cpu_seconds:8.3f} s (this process; the database server's is not included)")
    print(f"    products             created {r.created}, updated {r.updated}, unchanged {r.unchanged}")
    print(f"    rows read            {r.rows_read}")
    print(f"    warnings             {len(r.warnings)}")
    print(f"    RSS before           {before}")
    print(f"    peak RSS             {phase.peak_rss / MB:.1f} MB ({scope}, whole process)")
    if phase.traced_peak is not None:
        print(f"    tracemalloc peak     {phase.traced_peak / MB:.1f} MB (Python allocations of this import)")


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def check(failures: list[str], ok: bool, message: str) -> None:
    if not ok:
        failures.append(message)
        print(f"  CHECK FAILED: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="CSV rows (default 50000)")
    parser.add_argument("--products", type=int, default=5_000, help="distinct products (default 5000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the generated CSV (default 42)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--database-url", help="SQLAlchemy URL (default: a fresh SQLite file in a temp dir)")
    target.add_argument(
        "--postgres",
        nargs="?",
        const=POSTGRES_URL,
        metavar="URL",
        help=f"drop and recreate a scratch PostgreSQL database and use it (default {POSTGRES_URL})",
    )
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc passes")
    args = parser.parse_args(argv)
    if args.products < 1 or args.rows < args.products:
        parser.error("--products must be at least 1 and --rows at least --products")

    content = generate_csv(args.rows, args.products, args.seed)
    digest = hashlib.sha256(content).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        if args.postgres:
            url = args.postgres
            recreate_postgres_database(url)
        else:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            return _bench(args, engine, content, digest)
        finally:
            engine.dispose()


def _bench(args: argparse.Namespace, engine: Engine, content: bytes, digest: str) -> int:
    factory = make_sessionmaker(engine)
    tag = uuid.uuid4().hex[:8]  # unique account names, so --database-url may point at a used database
    timed_account = create_account(factory, f"bench-{tag}")
    traced_account = create_account(factory, f"bench-{tag}-traced")
    failures: list[str] = []

    print("seatflow catalog import benchmark")
    print(f"  database             {engine.dialect.name} ({server_version(engine)}) {engine.url!r}")
    print(f"  python               {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}")
    print(
        f"  csv                  {args.rows} rows, {args.products} products, {len(content) / MB:.2f} MB, "
        f"sha256 {digest}…, seed {args.seed}"
    )
    print(f"  RSS before imports   {(current_rss_bytes() or 0) / MB:.1f} MB (interpreter, libraries, CSV)")
    print(f"  setup peak RSS       {peak_rss_bytes() / MB:.1f} MB (generating the CSV, migrating; not measured)")
    print()

    first = run_import(factory, content, timed_account, "first import (all created)", trace=False)
    report(first)
    stored = count_products(factory, timed_account)
    print(f"    products in table    {stored} for the account")
    check(failures, stored == args.products, f"first import: {stored} products stored, expected {args.products}")
    check(failures, first.result.created == args.products, f"first import created {first.result.created}")
    check(failures, first.result.rows_read == args.rows, f"first import read {first.result.rows_read} rows")

    again = run_import(factory, content, timed_account, "re-import (all unchanged)", trace=False)
    report(again)
    r = again.result
    check(failures, r.created == 0, f"re-import created {r.created}, expected 0")
    check(failures, r.updated == 0, f"re-import updated {r.updated}, expected 0")
    check(failures, r.unchanged == args.products, f"re-import: {r.unchanged} unchanged, expected {args.products}")
    stored = count_products(factory, timed_account)
    check(failures, stored == args.products, f"after re-import: {stored} products stored")

    traced: list[Phase] = []
    if not args.no_tracemalloc:
        print()
        print("  tracemalloc passes (same file into a second, empty account; slowed down by tracing, not timings)")
        for label in ("first import, traced", "re-import, traced"):
            phase = run_import(factory, content, traced_account, label, trace=True)
            print(
                f"    {label:22} tracemalloc peak {(phase.traced_peak or 0) / MB:6.1f} MB "
                f"({phase.seconds:.2f} s traced; {phase.result.created} created, "
                f"{phase.result.unchanged} unchanged)"
            )
            traced.append(phase)
        check(failures, traced[0].result.created == args.products, "traced first import did not create all")
        check(failures, traced[1].result.created == 0, "traced re-import created products")

    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    parsed = parse(decode(content))
    parse_seconds, parse_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print()
    print(
        f"  decode + parse alone {parse_seconds:8.3f} s wall, {parse_cpu:.3f} s CPU "
        f"({len(parsed.skus)} SKUs; no database)"
    )

    print()
    print("Summary (MB = 10^6 bytes; peak RSS is the whole process during the import; tracemalloc peak is")
    print("the import's own Python allocations, measured in a separate traced pass)")
    header = f"  {'phase':<14} {'db':<10} {'seconds':>8} {'CPU s':>6} {'created':>8} {'updated':>8} {'unchanged':>9}"
    header += f" {'rows':>7} {'peak RSS MB':>12} {'tracemalloc MB':>15}"
    print(header)
    for index, phase in enumerate((first, again)):
        name = ("first import", "re-import")[index]
        traced_peak = traced[index].traced_peak if traced else None
        tm = f"{traced_peak / MB:.1f}" if traced_peak is not None else "-"
        pr = phase.result
        print(
            f"  {name:<14} {engine.dialect.name:<10} {phase.seconds:8.3f} {phase.cpu_seconds:6.3f}"
            f" {pr.created:8d} {pr.updated:8d} {pr.unchanged:9d} {pr.rows_read or 0:7d}"
            f" {phase.peak_rss / MB:12.1f} {tm:>15}"
        )
    print(f"  load average at the end: {_load()} (other processes on the machine skew the timings)")
    slowest = max(first.seconds, again.seconds)
    biggest = max(first.peak_rss, again.peak_rss) / MB
    met = slowest < AIM_SECONDS and biggest < AIM_MB
    print(
        f"  aim (< {AIM_SECONDS:g} s and < {AIM_MB:g} MB peak RSS per import): "
        f"{'met' if met else 'NOT met'} (slowest {slowest:.2f} s, largest {biggest:.1f} MB)"
    )
    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print("  checks: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
