"""What the price override and the renewal price notices answer (SPEC §13: money as decimal strings)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from seatflow.pricing.schemas import DecisionRead, PriceRuleRead
from seatflow.schemas import IdStr, MoneyOut, OptionalMoneyOut
from seatflow.subscriptions.repricing import OverrideResult, RenewalNotice


class OverrideRead(BaseModel):
    rule: PriceRuleRead
    subscription_id: IdStr
    price_before: MoneyOut
    unit_price: MoneyOut
    effective_date: date
    cost: OptionalMoneyOut
    erp: OptionalMoneyOut

    @classmethod
    def from_result(cls, result: OverrideResult) -> OverrideRead:
        rule = result.rule
        assert rule.fixed_price is not None  # noqa: S101 - an override is a fixed rule
        return cls(
            rule=PriceRuleRead.from_model(rule),
            subscription_id=str(rule.subscription_id),
            price_before=result.price_before,
            unit_price=rule.fixed_price,
            effective_date=result.effective_date,
            cost=result.decision.cost,
            erp=result.decision.erp,
        )


class RenewalNoticeRead(BaseModel):
    subscription_id: IdStr
    customer_id: IdStr
    customer_name: str
    product_id: IdStr
    product_name: str
    renewal_date: date
    quantity: int
    currency: str
    price_now: MoneyOut
    price_at_renewal: MoneyOut
    cost_now: OptionalMoneyOut
    cost_at_renewal: OptionalMoneyOut
    explanation: str

    @classmethod
    def from_notice(cls, notice: RenewalNotice) -> RenewalNoticeRead:
        return cls(
            subscription_id=str(notice.subscription.id),
            customer_id=str(notice.customer.id),
            customer_name=notice.customer.name,
            product_id=str(notice.product.id),
            product_name=notice.product.name,
            renewal_date=notice.renewal_date,
            quantity=notice.quantity,
            currency=notice.subscription.currency,
            price_now=notice.price_now,
            price_at_renewal=notice.price_at_renewal,
            cost_now=notice.cost_now,
            cost_at_renewal=notice.cost_at_renewal,
            explanation=notice.explanation,
        )


__all__ = ["DecisionRead", "OverrideRead", "RenewalNoticeRead"]
