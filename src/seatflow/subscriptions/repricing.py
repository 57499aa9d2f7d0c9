"""Price rules applied to subscriptions (SPEC §15, §8): at purchase, at each renewal, for an operator's override,
and the renewal price notices.

- **At purchase** a subscription bought without a unit price of its own takes the rules' price in the contract's
  currency for the customer's market (the provider account's country), and remembers the rule
  (``price_rule_id``). Its cost is the price sheet's in force that day (else the catalog plan's). Without a rule
  that can price it, the catalog's list price applies as before.
- **At each renewal** a subscription priced by a rule, or with an override in force, is priced again for the new
  term on the renewal day (the price sheet in force then, the term and plan it renews on); a different price is a
  price change effective on the renewal day, so billing charges the old term at the old price and the new term at
  the new one. Its cost follows the sheet on the renewal day whenever the sheet has one. A subscription priced by
  hand keeps its price (and an override is how an operator hands it back to the rules at a price of its own).
- **The price is protected for the term**: a rule added, changed or retired mid-term moves no price until the
  subscription's next renewal.
- **An override** is a fixed rule of the subscription's scope with a reason (it replaces the override before it).
  It applies from the next renewal, or from the day the operator names (``price_effective_date``, the same rule
  as a price set by hand). It is refused, not clamped, above ERP or below cost unless it says it may be.
- **Renewal notices** list the subscriptions renewing in the next N days whose price or cost changes at renewal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from seatflow.catalog.models import BillingPlan, Product, ProviderAccount, Term
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.errors import ValidationFailed
from seatflow.money import format_money
from seatflow.pricing.models import PriceRule, RuleKind, RuleScope
from seatflow.pricing.rules import Decision, NewRule, PriceRuleInvalid, add_rule, decide, in_force, retire_rule
from seatflow.pricing.service import account_market
from seatflow.subscriptions import repository
from seatflow.subscriptions.changes import lock, record_price_change
from seatflow.subscriptions.errors import TermNotOffered
from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.next_term import combine, renewal_date
from seatflow.subscriptions.schemas import Actor
from seatflow.subscriptions.terms import plan_prices

ONE_DAY = timedelta(days=1)
MAX_NOTICE_DAYS = 365


def _catalog_cost(product: Product, term: Term, plan: BillingPlan) -> Decimal | None:
    try:
        return plan_prices(product, term, plan)[1]
    except TermNotOffered:  # a plan no longer sold has no catalog cost
        return None


def decide_for(
    session: Session,
    subscription: Subscription,
    *,
    on: date,
    product: Product | None = None,
    term: Term | None = None,
    billing_plan: BillingPlan | None = None,
    quantity: int | None = None,
) -> Decision:
    """The rules' decision for ``subscription`` on ``on`` (by default for its current product, term and plan)."""
    product = product or session.get(Product, subscription.product_id)
    assert product is not None  # noqa: S101 - a foreign key
    contract = session.get(BillingContract, subscription.contract_id)
    account = session.get(ProviderAccount, subscription.provider_account_id)
    assert contract is not None  # noqa: S101
    assert account is not None  # noqa: S101
    term = term or subscription.term
    plan = billing_plan or subscription.billing_plan
    return decide(
        session,
        product=product,
        customer_id=contract.customer_id,
        subscription_id=subscription.id,
        term=term,
        billing_plan=plan,
        market=account_market(account),
        currency=subscription.currency,
        on=on,
        quantity=quantity if quantity is not None else subscription.quantity,
        # Without a sheet price that day, the cost known best: the subscription's own for its plan (what Microsoft
        # charges it now), else the catalog's.
        catalog_cost=subscription.cost_price
        if (product.id, term, plan) == (subscription.product_id, subscription.term, subscription.billing_plan)
        and subscription.cost_price is not None
        else _catalog_cost(product, term, plan),
    )


def price_at_purchase(
    session: Session,
    *,
    product: Product,
    contract: BillingContract,
    account: ProviderAccount,
    term: Term,
    billing_plan: BillingPlan,
    quantity: int,
    on: date,
) -> Decision:
    """The rules' decision for a subscription about to be bought (no override can exist yet)."""
    return decide(
        session,
        product=product,
        customer_id=contract.customer_id,
        subscription_id=None,
        term=term,
        billing_plan=billing_plan,
        market=account_market(account),
        currency=contract.currency,
        on=on,
        quantity=quantity,
        catalog_cost=_catalog_cost(product, term, billing_plan),
    )


def _override(session: Session, subscription_id: uuid.UUID) -> PriceRule | None:
    return session.scalars(
        in_force(session).where(PriceRule.scope == RuleScope.SUBSCRIPTION, PriceRule.subscription_id == subscription_id)
    ).first()


def reprice_at_renewal(
    session: Session, subscription: Subscription, *, renewal: date, now: datetime, actor: Actor
) -> None:
    """Price the term that starts on ``renewal`` (the module's docstring says when and how)."""
    ruled = subscription.price_rule_id is not None or _override(session, subscription.id) is not None
    decision = decide_for(session, subscription, on=renewal)
    if decision.sheet_entry_id is not None and decision.cost is not None:
        subscription.cost_price = decision.cost
    if not ruled or decision.rule is None or decision.unit_price is None:
        return
    subscription.price_rule_id = decision.rule.id
    record_price_change(
        session,
        subscription,
        price=decision.unit_price,
        effective_date=renewal,
        actor=actor,
        now=now,
        reason=f"Priced at renewal by the {decision.explanation}.",
    )


def price_effective_date(session: Session, subscription: Subscription, asked: date | None, *, today: date) -> date:
    """From when a new unit price applies (SPEC §8): the day the operator set, or, since a subscription's price is
    protected for its term (seats added mid-term take the term's price too), its next renewal; from its start when
    it has not started. ``unit_price`` is then the latest price set, and the price change says from when.

    Not before its start, nor before a price change already recorded (an earlier day would leave that later change
    in force after it: set a day on or after it instead)."""
    if asked is None:
        started = today >= subscription.term_start
        asked = subscription.term_end + timedelta(days=1) if started else subscription.term_start
    if asked < subscription.start_date:
        raise ValidationFailed(
            f"A price applies from the subscription's start ({subscription.start_date}) at the earliest, not {asked}.",
            code="price_effective_before_start",
        )
    latest = session.execute(
        select(func.max(LicenseChange.effective_date)).where(
            LicenseChange.subscription_id == subscription.id, LicenseChange.kind == ChangeKind.PRICE
        )
    ).scalar_one_or_none()
    if latest is not None and asked < latest:
        raise ValidationFailed(
            f"A price change from {latest} is recorded already: a new price can apply from {latest} or later, "
            f"not {asked}.",
            code="price_change_pending",
            pending_from=latest.isoformat(),
        )
    return asked


@dataclass(frozen=True)
class OverrideResult:
    rule: PriceRule
    effective_date: date
    price_before: Decimal
    decision: Decision


def override_price(
    session: Session,
    *,
    subscription_id: uuid.UUID,
    unit_price: Decimal,
    reason: str,
    allow_below_cost: bool,
    allow_above_erp: bool,
    effective: date | None,
    today: date,
    now: datetime,
    actor: Actor,
) -> OverrideResult:
    """Replace the subscription's override by a fixed price with a reason; refused above ERP or below cost unless
    allowed (the price sheet in force on the day it applies, or today's when that day's list is not out yet)."""
    subscription = lock(session, subscription_id)
    if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
        raise PriceRuleInvalid(f"The subscription is {subscription.status.value}: its price no longer changes.")
    applies = price_effective_date(session, subscription, effective, today=today)
    previous = _override(session, subscription.id)
    if previous is not None:
        retire_rule(session, previous, now=now, actor=actor.name)
    rule = add_rule(
        session,
        NewRule(
            kind=RuleKind.FIXED,
            fixed_price=unit_price,
            currency=subscription.currency,
            subscription_id=subscription.id,
            allow_below_cost=allow_below_cost,
            allow_above_erp=allow_above_erp,
            reason=reason,
        ),
        now=now,
        actor=actor.name,
    )
    decision = decide_for(session, subscription, on=applies)
    if decision.sheet_entry_id is None and applies > today:  # the day's list is not out yet: today's prices guard
        decision = decide_for(session, subscription, on=today)
    if decision.guard == "raised_to_cost":
        raise PriceRuleInvalid(
            f"{format_money(unit_price)} is below the cost of {format_money(decision.cost)} per unit per month: "
            "allow_below_cost, with the reason, to sell at a loss.",
            code="price_below_cost",
            cost=format_money(decision.cost),
        )
    if decision.guard == "lowered_to_erp":
        raise PriceRuleInvalid(
            f"{format_money(unit_price)} is above Microsoft's recommended retail price of "
            f"{format_money(decision.erp)}: allow_above_erp to charge more.",
            code="price_above_erp",
            erp=format_money(decision.erp),
        )
    before = subscription.unit_price
    subscription.price_rule_id = rule.id
    record_price_change(
        session,
        subscription,
        price=unit_price,
        effective_date=applies,
        actor=actor,
        now=now,
        reason=f"Price override: {rule.reason}",
    )
    session.flush()
    return OverrideResult(rule=rule, effective_date=applies, price_before=before, decision=decision)


@dataclass(frozen=True)
class RenewalNotice:
    subscription: Subscription
    customer: CustomerAccount
    product: Product
    renewal_date: date
    quantity: int
    price_now: Decimal
    price_at_renewal: Decimal
    cost_now: Decimal | None
    cost_at_renewal: Decimal | None
    explanation: str


def renewal_notices(session: Session, *, today: date, days: int, limit: int = 1000) -> list[RenewalNotice]:
    """Subscriptions renewing from ``today`` to ``today + days`` whose unit price or cost changes at renewal, by
    renewal day; each priced as the renewal will price it (the changes scheduled for the renewal included)."""
    if not 0 < days <= MAX_NOTICE_DAYS:
        raise PriceRuleInvalid(f"days is between 1 and {MAX_NOTICE_DAYS}, not {days}.")
    s = Subscription
    override = exists().where(
        PriceRule.subscription_id == s.id, PriceRule.scope == RuleScope.SUBSCRIPTION, PriceRule.retired_at.is_(None)
    )
    candidates = session.scalars(
        select(s)
        .where(
            s.status == SubscriptionStatus.ACTIVE,
            s.auto_renew.is_(True),
            and_(s.term_end >= today - ONE_DAY, s.term_end < today + timedelta(days=days)),
            or_(s.price_rule_id.is_not(None), override, s.cost_price.is_not(None)),
        )
        .order_by(s.term_end, s.id)
        .limit(limit)
    ).all()
    notices: list[RenewalNotice] = []
    for subscription in candidates:
        renewal = renewal_date(subscription)
        after = combine(subscription, list(repository.at_renewal_of(session, subscription.id)))
        product = session.get(Product, after.product_id)
        contract = session.get(BillingContract, subscription.contract_id)
        assert product is not None  # noqa: S101
        assert contract is not None  # noqa: S101
        decision = decide_for(
            session,
            subscription,
            on=renewal,
            product=product,
            term=after.term,
            billing_plan=after.billing_plan,
            quantity=after.quantity,
        )
        ruled = subscription.price_rule_id is not None or _override(session, subscription.id) is not None
        price_after = subscription.unit_price
        if ruled and decision.rule is not None and decision.unit_price is not None:
            price_after = decision.unit_price
        cost_after = decision.cost if decision.sheet_entry_id is not None else subscription.cost_price
        if price_after == subscription.unit_price and cost_after == subscription.cost_price:
            continue
        customer = session.get(CustomerAccount, contract.customer_id)
        assert customer is not None  # noqa: S101
        notices.append(
            RenewalNotice(
                subscription=subscription,
                customer=customer,
                product=product,
                renewal_date=renewal,
                quantity=after.quantity,
                price_now=subscription.unit_price,
                price_at_renewal=price_after,
                cost_now=subscription.cost_price,
                cost_at_renewal=cost_after,
                explanation=decision.explanation if ruled else "priced by hand: the price is kept",
            )
        )
    return notices
