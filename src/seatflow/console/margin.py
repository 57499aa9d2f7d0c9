"""The margin page (SPEC §16): Microsoft's cost beside seatflow's revenue for a range (this month by default), per
customer, contract, product or subscription, the totals, and the leaks with the lines that prove them; with CSV.
The dashboard's money figures come from the same report (``headline``)."""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from seatflow.console.web import PREFIX, ConsoleDep, now_of, render
from seatflow.errors import SeatflowError
from seatflow.margin.schemas import csv_rows, leak_rows
from seatflow.margin.service import GroupBy, MarginReport, cents, margin_report

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def month_range(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _day(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Headline:
    """This month's money for the dashboard, per currency, and the leaks."""

    report: MarginReport | None
    error: str | None = None


def headline(session: Session, today: date) -> Headline:
    start, end = month_range(today)
    try:
        return Headline(margin_report(session, start=start, end=end, group_by=GroupBy.CUSTOMER))
    except SeatflowError as error:
        return Headline(None, error.message)


def _range(request: Request, start: str, end: str) -> tuple[date, date]:
    first, last = month_range(now_of(request).date())
    return _day(start, first), _day(end, last)


def _by(value: str) -> GroupBy:
    return GroupBy(value) if value in GroupBy.__members__.values() else GroupBy.CUSTOMER


@router.get("/margin", response_class=HTMLResponse)
def margin_page(request: Request, console: ConsoleDep, start: str = "", end: str = "", by: str = "") -> Response:
    first, last = _range(request, start, end)
    group_by = _by(by)
    report, error = None, None
    try:
        report = margin_report(console.db, start=first, end=last, group_by=group_by)
    except SeatflowError as problem:
        error = problem.message
    return render(
        request,
        "margin.html",
        status=422 if error else 200,
        console=console,
        active="margin",
        report=report,
        error=error,
        start=first,
        end=last,
        by=group_by,
        groups=list(GroupBy),
        cents=cents,
    )


@router.get("/margin.csv")
def margin_csv(
    request: Request, console: ConsoleDep, start: str = "", end: str = "", by: str = "", leaks: str = ""
) -> Response:
    first, last = _range(request, start, end)
    report = margin_report(console.db, start=first, end=last, group_by=_by(by))
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(leak_rows(report) if leaks else csv_rows(report))
    name = f"margin-{'leaks-' if leaks else ''}{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
