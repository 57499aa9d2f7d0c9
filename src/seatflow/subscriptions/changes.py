"""The license change log (SPEC §7) and quantity changes, with the linked push-up (SPEC §5) and the
reduction rules (SPEC §6).

A child's change and the parent change it causes are written in the caller's one transaction. The child
row and then its parent row are locked (``FOR UPDATE`` on PostgreSQL; SQLite writers hold the database
lock from BEGIN), always in that order, so concurrent changes on several children of one parent queue on
the parent and never lose an update.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, exists, func, insert, select, update
from sqlalchemy.orm import LoaderCallableStatus, Session
from sqlalchemy.orm import attributes as orm_attributes

from seatflow.audit.recorder import written_without_flush
from seatflow.catalog import repository as catalog_repository
from seatflow.catalog.models import Product, ProviderAccount, ProviderKind
from seatflow.db.engine import deferred
from seatflow.errors import ValidationFailed
from seatflow.ids import new_id
from seatflow.subscriptions import repository
from seatflow.subscriptions.announcements import RECORDED, announce_change
from seatflow.subscriptions.batches import reduction_rules
from seatflow.subscriptions.errors import (
    LinkedParentLocked,
    QuantityOutOfRange,
    SubscriptionNotFound,
    SubscriptionNotLive,
)
from seatflow.subscriptions.models import (
    BillingStatus,
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
    SubscriptionStatus,
)
from seatflow.subscriptions.rules import (
    check_quantity,
    check_reduction,
    initial_provisioning_status,
)
from seatflow.subscriptions.schemas import Actor


def product_of(session: Session, subscription: Subscription) -> Product:
    product = catalog_repository.get_product(session, subscription.product_id)
    assert product is not None  # noqa: S101 - a foreign key guarantees it
    return product


class ProductBounds(NamedTuple):
    name: str
    min_quantity: int
    max_quantity: int | None


_BOUNDS = select(Product.name, Product.min_quantity, Product.max_quantity).where(Product.id == bindparam("product_id"))
_KIND = select(ProviderAccount.kind).where(ProviderAccount.id == bindparam("account_id"))
_LATEST = select(func.max(LicenseChange.created_at)).where(
    LicenseChange.subscription_id == bindparam("subscription_id")
)
_KIND_AND_LATEST = select(ProviderAccount.kind, _LATEST.scalar_subquery()).where(
    ProviderAccount.id == bindparam("account_id")
)
_CHANGE_FACTS = select(
    Product.name,
    Product.min_quantity,
    Product.max_quantity,
    _KIND.scalar_subquery(),
    _LATEST.scalar_subquery(),
    exists(repository.LINKED_CHILDREN),
).where(Product.id == bindparam("product_id"))
"""The change path's reads, built once: building a statement cost about as much as running it."""


class ChangeFacts(NamedTuple):
    """What a quantity change needs to know of a locked subscription besides its row, read in one statement
    (``change_facts``): its product's bounds, its account's kind, its latest change's stamp, and whether it is a
    linked parent."""

    product: ProductBounds
    account_kind: ProviderKind
    latest: datetime | None
    has_linked_children: bool


_SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_CHANGES = cast(Table, LicenseChange.__table__)
_SET_QUANTITY = deferred(
    update(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.id == bindparam("b_id"))
    .values(quantity=bindparam("b_quantity"), updated_at=bindparam("b_updated_at"))
)
_INSERT_CHANGE = deferred(insert(_CHANGES))
"""Both writes' answers are collected with the next statement (``deferred``): a request's change costs one round
trip for its four rows on PostgreSQL."""
_LICENSE_CHANGE_MANAGER = orm_attributes.manager_of_class(LicenseChange)
_NULL_CHANGE_COLUMNS = dict.fromkeys(_CHANGES.columns.keys())
"""Every column of a license change, NULL (the table's column keys are the mapped attributes' names)."""


def product_bounds(session: Session, product_id: uuid.UUID) -> ProductBounds:
    """What a quantity change checks of a product, in one small query: ``product_of`` loads the product with its
    account, plans and parents, four queries a quantity change does not need. A Core read on the session's
    connection (a third of an ORM execution's cost): it sees what is flushed, and its callers read it after
    locking the subscription, which flushes."""
    row = session.connection().execute(_BOUNDS, {"product_id": product_id}).one()
    return ProductBounds(row.name, row.min_quantity, row.max_quantity)


def change_facts(session: Session, subscription: Subscription) -> ChangeFacts:
    """Read after locking the subscription (``lock``), so the latest stamp and the linked children are as
    committed by the writers it waited for; a Core read on the session's connection (see ``product_bounds``).
    Four reads in one: a round trip each on PostgreSQL."""
    if any(isinstance(pending, LicenseChange) for pending in session.new):
        session.flush()  # as in record_change: a change added but not flushed must count for the latest stamp
    row = (
        session.connection()
        .execute(
            _CHANGE_FACTS,
            {
                "product_id": subscription.product_id,
                "account_id": subscription.provider_account_id,
                "subscription_id": subscription.id,
            },
        )
        .one()
    )
    name, minimum, maximum, kind, latest, has_children = row
    return ChangeFacts(ProductBounds(name, minimum, maximum), kind, latest, bool(has_children))


def provider_kind(session: Session, subscription: Subscription) -> ProviderKind:
    """The kind of the subscription's provider account, as the database has it now (a column query: the account
    is rarely loaded on the change path, and its kind can change)."""
    kind = session.execute(_KIND, {"account_id": subscription.provider_account_id}).scalar_one_or_none()
    assert kind is not None  # noqa: S101 - a foreign key guarantees it
    return kind


def lock(session: Session, subscription_id: uuid.UUID) -> Subscription:
    subscription = repository.get(session, subscription_id, for_update=True)
    if subscription is None:
        raise SubscriptionNotFound(f"No subscription {subscription_id}.")
    return subscription


def record_change(
    session: Session,
    *,
    subscription: Subscription,
    kind: ChangeKind,
    quantity_before: int,
    quantity_after: int,
    effective_date: date,
    actor: Actor,
    now: datetime,
    price_before: Decimal | None = None,
    price_after: Decimal | None = None,
    caused_by: LicenseChange | None = None,
    reason: str | None = None,
    provisioning_status: ProvisioningStatus | None = None,
    facts: ChangeFacts | None = None,
) -> LicenseChange:
    """One row of the change log, and its ``license_change.recorded`` event. Provisioning starts awaiting, or not
    applicable for do-nothing. ``facts``: the subscription's, read since it was locked and before any change of
    it in this transaction (``change_facts``): its account's kind and latest stamp are not read again.

    The caller holds the subscription's row lock, so the change is stamped after every change already recorded
    for the subscription: ``now`` was read before the lock, and two requests that read the clock in one order
    may commit in the other. The provisioning queue orders by this stamp and sends the last step's quantity,
    so a stamp out of commit order would send an older quantity as the absolute target."""
    if any(isinstance(pending, LicenseChange) for pending in session.new):
        session.flush()  # a change added but not flushed must count for the latest stamp read below
    # Core reads on the session's connection: nothing pending is flushed before them. The subscription's own
    # pending writes (its new quantity or price) are written below with the change: neither read depends on them,
    # and every earlier change of this transaction is flushed (above).
    connection = session.connection()
    latest: datetime | None
    if facts is not None and provisioning_status is None:
        latest = facts.latest
        provisioning_status = initial_provisioning_status(facts.account_kind)
    elif provisioning_status is None:
        # The account's kind and the latest stamp in one read.
        account_kind, latest = connection.execute(
            _KIND_AND_LATEST, {"account_id": subscription.provider_account_id, "subscription_id": subscription.id}
        ).one()
        provisioning_status = initial_provisioning_status(account_kind)
    else:
        latest = connection.execute(_LATEST, {"subscription_id": subscription.id}).scalar_one_or_none()
    recorded_at = now if latest is None or now > latest else latest + timedelta(microseconds=1)
    values: dict[str, Any] = {
        "subscription_id": subscription.id,
        "kind": kind,
        "quantity_before": quantity_before,
        "quantity_after": quantity_after,
        "price_before": price_before if price_before is not None else subscription.unit_price,
        "price_after": price_after if price_after is not None else subscription.unit_price,
        "effective_date": effective_date,
        "origin": actor.origin,
        "requested_by": actor.name,
        "reason": reason,
        "caused_by_change_id": caused_by.id if caused_by else None,
        "provisioning_status": provisioning_status,
        "billing_status": BillingStatus.OPEN,
        "attempts": 0,
        "created_at": recorded_at,
    }
    change = _written_with_core(session, connection, subscription, values)
    if change is None:
        change = LicenseChange(**values)
        session.add(change)
        session.flush()
    announce_change(session, change, RECORDED, now=now)
    return change


def _written_with_core(
    session: Session, connection: Connection, subscription: Subscription, values: dict[str, Any]
) -> LicenseChange | None:
    """The subscription's new quantity and its license change, written with two Core statements and audited as
    the flush would have (``written_without_flush``): their flush cost 40 % of a change. Only when the session
    holds nothing else to write and the subscription's only pending change is its quantity (a price change, a new
    subscription or anything else goes through the flush); None then.

    The records are registered with the session as the flush registers what it wrote (``_register_persistent``,
    the flush's own step): the subscription clean, the change persistent with every column loaded (those not
    written are NULL, known without reading them back), and both in the transaction's records, so that a rollback
    (to a savepoint too) expires the subscription and drops the change as it would after a flush."""
    state = orm_attributes.instance_state(subscription)
    pending = state.committed_state
    if state.key is None or pending.keys() - {"quantity"} or session.new or session.deleted:
        return None
    if any(obj is not subscription and orm_attributes.instance_state(obj).committed_state for obj in session.dirty):
        return None  # another record has changes to flush (a record written earlier stays "dirty" with none)
    before = pending.get("quantity", subscription.quantity)
    if before is LoaderCallableStatus.NO_VALUE:
        return None  # set without having been read: the flush writes it (and the log has no "before")
    # The flush's order: the change's INSERT, then the subscription's UPDATE.
    row = values | {"id": new_id()}
    connection.execute(_INSERT_CHANGE, row)
    audited: list[tuple[object, str, dict[str, Any]]] = []
    quantity = subscription.quantity
    if quantity != before:
        updated_at = datetime.now(UTC)
        connection.execute(_SET_QUANTITY, {"b_id": subscription.id, "b_quantity": quantity, "b_updated_at": updated_at})
        orm_attributes.set_committed_value(subscription, "updated_at", updated_at)
        audited.append((subscription, "updated", {"quantity": before}))
    # Made without its constructor's attribute events (the flush's bookkeeping), its dict filled at once.
    change = _LICENSE_CHANGE_MANAGER.new_instance()
    orm_attributes.instance_dict(change).update(_NULL_CHANGE_COLUMNS, **row)
    session.add(change)
    session._register_persistent({state, orm_attributes.instance_state(change)})
    audited.append((change, "created", row))
    # The columns written, as the flush hook shows an inserted record.
    written_without_flush(session, audited, connection=connection)
    return change


def record_price_change(
    session: Session,
    subscription: Subscription,
    *,
    price: Decimal,
    effective_date: date,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> LicenseChange | None:
    """Sets the subscription's unit price and records the price change dated ``effective_date`` (billing charges
    each day at the price in force then); nothing when the price is the same. Prices are not provisioned."""
    before = subscription.unit_price
    if price == before:
        return None
    subscription.unit_price = price
    return record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.PRICE,
        quantity_before=subscription.quantity,
        quantity_after=subscription.quantity,
        price_before=before,
        price_after=price,
        effective_date=effective_date,
        actor=actor,
        now=now,
        reason=reason,
        provisioning_status=ProvisioningStatus.NOT_APPLICABLE,
    )


def guard_linked_parent(
    session: Session,
    subscription: Subscription,
    *,
    force: bool,
    reason: str | None,
    has_linked_children: bool | None = None,
) -> None:
    """Direct changes on a parent that has linked children are refused unless forced, with a reason. A linked
    child is never a parent: links are one level only (``linking.check_link`` refuses both ways), so it is not
    asked. ``has_linked_children``: if known already (``change_facts``); the children are then read only to name
    them in a refusal."""
    if subscription.linked_subscription_id is not None or has_linked_children is False:
        return
    children = repository.linked_child_ids(session, subscription.id)
    if not children:
        return
    if not force:
        raise LinkedParentLocked(
            f"This subscription is the linked parent of {len(children)} child subscription(s): change the "
            "children's quantities instead, or force the change with a reason.",
            linked_children=[str(c) for c in children],
        )
    if not (reason and reason.strip()):
        raise ValidationFailed("A forced change on a linked parent needs a reason.", code="reason_required")


def push_to_parent(
    session: Session,
    *,
    child: Subscription,
    child_change: LicenseChange,
    delta: int,
    actor: Actor,
    now: datetime,
    effective_date: date,
    child_product: ProductBounds | None = None,
    parent: Subscription | None = None,
) -> LicenseChange | None:
    """The same delta on the linked parent, caused by the child's change. Call with the child locked.
    ``child_product``: the child's product's bounds if already read (linked subscriptions share a product);
    ``parent``: the linked parent if the caller has locked it already in this transaction (after the child)."""
    if child.linked_subscription_id is None or delta == 0:
        return None
    if parent is None or parent.id != child.linked_subscription_id:
        parent = lock(session, child.linked_subscription_id)
    if parent.status not in repository.LIVE:
        raise SubscriptionNotLive(
            f"The linked parent subscription is {parent.status.value}: link this subscription to a live parent "
            "or unlink it before changing it.",
            linked_parent=True,
        )
    if child_product is not None and parent.product_id == child.product_id:
        parent_product = child_product
    else:
        parent_product = product_bounds(session, parent.product_id)
    new_quantity = parent.quantity + delta
    try:
        check_quantity(
            new_quantity,
            minimum=parent_product.min_quantity,
            maximum=parent_product.max_quantity,
            product=f"The linked parent's {parent_product.name}",
        )
    except QuantityOutOfRange as refused:
        # The range is said for the child: what its own quantity may be, given what the parent has room for.
        before = child.quantity - delta
        low = max(refused.extra["minimum"], before - (parent.quantity - refused.extra["minimum"]))
        high = before + (refused.extra["maximum"] - parent.quantity)
        raise QuantityOutOfRange(refused.message, minimum=low, maximum=high, linked_parent=True) from None
    before, parent.quantity = parent.quantity, new_quantity
    parent_change = record_change(
        session,
        subscription=parent,
        kind=ChangeKind.QUANTITY,
        quantity_before=before,
        quantity_after=new_quantity,
        effective_date=effective_date,
        actor=Actor(ChangeOrigin.LINKED_CHILD, actor.name),
        now=now,
        caused_by=child_change,
    )
    if parent_change.provisioning_status is ProvisioningStatus.NOT_APPLICABLE:
        # Nothing to provision upstream: the child's change is settled with it (flow-back, SPEC §5).
        child_change.provisioning_status = ProvisioningStatus.NOT_APPLICABLE
    return parent_change


def change_quantity(
    session: Session,
    *,
    subscription_id: uuid.UUID,
    quantity: int,
    effective: str | date,
    today: date,
    now: datetime,
    actor: Actor,
    force: bool = False,
    reason: str | None = None,
    locked: Subscription | None = None,
) -> LicenseChange | ScheduledChange:
    """Now (a license change), at the next renewal or on a later date (a scheduled change). ``locked``: the
    subscription, if the caller has locked it already in this transaction (``lock``, or ``require_subscription``
    with ``for_update``): it is not read again.

    Raises LinkedParentLocked, QuantityOutOfRange, ReductionOutsideWindow/ReductionDisallowed (saying how many
    seats can be reduced now, until when, and from when the rest can be), SubscriptionNotLive.
    """
    subscription = locked if locked is not None and locked.id == subscription_id else lock(session, subscription_id)
    if subscription.status not in repository.LIVE:
        raise SubscriptionNotLive(f"The subscription is {subscription.status.value}; its quantity cannot change.")
    facts = change_facts(session, subscription)
    guard_linked_parent(
        session, subscription, force=force, reason=reason, has_linked_children=facts.has_linked_children
    )
    product = facts.product
    check_quantity(quantity, minimum=product.min_quantity, maximum=product.max_quantity, product=product.name)
    if quantity == subscription.quantity and effective == "now":
        raise ValidationFailed(f"The quantity is already {quantity}.", code="no_change")
    if effective == "renewal":
        return _schedule(
            session, subscription, quantity, None, actor, at_renewal=True, force=force, reason=reason, now=now
        )
    on = today if effective == "now" else effective
    assert isinstance(on, date)  # noqa: S101 - "now" and "renewal" are handled above
    if on < today:
        raise ValidationFailed(f"The effective date {on} is in the past.", code="effective_date_past")
    if effective != "now" and on == subscription.term_end + _ONE_DAY:
        # The renewal day is "at renewal" (SPEC §6): the new term, and its reduction window, start that day.
        return _schedule(
            session, subscription, quantity, None, actor, at_renewal=True, force=force, reason=reason, now=now
        )
    parent: Subscription | None = None
    # A pending subscription has bought nothing yet: reducing it before it starts is always allowed.
    if quantity < subscription.quantity and subscription.status is not SubscriptionStatus.PENDING:
        if subscription.linked_subscription_id is not None and on == today:
            # Applied now, the reduction is pushed to the parent: it is locked now (after the child, as always)
            # and read once for both.
            parent = lock(session, subscription.linked_subscription_id)
        # Up to the seats still inside their window (SPEC §6: each batch of seats has its own), for the child and
        # its linked parent alike.
        rules = reduction_rules(session, subscription, f"The {product.name} subscription", on=on, parent=parent)
        check_reduction(rules, on, subscription.quantity - quantity)
    if on > today:
        return _schedule(
            session, subscription, quantity, on, actor, at_renewal=False, force=force, reason=reason, now=now
        )
    return apply_quantity(
        session,
        subscription=subscription,
        quantity=quantity,
        effective_date=on,
        actor=actor,
        now=now,
        reason=reason,
        product=product,
        parent=parent,
        facts=facts,
    )


def apply_quantity(
    session: Session,
    *,
    subscription: Subscription,
    quantity: int,
    effective_date: date,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    product: ProductBounds | None = None,
    parent: Subscription | None = None,
    facts: ChangeFacts | None = None,
) -> LicenseChange:
    """Set the quantity and record it, pushing the delta to a linked parent. The rules were checked.
    ``product``: the subscription's product's bounds if already read; ``parent``: its linked parent if locked
    already; ``facts``: the subscription's (``record_change``)."""
    before = subscription.quantity
    subscription.quantity = quantity
    change = record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.QUANTITY,
        quantity_before=before,
        quantity_after=quantity,
        effective_date=effective_date,
        actor=actor,
        now=now,
        reason=reason,
        facts=facts,
    )
    push_to_parent(
        session,
        child=subscription,
        child_change=change,
        delta=quantity - before,
        actor=actor,
        now=now,
        effective_date=effective_date,
        child_product=product,
        parent=parent,
    )
    return change


def _schedule(
    session: Session,
    subscription: Subscription,
    quantity: int,
    on: date | None,
    actor: Actor,
    *,
    at_renewal: bool,
    force: bool,
    reason: str | None,
    now: datetime,
) -> ScheduledChange:
    if at_renewal and not subscription.auto_renew:
        raise ValidationFailed(
            f"The subscription does not renew: it expires after {subscription.term_end}. Turn auto-renew on first.",
            code="not_renewing",
        )
    scheduled = ScheduledChange(
        force=force,
        reason=reason,
        subscription_id=subscription.id,
        quantity=quantity,
        at_renewal=at_renewal,
        effective_date=on if on else subscription.term_end + _ONE_DAY,
        origin=actor.origin,
        requested_by=actor.name,
        status=ScheduledStatus.SCHEDULED,
    )
    session.add(scheduled)
    session.flush()
    if at_renewal:
        note_next_term(session, subscription, actor=actor, now=now)
    return scheduled


def note_next_term(session: Session, subscription: Subscription, *, actor: Actor, now: datetime) -> None:
    """The changes scheduled for a Partner Center subscription's renewal changed: a ``next_term`` change asks the
    worker to send them as ``scheduledNextTermInstructions`` (SPEC §7), so Microsoft's own renewal applies them.
    Other providers learn of them when they apply, as the renewal's own changes."""
    if provider_kind(session, subscription) is not ProviderKind.PARTNER_CENTER:
        return
    record_change(
        session,
        subscription=subscription,
        kind=ChangeKind.NEXT_TERM,
        quantity_before=subscription.quantity,
        quantity_after=subscription.quantity,
        effective_date=max(subscription.term_start, now.date()),
        actor=actor,
        now=now,
    )


def cancel_scheduled(
    session: Session, *, scheduled: ScheduledChange, actor: Actor | None = None, now: datetime | None = None
) -> ScheduledChange:
    if scheduled.status is not ScheduledStatus.SCHEDULED:
        raise ValidationFailed(f"The scheduled change is {scheduled.status.value} already.", code="not_scheduled")
    scheduled.status = ScheduledStatus.CANCELLED
    session.flush()
    if scheduled.at_renewal and actor is not None and now is not None:
        subscription = lock(session, scheduled.subscription_id)
        note_next_term(session, subscription, actor=actor, now=now)
    return scheduled


_ONE_DAY = timedelta(days=1)
