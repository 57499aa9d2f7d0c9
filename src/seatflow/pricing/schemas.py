"""What the price sheet import and the price queries answer (SPEC §13: money as decimal strings, ISO dates)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from seatflow.catalog.models import BillingPlan, Term
from seatflow.pricing.models import PriceSheetEntry
from seatflow.schemas import IdStr, MoneyOut, OptionalMoneyOut

MAX_CHANGES_LISTED = 100


class PriceChange(BaseModel):
    """An entry the import replaced: same key and start, another price (or end date, or tier maximum)."""

    line: int
    product_key: str
    term: Term
    billing_plan: BillingPlan
    market: str
    currency: str
    effective_start: date
    cost_before: MoneyOut
    cost_after: MoneyOut
    erp_before: OptionalMoneyOut
    erp_after: OptionalMoneyOut
    effective_end_before: date | None
    effective_end_after: date | None


class PriceSheetImportResult(BaseModel):
    import_id: IdStr
    provider_account_id: IdStr
    source: str
    name: str
    market: str
    currency: str | None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    future_rows: int = Field(0, description="Rows whose effective start is after today: a list imported ahead.")
    effective_starts: list[date] = Field(default_factory=list, description="The distinct effective starts read.")
    matched_products: int = Field(0, description="Products of the account whose offer ID the sheet prices.")
    unmatched_rows: int = Field(0, description="Rows for SKUs the account's catalog does not have (kept).")
    unmatched_keys: list[str] = Field(default_factory=list, description="Their ProductId:SkuId keys, sorted.")
    changes: list[PriceChange] = Field(
        default_factory=list, description=f"The updated entries, the first {MAX_CHANGES_LISTED} in file order."
    )


class PriceEntryRead(BaseModel):
    id: IdStr
    product_key: str
    term: Term
    billing_plan: BillingPlan
    market: str
    currency: str
    cost: MoneyOut = Field(description="UnitPrice: one license, one billing period, as written.")
    erp: OptionalMoneyOut = Field(description="ERP Price: one license, one billing period, as written.")
    cost_per_month: MoneyOut
    erp_per_month: OptionalMoneyOut
    effective_start: date
    effective_end: date | None
    tier_min: int
    tier_max: int | None
    import_id: IdStr

    @classmethod
    def from_model(cls, entry: PriceSheetEntry) -> PriceEntryRead:
        return cls(
            id=str(entry.id),
            product_key=entry.product_key,
            term=entry.term,
            billing_plan=entry.billing_plan,
            market=entry.market,
            currency=entry.currency,
            cost=entry.unit_price,
            erp=entry.erp_price,
            cost_per_month=entry.cost_per_month,
            erp_per_month=entry.erp_per_month,
            effective_start=entry.effective_start,
            effective_end=entry.effective_end,
            tier_min=entry.tier_min,
            tier_max=entry.tier_max,
            import_id=str(entry.import_id),
        )


class FetchRequest(BaseModel):
    provider_account_id: str = Field(description="The Partner Center account: id or name.")
    market: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="Defaults to the account's country.")
    month: str | None = Field(None, pattern=r"^\d{4}(0[1-9]|1[0-2])$", description="YYYYMM: that month's list.")
