from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from seatflow.reconciliation.service import Classification, Item, LogMismatch, MatchedBy, Report
from seatflow.schemas import IdStr, OneLine, PriceIn

Ref = Annotated[str, Field(min_length=1, max_length=300), OneLine]
ShortRef = Annotated[str, Field(min_length=1, max_length=100), OneLine]


class ReconciliationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_account_id: Ref = Field(description="Id or name.")


class ItemRead(BaseModel):
    classification: Classification
    detail: str
    customer_id: IdStr | None
    tenant_id: str | None
    subscription_id: IdStr | None
    external_id: str | None
    offer_id: str | None
    product_name: str | None
    provider_quantity: int | None
    seatflow_quantity: int | None
    children_quantity: int | None
    provider_status: str | None = Field(description="Partner Center's status: active, suspended, expired, …")
    matched_by: MatchedBy | None = Field(
        description="external_id, or product (productId:skuId): then adopt takes the provider's external_id too."
    )
    product_id: IdStr | None = Field(description="seatflow's product (for an unknown one: of its offer, if any).")
    needs_parent: bool = Field(
        description="A new-commerce add-on: Partner Center names no parent, so import needs parent_subscription_id."
    )
    fixes: list[str]

    @classmethod
    def from_item(cls, item: Item) -> ItemRead:
        return cls(
            classification=item.classification,
            detail=item.detail,
            customer_id=str(item.customer_id) if item.customer_id else None,
            tenant_id=item.tenant_id,
            subscription_id=str(item.subscription_id) if item.subscription_id else None,
            external_id=item.external_id,
            offer_id=item.offer_id,
            product_name=item.product_name,
            provider_quantity=item.provider_quantity,
            seatflow_quantity=item.seatflow_quantity,
            children_quantity=item.children_quantity,
            provider_status=item.provider_status,
            matched_by=item.matched_by,
            product_id=str(item.product_id) if item.product_id else None,
            needs_parent=item.needs_parent,
            fixes=list(item.fixes),
        )


class ReportRead(BaseModel):
    provider_account_id: IdStr
    checked_at: datetime
    tenants: int
    provider_subscriptions: int
    provider_customers: int = Field(description="Customers at the provider, every page read.")
    items: list[ItemRead]

    @classmethod
    def from_report(cls, report: Report) -> ReportRead:
        return cls(
            provider_account_id=str(report.provider_account_id),
            checked_at=report.checked_at,
            tenants=report.tenants,
            provider_subscriptions=report.provider_subscriptions,
            provider_customers=report.provider_customers,
            items=[ItemRead.from_item(i) for i in report.items],
        )


class AdoptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscription_id: ShortRef
    child_subscription_id: Annotated[str, Field(max_length=100), OneLine] | None = None
    """The linked child that takes the difference (required when the subscription has linked children)."""
    external_id: Annotated[str, Field(max_length=100), OneLine] | None = None
    """The provider subscription to adopt, for an item matched by product: it becomes this one's provider id."""


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscription_id: ShortRef


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_account_id: Ref
    tenant_id: ShortRef
    external_id: ShortRef
    contract_id: Ref
    unit_price: PriceIn | None = None
    parent_subscription_id: Annotated[str, Field(max_length=100), OneLine] | None = None
    """For a new-commerce add-on (Partner Center names no parent): the seatflow subscription it goes under."""


class MismatchRead(BaseModel):
    subscription_id: IdStr
    quantity: int
    change_log_quantity: int

    @classmethod
    def from_mismatch(cls, found: LogMismatch) -> MismatchRead:
        return cls(
            subscription_id=str(found.subscription_id),
            quantity=found.quantity,
            change_log_quantity=found.change_log_quantity,
        )
