"""What the price sheet import and the price queries answer (SPEC §13: money as decimal strings, ISO dates)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from seatflow.catalog.models import BillingPlan, Term
from seatflow.pricing.models import PriceRule, PriceSheetEntry, RuleKind, RuleScope
from seatflow.schemas import IdStr, MoneyOut, OptionalMoneyOut, PriceIn, TextIn

if TYPE_CHECKING:
    from seatflow.pricing.rules import Decision

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


# --- price rules (SPEC §15) ------------------------------------------------------------------------------------

PercentIn = Annotated[Decimal, Field(ge=0, le=1000, max_digits=9, decimal_places=4)]


class PriceRuleCreate(BaseModel):
    """A rule for everything (no target), a product, a customer, a customer and product, or one subscription
    (an override: use ``POST /subscriptions/{id}/price-override``, which applies it)."""

    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    percent: PercentIn | None = Field(None, description="markup: cost + %; erp_discount: ERP - %.")
    fixed_price: PriceIn | None = Field(None, description="fixed: per unit per month, in currency.")
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    product_id: TextIn | None = None
    customer_id: TextIn | None = None
    allow_above_erp: bool = False
    reason: Annotated[TextIn, Field(max_length=300)] = ""


class PriceRuleRead(BaseModel):
    id: IdStr
    kind: RuleKind
    scope: RuleScope
    percent: str | None = Field(description='As a decimal string, e.g. "12.5" for 12.5 %.')
    fixed_price: OptionalMoneyOut
    currency: str | None
    product_id: IdStr | None
    customer_id: IdStr | None
    subscription_id: IdStr | None
    allow_above_erp: bool
    allow_below_cost: bool
    reason: str
    created_by: str
    created_at: datetime
    retired_at: datetime | None
    retired_by: str | None

    @classmethod
    def from_model(cls, rule: PriceRule) -> PriceRuleRead:
        percent = format(rule.percent.normalize(), "f") if rule.percent is not None else None
        return cls.model_validate({**_columns(rule), "percent": percent})


def _columns(rule: PriceRule) -> dict[str, object]:
    return {column.key: getattr(rule, column.key) for column in PriceRule.__table__.columns}


class DecisionRead(BaseModel):
    """What the rules price: per unit per month, with the cost and ERP they priced from."""

    rule: PriceRuleRead | None
    unit_price: OptionalMoneyOut
    cost: OptionalMoneyOut
    erp: OptionalMoneyOut
    guard: str | None
    missing: str | None
    explanation: str

    @classmethod
    def from_decision(cls, decision: Decision) -> DecisionRead:
        return cls(
            rule=PriceRuleRead.from_model(decision.rule) if decision.rule is not None else None,
            unit_price=decision.unit_price,
            cost=decision.cost,
            erp=decision.erp,
            guard=decision.guard,
            missing=decision.missing,
            explanation=decision.explanation,
        )
