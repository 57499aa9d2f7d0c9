"""The audit log page (SPEC §10 "every operator action is in an audit log", §17): who did what to which record,
when and from where, with what changed; filtered by actor, action, record and dates, newest first, and as CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from seatflow.audit.models import AuditEntry
from seatflow.audit.queries import AuditFilters, search
from seatflow.audit.scope import Origin
from seatflow.console.web import PREFIX, ConsoleDep, plain, render
from seatflow.csv_safe import safe_row
from seatflow.errors import SeatflowError

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PER_PAGE = 100
CSV_ROWS = 10_000
LINKS = {
    "subscription": "/console/subscriptions/{}",
    "customer_account": "/console/customers/{}",
    "invoice": "/console/invoices/{}",
}
"""Records with a console page of their own."""


@dataclass(frozen=True)
class Form:
    actor: str = ""
    action: str = ""
    entity: str = ""
    target_id: str = ""
    origin: str = ""
    start: str = ""
    end: str = ""

    def query(self, **extra: str) -> str:
        pairs = {k: v for k, v in vars(self).items() if v} | {k: v for k, v in extra.items() if v}
        return urlencode(pairs)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(form: Form) -> AuditFilters:
    start, end = _day(form.start), _day(form.end)
    return AuditFilters(
        actor=plain(form.actor.strip())[:320] or None,
        action=plain(form.action.strip())[:100] or None,
        target_kind=plain(form.entity.strip())[:64] or None,
        target_id=plain(form.target_id.strip())[:64] or None,
        origin=Origin(form.origin) if form.origin in Origin.__members__.values() else None,
        at_from=datetime.combine(start, time(), UTC) if start else None,
        at_to=datetime.combine(end + timedelta(days=1), time(), UTC) - timedelta(microseconds=1) if end else None,
    )


def _changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """(column, before, after) of an update; every column of a creation or a deletion."""
    before, after = entry.before or {}, entry.after or {}
    return [(key, before.get(key), after.get(key)) for key in dict.fromkeys([*after, *before])]


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _form(actor: str, action: str, entity: str, target_id: str, origin: str, start: str, end: str) -> Form:
    return Form(actor[:320], action[:100], entity[:64], target_id[:64], origin[:16], start[:10], end[:10])


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    console: ConsoleDep,
    actor: str = "",
    action: str = "",
    entity: str = "",
    target_id: str = "",
    origin: str = "",
    start: str = "",
    end: str = "",
    cursor: str = "",
) -> Response:
    form = _form(actor, action, entity, target_id, origin, start, end)
    error, entries, next_cursor = None, [], None
    try:
        found, next_cursor = search(console.db, _filters(form), cursor=cursor[:100] or None, limit=PER_PAGE)
        entries = list(found)
    except SeatflowError as problem:
        error = problem.message
    return render(
        request,
        "audit.html",
        200 if error is None else 422,
        console=console,
        active="audit",
        form=form,
        origins=list(Origin),
        entries=entries,
        changes={e.id: _changes(e) for e in entries},
        shown=_shown,
        links=LINKS,
        next_query=form.query(cursor=next_cursor or "") if next_cursor else None,
        csv_query=form.query(),
        error=error,
    )


CSV_COLUMNS = [
    "at",
    "actor_kind",
    "actor",
    "origin",
    "ip",
    "operation",
    "action",
    "entity",
    "entity_id",
    "before",
    "after",
]


@router.get("/audit.csv")
def audit_csv(
    console: ConsoleDep,
    actor: str = "",
    action: str = "",
    entity: str = "",
    target_id: str = "",
    origin: str = "",
    start: str = "",
    end: str = "",
) -> Response:
    """The filtered log (at most 10,000 rows, newest first)."""
    filters = _filters(_form(actor, action, entity, target_id, origin, start, end))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    written = 0
    while written < CSV_ROWS:
        rows, cursor = search(console.db, filters, cursor=cursor, limit=500)
        for e in rows:
            writer.writerow(
                safe_row(
                    [
                        e.at.isoformat(),
                        e.actor_kind.value,
                        e.actor_name,
                        e.origin.value,
                        e.ip or "",
                        e.operation or "",
                        e.action,
                        e.target_kind,
                        e.target_id,
                        json.dumps(e.before, ensure_ascii=False) if e.before is not None else "",
                        json.dumps(e.after, ensure_ascii=False) if e.after is not None else "",
                    ]
                )
            )
        written += len(rows)
        if cursor is None:
            break
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
