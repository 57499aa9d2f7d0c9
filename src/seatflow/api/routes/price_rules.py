"""Price rules (SPEC §15): the rules, a subscription's override, what the rules would price, and the renewal
price notices."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from seatflow.catalog import service as product_service
from seatflow.catalog.models import BillingPlan, ProviderAccount, Term
from seatflow.contracts.service import require_contract
from seatflow.customers.service import require_customer
from seatflow.pricing import rules
from seatflow.pricing.models import PriceRule, RuleScope
from seatflow.pricing.schemas import DecisionRead, PriceRuleCreate, PriceRuleRead
from seatflow.schemas import Page
from seatflow.subscriptions import lifecycle, repricing
from seatflow.subscriptions.repricing_schemas import OverrideRead, RenewalNoticeRead
from seatflow.subscriptions.schemas import PriceOverride
from seatflow.subscriptions.terms import choose_plan
from seatflow.web.deps import ActorDep, NowDep, SessionDep, TodayDep
from seatflow.web.errors import API_PROBLEMS
from seatflow.web.security import PARAMETER_CHECKS

router = APIRouter(tags=["pricing"], responses=API_PROBLEMS, dependencies=PARAMETER_CHECKS)


@router.get("/price-rules", response_model=Page[PriceRuleRead])
def list_rules(
    session: SessionDep,
    scope: RuleScope | None = None,
    include_retired: bool = False,
) -> Page[PriceRuleRead]:
    """The rules, most specific scope first, newest first."""
    query = select(PriceRule).order_by(PriceRule.created_at.desc()).limit(1000)
    if not include_retired:
        query = query.where(PriceRule.retired_at.is_(None))
    if scope is not None:
        query = query.where(PriceRule.scope == scope)
    found = sorted(session.scalars(query).all(), key=lambda r: -r.scope.rank)
    return Page(items=[PriceRuleRead.from_model(r) for r in found], next_cursor=None)


@router.post("/price-rules", response_model=PriceRuleRead, status_code=201)
def add_rule(body: PriceRuleCreate, session: SessionDep, now: NowDep, actor: ActorDep) -> PriceRuleRead:
    """422 ``price_rule_invalid`` for a malformed rule; 409 ``price_rule_exists`` when one is in force for the same
    target (retire it first). Prices already set are protected for their terms: the rule prices purchases from now
    and renewals."""
    product = product_service.require_product(session, body.product_id) if body.product_id else None
    customer = require_customer(session, body.customer_id) if body.customer_id else None
    rule = rules.add_rule(
        session,
        rules.NewRule(
            kind=body.kind,
            percent=body.percent,
            fixed_price=body.fixed_price,
            currency=body.currency,
            product_id=product.id if product else None,
            customer_id=customer.id if customer else None,
            allow_above_erp=body.allow_above_erp,
            reason=body.reason,
        ),
        now=now,
        actor=actor.name,
    )
    return PriceRuleRead.from_model(rule)


@router.get("/price-rules/{rule_id}", response_model=PriceRuleRead)
def get_rule(rule_id: str, session: SessionDep) -> PriceRuleRead:
    return PriceRuleRead.from_model(rules.require_rule(session, rule_id))


@router.post("/price-rules/{rule_id}/retire", response_model=PriceRuleRead)
def retire_rule(rule_id: str, session: SessionDep, now: NowDep, actor: ActorDep) -> PriceRuleRead:
    """The rule prices nothing more; the prices it set stay until each subscription's renewal."""
    return PriceRuleRead.from_model(
        rules.retire_rule(session, rules.require_rule(session, rule_id), now=now, actor=actor.name)
    )


@router.get("/price-rules/quote/purchase", response_model=DecisionRead)
def quote_purchase(
    session: SessionDep,
    today: TodayDep,
    product_id: Annotated[str, Query()],
    contract_id: Annotated[str, Query()],
    quantity: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    term: Term | None = None,
    billing_plan: BillingPlan | None = None,
    on: date | None = None,
) -> DecisionRead:
    """What the rules would price a purchase of the product on the contract at (per unit per month)."""
    product = product_service.require_product(session, product_id)
    contract = require_contract(session, contract_id)
    account = session.get(ProviderAccount, product.provider_account_id)
    assert account is not None  # noqa: S101 - a foreign key
    chosen_term, plan = choose_plan(product, term, billing_plan)
    decision = repricing.price_at_purchase(
        session,
        product=product,
        contract=contract,
        account=account,
        term=chosen_term,
        billing_plan=plan,
        quantity=quantity,
        on=on or today,
    )
    return DecisionRead.from_decision(decision)


@router.post("/subscriptions/{subscription_id}/price-override", response_model=OverrideRead, tags=["subscriptions"])
def override_price(
    subscription_id: str, body: PriceOverride, session: SessionDep, today: TodayDep, now: NowDep, actor: ActorDep
) -> OverrideRead:
    """Replace the subscription's override with ``unit_price`` and the reason. From the next renewal unless
    ``price_effective_date`` says otherwise. 422 ``price_below_cost`` / ``price_above_erp`` unless allowed."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    result = repricing.override_price(
        session,
        subscription_id=subscription.id,
        unit_price=body.unit_price,
        reason=body.reason,
        allow_below_cost=body.allow_below_cost,
        allow_above_erp=body.allow_above_erp,
        effective=body.price_effective_date,
        today=today,
        now=now,
        actor=actor,
    )
    return OverrideRead.from_result(result)


@router.get("/subscriptions/{subscription_id}/price-decision", response_model=DecisionRead, tags=["subscriptions"])
def price_decision(subscription_id: str, session: SessionDep, today: TodayDep, on: date | None = None) -> DecisionRead:
    """What the rules price the subscription at on ``on`` (today by default) for its current term and plan."""
    subscription = lifecycle.require_subscription(session, subscription_id)
    return DecisionRead.from_decision(repricing.decide_for(session, subscription, on=on or today))


@router.get("/renewal-price-notices", response_model=Page[RenewalNoticeRead], tags=["subscriptions"])
def renewal_price_notices(
    session: SessionDep, today: TodayDep, days: Annotated[int, Query(ge=1, le=repricing.MAX_NOTICE_DAYS)] = 30
) -> Page[RenewalNoticeRead]:
    """Subscriptions renewing in the next ``days`` whose unit price or cost changes at renewal."""
    notices = repricing.renewal_notices(session, today=today, days=days)
    return Page(items=[RenewalNoticeRead.from_notice(n) for n in notices], next_cursor=None)
