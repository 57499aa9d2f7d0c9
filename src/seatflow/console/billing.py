"""Billing (SPEC §8): the runs (filtered by date, with a CSV), a preview that writes nothing, and a run behind a
confirmation that states its totals: the run's dry run is shown first (invoices and totals per currency), and the
run confirmed is refused when its totals are no longer the ones confirmed. Invoices and credit notes, with voiding,
are in ``invoices``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter, ValidationError

from seatflow.billing.models import BillingRun
from seatflow.billing.pdf import seller_of
from seatflow.billing.runs import Consolidation, RunSummary, run_billing
from seatflow.config import Settings
from seatflow.console import invoices, listing, queries
from seatflow.console.forms import notice_of, optional_day, shown
from seatflow.console.web import (
    PREFIX,
    Console,
    ConsoleDep,
    CsrfField,
    FormProblem,
    error_status,
    not_found,
    now_of,
    redirect,
    render,
    require_id,
)
from seatflow.errors import Conflict, SeatflowError
from seatflow.money import format_money
from seatflow.schemas import DayIn
from seatflow.web.deps import SettingsDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)
router.include_router(invoices.router)
PREVIEW_LIMIT = 200
RUNS_SHOWN = 20
_day = TypeAdapter(DayIn)


class TotalsChanged(Conflict):
    code = "billing_totals_changed"


def _runs_filter(request: Request) -> tuple[date | None, date | None, str | None]:
    try:
        return (
            optional_day(request.query_params.get("run_from", "")[:20], label="the first run date"),
            optional_day(request.query_params.get("run_to", "")[:20], label="the last run date"),
            None,
        )
    except FormProblem as problem:
        return None, None, problem.message


def _billing_page(request: Request, console: Console, status: int = 200, **extra: Any) -> Response:
    extra.setdefault("run_date", now_of(request).date().isoformat())
    run_from, run_to, problem = _runs_filter(request) if request.method == "GET" else (None, None, None)
    if problem:
        status, extra["error"] = 422, problem
    page = render(
        request,
        "billing.html",
        status,
        console=console,
        active="billing",
        runs=listing.runs(console.db, run_from=run_from, run_to=run_to, limit=RUNS_SHOWN),
        run_from=run_from or "",
        run_to=run_to or "",
        notice=notice_of(request, console),
        **extra,
    )
    return shown(page, request)


@router.get("/billing", response_class=HTMLResponse)
def billing_page(request: Request, console: ConsoleDep) -> Response:
    return _billing_page(request, console)


@router.get("/billing/runs.csv")
def runs_csv(request: Request, console: ConsoleDep) -> Response:
    """The runs of the dates chosen, one row per run and currency."""
    run_from, run_to, _ = _runs_filter(request)
    found = listing.runs(console.db, run_from=run_from, run_to=run_to, limit=listing.CSV_MAX_ROWS)
    return listing.csv_response("billing-runs.csv", listing.RUN_HEADER, listing.run_rows(found))


def _run_date(value: str) -> date:
    try:
        return _day.validate_python(value.strip())
    except ValidationError as error:
        raise FormProblem("Enter the run's date as YYYY-MM-DD (from 2000 on).") from error


DateField = Annotated[str, Form(alias="date", max_length=20)]


def _dry_run(request: Request, console: Console, settings: Settings, run_date: date) -> RunSummary:
    return run_billing(
        console.db,
        run_date=run_date,
        now=now_of(request),
        requested_by=console.actor.name,
        dry_run=True,
        invoice_prefix=settings.invoice_prefix,
        credit_note_prefix=settings.credit_note_prefix,
        preview_limit=PREVIEW_LIMIT,
    )


@router.post("/billing/preview", response_class=HTMLResponse)
def preview(
    request: Request, console: ConsoleDep, settings: SettingsDep, day: DateField = "", csrf_token: CsrfField = None
) -> Response:
    """What a run on that date would invoice, computed the same way; nothing is written."""
    console.authorize(csrf_token)
    try:
        run_date = _run_date(day)
        summary = _dry_run(request, console, settings, run_date)
    except FormProblem as problem:
        return _billing_page(request, console, 422, error=problem.message, run_date=day)
    except SeatflowError as error:
        return _billing_page(request, console, error_status(error), error=error.message, run_date=day)
    return _billing_page(request, console, preview=_preview(console, summary), run_date=run_date.isoformat())


def _preview(console: Console, summary: RunSummary) -> dict[str, Any]:
    """The documents a run would create: a contract's invoice, or a consolidated one with a section per location."""
    ids: set[uuid.UUID] = set()
    customer_ids: set[uuid.UUID] = set()
    for d in summary.preview:
        if isinstance(d, Consolidation):
            ids.add(d.parent_id)
            customer_ids.add(d.customer_id)
        else:
            ids.add(d.contract.id)
            customer_ids.add(d.contract.customer_id)
    contracts = queries.contracts_by_id(console.db, ids)
    customers = queries.names_of_customers(console.db, customer_ids)
    rows: list[dict[str, Any]] = []
    for d in summary.preview:
        if isinstance(d, Consolidation):
            parent = contracts.get(d.parent_id)
            rows.append(
                {
                    "contract": f"{parent.name if parent else d.parent_id} (consolidated)",
                    "customer": customers.get(d.customer_id, ""),
                    "start": d.period_start,
                    "end": d.period_end,
                    "lines": [line for section in d.sections for line in section.lines],
                    "sections": list(zip(d.names, (section.subtotal for section in d.sections), strict=True)),
                    "total": d.total,
                    "currency": d.currency,
                }
            )
        else:
            found = contracts.get(d.contract.id)
            rows.append(
                {
                    "contract": found.name if found else str(d.contract.id),
                    "customer": customers.get(d.contract.customer_id, ""),
                    "start": d.cycle.start,
                    "end": d.cycle.end,
                    "lines": d.lines,
                    "sections": [],
                    "total": d.total,
                    "currency": d.contract.currency,
                }
            )
    return {
        "summary": summary,
        "drafts": rows,
        "invoices": sum(t.invoices for t in summary.totals.values()),
    }


def totals_key(summary: RunSummary) -> str:
    """The totals a confirmation states, as one string: the run confirmed must come to the same."""
    parts = [
        f"{currency}:{t.invoices}:{t.credit_notes}:{format_money(t.total)}"
        for currency, t in sorted(summary.totals.items())
    ]
    return ";".join(parts) or "nothing"


def _confirm_page(
    request: Request, console: Console, settings: Settings, run_date: date, status: int = 200, **extra: Any
) -> Response:
    """The run's dry run with its totals per currency, and the button that runs it."""
    try:
        summary = _dry_run(request, console, settings, run_date)
    except SeatflowError as error:
        return _billing_page(request, console, error_status(error), error=error.message, run_date=run_date.isoformat())
    return render(
        request,
        "billing_confirm.html",
        status,
        console=console,
        active="billing",
        preview=_preview(console, summary),
        expected=totals_key(summary),
        **extra,
    )


@router.post("/billing/confirm", response_class=HTMLResponse)
def confirm(
    request: Request, console: ConsoleDep, settings: SettingsDep, day: DateField = "", csrf_token: CsrfField = None
) -> Response:
    console.authorize(csrf_token)
    try:
        run_date = _run_date(day)
    except FormProblem as problem:
        return _billing_page(request, console, 422, error=problem.message, run_date=day)
    return _confirm_page(request, console, settings, run_date)


@router.post("/billing/runs", response_class=HTMLResponse)
def run(
    request: Request,
    console: ConsoleDep,
    settings: SettingsDep,
    day: DateField = "",
    expected: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: CsrfField = None,
) -> Response:
    """Invoice every contract whose cycle is due on that date, once its totals were confirmed (without them, the
    confirmation is shown); a rerun for the same date creates nothing."""
    console.authorize(csrf_token)
    try:
        run_date = _run_date(day)
    except FormProblem as problem:
        return _billing_page(request, console, 422, error=problem.message, run_date=day)
    if not expected:
        return _confirm_page(request, console, settings, run_date)
    try:
        with console.attempt():
            summary = run_billing(
                console.db,
                run_date=run_date,
                now=now_of(request),
                requested_by=console.actor.name,
                invoice_prefix=settings.invoice_prefix,
                credit_note_prefix=settings.credit_note_prefix,
                seller=seller_of(settings),
            )
            if totals_key(summary) != expected:
                raise TotalsChanged(
                    "The totals changed since they were shown (a change came in meanwhile): "
                    "nothing was billed. Check the new totals and confirm again."
                )
    except TotalsChanged as error:
        return _confirm_page(request, console, settings, run_date, 409, error=error.message)
    except SeatflowError as error:
        return _billing_page(request, console, error_status(error), error=error.message, run_date=day)
    return redirect(f"{PREFIX}/billing/runs/{summary.run_id}")


@router.get("/billing/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, console: ConsoleDep) -> Response:
    found = console.db.get(BillingRun, require_id(run_id, "billing run"))
    if found is None:
        raise not_found("billing run")
    documents, more = queries.invoices_newest_first(
        console.db, status=None, contract_id=None, run_id=found.id, before=None, limit=500, kind=None
    )
    return render(
        request, "run.html", console=console, active="billing", run=found, invoices=documents, more=more is not None
    )
