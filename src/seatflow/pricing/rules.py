"""Price rules (SPEC §15): which rule prices a subscription, and the price it gives.

**Which rule.** Of the rules in force (not retired), the most specific that matches wins: the subscription's own
(an operator's override), then the customer's for the product, the customer's, the product's, and last the one for
everything. At most one rule is in force per scope and target: adding another retires nothing by itself, it is
refused (``price_rule_exists``); retire the old one first. A fixed-price rule applies only in its own currency: in
another, the next less specific rule is looked at.

**The price.** Per unit per month, from Microsoft's price sheet in force on the day priced (``service.unit_prices``:
the product, term, billing plan, market, currency and the quantity's tier):

- ``markup``: cost * (1 + percent / 100);
- ``erp_discount``: ERP * (1 - percent / 100);
- ``fixed``: the rule's price.

rounded half up to four decimals (the scale unit prices are kept to). Where the sheet has no price for the
product, the catalog's cost price of the plan stands for the cost (no ERP then).

**The guards**, in this order: a price above ERP is lowered to ERP unless the rule allows above ERP; a price below
cost is raised to cost unless the rule allows below cost (only an override may, and it says why). A markup rule
needs a cost and an ERP discount needs an ERP: without one the rule cannot price, and the decision says so
(``Decision.unit_price`` None, ``missing`` set) instead of guessing.

The module decides; it does not touch subscriptions (``subscriptions.repricing`` applies a decision at purchase,
at each renewal and for an override).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from seatflow.catalog.models import BillingPlan, Product, Term
from seatflow.errors import Conflict, NotFound, ValidationFailed
from seatflow.money import PRICE_SCALE, format_money
from seatflow.pricing.models import PriceRule, RuleKind, RuleScope
from seatflow.pricing.service import unit_prices

_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
HUNDRED = Decimal(100)
MAX_PERCENT = Decimal(1000)


class PriceRuleInvalid(ValidationFailed):
    code = "price_rule_invalid"


class PriceRuleExists(Conflict):
    code = "price_rule_exists"


class PriceRuleNotFound(NotFound):
    code = "price_rule_not_found"


def scope_of(
    *, product_id: uuid.UUID | None, customer_id: uuid.UUID | None, subscription_id: uuid.UUID | None
) -> RuleScope:
    if subscription_id is not None:
        if product_id is not None or customer_id is not None:
            raise PriceRuleInvalid(
                "A subscription's rule names the subscription only (its product and customer follow)."
            )
        return RuleScope.SUBSCRIPTION
    if customer_id is not None:
        return RuleScope.CUSTOMER_PRODUCT if product_id is not None else RuleScope.CUSTOMER
    return RuleScope.PRODUCT if product_id is not None else RuleScope.EVERYTHING


@dataclass(frozen=True)
class NewRule:
    kind: RuleKind
    percent: Decimal | None = None
    fixed_price: Decimal | None = None
    currency: str | None = None
    product_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    allow_above_erp: bool = False
    allow_below_cost: bool = False
    reason: str = ""


def _check(rule: NewRule, scope: RuleScope) -> None:
    if rule.kind is RuleKind.FIXED:
        if rule.fixed_price is None or rule.percent is not None:
            raise PriceRuleInvalid("A fixed rule has a fixed_price (per unit per month) and no percent.")
        if rule.fixed_price < 0:
            raise PriceRuleInvalid("A fixed price cannot be negative.")
        if not rule.currency or len(rule.currency) != 3 or not rule.currency.isalpha():
            raise PriceRuleInvalid("A fixed rule names its currency (three letters, e.g. USD).")
    else:
        if rule.percent is None or rule.fixed_price is not None:
            raise PriceRuleInvalid(f"A {rule.kind.value} rule has a percent and no fixed_price.")
        if rule.percent < 0 or rule.percent > MAX_PERCENT:
            raise PriceRuleInvalid(f"A percent is between 0 and {MAX_PERCENT}, not {rule.percent}.")
        if rule.kind is RuleKind.ERP_DISCOUNT and rule.percent > HUNDRED:
            raise PriceRuleInvalid("An ERP discount is at most 100 %.")
        if rule.currency is not None:
            raise PriceRuleInvalid("Only a fixed rule names a currency.")
    if rule.allow_below_cost and scope is not RuleScope.SUBSCRIPTION:
        raise PriceRuleInvalid("Only an override of one subscription may price below cost.")
    if scope is RuleScope.SUBSCRIPTION and not rule.reason.strip():
        raise PriceRuleInvalid("An override of a subscription's price says why (reason).")


def in_force(session: Session) -> Select[PriceRule]:
    """The rules not retired (a query to narrow)."""
    return select(PriceRule).where(PriceRule.retired_at.is_(None))


def add_rule(session: Session, rule: NewRule, *, now: datetime, actor: str) -> PriceRule:
    """The new rule; refused when it is malformed or a rule is in force for the same scope and target already.

    The caller resolves the product, customer and subscription it names (they exist)."""
    scope = scope_of(product_id=rule.product_id, customer_id=rule.customer_id, subscription_id=rule.subscription_id)
    _check(rule, scope)
    same = (
        in_force(session)
        .where(
            PriceRule.scope == scope,
            _is(PriceRule.product_id, rule.product_id),
            _is(PriceRule.customer_id, rule.customer_id),
            _is(PriceRule.subscription_id, rule.subscription_id),
        )
        .with_for_update()
    )
    existing = session.scalars(same).first()
    if existing is not None:
        raise PriceRuleExists(
            f"A {existing.kind.value} rule is in force for this {scope.value.replace('_', ' and ')} already "
            f"({existing.id}); retire it first.",
            rule_id=str(existing.id),
        )
    record = PriceRule(
        kind=rule.kind,
        scope=scope,
        percent=rule.percent,
        fixed_price=rule.fixed_price,
        currency=rule.currency.upper() if rule.currency else None,
        product_id=rule.product_id,
        customer_id=rule.customer_id,
        subscription_id=rule.subscription_id,
        allow_above_erp=rule.allow_above_erp,
        allow_below_cost=rule.allow_below_cost,
        reason=rule.reason.strip()[:300],
        created_by=actor[:100],
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _is(column: InstrumentedAttribute[uuid.UUID | None], value: uuid.UUID | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def require_rule(session: Session, rule_id: str) -> PriceRule:
    try:
        key = uuid.UUID(rule_id)
    except ValueError:
        raise PriceRuleNotFound(f"No price rule {rule_id!r}.") from None
    found = session.get(PriceRule, key)
    if found is None:
        raise PriceRuleNotFound(f"No price rule {rule_id!r}.")
    return found


def retire_rule(session: Session, rule: PriceRule, *, now: datetime, actor: str) -> PriceRule:
    """The rule stops deciding prices from now on; prices it set stay for their terms (SPEC §8)."""
    if rule.retired_at is None:
        rule.retired_at, rule.retired_by = now, actor[:100]
        session.flush()
    return rule


def matching_rules(
    session: Session, *, product_id: uuid.UUID, customer_id: uuid.UUID, subscription_id: uuid.UUID | None
) -> list[PriceRule]:
    """The rules in force that could price this subscription, most specific first."""
    r = PriceRule
    targets = [
        r.scope == RuleScope.EVERYTHING,
        (r.scope == RuleScope.PRODUCT) & (r.product_id == product_id),
        (r.scope == RuleScope.CUSTOMER) & (r.customer_id == customer_id),
        (r.scope == RuleScope.CUSTOMER_PRODUCT) & (r.customer_id == customer_id) & (r.product_id == product_id),
    ]
    if subscription_id is not None:
        targets.append((r.scope == RuleScope.SUBSCRIPTION) & (r.subscription_id == subscription_id))
    found = session.scalars(in_force(session).where(or_(*targets))).all()
    return sorted(found, key=lambda rule: -rule.scope.rank)


@dataclass(frozen=True)
class Decision:
    """What the rules say a subscription's unit price is on a day, and why."""

    rule: PriceRule | None
    unit_price: Decimal | None
    """Per unit per month; None when no rule applies or the rule cannot price (``missing``)."""
    cost: Decimal | None
    """Cost per unit per month (the sheet's, else the catalog plan's); None when unknown."""
    erp: Decimal | None
    guard: str | None = None
    """``lowered_to_erp`` or ``raised_to_cost`` when a guard moved the rule's price."""
    missing: str | None = None
    """Why the rule could not price (no cost for a markup, no ERP for a discount)."""
    sheet_entry_id: uuid.UUID | None = None

    @property
    def explanation(self) -> str:
        if self.rule is None:
            return "no price rule applies"
        rule = self.rule
        what = (
            f"{rule.kind.value} {format_money(rule.fixed_price)} {rule.currency}"
            if rule.kind is RuleKind.FIXED
            else f"{rule.kind.value} {rule.percent.normalize() if rule.percent is not None else ''}%"
        )
        text = f"{rule.scope.value.replace('_', ' and ')} rule: {what}"
        if self.missing:
            return f"{text}; {self.missing}"
        if self.guard == "lowered_to_erp":
            text += f", lowered to ERP {format_money(self.erp)}"
        elif self.guard == "raised_to_cost":
            text += f", raised to cost {format_money(self.cost)}"
        return text


def round_price(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def decide(
    session: Session,
    *,
    product: Product,
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID | None,
    term: Term,
    billing_plan: BillingPlan,
    market: str,
    currency: str,
    on: date,
    quantity: int,
    catalog_cost: Decimal | None = None,
) -> Decision:
    """The unit price the rules give on ``on`` (the module's docstring says how)."""
    rules = [
        rule
        for rule in matching_rules(
            session, product_id=product.id, customer_id=customer_id, subscription_id=subscription_id
        )
        if rule.kind is not RuleKind.FIXED or rule.currency == currency.upper()
    ]
    sheet = unit_prices(
        session,
        product=product,
        term=term,
        billing_plan=billing_plan,
        market=market,
        currency=currency,
        on=on,
        quantity=quantity,
    )
    cost = sheet.cost_per_month if sheet is not None else catalog_cost
    erp = sheet.erp_per_month if sheet is not None else None
    entry_id = sheet.entry.id if sheet is not None else None
    if not rules:
        return Decision(None, None, cost, erp, sheet_entry_id=entry_id)
    rule = rules[0]
    if rule.kind is RuleKind.MARKUP:
        if cost is None:
            return Decision(rule, None, cost, erp, missing="no cost price to mark up", sheet_entry_id=entry_id)
        assert rule.percent is not None  # noqa: S101 - checked when the rule was made
        price = round_price(cost * (HUNDRED + rule.percent) / HUNDRED)
    elif rule.kind is RuleKind.ERP_DISCOUNT:
        if erp is None:
            return Decision(rule, None, cost, erp, missing="no ERP price to discount", sheet_entry_id=entry_id)
        assert rule.percent is not None  # noqa: S101
        price = round_price(erp * (HUNDRED - rule.percent) / HUNDRED)
    else:
        assert rule.fixed_price is not None  # noqa: S101
        price = rule.fixed_price
    guard = None
    if erp is not None and price > erp and not rule.allow_above_erp:
        price, guard = erp, "lowered_to_erp"
    if cost is not None and price < cost and not rule.allow_below_cost:
        price, guard = cost, "raised_to_cost"
    return Decision(rule, price, cost, erp, guard=guard, sheet_entry_id=entry_id)
