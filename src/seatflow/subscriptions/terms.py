"""A subscription's term and billing plan (SPEC §2, §4): one of the combinations its product is sold in, and its
first term's end, co-termed with another subscription when asked (NCE's ``customTermEndDate``)."""

from __future__ import annotations

from datetime import date

from seatflow.catalog.models import Product, ProductKind, Term
from seatflow.subscriptions.errors import CoTermInvalid, TermNotOffered
from seatflow.subscriptions.models import ENDED_STATUSES, BillingPlan, Subscription
from seatflow.subscriptions.rules import term_for

NCE_PLANS: dict[Term, tuple[BillingPlan, ...]] = {
    Term.P1M: (BillingPlan.MONTHLY,),
    Term.P1Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL),
    Term.P3Y: (BillingPlan.MONTHLY, BillingPlan.ANNUAL, BillingPlan.TRIENNIAL),
}
"""The term and billing-plan combinations Microsoft's new commerce sells."""

SERVICE_PLANS: tuple[BillingPlan, ...] = (BillingPlan.MONTHLY, BillingPlan.QUARTERLY, BillingPlan.ANNUAL)
"""The reseller's own services: any term, billed monthly, quarterly or annually."""


def default_plan(product: Product) -> tuple[Term, BillingPlan]:
    """The product's own term and billing frequency, as it was sold before combinations existed."""
    return product.term, BillingPlan(product.billing_frequency.value)


def allowed_plans(product: Product, term: Term) -> tuple[BillingPlan, ...]:
    if product.kind is ProductKind.SERVICE:
        return tuple(plan for plan in SERVICE_PLANS if plan.months <= term.months)
    return NCE_PLANS[term]


def choose_plan(product: Product, term: Term | None, billing_plan: BillingPlan | None) -> tuple[Term, BillingPlan]:
    """The combination asked for, or the product's default; refused (``term_not_offered``) when the product is
    not sold so."""
    default_term, default_billing = default_plan(product)
    chosen_term = term or default_term
    if billing_plan is None:
        plans = allowed_plans(product, chosen_term)
        billing_plan = default_billing if default_billing in plans else plans[0]
    if billing_plan not in allowed_plans(product, chosen_term):
        offered = ", ".join(f"{t.value} {p.value}" for t in Term for p in allowed_plans(product, t))
        raise TermNotOffered(
            f"{product.name} is not sold as {chosen_term.value} billed {billing_plan.value}; it is sold as: {offered}."
        )
    return chosen_term, billing_plan


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
