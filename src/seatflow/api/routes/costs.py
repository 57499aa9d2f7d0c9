"""Microsoft's costs (SPEC §16, §13): import the new-commerce reconciliation lines from a body or from Partner
Center, and page through the lines."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from seatflow.costs import queries, service
from seatflow.costs.errors import CostFileInvalid
from seatflow.costs.fetch import CostFetchPlan, fetch_costs, import_fetched
from seatflow.costs.models import CostKind, CostSource
from seatflow.costs.reconfile import read_file
from seatflow.costs.schemas import CostFetchRequest, CostFetchResult, CostImportResult, CostLineRead
from seatflow.errors import ValidationFailed
from seatflow.schemas import Page
from seatflow.web.deps import NowDep, ReadSessionDep, SessionDep
from seatflow.web.errors import PROVIDER_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["costs"], responses=PROVIDER_PROBLEMS, dependencies=PARAMETER_CHECKS)
MAX_FILE_BYTES = 256 * 1024 * 1024
"""A large reseller's monthly reconciliation file is some hundred thousand lines."""
AccountRef = Annotated[
    str | None, Query(description="The Partner Center account (id or name); the only one when absent.")
]
Invoice = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9-]{1,40}$", description="The invoice the file is for (its lines' InvoiceNumber)."),
]
Period = Annotated[
    date | None,
    Query(
        description="An unbilled file's billing period: a day of the month whose earlier unbilled lines it replaces."
    ),
]


async def _file_body(request: Request) -> tuple[bytes, str, dict[str, str]]:
    """The CSV of a ``text/csv`` (or any non-form) body, or the ``file`` part of a multipart form with its fields."""
    if int(request.headers.get("content-length") or 0) > MAX_FILE_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB.", code="too_large")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_FILE_BYTES)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise CostFileInvalid("line 1: the form has no file part named file.", line=1, column=None)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return await upload.read(), upload.filename or "upload.csv", fields
    return await request.body(), "request body", {}


@router.post("/costs/import", response_model=CostImportResult)
async def import_costs(
    request: Request,
    session: SessionDep,
    now: NowDep,
    provider_account_id: AccountRef = None,
    invoice: Invoice = None,
    period: Period = None,
) -> CostImportResult:
    """Microsoft's reconciliation CSV (the new-commerce invoice reconciliation file, or the same columns in the
    API's camelCase names) as the body (``text/csv``) or as the ``file`` part of a multipart form (whose
    ``provider_account_id`` and ``invoice`` fields may stand for the query's). Billed when its lines name an invoice
    (or ``invoice`` is given), else unbilled. All or nothing and idempotent: a bad line is a 422
    ``cost_file_invalid`` naming its ``line`` and ``column``, and nothing is imported."""
    content, name, fields = await _file_body(request)
    if len(content) > MAX_FILE_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB.", code="too_large")
    rows = await run_in_threadpool(read_file, content)
    account = service.resolve_account(session, provider_account_id or fields.get("provider_account_id"))
    invoice_number = invoice or fields.get("invoice") or ""
    return await run_in_threadpool(
        service.import_cost_lines,
        session,
        account=account,
        lines=rows,
        now=now,
        kind=CostKind.BILLED if invoice_number else None,
        invoice_number=invoice_number,
        period=period,
        source=CostSource.FILE,
        name=name,
    )


@router.post("/costs/fetch", response_model=CostFetchResult)
def fetch_costs_route(
    body: CostFetchRequest, read: ReadSessionDep, session: SessionDep, now: NowDep
) -> CostFetchResult:
    """Read Microsoft's lines from Partner Center and import them: by default every invoice not imported yet and
    the unbilled lines of the previous and current period; or one ``invoice``; or one ``unbilled`` period. No
    transaction is open while Partner Center answers; the imports are one transaction."""
    if body.invoice and body.unbilled:
        raise ValidationFailed("Name an invoice or an unbilled period, not both.", code="validation_failed")
    plan = CostFetchPlan.of(read, service.resolve_account(read, body.provider_account_id), body.currency)
    read.commit()  # nothing is held while the provider answers
    fetched = fetch_costs(plan, invoice=body.invoice, unbilled=body.unbilled)
    account = service.resolve_account(session, str(plan.account_id))
    return import_fetched(session, account=account, fetched=fetched, now=now)


@router.get("/costs/lines", response_model=Page[CostLineRead])
def list_cost_lines(
    session: SessionDep,
    provider_account_id: AccountRef = None,
    customer: Annotated[str | None, Query(max_length=100, description="A customer tenant id (CustomerId).")] = None,
    subscription: Annotated[
        str | None, Query(max_length=100, description="A provider subscription id (SubscriptionId).")
    ] = None,
    start: Annotated[date | None, Query(description="From this day's billing period (its month).")] = None,
    end: Annotated[date | None, Query(description="Up to this day's billing period.")] = None,
    billed: Annotated[bool | None, Query(description="Only billed (true) or unbilled (false) lines.")] = None,
    include_superseded: Annotated[
        bool, Query(description="Also the lines no longer in force (replaced or superseded).")
    ] = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[CostLineRead]:
    """The lines, oldest import first: by default only those in force (each charge once)."""
    account = service.resolve_account(session, provider_account_id)
    filters = queries.LineFilters(
        account_id=account.id,
        customer_tenant_id=customer,
        subscription_id=subscription,
        start=start,
        end=end,
        billed=billed,
        include_superseded=include_superseded,
    )
    rows, next_cursor = queries.list_lines(session, filters, cursor=cursor, limit=limit)
    return Page(items=[CostLineRead.from_model(line) for line in rows], next_cursor=next_cursor)
