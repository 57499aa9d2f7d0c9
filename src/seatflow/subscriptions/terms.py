"""A subscription's term and billing plan (SPEC §2, §4): one of the combinations its product is sold in, and its
first term's end, co-termed with another subscription when asked (NCE's ``customTermEndDate``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from seatflow.catalog.models import Product, ProductKind, ProductPlan, Term
from seatflow.catalog.rules import NCE_PLANS, SERVICE_PLANS, kind_plans, plan_key
from seatflow.subscriptions.errors import CoTermInvalid, TermNotOffered
from seatflow.subscriptions.models import ENDED_STATUSES, BillingPlan, Subscription
from seatflow.subscriptions.rules import term_for

__all__ = [
    "NCE_PLANS",  # the combinations live with the catalog's rules, which check a product's plans against them
    "SERVICE_PLANS",
    "allowed_plans",
    "choose_from",
    "choose_plan",
    "default_plan",
    "first_term",
    "offered",
    "plan_prices",
]


def default_plan(product: Product) -> tuple[Term, BillingPlan]:
    """The product's default combination: its own term and billing frequency (one of its plans)."""
    return product.term, BillingPlan(product.billing_frequency.value)


def offered(kind: ProductKind, plans: Sequence[ProductPlan]) -> list[tuple[Term, BillingPlan]]:
    """The combinations a product is sold in: its stored plans, or, for a product that lists none, every one its
    kind may be sold in. Session-free: ``plans`` are the product's loaded plans."""
    if plans:
        return sorted(((p.term, p.billing_plan) for p in plans), key=lambda tp: plan_key(*tp))
    return [(term, plan) for term in Term for plan in kind_plans(kind, term)]


def allowed_plans(product: Product, term: Term) -> tuple[BillingPlan, ...]:
    return tuple(plan for t, plan in offered(product.kind, product.plans) if t is term)


def choose_from(
    name: str,
    kind: ProductKind,
    default: tuple[Term, BillingPlan],
    plans: Sequence[ProductPlan],
    term: Term | None,
    billing_plan: BillingPlan | None,
) -> tuple[Term, BillingPlan]:
    """``choose_plan`` on a product's loaded fields: the combination asked for, or the default one."""
    combinations = offered(kind, plans)
    chosen_term = term or default[0]
    allowed = tuple(plan for t, plan in combinations if t is chosen_term)
    if billing_plan is None and allowed:
        billing_plan = default[1] if default[1] in allowed else allowed[0]
    if billing_plan is None or billing_plan not in allowed:
        asked = (
            f"as {chosen_term.value} billed {billing_plan.value}"
            if billing_plan
            else f"with a {chosen_term.value} term"
        )
        sold = ", ".join(f"{t.value} {p.value}" for t, p in combinations)
        raise TermNotOffered(f"{name} is not sold {asked}; it is sold as: {sold}.")
    return chosen_term, billing_plan


def choose_plan(product: Product, term: Term | None, billing_plan: BillingPlan | None) -> tuple[Term, BillingPlan]:
    """The combination asked for, or the product's default; refused (``term_not_offered``) when the product is
    not sold so: not among its plans (or, if it lists none, not a combination its kind is sold in)."""
    return choose_from(product.name, product.kind, default_plan(product), product.plans, term, billing_plan)


def plan_prices(
    product: Product, term: Term | None, billing_plan: BillingPlan | None
) -> tuple[Decimal | None, Decimal | None]:
    """(list price, cost price) per unit per month of the combination ``choose_plan`` picks: that plan's, or the
    product's own when it lists no plans."""
    chosen = choose_plan(product, term, billing_plan)
    for plan in product.plans:
        if (plan.term, plan.billing_plan) == chosen:
            return plan.list_price, plan.cost_price
    return product.list_price, product.cost_price


def first_term(start: date, term: Term, co_term: Subscription | None) -> tuple[date, date]:
    """(first day, last day) of the first term; co-termed, it ends when ``co_term``'s current term does, which
    must come after the start and no later than a full term would (Microsoft shortens a term to co-term it,
    never lengthens it)."""
    term_start, term_end = term_for(start, term.months)
    if co_term is None:
        return term_start, term_end
    if co_term.status in ENDED_STATUSES:
        raise CoTermInvalid(f"The subscription to co-term with is {co_term.status.value}.")
    if not start <= co_term.term_end <= term_end:
        raise CoTermInvalid(
            f"A {term.value} term starting on {start} can end with another subscription only between {start} and "
            f"{term_end}; that one's term ends on {co_term.term_end}."
        )
    return term_start, co_term.term_end
