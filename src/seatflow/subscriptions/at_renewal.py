"""Changes at renewal (SPEC §7 "changes at renewal"): what a subscription's next term will be (quantity, SKU, term,
billing plan, co-term end), scheduled ahead and applied by the renewal run when the term renews.

Each request is a ``ScheduledChange(at_renewal=True)`` holding the next term's quantity and whatever else it
changes; later ones override earlier ones, as the worker reads them for Partner Center's
``scheduledNextTermInstructions``, and every new one calls ``note_next_term`` so Microsoft is told before the term
ends. A subscription that does not renew (auto-renew off) takes none: it expires at its term end.

The next term itself (combining the scheduled changes, its end, its prices) is ``next_term.py``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import CatalogStatus, Product, ProviderKind, Term
from seatflow.catalog.rules import is_sellable, not_purchasable_reason, plan_text
from seatflow.catalog.service import require_product
from seatflow.contracts.models import BillingContract
from seatflow.errors import ValidationFailed
from seatflow.ids import parse_id
from seatflow.subscriptions import repository
from seatflow.subscriptions.changes import (
    apply_quantity,
    guard_linked_parent,
    lock,
    note_next_term,
    product_of,
    provider_kind,
    record_change,
)
from seatflow.subscriptions.errors import (
    AddonParentInvalid,
    CoTermInvalid,
    InvalidLink,
    ProductNotSellable,
    ProductSwitchInvalid,
    SubscriptionNotFound,
    SubscriptionNotLive,
)
from seatflow.subscriptions.models import (
    BillingPlan,
    ChangeKind,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
)
from seatflow.subscriptions.next_term import (
    ONE_DAY,
    NextTerm,
    co_term_end,
    combine,
    next_term_end,
    renewal_date,
    renewal_prices,
)
from seatflow.subscriptions.rules import check_quantity, renewed_term
from seatflow.subscriptions.schemas import Actor
from seatflow.subscriptions.terms import allowed_plans, choose_plan

# --- scheduling ----------------------------------------------------------------------------------------------------


def _check_renews(subscription: Subscription, today: date) -> None:
    if subscription.status not in repository.NOT_CANCELLED:
        raise SubscriptionNotLive(f"The subscription is {subscription.status.value}; it renews no more.")
    if not subscription.auto_renew:
        raise ValidationFailed(
            f"The subscription does not renew: it expires after {subscription.term_end}. Turn auto-renew on first.",
            code="not_renewing",
        )
    if today > subscription.term_end:
        raise SubscriptionNotLive(
            f"The term ended on {subscription.term_end}; run the renewals first, then schedule the next term."
        )


def _switch_target(session: Session, subscription: Subscription, current: Product, ref: str) -> Product:
    """The product the next term is on: another SKU of the same provider account and kind, sellable, under which
    the subscription's add-ons can still hang and which can hang under its parent."""
    target = require_product(session, ref)
    if target.id == current.id:
        return current
    if subscription.linked_subscription_id is not None:
        raise InvalidLink(
            "A linked subscription has its parent's product: change the parent's SKU at renewal, then link the "
            "children to it."
        )
    if target.provider_account_id != current.provider_account_id:
        raise ProductSwitchInvalid(
            f"{target.name} is sold through another provider account than {current.name}: a subscription can renew "
            "only on another SKU of the same account."
        )
    if target.kind is not current.kind:
        raise ProductSwitchInvalid(
            f"{target.name} is a {target.kind.value} and {current.name} a {current.kind.value}: a subscription can "
            "renew only on a product of the same kind."
        )
    if not is_sellable(target.status, target.kind, len(target.parents)):
        why = "is retired" if target.status is CatalogStatus.RETIRED else "has no possible parents"
        raise ProductNotSellable(f"{target.name} {why}: it cannot be sold.")
    reason = not_purchasable_reason(provider_kind(session, subscription), target.offer_id)
    if reason is not None:
        raise ProductNotSellable(f"{target.name}: {reason}")
    _check_addon_tree(session, subscription, target)
    return target


def _check_addon_tree(session: Session, subscription: Subscription, target: Product) -> None:
    if subscription.parent_subscription_id is not None:
        parent = repository.get(session, subscription.parent_subscription_id)
        assert parent is not None  # noqa: S101 - a foreign key guarantees it
        parent_product = product_of(session, parent)
        if parent_product.id not in {p.id for p in target.parents}:
            raise AddonParentInvalid(
                f"{target.name} cannot hang under {parent_product.name}, the parent subscription's product: "
                "choose an add-on that can."
            )
    for addon in repository.addons_of(session, subscription.id, repository.NOT_CANCELLED):
        addon_product = product_of(session, addon)
        if target.id not in {p.id for p in addon_product.parents}:
            raise AddonParentInvalid(
                f"Its add-on {addon_product.name} cannot hang under {target.name}: end or move the add-on first, "
                "or choose another product.",
                addon_ids=[str(addon.id)],
            )


def _co_term_target(session: Session, subscription: Subscription, ref: str) -> Subscription:
    """A live subscription of the same customer (typically an add-on's base): its term end is the next term's."""
    target_id = parse_id(ref)
    target = repository.get(session, target_id) if target_id else None
    if target is None:
        raise SubscriptionNotFound(f"No subscription {ref!r} to co-term with.")
    if target.id == subscription.id:
        raise CoTermInvalid("A subscription cannot be co-termed with itself.")
    if _customer_of(session, target) != _customer_of(session, subscription):
        raise CoTermInvalid("A subscription can be co-termed only with another subscription of the same customer.")
    return target


def _customer_of(session: Session, subscription: Subscription) -> uuid.UUID:
    contract = session.get(BillingContract, subscription.contract_id)
    assert contract is not None  # noqa: S101 - a foreign key guarantees it
    return contract.customer_id


def schedule_at_renewal(
    session: Session,
    *,
    subscription_id: uuid.UUID,
    actor: Actor,
    now: datetime,
    today: date,
    quantity: int | None = None,
    product_id: str | None = None,
    term: Term | None = None,
    billing_plan: BillingPlan | None = None,
    co_term_subscription_id: str | None = None,
    force: bool = False,
    reason: str | None = None,
) -> ScheduledChange:
    """Set what the next term will be; what is not given stays as already scheduled (or as the current term).

    Raises ``not_renewing`` (auto-renew is off), SubscriptionNotLive, LinkedParentLocked (without force and a
    reason), QuantityOutOfRange (the next term's product's limits), ProductNotSellable, ``product_switch_invalid``
    (another account or kind), AddonParentInvalid, InvalidLink (a linked child's SKU), TermNotOffered,
    CoTermInvalid, ``no_change``."""
    subscription = lock(session, subscription_id)
    _check_renews(subscription, today)
    guard_linked_parent(session, subscription, force=force, reason=reason)
    current = product_of(session, subscription)
    before = combine(subscription, repository.at_renewal_of(session, subscription.id))
    product = current if before.product_id == current.id else _product(session, before.product_id)
    if product_id is not None:
        product = _switch_target(session, subscription, current, product_id)
    chosen_term, chosen_plan = before.term, before.billing_plan
    plan_asked = product_id is not None or term is not None or billing_plan is not None
    if plan_asked:
        wanted_term = term or before.term
        keep = before.billing_plan if before.billing_plan in allowed_plans(product, wanted_term) else None
        chosen_term, chosen_plan = choose_plan(product, wanted_term, billing_plan or keep)
    next_quantity = quantity if quantity is not None else before.quantity
    check_quantity(next_quantity, minimum=product.min_quantity, maximum=product.max_quantity, product=product.name)
    co_term = _co_term_target(session, subscription, co_term_subscription_id) if co_term_subscription_id else None
    after = NextTerm(
        next_quantity,
        product.id,
        chosen_term,
        chosen_plan,
        co_term.id if co_term else before.co_term_subscription_id,
    )
    if after == before:
        raise ValidationFailed(_unchanged(before, product), code="no_change")
    next_term_end(session, subscription, after)  # the co-term still fits the next term
    scheduled = ScheduledChange(
        subscription_id=subscription.id,
        quantity=next_quantity,
        product_id=product.id if product_id is not None else None,
        term=chosen_term if plan_asked else None,
        billing_plan=chosen_plan if plan_asked else None,
        co_term_subscription_id=co_term.id if co_term else None,
        at_renewal=True,
        effective_date=renewal_date(subscription),
        origin=actor.origin,
        requested_by=actor.name,
        force=force,
        reason=reason,
        status=ScheduledStatus.SCHEDULED,
    )
    session.add(scheduled)
    session.flush()
    note_next_term(session, subscription, actor=actor, now=now)
    return scheduled


def _product(session: Session, product_id: uuid.UUID) -> Product:
    product = catalog_repository.get_product(session, product_id)
    assert product is not None  # noqa: S101 - a foreign key guarantees it
    return product


def _unchanged(after: NextTerm, product: Product) -> str:
    return (
        f"The next term is already {after.quantity} {product.name}, {plan_text(after.term, after.billing_plan)}: "
        "say what changes at renewal (quantity, product, term, billing plan or co-term)."
    )


def clear_at_renewal(session: Session, *, subscription_id: uuid.UUID, actor: Actor, now: datetime) -> int:
    """Cancel every change scheduled for the renewal: the subscription renews as it is. The number cancelled."""
    subscription = lock(session, subscription_id)
    scheduled = list(repository.at_renewal_of(session, subscription.id))
    if not scheduled:
        raise ValidationFailed("Nothing is scheduled for the renewal.", code="no_change")
    for change in scheduled:
        change.status = ScheduledStatus.CANCELLED
        change.message = f"Cleared by {actor.name}: the subscription renews as it is."
    session.flush()
    note_next_term(session, subscription, actor=actor, now=now)
    return len(scheduled)


# --- applying at the renewal ----------------------------------------------------------------------------------------


def switches(scheduled: ScheduledChange) -> bool:
    """Whether it changes more than the quantity (a SKU, term, plan or co-term)."""
    fields = (scheduled.product_id, scheduled.term, scheduled.billing_plan, scheduled.co_term_subscription_id)
    return any(value is not None for value in fields)


def apply_at_renewal(
    session: Session,
    *,
    subscription: Subscription,
    scheduled: ScheduledChange,
    renewal: date,
    actor: Actor,
    now: datetime,
) -> LicenseChange:
    """Called by the renewal run once the term was renewed (``term_start`` is ``renewal``), with the subscription
    locked: switch the SKU, term, plan and co-term, then set the quantity. The switch is a ``price`` change in the
    log (before and after prices, what changed in its reason); the quantity a ``quantity`` change, as before.
    Returns the quantity change, or the switch when the quantity stays."""
    switch = _switch(session, subscription, scheduled, renewal=renewal, actor=actor, now=now)
    product = product_of(session, subscription)
    check_quantity(scheduled.quantity, minimum=product.min_quantity, maximum=product.max_quantity, product=product.name)
    if switch is not None and scheduled.quantity == subscription.quantity:
        return switch
    return apply_quantity(
        session,
        subscription=subscription,
        quantity=scheduled.quantity,
        effective_date=renewal,
        actor=actor,
        now=now,
        reason=scheduled.reason,
    )


def _switch(
    session: Session,
    subscription: Subscription,
    scheduled: ScheduledChange,
    *,
    renewal: date,
    actor: Actor,
    now: datetime,
) -> LicenseChange | None:
    if not switches(scheduled):
        return None
    current = product_of(session, subscription)
    product = current
    if scheduled.product_id is not None:  # still sellable, and its add-on tree still holds
        product = _switch_target(session, subscription, current, str(scheduled.product_id))
    term = scheduled.term or subscription.term
    plan = scheduled.billing_plan or subscription.billing_plan
    term, plan = choose_plan(product, term, plan)
    unit_price, cost_price = renewal_prices(subscription, current, product, term, plan)
    after = NextTerm(scheduled.quantity, product.id, term, plan, scheduled.co_term_subscription_id)
    co_termed = subscription.co_term_subscription_id is not None
    term_end = renewed_term(subscription.start_date, renewal - ONE_DAY, term.months, co_termed=co_termed)[1]
    if after.co_term_subscription_id is not None:
        target = repository.get(session, after.co_term_subscription_id)
        if target is None:
            raise SubscriptionNotFound("The subscription to co-term with is gone.")
        term_end = co_term_end(target, renewal, term_end)
    what = _what_switched(subscription, current, product, term, plan, term_end)
    price_before = subscription.unit_price
    subscription.product_id, subscription.term, subscription.billing_plan = product.id, term, plan
    subscription.term_start, subscription.term_end = renewal, term_end
    if after.co_term_subscription_id is not None:
        subscription.co_term_subscription_id = after.co_term_subscription_id
    subscription.unit_price, subscription.cost_price = unit_price, cost_price
    kind = provider_kind(session, subscription)
    return record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.PRICE,
        quantity_before=subscription.quantity,
        quantity_after=subscription.quantity,
        price_before=price_before,
        price_after=unit_price,
        effective_date=renewal,
        actor=actor,
        now=now,
        reason="At renewal: " + "; ".join(what) + (f". {scheduled.reason}" if scheduled.reason else "."),
        # Partner Center's own renewal applied it (sent ahead as scheduledNextTermInstructions); a manual provider's
        # people switch it by hand; nothing is sent otherwise.
        provisioning_status=None if kind is ProviderKind.MANUAL else ProvisioningStatus.NOT_APPLICABLE,
    )


def _what_switched(
    subscription: Subscription, current: Product, product: Product, term: Term, plan: BillingPlan, term_end: date
) -> list[str]:
    what = []
    if product.id != current.id:
        what.append(f"{current.name} → {product.name}")
    if (term, plan) != (subscription.term, subscription.billing_plan):
        what.append(f"{plan_text(subscription.term, subscription.billing_plan)} → {plan_text(term, plan)}")
    what.append(f"term until {term_end}")
    return what
