"""``seatflow margin``: the margin report (SPEC §16) for a range, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from seatflow.cli.context import console, print_json, read_transaction
from seatflow.margin.schemas import MarginReportRead, csv_rows, leak_rows
from seatflow.margin.service import GroupBy, cents, margin_report
from seatflow.money import format_money


def margin(
    start: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="The first day (charges starting)."),
    end: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="The last day, included."),
    by: GroupBy = typer.Option(GroupBy.CUSTOMER, "--by", help="Rows per customer, contract, product or subscription."),
    csv_out: str | None = typer.Option(None, "--csv", help="Write the rows as CSV to this file ('-': stdout)."),
    leaks_csv: str | None = typer.Option(None, "--leaks-csv", help="Write the leaks as CSV to this file ('-')."),
    as_json: bool = typer.Option(False, "--json", help="The whole report as JSON, as the API gives it."),
) -> None:
    """Microsoft's cost (the reconciliation lines imported with `seatflow costs`) beside what seatflow invoiced, the
    margin per customer (or contract, product, subscription) and month, and the leaks with the lines that prove
    them."""
    with read_transaction() as session:
        report = margin_report(session, start=start.date(), end=end.date(), group_by=by)
    if as_json:
        print_json(MarginReportRead.of(report).model_dump(mode="json"))
        return
    for target, rows in ((csv_out, csv_rows(report)), (leaks_csv, leak_rows(report))):
        if target is None:
            continue
        if target == "-":
            csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        else:
            with Path(target).open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, lineterminator="\r\n").writerows(rows)
    if csv_out == "-" or leaks_csv == "-":
        return
    table = Table("month", by.value, "revenue", "cost", "margin", "%", title=f"Margin {report.start} to {report.end}")
    for row in report.rows:
        table.add_row(
            row.month.isoformat()[:7],
            row.name,
            f"{format_money(cents(row.revenue))} {row.currency}",
            format_money(cents(row.cost)) or "0.00",
            format_money(row.margin) or "0.00",
            str(row.margin_percent) if row.margin_percent is not None else "-",
        )
    for total in report.totals:
        table.add_row(
            "total",
            "",
            f"{format_money(cents(total.revenue))} {total.currency}",
            format_money(cents(total.cost)) or "0.00",
            format_money(total.margin) or "0.00",
            str(total.margin_percent) if total.margin_percent is not None else "-",
        )
    console.print(table)
    console.print(f"{len(report.leaks)} leak(s)", markup=False)
    for leak in report.leaks:
        console.print(f"- [{leak.kind.value}] {leak.detail}", markup=False, soft_wrap=True)
