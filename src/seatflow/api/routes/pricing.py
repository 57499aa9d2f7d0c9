"""Price sheets (SPEC §15, §13): import Microsoft's new-commerce price sheet from a body or from Partner Center,
and the prices in force for a product on a day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from seatflow.catalog import service as product_service
from seatflow.errors import ValidationFailed
from seatflow.pricing import service
from seatflow.pricing.errors import PriceSheetInvalid
from seatflow.pricing.fetch import FetchPlan, fetch_price_sheet
from seatflow.pricing.models import ImportSource
from seatflow.pricing.schemas import FetchRequest, PriceEntryRead, PriceSheetImportResult
from seatflow.schemas import Page
from seatflow.web.deps import NowDep, ReadSessionDep, SessionDep, TodayDep
from seatflow.web.errors import PROVIDER_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["pricing"], responses=PROVIDER_PROBLEMS, dependencies=PARAMETER_CHECKS)
MAX_SHEET_BYTES = 128 * 1024 * 1024
"""Microsoft's whole US sheet is about 42 MB (the page's example answer)."""
Market = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="Defaults to the account's country.")]


async def _sheet_body(request: Request) -> tuple[bytes, str, dict[str, str]]:
    """The CSV of a ``text/csv`` (or any non-form) body, or the ``file`` part of a multipart form, with the
    form's other fields."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_SHEET_BYTES)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed("The form has no file part named file.", code="price_sheet_invalid")
        content = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return content, upload.filename or "upload.csv", fields
    content = await request.body()
    return content, "request body", {}


@router.post("/price-sheets/import", response_model=PriceSheetImportResult)
async def import_price_sheet(
    request: Request,
    session: SessionDep,
    now: NowDep,
    provider_account_id: Annotated[
        str | None, Query(description="The Partner Center account (id or name); the only one when absent.")
    ] = None,
    market: Market = None,
) -> PriceSheetImportResult:
    """Microsoft's price sheet CSV as the body (``text/csv``) or as the ``file`` part of a multipart form (whose
    ``provider_account_id`` and ``market`` fields may stand for the query's). All or nothing: a bad row is a 422
    ``price_sheet_invalid`` naming its ``line`` and ``column``, and nothing is imported."""
    if int(request.headers.get("content-length") or 0) > MAX_SHEET_BYTES:
        raise ValidationFailed(f"The sheet is larger than {MAX_SHEET_BYTES // (1024 * 1024)} MiB.", code="too_large")
    content, name, fields = await _sheet_body(request)
    if len(content) > MAX_SHEET_BYTES:
        raise ValidationFailed(f"The sheet is larger than {MAX_SHEET_BYTES // (1024 * 1024)} MiB.", code="too_large")
    if not content.strip():
        raise PriceSheetInvalid("line 1: the sheet is empty.", line=1, column=None)
    account = service.resolve_account(session, provider_account_id or fields.get("provider_account_id"))
    return await run_in_threadpool(
        service.import_price_sheet,
        session,
        account=account,
        content=content,
        now=now,
        market=market or fields.get("market"),
        source=ImportSource.FILE,
        name=name,
    )


@router.post("/price-sheets/fetch", response_model=PriceSheetImportResult)
def fetch_price_sheet_route(
    body: FetchRequest, read: ReadSessionDep, session: SessionDep, now: NowDep
) -> PriceSheetImportResult:
    """Read the price sheet from Partner Center (the current list, or ``month``'s) and import it. No
    transaction is open while Partner Center answers."""
    plan = FetchPlan.of(service.resolve_account(read, body.provider_account_id), body.market)
    read.commit()  # nothing is held while the provider answers
    sheet = fetch_price_sheet(plan, month=body.month)
    target = service.resolve_account(session, str(plan.account_id))
    return service.import_price_sheet(
        session,
        account=target,
        content=sheet.content,
        now=now,
        market=sheet.market,
        source=ImportSource.PROVIDER,
        name=sheet.name,
    )


@router.get("/price-sheets/prices", response_model=Page[PriceEntryRead])
def prices_in_force(
    session: SessionDep,
    today: TodayDep,
    product_id: Annotated[str, Query(description="The product (id).")],
    on: Annotated[date | None, Query(description="The day; today when absent.")] = None,
    market: Market = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
) -> Page[PriceEntryRead]:
    """The product's price sheet entries in force on ``on``: one per term, billing plan, market, currency and
    tier, the latest list started by that day."""
    product = product_service.require_product(session, product_id)
    entries = service.entries_in_force(session, product=product, on=on or today, market=market, currency=currency)
    return Page(items=[PriceEntryRead.from_model(e) for e in entries], next_cursor=None)
