"""Input and output shapes of the catalog, shared by the API, the CLI and the catalog document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from seatflow.catalog.models import (
    GUID_LENGTH,
    KEY_LENGTH,
    NAME_LENGTH,
    BillingFrequency,
    BillingPlan,
    Bundle,
    CatalogStatus,
    Product,
    ProductKind,
    ProductPlan,
    ProviderAccount,
    ProviderKind,
    ReductionBehavior,
    Term,
)
from seatflow.catalog.rules import is_sellable, normalize_offer_id, not_purchasable_reason, plan_key
from seatflow.schemas import IdStr, IntIn, JsonObjectIn, MultiLine, OneLine, OptionalMoneyOut, PriceIn, TextIn

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH), OneLine]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), OneLine]
"""Provider account and bundle names: their columns hold 200 characters."""
ExternalKey = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=KEY_LENGTH, pattern=r"^\S+$"), OneLine
]
Description = Annotated[str, StringConstraints(max_length=5000), MultiLine]
Guid = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=GUID_LENGTH,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=3, pattern=r"^[A-Za-z]{3}$")
]

SECRET_SETTINGS = frozenset({"client_secret", "refresh_token", "password", "api_key"})


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- provider accounts ---------------------------------------------------------------------------------


class ProviderAccountCreate(_Input):
    name: ShortName
    kind: ProviderKind
    settings: JsonObjectIn = Field(default_factory=dict)


class ProviderAccountUpdate(_Input):
    name: ShortName | None = None
    settings: JsonObjectIn | None = None


class ProviderAccountRead(BaseModel):
    id: IdStr
    name: str
    kind: ProviderKind
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, account: ProviderAccount) -> ProviderAccountRead:
        shown = {k: ("********" if k in SECRET_SETTINGS and v else v) for k, v in account.settings.items()}
        return cls(
            id=str(account.id),
            name=account.name,
            kind=account.kind,
            settings=shown,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


# --- products ------------------------------------------------------------------------------------------


OfferId = Annotated[ExternalKey, AfterValidator(normalize_offer_id)]
MAX_PLANS = 10
"""More than Microsoft's six combinations (P1M monthly; P1Y monthly, annual; P3Y monthly, annual, triennial)."""


class PlanIn(_Input):
    """One term and billing-plan combination the product is sold in, with its prices per unit per month."""

    term: Term
    billing_plan: BillingPlan
    list_price: PriceIn | None = None
    cost_price: PriceIn | None = None


class PlanRead(BaseModel):
    term: Term
    billing_plan: BillingPlan
    list_price: OptionalMoneyOut
    """Per unit per month, whatever the billing plan."""
    cost_price: OptionalMoneyOut

    @classmethod
    def from_model(cls, plan: ProductPlan) -> PlanRead:
        return cls(
            term=plan.term, billing_plan=plan.billing_plan, list_price=plan.list_price, cost_price=plan.cost_price
        )


def sorted_plans(plans: list[ProductPlan]) -> list[ProductPlan]:
    return sorted(plans, key=lambda plan: plan_key(plan.term, plan.billing_plan))


class ProductFields(_Input):
    """The editable fields; ``None`` on create means "use the default"."""

    name: Name | None = None
    offer_id: OfferId | None = None
    provisioning_id: ExternalKey | None = None
    sku_id: Guid | None = None
    description: Description | None = None
    assignable_to_users: bool | None = None
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30), OneLine] | None = None
    min_quantity: Annotated[IntIn, Field(ge=0, le=1_000_000)] | None = None
    max_quantity: Annotated[IntIn, Field(ge=1, le=10_000_000)] | None = None
    term: Term | None = None
    billing_frequency: BillingFrequency | None = None
    currency: Currency | None = None
    list_price: PriceIn | None = None
    cost_price: PriceIn | None = None
    reduction_behavior: ReductionBehavior | None = None
    reduction_window_days: Annotated[IntIn, Field(ge=1, le=366)] | None = None
    portal_enabled: bool | None = None
    plans: Annotated[list[PlanIn], Field(min_length=1, max_length=MAX_PLANS)] | None = None
    """The combinations it is sold in (the whole list: an update replaces it). ``term`` and ``billing_frequency``
    name the default one, whose prices are ``list_price`` and ``cost_price``. Absent on create: one combination
    from ``term``, ``billing_frequency`` and the prices."""


class ProductCreate(ProductFields):
    provider_account_id: TextIn
    kind: ProductKind
    name: Name
    parent_product_ids: list[TextIn] = Field(default_factory=list)


class ProductUpdate(ProductFields):
    """PATCH: only the fields sent change. ``kind`` may change while the graph allows it."""

    kind: ProductKind | None = None


class ProductRead(BaseModel):
    id: IdStr
    product_code: str
    provider_account_id: IdStr
    kind: ProductKind
    name: str
    offer_id: str | None
    provisioning_id: str | None
    sku_id: str | None
    description: str
    assignable_to_users: bool
    unit: str
    min_quantity: int
    max_quantity: int | None
    term: Term
    billing_frequency: BillingFrequency
    currency: str
    list_price: OptionalMoneyOut
    cost_price: OptionalMoneyOut
    reduction_behavior: ReductionBehavior
    reduction_window_days: int | None
    portal_enabled: bool
    plans: list[PlanRead]
    status: CatalogStatus
    sellable: bool
    purchasable: bool
    """False for a ``partner_center`` product without a new-commerce ``productId:skuId`` offer ID."""
    purchasable_reason: str | None
    parent_product_ids: list[IdStr]
    service_plans: list[dict[str, str]]
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, product: Product) -> ProductRead:
        """Needs ``product.parents`` loaded (the repository's queries do)."""
        parents = product.parents
        reason = not_purchasable_reason(product.provider_account.kind, product.offer_id)
        return cls(
            id=str(product.id),
            product_code=product.product_code,
            provider_account_id=str(product.provider_account_id),
            kind=product.kind,
            name=product.name,
            offer_id=product.offer_id,
            provisioning_id=product.provisioning_id,
            sku_id=product.sku_id,
            description=product.description,
            assignable_to_users=product.assignable_to_users,
            unit=product.unit,
            min_quantity=product.min_quantity,
            max_quantity=product.max_quantity,
            term=product.term,
            billing_frequency=product.billing_frequency,
            currency=product.currency,
            list_price=product.list_price,
            cost_price=product.cost_price,
            reduction_behavior=product.reduction_behavior,
            reduction_window_days=product.reduction_window_days,
            portal_enabled=product.portal_enabled,
            plans=[PlanRead.from_model(plan) for plan in sorted_plans(product.plans)],
            status=product.status,
            sellable=is_sellable(product.status, product.kind, len(parents)),
            purchasable=reason is None,
            purchasable_reason=reason,
            parent_product_ids=[str(p.id) for p in parents],
            service_plans=product.service_plans or [],
            retired_at=product.retired_at,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ParentAdd(_Input):
    parent_product_id: TextIn


class CatalogProblem(BaseModel):
    """What keeps an active product from being sold or bought (the catalog's setup check)."""

    code: str
    """``product_not_purchasable`` (a Partner Center product without a new-commerce ``productId:skuId``) or
    ``addon_without_parents`` (an add-on that cannot be sold until it has a possible parent)."""
    detail: str
    product_id: IdStr
    product_code: str


# --- bundles -------------------------------------------------------------------------------------------


class BundleItemIn(_Input):
    product_id: TextIn
    quantity_multiplier: Annotated[IntIn, Field(ge=1, le=1000)] = 1
    parent_item: Annotated[IntIn, Field(ge=0)] | None = None
    billable: bool = True
    unit_price: PriceIn | None = None


class BundleCreate(_Input):
    name: ShortName
    description: Description = ""
    items: list[BundleItemIn]


class BundleUpdate(_Input):
    name: ShortName | None = None
    description: Description | None = None
    items: list[BundleItemIn] | None = None


class BundleItemRead(BaseModel):
    product_id: IdStr
    product_code: str
    product_name: str
    quantity_multiplier: int
    parent_item: int | None
    billable: bool
    unit_price: OptionalMoneyOut


class BundleRead(BaseModel):
    id: IdStr
    name: str
    description: str
    status: CatalogStatus
    sellable: bool
    list_price: OptionalMoneyOut
    """Per bundle unit per month: the billable items' prices times their multipliers (None if unpriced)."""
    items: list[BundleItemRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, bundle: Bundle, *, sellable: bool) -> BundleRead:
        """Needs ``bundle.items`` and each item's ``product`` loaded."""
        items = []
        total = None
        priced = True
        for item in bundle.items:
            price = item.unit_price if item.unit_price is not None else item.product.list_price
            items.append(
                BundleItemRead(
                    product_id=str(item.product_id),
                    product_code=item.product.product_code,
                    product_name=item.product.name,
                    quantity_multiplier=item.quantity_multiplier,
                    parent_item=item.parent_position,
                    billable=item.billable,
                    unit_price=price,
                )
            )
            if item.billable:
                if price is None:
                    priced = False
                else:
                    total = (total or 0) + price * item.quantity_multiplier
        return cls(
            id=str(bundle.id),
            name=bundle.name,
            description=bundle.description,
            status=bundle.status,
            sellable=sellable,
            list_price=total if priced else None,
            items=items,
            created_at=bundle.created_at,
            updated_at=bundle.updated_at,
        )


# --- import --------------------------------------------------------------------------------------------


class Counts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportResult(BaseModel):
    format: str
    dry_run: bool = False
    rows_read: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    details: dict[str, Counts] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def count(self, kind: str, outcome: str) -> None:
        counts = self.details.setdefault(kind, Counts())
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        setattr(self, outcome, getattr(self, outcome) + 1)
