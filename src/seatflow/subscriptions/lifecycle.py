"""Creating subscriptions (one by one or from a bundle), price and setting changes, suspend, reactivate and
cancel (refused while add-ons are active, unless cascading)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from seatflow.catalog.bundles import bundle_sellable
from seatflow.catalog.errors import ProductNotPurchasable
from seatflow.catalog.models import Bundle, CatalogStatus, Product, ProviderAccount, ProviderKind, ReductionBehavior
from seatflow.catalog.providers import require_provider_account
from seatflow.catalog.rules import DEFAULT_REDUCTION_WINDOW_DAYS, is_sellable, not_purchasable_reason
from seatflow.catalog.service import require_product
from seatflow.contracts.models import BillingContract, ContractStatus
from seatflow.contracts.service import require_contract
from seatflow.errors import ValidationFailed
from seatflow.ids import parse_id
from seatflow.subscriptions import repository
from seatflow.subscriptions.addons import check_chain, resolve_parent
from seatflow.subscriptions.changes import (
    guard_linked_parent,
    lock,
    note_next_term,
    product_of,
    provider_kind,
    push_to_parent,
    record_change,
    record_price_change,
)
from seatflow.subscriptions.errors import (
    CancellationWindowClosed,
    ContractNotActive,
    CoTermInvalid,
    HasActiveAddons,
    InvalidLink,
    ProductNotSellable,
    SubscriptionNotFound,
    SubscriptionNotLive,
)
from seatflow.subscriptions.linking import check_link
from seatflow.subscriptions.models import (
    ChangeKind,
    LicenseChange,
    ProvisioningStatus,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.repricing import price_at_purchase, price_effective_date
from seatflow.subscriptions.rules import check_quantity
from seatflow.subscriptions.schemas import Actor, BundleOrder, SubscriptionCreate, SubscriptionUpdate
from seatflow.subscriptions.terms import choose_plan, first_term, plan_prices


def require_subscription(session: Session, ref: str | uuid.UUID, *, for_update: bool = False) -> Subscription:
    """With ``for_update`` the row is locked and re-read, as ``changes.lock`` does."""
    subscription_id = ref if isinstance(ref, uuid.UUID) else parse_id(ref)
    subscription = repository.get(session, subscription_id, for_update=for_update) if subscription_id else None
    if subscription is None:
        raise SubscriptionNotFound(f"No subscription {str(ref)!r}.")
    return subscription


def _sellable_product(session: Session, ref: str) -> Product:
    product = require_product(session, ref)
    if not is_sellable(product.status, product.kind, len(product.parents)):
        why = "is retired" if product.status is CatalogStatus.RETIRED else "has no possible parents"
        raise ProductNotSellable(f"{product.name} {why}: it cannot be sold.")
    return product


def _active_contract(session: Session, ref: str) -> BillingContract:
    contract = require_contract(session, ref)
    if contract.status is not ContractStatus.ACTIVE:
        raise ContractNotActive(f"The contract {contract.name!r} is inactive.")
    return contract


def _co_term_target(session: Session, ref: str | None, contract: BillingContract) -> Subscription | None:
    """The subscription to end the first term with: one of the same customer's."""
    if ref is None:
        return None
    target = require_subscription(session, ref)
    if require_contract(session, str(target.contract_id)).customer_id != contract.customer_id:
        raise CoTermInvalid("A subscription can be co-termed only with another subscription of the same customer.")
    return target


def create_subscription(
    session: Session,
    *,
    data: SubscriptionCreate,
    today: date,
    now: datetime,
    actor: Actor,
    bundle: Bundle | None = None,
) -> tuple[Subscription, LicenseChange]:
    """The subscription and its create change; a linked child pushes its whole quantity up.

    Raises AddonParentMissing (naming the missing ancestor), AddonParentInvalid, AddonParentIsBundle,
    InvalidLink, ProductNotSellable, QuantityOutOfRange, ContractNotActive, NotFound.
    """
    contract = _active_contract(session, data.contract_id)
    product = _sellable_product(session, data.product_id)
    account = require_provider_account(session, data.provider_account_id or str(product.provider_account_id))
    not_purchasable = not_purchasable_reason(account.kind, product.offer_id)
    if not_purchasable is not None:
        raise ProductNotPurchasable(f"{product.name}: {not_purchasable}")
    check_quantity(data.quantity, minimum=product.min_quantity, maximum=product.max_quantity, product=product.name)
    parent = resolve_parent(session, product=product, parent_ref=data.parent_subscription_id, contract=contract)
    plan_list_price, plan_cost_price = plan_prices(product, data.term, data.billing_plan)
    start = data.start_date or today
    term, billing_plan = choose_plan(product, data.term, data.billing_plan)
    # SPEC §15: the price rules decide a price not given; their cost is the price sheet's on the first day.
    decision = price_at_purchase(
        session,
        product=product,
        contract=contract,
        account=account,
        term=term,
        billing_plan=billing_plan,
        quantity=data.quantity,
        on=start,
    )
    ruled = data.unit_price is None and decision.rule is not None and decision.unit_price is not None
    unit_price = data.unit_price if data.unit_price is not None else plan_list_price
    if ruled:
        unit_price = decision.unit_price
    if unit_price is None:
        raise ValidationFailed(
            f"{product.name} has no list price"
            + (f" ({decision.explanation})" if decision.rule is not None else "")
            + ": give the subscription a unit_price.",
            code="price_required",
        )
    if data.unit_price is None and not ruled and product.currency != contract.currency:
        raise ValidationFailed(
            f"{product.name} is priced in {product.currency} and the contract bills in {contract.currency}: "
            "give the subscription a unit_price.",
            code="price_required",
        )
    cost_price = data.cost_price
    if cost_price is None:
        cost_price = decision.cost if decision.sheet_entry_id is not None else plan_cost_price
    co_term = _co_term_target(session, data.co_term_subscription_id, contract)
    term_start, term_end = first_term(start, term, co_term)
    subscription = Subscription(
        contract_id=contract.id,
        product_id=product.id,
        provider_account_id=account.id,
        quantity=data.quantity,
        status=SubscriptionStatus.PENDING if start > today else SubscriptionStatus.ACTIVE,
        start_date=start,
        term_start=term_start,
        term_end=term_end,
        term=term,
        billing_plan=billing_plan,
        co_term_subscription_id=co_term.id if co_term else None,
        auto_renew=data.auto_renew,
        currency=contract.currency,
        unit_price=unit_price,
        cost_price=cost_price,
        price_rule_id=decision.rule.id if ruled and decision.rule is not None else None,
        billable=data.billable,
        allow_end_user_modification=data.allow_end_user_modification,
        reduction_behavior=data.reduction_behavior or product.reduction_behavior,
        reduction_window_days=_reduction_window(
            data.reduction_behavior or product.reduction_behavior,
            data.reduction_window_days or product.reduction_window_days,
            sent=data.reduction_window_days is not None,
        ),
        parent_subscription_id=parent.id if parent else None,
        bundle_id=bundle.id if bundle else None,
    )
    _check_link_request(session, subscription, account, data.linked_subscription_id, contract)
    session.add(subscription)
    session.flush()
    change = record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.CREATE,
        quantity_before=0,
        quantity_after=subscription.quantity,
        effective_date=start,
        actor=actor,
        now=now,
    )
    push_to_parent(
        session,
        child=subscription,
        child_change=change,
        delta=subscription.quantity,
        actor=actor,
        now=now,
        effective_date=start,
    )
    if not subscription.auto_renew and account.kind is ProviderKind.PARTNER_CENTER:
        # Microsoft buys with auto-renew on: it is turned off right after the purchase, before the term can end.
        _record_auto_renew(session, subscription, False, effective=start, now=now, actor=actor)
    return subscription, change


def _check_link_request(
    session: Session,
    subscription: Subscription,
    account: ProviderAccount,
    linked_ref: str | None,
    contract: BillingContract,
) -> None:
    if account.kind is ProviderKind.LINKED and not linked_ref:
        raise InvalidLink("A subscription on a linked provider account needs linked_subscription_id.")
    if not linked_ref:
        return
    if account.kind is not ProviderKind.LINKED:
        raise InvalidLink("linked_subscription_id needs provider_account_id of a linked provider account.")
    target = require_subscription(session, linked_ref)
    check_link(session, child=subscription, child_contract=contract, target=target)
    subscription.linked_subscription_id = target.id


def update_subscription(
    session: Session,
    *,
    subscription: Subscription,
    data: SubscriptionUpdate,
    today: date,
    now: datetime,
    actor: Actor,
) -> Subscription:
    """A new unit price is a price change in the log; the other fields are settings."""
    sent = data.model_fields_set
    if "provider_account_id" in sent and data.provider_account_id:
        account = require_provider_account(session, data.provider_account_id)
        if account.kind is ProviderKind.LINKED or subscription.linked_subscription_id:
            raise InvalidLink("Use /link and /unlink to move a subscription onto or off a linked provider account.")
        subscription.provider_account_id = account.id
    if data.price_effective_date is not None and data.unit_price is None:
        raise ValidationFailed("price_effective_date goes with a new unit_price.", code="price_effective_date_alone")
    if data.unit_price is not None and data.unit_price != subscription.unit_price:
        effective = price_effective_date(session, subscription, data.price_effective_date, today=today)
        subscription.price_rule_id = None  # priced by hand from now on: renewals keep it (an override is a rule)
        record_price_change(
            session, subscription, price=data.unit_price, effective_date=effective, actor=actor, now=now
        )
    if data.auto_renew is not None and data.auto_renew != subscription.auto_renew:
        _set_auto_renew(session, subscription, data.auto_renew, today=today, now=now, actor=actor)
    for name in ("cost_price", "billable", "allow_end_user_modification", "reduction_behavior"):
        if name in sent and getattr(data, name) is not None:
            setattr(subscription, name, getattr(data, name))
    window_sent = "reduction_window_days" in sent
    subscription.reduction_window_days = _reduction_window(
        subscription.reduction_behavior,
        data.reduction_window_days if window_sent else subscription.reduction_window_days,
        sent=window_sent and data.reduction_window_days is not None,
    )
    session.flush()
    return subscription


def _set_auto_renew(
    session: Session, subscription: Subscription, enabled: bool, *, today: date, now: datetime, actor: Actor
) -> None:
    """Don't renew (SPEC §7): an ``auto_renew`` change the provider is told of before the term ends (Partner Center:
    ``autoRenewEnabled``); the subscription then expires at its term end instead of renewing."""
    if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
        raise SubscriptionNotLive(f"The subscription is {subscription.status.value}; it renews no more.")
    if today > subscription.term_end:
        raise SubscriptionNotLive(
            f"The term ended on {subscription.term_end}; run the renewals first, then change auto-renew."
        )
    subscription.auto_renew = enabled
    if not enabled:  # a renewal that will not come: its changes can never apply
        dropped = list(repository.at_renewal_of(session, subscription.id))
        for scheduled in dropped:
            scheduled.status = ScheduledStatus.CANCELLED
            scheduled.message = f"Auto-renew was turned off on {today}: the subscription will not renew."
        if dropped:  # Partner Center is told they are gone (scheduledNextTermInstructions cleared) too
            note_next_term(session, subscription, actor=actor, now=now)
    _record_auto_renew(
        session, subscription, enabled, effective=max(today, subscription.start_date), now=now, actor=actor
    )


def _record_auto_renew(
    session: Session, subscription: Subscription, enabled: bool, *, effective: date, now: datetime, actor: Actor
) -> None:
    kind = provider_kind(session, subscription)
    change = record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.AUTO_RENEW,
        quantity_before=subscription.quantity,
        quantity_after=subscription.quantity,
        effective_date=effective,
        actor=actor,
        now=now,
        reason="Renews at its term end." if enabled else f"Does not renew: expires after {subscription.term_end}.",
        provisioning_status=ProvisioningStatus.NOT_APPLICABLE if kind is ProviderKind.LINKED else None,
    )
    change.auto_renew_after = enabled
    session.flush()


def _reduction_window(behavior: ReductionBehavior, window: int | None, *, sent: bool) -> int | None:
    """The window belongs to allowed_within_window, as on products: defaulted there (never a window of 0 days),
    refused with another behaviour when sent, dropped when only inherited from the product or the old rule."""
    if behavior is ReductionBehavior.ALLOWED_WITHIN_WINDOW:
        return window if window is not None else DEFAULT_REDUCTION_WINDOW_DAYS
    if sent:
        raise ValidationFailed(
            "reduction_window_days applies only when reduction_behavior is allowed_within_window, "
            f"not {behavior.value}.",
            code="invalid_reduction_rule",
        )
    return None


def _with_addons(
    session: Session, subscription: Subscription, statuses: Sequence[SubscriptionStatus], *, cascade: bool, verb: str
) -> list[Subscription]:
    """The subscription and, when cascading, its add-ons' whole trees, deepest first."""
    addons = repository.addons_of(session, subscription.id, statuses)
    if addons and not cascade:
        names = ", ".join(product_of(session, a).name for a in addons)
        raise HasActiveAddons(
            f"The subscription has active add-ons ({names}): {verb} them first, or ask to cascade.",
            addon_ids=[str(a.id) for a in addons],
        )
    ordered: list[Subscription] = []
    for addon in addons:
        ordered.extend(_with_addons(session, addon, statuses, cascade=True, verb=verb))
    ordered.append(subscription)
    return ordered


def suspend(
    session: Session, *, subscription: Subscription, cascade: bool, today: date, now: datetime, actor: Actor
) -> list[LicenseChange]:
    if subscription.status not in repository.LIVE:
        raise SubscriptionNotLive(f"The subscription is {subscription.status.value}; only a live one can be suspended.")
    changes = []
    for target in _with_addons(session, subscription, repository.LIVE, cascade=cascade, verb="suspend"):
        target = lock(session, target.id)
        target.status = SubscriptionStatus.SUSPENDED
        changes.append(
            record_change(
                session,
                subscription=target,
                kind=ChangeKind.SUSPEND,
                quantity_before=target.quantity,
                quantity_after=target.quantity,
                effective_date=today,
                actor=actor,
                now=now,
            )
        )
    return changes


def reactivate(
    session: Session, *, subscription: Subscription, today: date, now: datetime, actor: Actor
) -> list[LicenseChange]:
    if subscription.status is not SubscriptionStatus.SUSPENDED:
        raise SubscriptionNotLive(f"The subscription is {subscription.status.value}, not suspended.")
    if subscription.parent_subscription_id is not None:
        parent = require_subscription(session, subscription.parent_subscription_id)
        check_chain(session, parent, product_of(session, parent))
    subscription = lock(session, subscription.id)
    subscription.status = SubscriptionStatus.ACTIVE if subscription.start_date <= today else SubscriptionStatus.PENDING
    return [
        record_change(
            session,
            subscription=subscription,
            kind=ChangeKind.REACTIVATE,
            quantity_before=subscription.quantity,
            quantity_after=subscription.quantity,
            effective_date=today,
            actor=actor,
            now=now,
        )
    ]


def cancel(
    session: Session,
    *,
    subscription: Subscription,
    cascade: bool,
    today: date,
    now: datetime,
    actor: Actor,
    force: bool = False,
    reason: str | None = None,
) -> list[LicenseChange]:
    """A cancelled linked child takes its whole quantity off its parent; its scheduled changes are cancelled."""
    if subscription.status is SubscriptionStatus.CANCELLED:
        raise SubscriptionNotLive("The subscription is cancelled already.")
    guard_linked_parent(session, subscription, force=force, reason=reason)
    changes = []
    targets = _with_addons(session, subscription, repository.NOT_CANCELLED, cascade=cascade, verb="cancel")
    for target in targets:
        _check_cancellation_window(session, target, today)
    for target in targets:
        # A subscription cancelled before it started ends on its start day: it was never in use.
        ends = max(today, target.start_date)
        change = _end(
            session,
            target,
            SubscriptionStatus.CANCELLED,
            ChangeKind.CANCEL,
            ends=ends,
            note=f"The subscription was cancelled on {today}.",
            reason=reason,
            now=now,
            actor=actor,
        )
        changes.append(change)
    return changes


def _end(
    session: Session,
    subscription: Subscription,
    status: SubscriptionStatus,
    kind: ChangeKind,
    *,
    ends: date,
    note: str,
    reason: str | None,
    now: datetime,
    actor: Actor,
) -> LicenseChange:
    """Cancel or expire one subscription: its scheduled changes can never apply (``note`` says why at once), its
    quantity goes to 0 from ``ends``, and a linked child takes it off its parent."""
    target = lock(session, subscription.id)
    target.status = status
    if status is SubscriptionStatus.CANCELLED:
        target.cancelled_at = now
    else:
        target.expired_at = now
    for scheduled in repository.scheduled_of(session, target.id):
        if scheduled.status is ScheduledStatus.SCHEDULED:
            scheduled.status = ScheduledStatus.CANCELLED
            scheduled.message = note
    change = record_change(
        session,
        subscription=target,
        kind=kind,
        quantity_before=target.quantity,
        quantity_after=0,
        effective_date=ends,
        actor=actor,
        now=now,
        reason=reason,
    )
    push_to_parent(
        session, child=target, child_change=change, delta=-target.quantity, actor=actor, now=now, effective_date=ends
    )
    return change


CANCELLATION_WINDOW = timedelta(days=7)
"""New commerce refunds a cancellation only in the 7 days (168 hours) after a purchase or renewal
(developer/new-commerce-cancellation-policy.md); counted in whole days from the term's start, as reductions are."""


def cancellation_allowed_until(subscription: Subscription) -> date:
    """The last day a Partner Center subscription can be cancelled in its current term."""
    return subscription.term_start + CANCELLATION_WINDOW - timedelta(days=1)


def _check_cancellation_window(session: Session, subscription: Subscription, today: date) -> None:
    """Refused before anything is sent (SPEC §7): past the window Partner Center answers 900117, and the way to end
    the subscription is not to renew it. One not bought yet (no Partner Center id) is only not bought."""
    if subscription.external_id is None or provider_kind(session, subscription) is not ProviderKind.PARTNER_CENTER:
        return
    until = cancellation_allowed_until(subscription)
    if today <= until:
        return
    name = product_of(session, subscription).name
    raise CancellationWindowClosed(
        f"{name} could be cancelled at Partner Center only until {until}, 7 days after its purchase or renewal on "
        f"{subscription.term_start}. Set it not to renew instead (auto_renew false): it then expires at the end "
        f"of its term on {subscription.term_end}.",
        subscription_id=str(subscription.id),
        allowed_until=until.isoformat(),
        term_end=subscription.term_end.isoformat(),
    )


def expire(session: Session, *, subscription: Subscription, now: datetime, actor: Actor) -> list[LicenseChange]:
    """The term ended without auto-renew (SPEC §4): the subscription and its live add-ons expire on the day after
    the term's last day. It is never "cancelled": nothing is sent to cancel it (Partner Center lets it expire
    itself), and a linked child takes its quantity off its parent as a cancelled one does."""
    ends = subscription.term_end + timedelta(days=1)
    return [
        _end(
            session,
            target,
            SubscriptionStatus.EXPIRED,
            ChangeKind.EXPIRE,
            ends=max(ends, target.start_date),
            note=f"The subscription expired on {ends} (it was set not to renew).",
            reason="The term ended without auto-renew.",
            now=now,
            actor=actor,
        )
        for target in _with_addons(session, subscription, repository.NOT_CANCELLED, cascade=True, verb="expire")
    ]


def order_bundle(
    session: Session, *, bundle: Bundle, data: BundleOrder, today: date, now: datetime, actor: Actor
) -> list[Subscription]:
    """One real subscription per item; every add-on's parent is the real subscription of its parent item."""
    if not bundle_sellable(bundle):
        raise ProductNotSellable(f"The bundle {bundle.name!r} is retired or holds a product that cannot be sold.")
    created: list[Subscription] = []
    for item in bundle.items:
        parent = created[item.parent_position] if item.parent_position is not None else None
        subscription, _ = create_subscription(
            session,
            data=SubscriptionCreate(
                contract_id=data.contract_id,
                product_id=str(item.product_id),
                quantity=data.quantity * item.quantity_multiplier,
                provider_account_id=data.provider_account_id,
                parent_subscription_id=str(parent.id) if parent else None,
                start_date=data.start_date,
                unit_price=item.unit_price,
                billable=item.billable,
            ),
            today=today,
            now=now,
            actor=actor,
            bundle=bundle,
        )
        created.append(subscription)
    return created
