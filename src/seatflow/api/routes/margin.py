"""The margin report (SPEC §16): Microsoft's cost beside seatflow's revenue, per customer, contract, product or
subscription and month, with the leaks and the lines that prove them; as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from seatflow.margin.schemas import MarginReportRead, csv_rows, leak_rows
from seatflow.margin.service import GroupBy, margin_report
from seatflow.web.deps import SessionDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["margin"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)
From = Annotated[date, Query(alias="from", description="The first day (charges starting from it).")]
To = Annotated[date, Query(alias="to", description="The last day, included.")]


@router.get("/margin", response_model=MarginReportRead)
def margin(session: SessionDep, start: From, end: To, group_by: GroupBy = GroupBy.CUSTOMER) -> MarginReportRead:
    """Revenue (seatflow's invoice lines), cost (Microsoft's reconciliation lines in force), margin and margin %
    per ``group_by`` and month, the totals per currency, and the leaks with their evidence. 422
    ``margin_range_invalid`` for a range that ends before it starts or spans more than three years."""
    return MarginReportRead.of(margin_report(session, start=start, end=end, group_by=group_by))


@router.get("/margin.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def margin_csv(
    session: SessionDep, start: From, end: To, group_by: GroupBy = GroupBy.CUSTOMER, leaks: bool = False
) -> Response:
    """The rows as CSV (``leaks=true``: the leaks instead), cells neutralised."""
    report = margin_report(session, start=start, end=end, group_by=group_by)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(leak_rows(report) if leaks else csv_rows(report))
    name = f"margin-{'leaks-' if leaks else ''}{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
