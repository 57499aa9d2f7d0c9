"""Benchmark: import a generated Microsoft new-commerce price sheet of 100,000 rows into seatflow.

Generates, deterministically (``random.Random(seed)``), a CSV in the columns of Partner Center's license-based
price sheet (developer/get-a-price-sheet.md): keys ``CFQ7TTC0xxxx:000n``, every SKU in the NCE combinations (P1M
monthly; P1Y monthly and annual; P3Y monthly, annual and triennial: six rows a SKU and market), in several markets
and currencies (US/USD, GB/GBP, DE/EUR, …), Microsoft's dates (``12/1/2026 12:00:00 AM``), quoted, CRLF, UTF-8
with a byte-order mark. Each market's rows go to a provider account of its own (the market and currency rules:
one market and one currency per account), so the file is split per market before timing.

Migrates a fresh database (a SQLite file in a temporary directory, or with ``--postgres`` a scratch PostgreSQL
database dropped and recreated for the run and dropped at the end) and creates the accounts and 500 products
whose offer IDs the sheet prices: untimed. Then times, with ``time.perf_counter``, the import through the real
service (``pricing.service.import_price_sheet`` in one ``unit_of_work`` per market, commit included, the way
``seatflow prices import`` runs it): (a) the first import, every row inserted; (b) the same files again, every row
unchanged. Peak RSS is the process's high-water mark (``ru_maxrss``) after resetting it to the current RSS through
``/proc/self/clear_refs`` just before each phase.

    .venv/bin/python bench/price_sheet.py                  # 100,000 rows, SQLite
    .venv/bin/python bench/price_sheet.py --postgres       # a scratch database seatflow_bench_prices

Exits 1 when a check fails: the entry count, anything inserted or updated by the re-import, the entries changed by
it (compared row by row), or a phase over the targets (5 s, 300 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import seatflow.models  # noqa: F401  (every model mapped before the first session)
from seatflow.catalog.models import ProductKind, ProviderKind
from seatflow.catalog.providers import create_provider_account, require_provider_account
from seatflow.catalog.schemas import ProductCreate, ProviderAccountCreate
from seatflow.catalog.service import create_product
from seatflow.db.engine import make_engine
from seatflow.db.migrate import upgrade
from seatflow.db.session import make_sessionmaker, unit_of_work
from seatflow.pricing.models import PriceSheetEntry
from seatflow.pricing.service import import_price_sheet

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/seatflow_bench_prices"
PROTECTED_DATABASES = {"postgres", "test", "template0", "template1"}
MARKETS = (("US", "USD"), ("GB", "GBP"), ("DE", "EUR"), ("FR", "EUR"), ("CA", "CAD"))
COMBINATIONS = (("P1M", "Monthly", 1.2 / 12), ("P1Y", "Monthly", 1.05 / 12), ("P1Y", "Annual", 1.0),
                ("P3Y", "Monthly", 1.05 / 12), ("P3Y", "Annual", 1.0), ("P3Y", "Triennial", 3.0))  # fmt: skip
HEADER = ("ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure",
          "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin",
          "PricingTierRangeMax", "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price")  # fmt: skip
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TARGET_SECONDS = 5.0
TARGET_BYTES = 300_000_000


def generate(rows: int, seed: int) -> dict[str, bytes]:
    """One CSV per market; ``rows`` in all."""
    rng = random.Random(seed)
    per_sku = len(COMBINATIONS)
    skus = -(-rows // (per_sku * len(MARKETS)))  # rounded up; the last market stops at ``rows``
    keys = [(f"CFQ7TTC0{i:04X}", f"{rng.randint(1, 9):04d}") for i in range(skus)]
    yearly = [round(rng.uniform(12, 700), 2) for _ in keys]
    out: dict[str, bytes] = {}
    written = 0
    for market, currency in MARKETS:
        buffer = io.StringIO()
        buffer.write(",".join(f'"{c}"' for c in HEADER) + "\r\n")
        for (product_id, sku_id), price in zip(keys, yearly, strict=True):
            title = f"Product {product_id}, SKU {sku_id}"
            for term, plan, factor in COMBINATIONS:
                if written == rows:
                    break
                written += 1
                cost = f"{price * factor:.2f}"
                erp = f"{price * factor * 1.25:.2f}"
                values = (title, product_id, sku_id, title, "Microsoft Corporation", f"{title} for business",
                          "", term, plan, market, currency, cost, "", "", "12/1/2026 12:00:00 AM",
                          "12/31/2026 11:59:59 PM", "License", erp)  # fmt: skip
                buffer.write(",".join(f'"{v}"' for v in values) + "\r\n")
        out[market] = b"\xef\xbb\xbf" + buffer.getvalue().encode()
    return out


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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


def setup(factory: sessionmaker[Session], products: int) -> dict[str, str]:
    """A Partner Center account per market and ``products`` products (in the US account) the sheet prices."""
    accounts = {}
    with unit_of_work(factory) as session:
        for market, currency in MARKETS:
            account = create_provider_account(
                session,
                data=ProviderAccountCreate(
                    name=f"Partner Center {market}",
                    kind=ProviderKind.PARTNER_CENTER,
                    settings={"base_url": "http://127.0.0.1:9", "country": market, "currency": currency},
                ),
            )
            accounts[market] = str(account.id)
        for i in range(products):
            create_product(
                session,
                data=ProductCreate(
                    provider_account_id=accounts["US"],
                    kind=ProductKind.LICENSE,
                    name=f"Product {i}",
                    offer_id=f"CFQ7TTC0{i:04X}:0001",
                    provisioning_id=f"PRODUCT_{i}",
                ),
                default_currency="USD",
            )
    return accounts


def snapshot(factory: sessionmaker[Session]) -> str:
    """A digest of every entry's values but the import id (which the re-import must not change either)."""
    digest = hashlib.sha256()
    e = PriceSheetEntry
    with unit_of_work(factory) as session:
        query = select(e.id, e.product_key, e.term, e.billing_plan, e.market, e.currency, e.unit_price, e.erp_price,
                       e.cost_per_month, e.effective_start, e.effective_end, e.import_id).order_by(e.id)  # fmt: skip
        for row in session.execute(query):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def run(
    factory: sessionmaker[Session], files: dict[str, bytes], accounts: dict[str, str]
) -> tuple[float, int, dict[str, int]]:
    reset_peak_rss()
    counts = {"rows_read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "unmatched_rows": 0}
    started = time.perf_counter()
    for market, content in files.items():
        with unit_of_work(factory) as session:
            result = import_price_sheet(
                session, account=require_provider_account(session, accounts[market]), content=content, now=NOW
            )
            for key in counts:
                counts[key] += getattr(result, key)
    return time.perf_counter() - started, peak_rss_bytes(), counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", nargs="?", const=POSTGRES_URL, metavar="URL")
    args = parser.parse_args(argv)
    files = generate(args.rows, args.seed)
    total_bytes = sum(len(c) for c in files.values())
    with tempfile.TemporaryDirectory(prefix="seatflow-bench-") as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            recreate_postgres_database(url)
        try:
            upgrade(url)
            engine = make_engine(url)
            try:
                return _bench(engine, files, total_bytes)
            finally:
                engine.dispose()
        finally:
            if args.postgres:
                recreate_postgres_database(url, drop_only=True)


def _bench(engine: Engine, files: dict[str, bytes], total_bytes: int) -> int:
    factory = make_sessionmaker(engine)
    accounts = setup(factory, 500)
    with engine.connect() as conn:
        version = (
            "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
            if engine.dialect.name == "sqlite"
            else str(conn.execute(text("select version()")).scalar_one()).split(" on ")[0]
        )
    rows = sum(c.count(b"\n") - 1 for c in files.values())
    print(f"database: {version}; sheet: {rows} rows, "
          f"{total_bytes / 1e6:.1f} MB in {len(files)} markets")  # fmt: skip
    failures: list[str] = []
    first_s, first_rss, first = run(factory, files, accounts)
    print(f"first import: {first_s:.2f} s, peak RSS {first_rss / 1e6:.0f} MB, {first}")
    before = snapshot(factory)
    second_s, second_rss, second = run(factory, files, accounts)
    print(f"re-import:    {second_s:.2f} s, peak RSS {second_rss / 1e6:.0f} MB, {second}")
    with unit_of_work(factory) as session:
        stored = session.scalar(select(func.count()).select_from(PriceSheetEntry))
    if stored != first["rows_read"] or first["inserted"] != first["rows_read"]:
        failures.append(f"{stored} entries stored for {first['rows_read']} rows read")
    if second["inserted"] or second["updated"] or second["unchanged"] != first["rows_read"]:
        failures.append(f"the re-import changed something: {second}")
    if snapshot(factory) != before:
        failures.append("the entries differ after the re-import")
    for label, seconds, rss in (("first", first_s, first_rss), ("re-import", second_s, second_rss)):
        if seconds > TARGET_SECONDS or rss > TARGET_BYTES:
            failures.append(f"{label}: {seconds:.2f} s, {rss / 1e6:.0f} MB is over the target (5 s, 300 MB)")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("ok" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
