"""``seatflow prices …``: import Microsoft's new-commerce price sheet (a file or Partner Center's), show the
prices in force for a product on a day, and (``cli/price_rules.py``) the price rules, overrides and renewal price
notices (SPEC §15)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seatflow.catalog import service as product_service
from seatflow.cli import price_rules
from seatflow.cli.context import clock, console, err_console, print_json, read_transaction, transaction
from seatflow.money import format_money
from seatflow.pricing import service
from seatflow.pricing.fetch import FetchPlan, fetch_price_sheet
from seatflow.pricing.models import ImportSource
from seatflow.pricing.schemas import PriceEntryRead, PriceSheetImportResult
from seatflow.pricing.service import Progress as ProgressCallback

app = typer.Typer(
    help="Microsoft's new-commerce price sheet: cost (UnitPrice) and ERP per SKU, term, billing plan, market and "
    "currency, with effective dates (imports are all or nothing and idempotent); the price rules that set "
    "subscriptions' prices from it, overrides, and the prices that change at renewal.",
    no_args_is_help=True,
)
PROGRESS_FROM_BYTES = 1_000_000
"""Files from this size get a progress bar (on a terminal)."""
UNMATCHED_SHOWN = 20
app.add_typer(price_rules.app, name="rules")
app.command()(price_rules.override)
app.command()(price_rules.notices)

ACCOUNT_HELP = "The Partner Center account (name or id); the only one when absent."
MARKET_HELP = "Two-letter market every row must have; the account's country when absent."


@contextmanager
def _progress(total: int, *, quiet: bool) -> Iterator[ProgressCallback | None]:
    if quiet or total * 100 < PROGRESS_FROM_BYTES or not err_console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("reading rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = bar.add_task("rows", total=total)
    with bar:
        yield lambda done: bar.update(task, completed=done)


def _report(result: PriceSheetImportResult, *, as_json: bool) -> None:
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    table = Table("rows read", "inserted", "updated", "unchanged", "future", "unmatched", "matched products")
    table.add_row(
        str(result.rows_read),
        str(result.inserted),
        str(result.updated),
        str(result.unchanged),
        str(result.future_rows),
        str(result.unmatched_rows),
        str(result.matched_products),
        end_section=True,
    )
    table.title = f"{result.name}: {result.market} {result.currency or ''}".rstrip()
    console.print(table)
    starts = ", ".join(d.isoformat() for d in result.effective_starts)
    console.print(f"effective from: {starts or '-'}", highlight=False)
    for change in result.changes:
        console.print(
            f"updated line {change.line}: {change.product_key} {change.term.value} {change.billing_plan.value} "
            f"from {change.effective_start}: "
            f"cost {format_money(change.cost_before)} → {format_money(change.cost_after)}"
            f", ERP {format_money(change.erp_before)} → {format_money(change.erp_after)}",
            highlight=False,
            markup=False,
        )
    if result.unmatched_keys:
        shown = result.unmatched_keys[:UNMATCHED_SHOWN]
        more = len(result.unmatched_keys) - len(shown)
        console.print(
            f"{len(result.unmatched_keys)} SKU(s) not in the catalog (kept): {', '.join(shown)}"
            + (f" and {more} more (--json lists all)" if more else ""),
            highlight=False,
            markup=False,
        )


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The price sheet CSV (Microsoft's columns)."),
    market: str | None = typer.Option(None, "--market", help=MARKET_HELP),
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    as_json: bool = typer.Option(False, "--json", help="The answer as JSON, as the API gives it."),
) -> None:
    """Import a price sheet file: every row is checked first (a bad one exits 5 naming its line and column, and
    nothing is imported); rows already there unchanged stay, changed prices are replaced and listed."""
    content = file.read_bytes()
    now = clock().now()
    with _progress(content.count(b"\n"), quiet=as_json) as progress, transaction() as session:
        result = service.import_price_sheet(
            session,
            account=service.resolve_account(session, account),
            content=content,
            now=now,
            market=market,
            source=ImportSource.FILE,
            name=file.name,
            progress=progress,
        )
    _report(result, as_json=as_json)


@app.command()
def fetch(
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    month: str | None = typer.Option(
        None, "--month", help="YYYYMM: that month's list (timeline=history); the current list when absent."
    ),
    market: str | None = typer.Option(None, "--market", help=MARKET_HELP),
    as_json: bool = typer.Option(False, "--json", help="The answer as JSON, as the API gives it."),
) -> None:
    """Read the price sheet from Partner Center (GET /v1.0/sales/pricesheets(Market=…,
    PricesheetView='updatedlicensebased')/$value) and import it. No transaction is open meanwhile."""
    if month is not None and not (len(month) == 6 and month.isdigit() and 1 <= int(month[4:]) <= 12):
        raise typer.BadParameter("--month is YYYYMM, e.g. 202612.")
    with read_transaction() as read:
        plan = FetchPlan.of(service.resolve_account(read, account), market)
    sheet = fetch_price_sheet(plan, month=month)
    now = clock().now()
    with transaction() as session:
        result = service.import_price_sheet(
            session,
            account=service.resolve_account(session, str(plan.account_id)),
            content=sheet.content,
            now=now,
            market=sheet.market,
            source=ImportSource.PROVIDER,
            name=sheet.name,
        )
    _report(result, as_json=as_json)


@app.command()
def show(
    product: str = typer.Argument(..., help="The product (id or product code)."),
    on: datetime | None = typer.Option(None, "--on", formats=["%Y-%m-%d"], help="The day; today when absent."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The product's price sheet entries in force on a day."""
    day: date = on.date() if on else clock().now().date()
    with read_transaction() as session:
        found = product_service.require_product(session, product)
        entries = [PriceEntryRead.from_model(e) for e in service.entries_in_force(session, product=found, on=day)]
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table(
        "key",
        "term",
        "plan",
        "market",
        "cost",
        "ERP",
        "cost/month",
        "ERP/month",
        "from",
        "to",
        title=f"{found.name} on {day.isoformat()}",
    )
    for e in entries:
        table.add_row(
            e.product_key,
            e.term.value,
            e.billing_plan.value,
            e.market,
            f"{format_money(e.cost)} {e.currency}",
            format_money(e.erp) or "-",
            format_money(e.cost_per_month),
            format_money(e.erp_per_month) or "-",
            e.effective_start.isoformat(),
            e.effective_end.isoformat() if e.effective_end else "-",
        )
    console.print(table)
