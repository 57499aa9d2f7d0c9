"""The provisioning queue in the database (SPEC §7): claiming due work, writing what a provider answered,
the linked flow-back (SPEC §5), and the operator's requeue and confirm.

A worker claims whole subscriptions, never single changes, so that the changes of one subscription go out
in order and as one call. The claim is a lease on the subscription row (``claimed_by``/``claimed_until``):
taken in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a guarded update on SQLite), kept
while the worker talks to the provider with no transaction open, and simply expiring if the worker dies.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, lazyload
from sqlalchemy.sql.elements import BindParameter

from seatflow.catalog.models import Product, ProviderAccount, ProviderKind
from seatflow.contracts.models import BillingContract
from seatflow.customers.models import CustomerAccount
from seatflow.errors import Conflict, InvalidState, NotFound, SeatflowError, ValidationFailed
from seatflow.provisioning.models import Notification, NotificationKind
from seatflow.provisioning.plan import Backoff, Job, NextTerm, Op, OpKind, Step, held_back, plan, when
from seatflow.provisioning.providers import Done, Failed, HandedOff, Outcome, Waiting
from seatflow.subscriptions import announcements
from seatflow.subscriptions import repository as subscriptions_repository
from seatflow.subscriptions.models import (
    ChangeKind,
    ChangeOrigin,
    LicenseChange,
    ProvisioningStatus,
    ScheduledChange,
    ScheduledStatus,
    Subscription,
)
from seatflow.subscriptions.next_term import combine, next_term_end
from seatflow.subscriptions.schemas import Actor, LicenseChangeRead

_M = TypeVar("_M")

AWAITING = ProvisioningStatus.AWAITING
FAILED = ProvisioningStatus.FAILED
PROVISIONED = ProvisioningStatus.PROVISIONED
WORKER_KINDS = (ProviderKind.PARTNER_CENTER, ProviderKind.MANUAL)
"""The kinds whose changes the worker carries out; do-nothing settles at once, linked with its parent."""


class ChangeNotFound(NotFound):
    pass


class NotRequeueable(Conflict):
    code = "not_failed"


class NotConfirmable(Conflict):
    code = "not_confirmable"


class EarlierChangePending(Conflict):
    code = "earlier_change_pending"


# --- claiming --------------------------------------------------------------------------------------------


def _before(first: type[LicenseChange], second: type[LicenseChange]) -> ColumnElement[bool]:
    """``first`` was recorded before ``second`` (the queue's order: created_at, then id)."""
    return or_(first.created_at < second.created_at, and_(first.created_at == second.created_at, first.id < second.id))


def _linked_childs(change: type[LicenseChange]) -> ColumnElement[bool]:
    """A quantity change a linked child caused on its parent (``Step.linked_child`` is set)."""
    return and_(
        change.origin == ChangeOrigin.LINKED_CHILD,
        change.kind == ChangeKind.QUANTITY,
        change.caused_by_change_id.is_not(None),
    )


def _free_due_change(s: type[Subscription], today: ColumnElement[date]) -> ColumnElement[bool]:
    """``s`` has a due awaiting change, behind no change that is not due yet, that no failed change holds back
    (``plan.held_back``, as SQL). A change is held back when a failed change before it holds it back
    (``plan.holds_back``: unless both are linked children's, of different children), or when an awaiting change
    that is no linked child's stands before it with a failed change before that one (a barrier held itself).
    Each subquery names the tables it ranges over; the rest correlate to the queries around it."""
    change, not_due, failed, failed_cause, cause, barrier, barrier_failed = (aliased(LicenseChange) for _ in range(7))
    other_children = (
        exists()
        .where(
            failed_cause.id == failed.caused_by_change_id,
            cause.id == change.caused_by_change_id,
            failed_cause.subscription_id != cause.subscription_id,
        )
        .correlate_except(failed_cause, cause)
    )
    failed_holds_it = (
        exists()
        .where(
            failed.subscription_id == s.id,
            failed.provisioning_status == FAILED,
            _before(failed, change),
            ~and_(_linked_childs(failed), _linked_childs(change), other_children),
        )
        .correlate_except(failed)
    )
    held_barrier = (
        exists()
        .where(
            barrier.subscription_id == s.id,
            barrier.provisioning_status == AWAITING,
            ~_linked_childs(barrier),
            _before(barrier, change),
            exists()
            .where(
                barrier_failed.subscription_id == s.id,
                barrier_failed.provisioning_status == FAILED,
                _before(barrier_failed, barrier),
            )
            .correlate_except(barrier_failed),
        )
        .correlate_except(barrier)
    )
    behind_a_later_date = (
        exists()
        .where(
            not_due.subscription_id == s.id,
            not_due.provisioning_status == AWAITING,
            not_due.effective_date > today,
            _before(not_due, change),
        )
        .correlate_except(not_due)
    )
    return (
        exists()
        .where(
            change.subscription_id == s.id,
            change.provisioning_status == AWAITING,
            change.effective_date <= today,
            ~behind_a_later_date,
            ~failed_holds_it,
            ~held_barrier,
        )
        .correlate_except(change)
    )


_NOW: BindParameter[datetime] = bindparam("queue_now")
_TODAY: BindParameter[date] = bindparam("queue_today")
"""The clock's moment and day in the queue's statements (each comparison takes its column's type)."""


def _claimable(now: datetime, today: date) -> tuple[Sequence[ColumnElement[bool]], dict[str, object]]:
    """A subscription with work the worker can do now (SPEC §7's gating, as SQL), and the values of its
    parameters. The clauses are built once per process: building them costs more than running them."""
    return _claimable_clauses(), {"queue_now": now, "queue_today": today}


@functools.cache
def _claimable_clauses() -> tuple[ColumnElement[bool], ...]:
    now, today = _NOW, _TODAY
    s = Subscription
    due, notified, failed, parent_create = (aliased(LicenseChange) for _ in range(4))
    account = aliased(ProviderAccount)
    return (
        or_(s.claimed_until.is_(None), s.claimed_until < now),
        or_(s.retry_at.is_(None), s.retry_at <= now),
        exists().where(due.subscription_id == s.id, due.provisioning_status == AWAITING, due.effective_date <= today),
        # A failed change holds back what depends on it until it is requeued or resolved (plan.holds_back).
        or_(
            ~exists().where(failed.subscription_id == s.id, failed.provisioning_status == FAILED),
            _free_due_change(s, today),
        ),
        # An add-on waits until its parent subscription is provisioned.
        ~exists().where(
            parent_create.subscription_id == s.parent_subscription_id,
            parent_create.kind == ChangeKind.CREATE,
            parent_create.provisioning_status.in_((AWAITING, FAILED)),
        ),
        exists().where(
            account.id == s.provider_account_id,
            or_(
                account.kind == ProviderKind.PARTNER_CENTER,
                # A manual provider's people have been told already: wait for their confirmation. Correlated to
                # the subscription explicitly: nested in the account's EXISTS, it was not (any subscription's
                # notified change held back every manual provider's subscription).
                and_(
                    account.kind == ProviderKind.MANUAL,
                    ~exists()
                    .where(
                        notified.subscription_id == s.id,
                        notified.provisioning_status == AWAITING,
                        notified.notified_at.is_not(None),
                    )
                    .correlate(s),
                ),
            ),
        ),
    )


def claim(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    today: date,
    limit: int,
    lease_seconds: float,
    exclude: Collection[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Up to ``limit`` subscriptions with due work, leased to ``worker_id``. Commit right after."""
    s = Subscription
    clauses, params = _claimable(now, today)
    stmt = select(s.id).where(*clauses).order_by(s.id).limit(limit)
    if exclude:
        stmt = stmt.where(s.id.not_in(list(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        # Rows another worker is claiming (or a writer is changing) right now are skipped, not waited for.
        stmt = stmt.with_for_update(of=s, skip_locked=True)
    candidates = list(session.execute(stmt, params).scalars())
    if not candidates:
        return []
    # The guarded update: only a lease that is still free is taken (SQLite's claim; harmless on PostgreSQL).
    claimed = session.execute(
        update(s)
        .where(s.id.in_(candidates), or_(s.claimed_until.is_(None), s.claimed_until < now))
        .values(claimed_by=worker_id, claimed_until=when(now, lease_seconds), updated_at=s.updated_at)
        .returning(s.id)
    )
    return sorted(claimed.scalars())


def anything_claimable(session: Session, *, now: datetime, today: date, exclude: Collection[uuid.UUID] = ()) -> bool:
    """Whether ``claim`` would find a subscription: a read, for a reading transaction, so that a pass with
    nothing to do never waits for the write lock (on SQLite, behind every writer of the moment)."""
    s = Subscription
    clauses, params = _claimable(now, today)
    stmt = select(s.id).where(*clauses).limit(1)
    if exclude:
        stmt = stmt.where(s.id.not_in(list(exclude)))
    return session.execute(stmt, params).first() is not None


def renew(session: Session, subscription_id: uuid.UUID, worker_id: str, *, now: datetime, lease_seconds: float) -> bool:
    """Extend this worker's lease before it works on the subscription; False when the lease ran out and
    another worker took it (the caller must then leave the subscription alone)."""
    renewed = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.claimed_by == worker_id)
        .values(claimed_until=when(now, lease_seconds), updated_at=Subscription.updated_at)
        .returning(Subscription.id)
    )
    return renewed.first() is not None


def release(session: Session, subscription_id: uuid.UUID, worker_id: str, *, retry_at: datetime | None = None) -> None:
    values: dict[str, object] = {"claimed_by": None, "claimed_until": None, "updated_at": Subscription.updated_at}
    if retry_at is not None:
        values["retry_at"] = retry_at
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.claimed_by == worker_id)
        .values(**values)
    )


def release_many(session: Session, subscription_ids: Collection[uuid.UUID], worker_id: str) -> None:
    """``release`` of several subscriptions in one statement."""
    if not subscription_ids:
        return
    session.execute(
        update(Subscription)
        .where(Subscription.id.in_(list(subscription_ids)), Subscription.claimed_by == worker_id)
        .values(claimed_by=None, claimed_until=None, updated_at=Subscription.updated_at)
    )


def _bookkeeping(session: Session, subscription_id: uuid.UUID, **values: object) -> None:
    """Queue fields of a subscription, without touching its ``updated_at`` (they are not the customer's)."""
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(updated_at=Subscription.updated_at, **values)
    )


def next_wakeup(session: Session, *, now: datetime, today: date) -> datetime | None:
    """When work that is waiting now (a backoff, an order being completed, another worker's lease) is due:
    None when nothing the worker can do is left."""
    s = Subscription
    clauses, params = _claimable(now, today)
    stmt = select(s.retry_at, s.claimed_until).where(*clauses[2:])  # everything but the lease and the backoff
    wakeups = []
    for retry_at, claimed_until in session.execute(stmt, params):
        moments = [m for m in (retry_at, claimed_until) if m is not None and m > now]
        wakeups.append(max(moments) if moments else now)
    return min(wakeups) if wakeups else None


# --- jobs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    job: Job | None
    not_before: datetime | None = None
    """No op is due yet: the head change's effective date, as the moment to look again."""
    error: SeatflowError | None = None
    """The subscription could not be made a job (``load_jobs``): raised when the worker comes to it."""


def queue_steps(session: Session, subscription_id: uuid.UUID) -> list[Step]:
    """The subscription's queue in order: its awaiting and failed changes, and the linked children's changes
    provisioned after its first awaiting one (a requeued change goes after them: see ``plan.due_steps``)."""
    return queue_steps_of(session, [subscription_id]).get(subscription_id, [])


def queue_steps_of(session: Session, subscription_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Step]]:
    """``queue_steps`` of several subscriptions in one statement (a claimed batch's), by subscription."""
    cause, first = aliased(LicenseChange), aliased(LicenseChange)
    c = LicenseChange
    stmt = (
        # The columns a Step needs, not the whole change: a batch's queue is thousands of rows.
        select(
            c.id,
            c.subscription_id,
            c.kind,
            c.origin,
            c.quantity_after,
            c.effective_date,
            c.attempts,
            c.provider_request_id,
            c.provider_order_id,
            c.provisioning_status,
            c.quantity_before,
            c.provider_cart_id,
            c.provider_operation,
            c.auto_renew_after,
            cause.subscription_id,
        )
        .outerjoin(cause, cause.id == LicenseChange.caused_by_change_id)
        .where(
            LicenseChange.subscription_id.in_(list(subscription_ids)),
            LicenseChange.provisioning_status.in_((AWAITING, FAILED, PROVISIONED)),
        )
        .order_by(LicenseChange.created_at, LicenseChange.id)
    )
    first_awaiting = (
        select(func.min(first.created_at))
        .where(first.subscription_id == LicenseChange.subscription_id, first.provisioning_status == AWAITING)
        .correlate(LicenseChange)
        .scalar_subquery()
    )
    # Provisioned changes matter only after the first awaiting one, and only a linked child's can be there.
    stmt = stmt.where(
        or_(
            LicenseChange.provisioning_status != PROVISIONED,
            and_(_linked_childs(LicenseChange), LicenseChange.created_at >= first_awaiting),
        )
    )
    steps: dict[uuid.UUID, list[Step]] = {}
    for change in session.execute(stmt):
        child = cast(uuid.UUID | None, change[-1])  # the cause's subscription: a linked child's
        linked = change.origin is ChangeOrigin.LINKED_CHILD and change.kind is ChangeKind.QUANTITY
        steps.setdefault(change.subscription_id, []).append(
            Step(
                id=change.id,
                kind=change.kind,
                quantity_after=change.quantity_after,
                effective_date=change.effective_date,
                attempts=change.attempts,
                provider_request_id=change.provider_request_id,
                provider_order_id=change.provider_order_id,
                status=change.provisioning_status,
                quantity_before=change.quantity_before,
                provider_cart_id=change.provider_cart_id,
                provider_operation=change.provider_operation,
                auto_renew_after=change.auto_renew_after,
                linked_child=child if linked else None,
            )
        )
    return steps


def load_job(session: Session, subscription_id: uuid.UUID, today: date) -> Loaded:
    loaded = load_jobs(session, [subscription_id], today)[subscription_id]
    if loaded.error is not None:
        raise loaded.error
    return loaded


def _by_id(session: Session, model: type[_M], ids: Collection[uuid.UUID | None], *options: Any) -> dict[uuid.UUID, _M]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = select(model).where(model.id.in_(list(wanted)))  # type: ignore[attr-defined]
    if options:
        stmt = stmt.options(*options)
    return {row.id: row for row in session.execute(stmt).scalars()}  # type: ignore[attr-defined]


def load_jobs(session: Session, subscription_ids: Sequence[uuid.UUID], today: date) -> dict[uuid.UUID, Loaded]:
    """The jobs of a claimed batch, read in a few statements for the whole batch (the subscriptions, their
    accounts, products, contracts, customers and parents, their queues, whether anything is scheduled for their
    renewal), not a few per subscription. A subscription that lost its account, product or customer gets a
    ``Loaded`` with the error (``load_job`` raises it), so that it does not take the others down with it."""
    ids = list(dict.fromkeys(subscription_ids))
    subscriptions = _by_id(session, Subscription, ids)
    accounts = _by_id(session, ProviderAccount, [s.provider_account_id for s in subscriptions.values()])
    # Only the products' own columns: their plans and account (loaded with them elsewhere) are not needed here.
    products = _by_id(
        session,
        Product,
        [s.product_id for s in subscriptions.values()],
        lazyload(Product.plans),
        lazyload(Product.provider_account),
    )
    contracts = _by_id(session, BillingContract, [s.contract_id for s in subscriptions.values()])
    customers = _by_id(session, CustomerAccount, [c.customer_id for c in contracts.values()])
    parents = _by_id(session, Subscription, [s.parent_subscription_id for s in subscriptions.values()])
    steps = queue_steps_of(session, list(subscriptions))
    scheduled = (
        set(
            session.execute(
                select(ScheduledChange.subscription_id)
                .where(
                    ScheduledChange.subscription_id.in_(list(subscriptions)),
                    ScheduledChange.status == ScheduledStatus.SCHEDULED,
                    ScheduledChange.at_renewal.is_(True),
                )
                .distinct()
            ).scalars()
        )
        if subscriptions
        else set()
    )
    loaded: dict[uuid.UUID, Loaded] = {}
    for subscription_id in ids:
        subscription = subscriptions.get(subscription_id)
        if subscription is None:
            loaded[subscription_id] = Loaded(None)
            continue
        contract = contracts.get(subscription.contract_id)
        try:
            loaded[subscription_id] = _job_of(
                session,
                subscription,
                account=accounts.get(subscription.provider_account_id),
                product=products.get(subscription.product_id),
                contract=contract,
                customer=customers.get(contract.customer_id) if contract else None,
                parent=parents.get(subscription.parent_subscription_id)
                if subscription.parent_subscription_id
                else None,
                steps=steps.get(subscription_id, []),
                scheduled=subscription_id in scheduled,
                today=today,
            )
        except SeatflowError as error:
            loaded[subscription_id] = Loaded(None, error=error)
    return loaded


def _job_of(
    session: Session,
    subscription: Subscription,
    *,
    account: ProviderAccount | None,
    product: Product | None,
    contract: BillingContract | None,
    customer: CustomerAccount | None,
    parent: Subscription | None,
    steps: list[Step],
    scheduled: bool,
    today: date,
) -> Loaded:
    if account is None or product is None or contract is None or customer is None:
        raise InvalidState(f"Subscription {subscription.id} lost its account, product or customer.")
    ops = plan(steps, external_id=subscription.external_id, today=today)
    if account.kind is ProviderKind.MANUAL:
        ops = ops[:1]  # a person does one thing at a time, in order, and confirms it
    not_before = None
    later = [step.effective_date for step in steps if step.status is AWAITING and step.effective_date > today]
    if not ops and later:
        not_before = datetime.combine(min(later), time.min, tzinfo=UTC)
    job = Job(
        subscription_id=subscription.id,
        account_id=account.id,
        account_kind=account.kind,
        account_name=account.name,
        account_settings=dict(account.settings),
        tenant_id=customer.tenant_id,
        customer_name=customer.name,
        contract_name=contract.name,
        product_name=product.name,
        offer_id=product.offer_id,
        term=subscription.term.value,
        billing_cycle=subscription.billing_plan.value,
        external_id=subscription.external_id,
        parent_subscription_id=subscription.parent_subscription_id,
        parent_external_id=parent.external_id if parent else None,
        ops=ops,
    )
    if account.kind is ProviderKind.PARTNER_CENTER and ops:
        job = _partner_center_details(session, job, subscription, customer, ops, scheduled=scheduled)
    return Loaded(job, not_before)


def _partner_center_details(
    session: Session,
    job: Job,
    subscription: Subscription,
    customer: CustomerAccount,
    ops: Sequence[Op],
    *,
    scheduled: bool = True,
) -> Job:
    """What only new commerce needs: the customer's country, the co-term date of a purchase, what the renewal
    is to change, and (to find an order after a lost answer) the subscriptions seatflow has on the tenant."""
    country = customer.billing_address.get("country") if isinstance(customer.billing_address, dict) else None
    custom_term_end = None
    if subscription.co_term_subscription_id is not None:
        custom_term_end = subscription.term_end
    known: frozenset[str] = frozenset()
    if any(op.kind is OpKind.CREATE for op in ops):
        rows = session.execute(
            select(Subscription.external_id)
            .join(BillingContract, BillingContract.id == Subscription.contract_id)
            .where(BillingContract.customer_id == customer.id, Subscription.external_id.is_not(None))
        ).scalars()
        known = frozenset(external_id for external_id in rows if external_id)
    return replace(
        job,
        country=str(country).upper() if isinstance(country, str) and len(country) == 2 else None,
        custom_term_end=custom_term_end,
        # Read only for the ops that send the renewal's instructions (or send them again after clearing them).
        # ``scheduled`` False: the batch's read found nothing scheduled for the renewal (next_term_of's None).
        next_term=(
            next_term_of(session, subscription) if scheduled and any(op.kind in _NEXT_TERM_OPS for op in ops) else None
        ),
        known_external_ids=known,
    )


_NEXT_TERM_OPS = frozenset({OpKind.NEXT_TERM, OpKind.SET_QUANTITY, OpKind.REACTIVATE})


def next_term_of(session: Session, subscription: Subscription) -> NextTerm | None:
    """The next term as the changes scheduled for the renewal leave it (``subscriptions.next_term.combine``), or
    None when nothing is scheduled for it."""
    scheduled = list(subscriptions_repository.at_renewal_of(session, subscription.id))
    if not scheduled:
        return None
    after = combine(subscription, scheduled)
    product = session.get(Product, after.product_id)
    assert product is not None  # noqa: S101 - a product is never deleted while used
    custom_term_end = None
    if after.co_term_subscription_id is not None:
        try:
            custom_term_end = next_term_end(session, subscription, after)
        except SeatflowError:
            custom_term_end = None  # no longer possible: the renewal says why when it comes; a full term till then
    return NextTerm(
        offer_id=product.offer_id,
        term=after.term.value,
        billing_cycle=after.billing_plan.value,
        quantity=after.quantity,
        custom_term_end=custom_term_end,
    )


def remember_cart_id(session: Session, change_id: uuid.UUID, cart_id: str, now: datetime) -> None:
    """Committed before the cart is checked out: a checkout whose answer is lost is repeated on this cart."""
    session.execute(
        update(LicenseChange).where(LicenseChange.id == change_id).values(provider_cart_id=cart_id, last_attempt_at=now)
    )


def remember_request_id(session: Session, change_id: uuid.UUID, request_id: str, now: datetime) -> None:
    session.execute(
        update(LicenseChange)
        .where(LicenseChange.id == change_id)
        .values(provider_request_id=request_id, last_attempt_at=now)
    )


# --- outcomes --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    provisioned: int = 0
    failed: int = 0
    retrying: int = 0
    waiting: int = 0
    handed_off: int = 0
    flowed_back: int = 0
    subscriptions: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 10
    backoff: Backoff = field(default_factory=Backoff)


def record_outcome(
    session: Session, *, job: Job, op: Op, outcome: Outcome, now: datetime, policy: Policy, tally: Tally
) -> bool:
    """Write what the provider answered; True when the next op of the job may go."""
    changes = [
        c
        for c in session.execute(select(LicenseChange).where(LicenseChange.id.in_(op.change_ids))).scalars()
        if c.provisioning_status is AWAITING  # an operator may have settled one meanwhile
    ]
    if isinstance(outcome, Done):
        for change in changes:
            _settle(change, PROVISIONED, outcome.message, now)
            change.provider_operation = None
            change.attempts += 1
            change.last_attempt_at = now
        if outcome.external_id is not None:
            _bookkeeping(session, job.subscription_id, external_id=outcome.external_id)
        _announce(session, changes, now)
        tally.provisioned += len(changes)
        tally.flowed_back += flow_back(session, changes, PROVISIONED, None, now)
        return True
    if isinstance(outcome, Waiting):
        for change in changes:
            change.message = outcome.message
            if outcome.order_id and change.kind is ChangeKind.CREATE:
                change.provider_order_id = outcome.order_id
            if outcome.operation:
                change.provider_operation = outcome.operation
        _bookkeeping(session, job.subscription_id, retry_at=when(now, outcome.retry_in))
        tally.waiting += len(changes)
        return False
    if isinstance(outcome, HandedOff):
        for change in changes:
            change.notified_at = now
            change.message = f"Waiting for {job.account_name} to provision it by hand and confirm."
        session.add(
            Notification(
                kind=NotificationKind.MANUAL_PROVISIONING,
                provider_account_id=job.account_id,
                license_change_id=op.change_ids[-1],
                recipient=outcome.recipient,
                subject=outcome.subject,
                body=outcome.body,
            )
        )
        tally.handed_off += len(changes)
        return False
    assert isinstance(outcome, Failed)  # noqa: S101 - Outcome is a closed union
    attempts = max((c.attempts for c in changes), default=0) + 1
    for change in changes:
        change.attempts = attempts
        change.last_attempt_at = now
    if outcome.transient and attempts < policy.max_attempts:
        delay = policy.backoff.delay(attempts, outcome.retry_after)
        retry_at = when(now, delay)
        for change in changes:
            change.message = f"Attempt {attempts} failed; retrying at {retry_at:%H:%M:%S} UTC: {outcome.message}"
        _bookkeeping(session, job.subscription_id, retry_at=retry_at)
        tally.retrying += len(changes)
        return False
    message = outcome.message if not outcome.transient else f"Gave up after {attempts} attempts: {outcome.message}"
    for change in changes:
        _settle(change, FAILED, message, now)
        if not outcome.transient:
            # A definite answer: the next try is a new request (a re-sent MS-RequestId would get this refusal
            # replayed), and a new cart (this one was checked out, or refused). After transient failures they stay,
            # since the order may have gone through; a change whose answer never came is not polled after a refusal.
            change.provider_request_id = None
            change.provider_cart_id = None
            change.provider_operation = None
    _announce(session, changes, now)
    tally.failed += len(changes)
    tally.flowed_back += flow_back(session, changes, FAILED, message, now)
    return False


@dataclass(frozen=True)
class Settled:
    """A job's last op that the provider did (``Done``), its outcome not written yet: the worker writes a
    batch's together (``record_done_many``), with their releases, in one transaction."""

    job: Job
    op: Op
    outcome: Done
    at: datetime
    """When the provider answered: the changes' ``provisioned_at`` and ``last_attempt_at``."""


def record_done_many(session: Session, settled: Sequence[Settled], *, tally: Tally) -> None:
    """``record_outcome`` of many ``Done`` outcomes, set-based and without the ORM: the changes of every job read
    in one SELECT (the columns their events show), their linked children in another, each set written back by one
    executemany UPDATE, and the events put into the outbox in one INSERT, in the order ``record_outcome`` one job at
    a time writes them (a job's changes, then its children's), with the same data."""
    if not settled:
        return
    table = cast(Table, LicenseChange.__table__)
    columns = [table.c[name] for name in _EVENT_COLUMNS]
    ids = [change_id for item in settled for change_id in item.op.change_ids]
    rows = [dict(row) for row in session.execute(select(*columns).where(table.c.id.in_(ids))).mappings()]
    position = {row["id"]: index for index, row in enumerate(rows)}
    found = {row["id"]: row for row in rows}
    per_job: list[tuple[Settled, list[dict[str, Any]]]] = []
    parents: list[dict[str, Any]] = []
    for item in settled:
        changes = sorted(
            (found[i] for i in set(item.op.change_ids) if i in found and found[i]["provisioning_status"] is AWAITING),
            key=lambda row: position[row["id"]],
        )  # an operator may have settled one meanwhile
        for row in changes:  # _settle, and what record_outcome sets besides
            row.update(
                provisioning_status=PROVISIONED,
                message=item.outcome.message,
                provisioned_at=item.at,
                attempts=row["attempts"] + 1,
                last_attempt_at=item.at,
            )
        if item.outcome.external_id is not None:
            _bookkeeping(session, item.job.subscription_id, external_id=item.outcome.external_id)
        tally.provisioned += len(changes)
        per_job.append((item, changes))
        parents.extend(changes)
    child_ids = [
        row["caused_by_change_id"]
        for row in parents
        if row["origin"] is ChangeOrigin.LINKED_CHILD and row["caused_by_change_id"] is not None
    ]
    children = (
        [dict(row) for row in session.execute(select(*columns).where(table.c.id.in_(child_ids))).mappings()]
        if child_ids
        else []
    )
    child_position = {row["id"]: index for index, row in enumerate(children)}
    children_by_id = {row["id"]: row for row in children}
    announced: list[tuple[dict[str, Any], datetime]] = []
    flowed_all: list[dict[str, Any]] = []
    for item, changes in per_job:
        announced.extend((row, item.at) for row in changes)
        mine = {row["caused_by_change_id"] for row in changes if row["origin"] is ChangeOrigin.LINKED_CHILD} - {None}
        flowed = sorted((children_by_id[i] for i in mine if i in children_by_id), key=lambda r: child_position[r["id"]])
        for row in flowed:  # flow_back: the linked children take their parent change's outcome
            row.update(provisioning_status=PROVISIONED, message=None, provisioned_at=item.at)
        announced.extend((row, item.at) for row in flowed)
        flowed_all.extend(flowed)
        tally.flowed_back += len(flowed)
    if parents:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                provisioning_status=bindparam("b_status"),
                message=bindparam("b_message"),
                provisioned_at=bindparam("b_at"),
                provider_operation=None,
                attempts=bindparam("b_attempts"),
                last_attempt_at=bindparam("b_at"),
            ),
            [
                {
                    "b_id": row["id"],
                    "b_status": row["provisioning_status"],
                    "b_message": row["message"],
                    "b_at": row["provisioned_at"],
                    "b_attempts": row["attempts"],
                }
                for row in parents
            ],
        )
    if flowed_all:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                provisioning_status=bindparam("b_status"),
                message=bindparam("b_message"),
                provisioned_at=bindparam("b_at"),
            ),
            [
                {
                    "b_id": row["id"],
                    "b_status": row["provisioning_status"],
                    "b_message": None,
                    "b_at": row["provisioned_at"],
                }
                for row in flowed_all
            ],
        )
    announcements.announce_rows_at(session, [(row, announcements.PROVISIONED, at) for row, at in announced])


_EVENT_COLUMNS = tuple(LicenseChangeRead.model_fields)
"""The columns of a change its events show (``LicenseChangeRead``): every one ``record_done_many`` needs."""


def _settle(change: LicenseChange, status: ProvisioningStatus, message: str | None, now: datetime) -> None:
    change.provisioning_status = status
    change.message = message
    change.provisioned_at = now if status is PROVISIONED else None


def _announce(session: Session, changes: Sequence[LicenseChange], now: datetime) -> None:
    """``license_change.provisioned`` or ``.failed`` for each change just settled so (SPEC §17)."""
    kinds = {PROVISIONED: announcements.PROVISIONED, FAILED: announcements.FAILED}
    announcements.announce_changes(
        session,
        ((change, kinds[change.provisioning_status]) for change in changes if change.provisioning_status in kinds),
        now=now,
    )


def flow_back(
    session: Session,
    parent_changes: Sequence[LicenseChange],
    status: ProvisioningStatus,
    message: str | None,
    now: datetime,
) -> int:
    """The linked provider's half (SPEC §5): the child changes that caused these parent changes take the
    parent's outcome (provisioned, failed with its reason, or awaiting again when it is requeued)."""
    child_ids = [c.caused_by_change_id for c in parent_changes if c.origin is ChangeOrigin.LINKED_CHILD]
    child_ids = [i for i in child_ids if i is not None]
    if not child_ids:
        return 0
    children = session.execute(select(LicenseChange).where(LicenseChange.id.in_(child_ids))).scalars().all()
    for child in children:
        if status is FAILED:
            _settle(child, FAILED, f"Its linked parent's change failed: {message}", now)
        elif status is AWAITING:
            _settle(child, AWAITING, "Requeued with its linked parent's change.", now)
        else:
            _settle(child, status, None, now)
    _announce(session, children, now)
    return len(children)


# --- the operator's queue --------------------------------------------------------------------------------


def require_change(session: Session, change_id: uuid.UUID) -> LicenseChange:
    change = session.get(LicenseChange, change_id)
    if change is None:
        raise ChangeNotFound(f"No license change {change_id}.")
    return change


def _account_of(session: Session, change: LicenseChange) -> ProviderAccount:
    subscription = session.get(Subscription, change.subscription_id)
    assert subscription is not None  # noqa: S101
    account = session.get(ProviderAccount, subscription.provider_account_id)
    assert account is not None  # noqa: S101
    return account


def _parent_changes_of(session: Session, child: LicenseChange) -> list[LicenseChange]:
    stmt = select(LicenseChange).where(
        LicenseChange.caused_by_change_id == child.id, LicenseChange.origin == ChangeOrigin.LINKED_CHILD
    )
    return list(session.execute(stmt).scalars())


def requeue(session: Session, *, change_id: uuid.UUID, actor: Actor, now: datetime) -> list[LicenseChange]:
    """A failed change goes back to awaiting; a linked parent's takes its children with it, and a linked
    child's is requeued through the parent change it caused. Answers every change that was requeued."""
    change = require_change(session, change_id)
    targets = [change]
    if _account_of(session, change).kind is ProviderKind.LINKED:
        targets = _parent_changes_of(session, change)
        if not targets:
            raise NotRequeueable("This linked child's change caused no parent change; there is nothing to send.")
    if any(t.provisioning_status is not FAILED for t in targets):
        raise NotRequeueable(f"Only a failed change can be requeued; this one is {change.provisioning_status.value}.")
    requeued: list[LicenseChange] = []
    for target in targets:
        previous = target.message
        _settle(target, AWAITING, f"Requeued by {actor.name}; it had failed: {previous}", now)
        target.attempts = 0
        target.notified_at = None
        _bookkeeping(session, target.subscription_id, retry_at=None)
        requeued.append(target)
        flow_back(session, [target], AWAITING, None, now)
        requeued.extend(c for c in _children_of(session, target))
    session.flush()
    return requeued


def _children_of(session: Session, parent_change: LicenseChange) -> list[LicenseChange]:
    if parent_change.origin is not ChangeOrigin.LINKED_CHILD or parent_change.caused_by_change_id is None:
        return []
    child = session.get(LicenseChange, parent_change.caused_by_change_id)
    return [child] if child else []


def confirm(
    session: Session,
    *,
    change_id: uuid.UUID,
    status: ProvisioningStatus,
    message: str | None,
    actor: Actor,
    now: datetime,
) -> list[LicenseChange]:
    """A person says how a change went: a manual provider's awaiting change, or any failed change that was
    put right by hand. Settles the change (with the earlier awaiting ones it was handed over with) and flows
    back to linked children. Answers the changes settled."""
    if status not in (PROVISIONED, FAILED):
        raise ValidationFailed("Confirm a change as provisioned or failed.", code="invalid_confirm_status")
    if status is FAILED and not (message and message.strip()):
        raise ValidationFailed("Say why it failed: a message is required.", code="message_required")
    change = require_change(session, change_id)
    account = _account_of(session, change)
    if account.kind is ProviderKind.LINKED:
        raise NotConfirmable("A linked child's change settles with its parent's change: confirm that one.")
    if change.provisioning_status is FAILED:
        batch = [change]
    elif change.provisioning_status is AWAITING and account.kind is ProviderKind.MANUAL:
        batch = _head_through(session, change)
    else:
        raise NotConfirmable(
            f"Only a manual provider's awaiting change or a failed change can be confirmed; this one is "
            f"{change.provisioning_status.value} on a {account.kind.value} account."
        )
    text = message.strip() if message and message.strip() else None
    for item in batch:
        _settle(item, status, text or f"Confirmed by {actor.name}.", now)
    _announce(session, batch, now)
    session.execute(
        update(Notification)
        .where(Notification.license_change_id.in_([c.id for c in batch]), Notification.resolved_at.is_(None))
        .values(resolved_at=now)
    )
    flow_back(session, batch, status, text, now)
    _bookkeeping(session, change.subscription_id, retry_at=None)
    session.flush()
    return batch


def _head_through(session: Session, change: LicenseChange) -> list[LicenseChange]:
    """The awaiting changes of the subscription up to and including ``change``, without those a failed change
    holds back (``plan.held_back``); refused if ``change`` is one of them (that failure comes first)."""
    steps = queue_steps(session, change.subscription_id)
    held = held_back(steps)
    if change.id in held:
        failed = next(step.id for step in steps if step.status is FAILED)
        raise EarlierChangePending(
            f"An earlier change of this subscription ({failed}) failed and this one depends on it: requeue or "
            "resolve that one first."
        )
    batch_ids = []
    for step in steps:
        if step.status is AWAITING and step.id not in held:
            batch_ids.append(step.id)
        if step.id == change.id:
            break
    found = {c.id: c for c in session.execute(select(LicenseChange).where(LicenseChange.id.in_(batch_ids))).scalars()}
    return [found[i] for i in batch_ids]
