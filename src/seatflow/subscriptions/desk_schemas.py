"""The renewal desk as the API shows it and what it takes (SPEC §13: ids as strings, money as decimal strings)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from seatflow.catalog.models import Term
from seatflow.schemas import IdStr, MoneyOut, MultiLine, OptionalMoneyOut, TextIn
from seatflow.subscriptions.desk import Renewal
from seatflow.subscriptions.models import BillingPlan, SubscriptionStatus
from seatflow.subscriptions.schemas import Quantity


class DifferenceRead(BaseModel):
    what: str
    """``quantity``, ``product``, ``term and billing plan``, ``term end`` or ``unit price``."""
    before: str
    after: str


class NextTermRead(BaseModel):
    quantity: int
    product_id: IdStr
    product_name: str
    term: Term
    billing_plan: BillingPlan
    term_start: date
    term_end: date | None
    """The next term's last day (the co-term target's when co-termed); null when a scheduled co-term can no longer
    apply (``problem`` says why)."""
    co_term_subscription_id: IdStr | None
    unit_price: MoneyOut
    cost_price: OptionalMoneyOut
    monthly_amount: MoneyOut
    """unit_price * quantity, rounded half-up to the currency's minor unit."""


class RenewalRead(BaseModel):
    subscription_id: IdStr
    customer_id: IdStr
    customer_name: str
    contract_id: IdStr
    contract_name: str
    product_id: IdStr
    product_name: str
    status: SubscriptionStatus
    quantity: int
    term: Term
    billing_plan: BillingPlan
    term_end: date
    renewal_date: date
    """The day after ``term_end``: the next term's first day, or the day it expires."""
    auto_renew: bool
    expires_on: date | None
    """Without auto-renew: the day it expires (nothing renews, nothing is billed after)."""
    currency: str
    unit_price: MoneyOut
    monthly_amount: MoneyOut
    """unit_price * quantity now, rounded half-up to the currency's minor unit."""
    monthly_amount_after: MoneyOut
    """The next term's monthly amount; "0.00" when it expires."""
    next_term: NextTermRead | None
    """What the next term will be, the scheduled changes combined; null when it does not renew."""
    changes: list[DifferenceRead]
    """What the renewal changes, in words; empty when it renews as it is (or expires)."""
    scheduled_change_ids: list[IdStr]
    """The changes scheduled for the renewal, oldest first (``POST /scheduled-changes/{id}/cancel`` drops one)."""
    problem: str | None

    @classmethod
    def from_renewal(cls, renewal: Renewal) -> RenewalRead:
        s, after = renewal.subscription, renewal.next_term
        return cls(
            subscription_id=s.id,
            customer_id=renewal.customer.id,
            customer_name=renewal.customer.name,
            contract_id=renewal.contract.id,
            contract_name=renewal.contract.name,
            product_id=s.product_id,
            product_name=renewal.product.name,
            status=s.status,
            quantity=s.quantity,
            term=s.term,
            billing_plan=s.billing_plan,
            term_end=s.term_end,
            renewal_date=renewal.renewal_date,
            auto_renew=s.auto_renew,
            expires_on=renewal.expires_on,
            currency=s.currency,
            unit_price=s.unit_price,
            monthly_amount=renewal.monthly_amount,
            monthly_amount_after=renewal.monthly_amount_after,
            next_term=None
            if after is None
            else NextTermRead(
                quantity=after.quantity,
                product_id=after.product.id,
                product_name=after.product.name,
                term=after.next.term,
                billing_plan=after.next.billing_plan,
                term_start=after.term_start,
                term_end=after.term_end,
                co_term_subscription_id=after.next.co_term_subscription_id,
                unit_price=after.unit_price,
                cost_price=after.cost_price,
                monthly_amount=renewal.monthly_amount_after,
            ),
            changes=[DifferenceRead(what=d.what, before=d.before, after=d.after) for d in renewal.changes],
            scheduled_change_ids=[c.id for c in renewal.scheduled],
            problem=renewal.problem,
        )


class RenewalChange(BaseModel):
    """What the next term will be; what is left out stays as already scheduled (or as the current term)."""

    model_config = ConfigDict(extra="forbid")

    quantity: Quantity | None = None
    product_id: TextIn | None = None
    """Another SKU of the same provider account and kind (id, product code or offer ID)."""
    term: Term | None = None
    billing_plan: BillingPlan | None = None
    co_term_subscription_id: TextIn | None = None
    """End the next term with this subscription's (the same customer's; typically an add-on's base)."""
    force: bool = False
    reason: Annotated[str, Field(max_length=2000), MultiLine] | None = None
